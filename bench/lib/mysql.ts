/**
 * MariaDB for the benchmarks: KECALEK_BENCH_MYSQL_URL (or KECALEK_TEST_MYSQL_URL) names a server;
 * each run gets a fresh utf8mb4 database, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { urlForDatabase, withAdmin } from '../../engine/testing/backends.js';

export function benchMysqlUrl(): string | undefined {
  const url = (process.env.KECALEK_BENCH_MYSQL_URL ?? process.env.KECALEK_TEST_MYSQL_URL)?.trim();
  return url ? url : undefined;
}

/** Creates a fresh database on the server and returns its URL and a function that drops it. */
export async function freshMysqlDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `kecalek_bench_${randomBytes(6).toString('hex')}`;
  await withAdmin(serverUrl, (admin) => admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
  return { url: urlForDatabase(serverUrl, name), drop: () => withAdmin(serverUrl, (admin) => admin.raw(`DROP DATABASE IF EXISTS \`${name}\``)) };
}
