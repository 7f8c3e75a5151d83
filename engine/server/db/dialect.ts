/** Small helpers that hide SQLite/MySQL differences from the repositories. */
import type { Knex } from 'knex';
import { databaseKind } from './connect.js';

/** True when `error` is a unique-key violation on either backend. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown } | undefined;
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
}

/**
 * True when `error` is a foreign-key violation on either backend: a row refers to one that does
 * not exist (any more) — typically a message or conversation deleted meanwhile.
 */
export function isForeignKeyViolation(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown } | undefined;
  return e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || e?.code === 'ER_NO_REFERENCED_ROW_2' || e?.code === 'ER_NO_REFERENCED_ROW' || e?.errno === 1452 || e?.errno === 1216;
}

/** Booleans come back as 0/1 from both backends. */
export function toBool(value: unknown): boolean {
  return value === true || value === 1 || value === '1';
}

/** BIGINT epoch milliseconds come back as number (or string on some MySQL paths). */
export function toMillis(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toMillisOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toMillis(value);
}

/** Applies `utf8mb4_bin` (exact, case-sensitive comparison) on MySQL; SQLite compares bytes already. */
export function exactCollation(knex: Knex, column: Knex.ColumnBuilder): Knex.ColumnBuilder {
  return databaseKind(knex) === 'mysql' ? column.collate('utf8mb4_bin') : column;
}

/** Largest number of bound variables per statement we allow ourselves (SQLite's limit is 32766). */
export const MAX_BOUND_VARIABLES = 30000;

/** Splits rows for multi-row inserts so that no statement exceeds the bound-variable limit. */
export function chunkRows<T extends object>(rows: readonly T[], columnsPerRow: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_BOUND_VARIABLES / Math.max(1, columnsPerRow)));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}
