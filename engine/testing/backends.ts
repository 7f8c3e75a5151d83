/**
 * Running one suite against every database backend: SQLite always, MySQL/MariaDB when
 * KECALEK_TEST_MYSQL_URL names a server. Each MySQL suite gets its own fresh database, created
 * before the suite and dropped after it, so suites never share state (parallel mocha included).
 */
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';

export interface Backend {
  readonly name: 'sqlite' | 'mysql';
  /**
   * The URL to pass to startTestServer: undefined for SQLite (a file in the test's data folder);
   * for MySQL it is set by the suite's first `before` hook, so read it inside hooks and tests,
   * not while registering them.
   */
  readonly databaseUrl: string | undefined;
}

export const MYSQL_URL_VARIABLE = 'KECALEK_TEST_MYSQL_URL';
export const REQUIRE_ALL_VARIABLE = 'KECALEK_REQUIRE_ALL_SUITES';
const SKIP_MESSAGE = `MariaDB suites skipped: set ${MYSQL_URL_VARIABLE}=mysql://root@127.0.0.1:3306/test to run them`;

let skipNoticePrinted = false;

/** Registers `fn`'s suite once per available backend (inside mocha's `describe`). */
export function forEachBackend(title: string, fn: (backend: Backend) => void): void {
  describe(`${title} [sqlite]`, () => fn({ name: 'sqlite', databaseUrl: undefined }));

  const serverUrl = process.env[MYSQL_URL_VARIABLE]?.trim();
  if (!serverUrl) {
    if (process.env[REQUIRE_ALL_VARIABLE] === '1') {
      describe(`${title} [mysql]`, () => {
        it('runs on MariaDB', () => {
          throw new Error(`${MYSQL_URL_VARIABLE} is not set, and ${REQUIRE_ALL_VARIABLE}=1 makes every suite mandatory`);
        });
      });
    } else if (!skipNoticePrinted) {
      skipNoticePrinted = true;
      console.log(SKIP_MESSAGE);
    }
    return;
  }

  describe(`${title} [mysql]`, function () {
    const backend: { name: 'mysql'; databaseUrl: string | undefined } = { name: 'mysql', databaseUrl: undefined };
    let database: string | undefined;
    before(async function () {
      this.timeout(60_000);
      database = `kecalek_t_${randomBytes(6).toString('hex')}`;
      await withAdmin(serverUrl, (admin) => admin.raw(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
      backend.databaseUrl = urlForDatabase(serverUrl, database);
    });
    fn(backend);
    // Registered after the suite's own hooks so that it runs after them: the suite's `after`
    // closes its servers while their database still exists.
    after(async function () {
      this.timeout(60_000);
      if (database) await withAdmin(serverUrl, (admin) => admin.raw(`DROP DATABASE IF EXISTS \`${database}\``));
    });
  });
}

/** The same server URL pointing at another database (credentials and options kept). */
export function urlForDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs `task` with a one-connection knex on the MariaDB/MySQL server (no database selected), then closes it. */
export async function withAdmin(serverUrl: string, task: (knex: ReturnType<typeof knexFactory>) => Promise<unknown>): Promise<void> {
  const url = new URL(serverUrl);
  const knex = knexFactory({
    client: 'mysql2',
    connection: {
      host: url.hostname || '127.0.0.1',
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username || 'root'),
      password: decodeURIComponent(url.password || ''),
      charset: 'utf8mb4',
    },
    pool: { min: 0, max: 1 },
  });
  try {
    await task(knex);
  } finally {
    await knex.destroy();
  }
}
