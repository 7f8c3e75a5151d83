/**
 * The database: SQLite (better-sqlite3) embedded by default, MySQL/MariaDB through
 * DATABASE_URL=mysql://... Dialect differences are kept here and in ./dialect.ts.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { StartupError, StartupErrorCode } from '../../errors.js';

export type DatabaseKind = 'sqlite' | 'mysql';

export interface DatabaseOptions {
  /** `mysql://user:pass@host:port/db`, `sqlite:/path/file.db`, a bare file path, or undefined for the default file. */
  readonly url?: string | undefined;
  /** Default SQLite file when no url is given. */
  readonly defaultSqlitePath?: string;
  /** SQLite `synchronous` pragma; FULL by default (every acknowledged commit survives power loss). */
  readonly sqliteSynchronous?: 'FULL' | 'NORMAL';
  readonly mysqlPoolSize?: number;
}

export interface Database {
  readonly knex: Knex;
  readonly kind: DatabaseKind;
  /** Where the data is, without credentials, for start-up messages. */
  readonly description: string;
  close(): Promise<void>;
}

export const DEFAULT_SQLITE_PATH = './data/kecalek.db';

/** Prepared statements kept per SQLite connection (distinct SQL texts; the oldest goes first). */
export const SQLITE_STATEMENT_CACHE = 256;
const CACHEABLE = /^\s*(select|insert|update|delete|with)\b/i;

interface PreparingConnection {
  prepare(sql: string): unknown;
}

/**
 * Makes `conn.prepare` reuse statements by SQL text. knex's better-sqlite3 dialect prepares every
 * query again; under relay load that was 8% of the server's time (bench/README.md) for the same
 * few statements. Reuse is safe here: better-sqlite3 is synchronous and knex only runs statements
 * to completion (all/run), never iterates them, and SQLite re-prepares a statement by itself when
 * the schema changed. Only DML is cached (DDL and pragmas run once).
 */
export function cacheStatements(conn: PreparingConnection, size = SQLITE_STATEMENT_CACHE): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    if (!CACHEABLE.test(sql)) return prepare(sql);
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (cache.size >= size) cache.delete(cache.keys().next().value!);
      cache.set(sql, statement);
    }
    return statement;
  };
}

export function openDatabase(options: DatabaseOptions = {}): Database {
  const url = options.url?.trim();
  if (url && /^mysql2?:\/\//i.test(url)) return openMysql(url, options);
  const path = url ? url.replace(/^sqlite:(\/\/)?/i, '') : (options.defaultSqlitePath ?? DEFAULT_SQLITE_PATH);
  return openSqlite(path, options);
}

function openSqlite(path: string, options: DatabaseOptions): Database {
  const memory = path === ':memory:';
  const filename = memory ? path : resolve(path);
  if (!memory) mkdirSync(dirname(filename), { recursive: true, mode: 0o700 });
  const synchronous = options.sqliteSynchronous ?? 'FULL';
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // better-sqlite3 is synchronous: one connection serializes writers, which SQLite does anyway.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: PreparingConnection & { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma(`synchronous = ${synchronous}`);
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          cacheStatements(conn);
          done(null, conn);
        } catch (error) {
          done(error as Error, conn);
        }
      },
    },
  });
  return { knex, kind: 'sqlite', description: `SQLite ${filename}`, close: () => knex.destroy() };
}

function openMysql(url: string, options: DatabaseOptions): Database {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StartupError(StartupErrorCode.CONFIG_INVALID, 'DATABASE_URL is not a valid URL');
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new StartupError(StartupErrorCode.CONFIG_INVALID, 'DATABASE_URL must name a database (mysql://user@host/db)');
  const knex = knexFactory({
    client: 'mysql2',
    connection: {
      host: parsed.hostname || '127.0.0.1',
      port: parsed.port ? Number(parsed.port) : 3306,
      user: decodeURIComponent(parsed.username || 'root'),
      password: decodeURIComponent(parsed.password || ''),
      database,
      charset: 'utf8mb4',
      // Epoch milliseconds live in BIGINT columns; they fit in a double.
      supportBigNumbers: true,
      bigNumberStrings: false,
      ssl: parsed.searchParams.get('ssl') === 'true' ? { rejectUnauthorized: true } : undefined,
    },
    pool: { min: 0, max: options.mysqlPoolSize ?? 10 },
  });
  return {
    knex,
    kind: 'mysql',
    description: `MySQL ${parsed.hostname}:${parsed.port || 3306}/${database}`,
    close: () => knex.destroy(),
  };
}

export function databaseKind(knex: Knex): DatabaseKind {
  const client = String((knex.client as { config?: { client?: unknown } }).config?.client ?? '');
  return client.startsWith('mysql') ? 'mysql' : 'sqlite';
}
