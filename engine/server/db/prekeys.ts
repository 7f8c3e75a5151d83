/**
 * Signed pre-keys (one current per device) and one-time pre-keys (consumed one per key-bundle
 * fetch). Handing out a one-time pre-key is a select + delete in one transaction with a row lock
 * on MySQL, retried when a concurrent fetch took the row first, so no key is ever given twice
 * (the original's audit item H12).
 */
import type { Knex } from 'knex';
import { databaseKind } from './connect.js';
import { toMillis } from './dialect.js';

export interface SignedPreKeyRecord {
  readonly deviceId: string;
  readonly userId: string;
  readonly keyId: number;
  /** X25519 public key, base64. */
  readonly publicKey: string;
  /** Ed25519 signature by the identity key, base64. */
  readonly signature: string;
  readonly createdAt: number;
}

export interface OneTimePreKeyRecord {
  readonly keyId: number;
  /** X25519 public key, base64. */
  readonly publicKey: string;
}

interface SignedPreKeyRow {
  device_id: string;
  user_id: string;
  key_id: unknown;
  public_key: string;
  signature: string;
  created_at: unknown;
}

function toSignedPreKey(row: SignedPreKeyRow): SignedPreKeyRecord {
  return {
    deviceId: row.device_id,
    userId: row.user_id,
    keyId: Number(row.key_id),
    publicKey: row.public_key,
    signature: row.signature,
    createdAt: toMillis(row.created_at),
  };
}

const MAX_ATTEMPTS = 8;

/** MySQL deadlock or lock-wait timeout: the transaction was rolled back and may simply be run again. */
export function isRetryableLockError(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown } | undefined;
  return e?.code === 'ER_LOCK_DEADLOCK' || e?.errno === 1213 || e?.code === 'ER_LOCK_WAIT_TIMEOUT' || e?.errno === 1205;
}

/** Runs `work` in a transaction, again (a few times) when MySQL chose it as a deadlock victim. */
export async function transactionWithRetry<T>(knex: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await knex.transaction(work);
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryableLockError(error)) throw error;
    }
  }
}

// ---- signed pre-keys ---------------------------------------------------------------------------

export async function findSignedPreKey(db: Knex, deviceId: string): Promise<SignedPreKeyRecord | undefined> {
  const row = (await db('signed_prekeys').where({ device_id: deviceId }).first()) as SignedPreKeyRow | undefined;
  return row ? toSignedPreKey(row) : undefined;
}

/** Signed pre-keys of these devices, by device id. */
export async function findSignedPreKeys(db: Knex, deviceIds: readonly string[]): Promise<Map<string, SignedPreKeyRecord>> {
  const result = new Map<string, SignedPreKeyRecord>();
  if (deviceIds.length === 0) return result;
  const rows = (await db('signed_prekeys').whereIn('device_id', deviceIds)) as SignedPreKeyRow[];
  for (const row of rows) result.set(row.device_id, toSignedPreKey(row));
  return result;
}

/** Stores a device's signed pre-key, replacing its current one. */
export async function upsertSignedPreKey(db: Knex, key: SignedPreKeyRecord): Promise<void> {
  await db('signed_prekeys')
    .insert({
      device_id: key.deviceId,
      user_id: key.userId,
      key_id: key.keyId,
      public_key: key.publicKey,
      signature: key.signature,
      created_at: key.createdAt,
    })
    .onConflict('device_id')
    .merge();
}

// ---- one-time pre-keys -------------------------------------------------------------------------

export async function countOneTimePreKeys(db: Knex, deviceId: string): Promise<number> {
  const row = (await db('one_time_prekeys').where({ device_id: deviceId }).count({ n: '*' }).first()) as { n: unknown } | undefined;
  return Number(row?.n ?? 0);
}

export type InsertOneTimePreKeysResult = { readonly ok: true; readonly inserted: number } | { readonly ok: false; readonly stored: number };

/**
 * Adds one-time pre-keys to a device. Key ids the device already has are ignored (a client
 * retrying an upload does no harm). Refuses the whole batch, storing nothing, when the device
 * would then hold more than `maxStored`. The device row is locked on MySQL so that concurrent
 * uploads cannot both pass the check.
 */
export async function insertOneTimePreKeys(
  knex: Knex,
  owner: { userId: string; deviceId: string },
  keys: readonly OneTimePreKeyRecord[],
  maxStored: number,
): Promise<InsertOneTimePreKeysResult> {
  const unique = new Map<number, OneTimePreKeyRecord>();
  for (const key of keys) if (!unique.has(key.keyId)) unique.set(key.keyId, key);
  if (unique.size === 0) return { ok: true, inserted: 0 };
  return transactionWithRetry(knex, async (trx) => {
    const lock = trx('devices').select('id').where({ id: owner.deviceId, user_id: owner.userId });
    if (databaseKind(knex) === 'mysql') lock.forUpdate();
    if (!(await lock.first())) return { ok: true, inserted: 0 };
    const existing = (await trx('one_time_prekeys')
      .select('key_id')
      .where({ device_id: owner.deviceId })
      .whereIn('key_id', [...unique.keys()])) as Array<{ key_id: unknown }>;
    for (const row of existing) unique.delete(Number(row.key_id));
    const stored = await countOneTimePreKeys(trx, owner.deviceId);
    if (stored + unique.size > maxStored) return { ok: false, stored };
    // A plain insert: the ids were filtered under the device lock, and INSERT IGNORE would let
    // MySQL silently clamp out-of-range values instead of failing.
    await insertOneTimePreKeyRows(trx, owner, [...unique.values()]);
    return { ok: true, inserted: unique.size };
  });
}

/** Inserts one-time pre-keys as given, without checks (a phantom's server-made keys). */
export async function insertOneTimePreKeyRows(
  db: Knex,
  owner: { userId: string; deviceId: string },
  keys: readonly OneTimePreKeyRecord[],
): Promise<void> {
  if (keys.length === 0) return;
  await db('one_time_prekeys').insert(
    keys.map((key) => ({ device_id: owner.deviceId, user_id: owner.userId, key_id: key.keyId, public_key: key.publicKey })),
  );
}

/**
 * Takes one one-time pre-key of a device (the oldest) and deletes it, atomically: the row is
 * locked with FOR UPDATE on MySQL, and if a concurrent fetch deleted it first (0 rows affected)
 * the next one is tried. Undefined when the device has none left.
 */
export async function consumeOneTimePreKey(knex: Knex, deviceId: string): Promise<OneTimePreKeyRecord | undefined> {
  const mysql = databaseKind(knex) === 'mysql';
  return transactionWithRetry(knex, async (trx) => {
    for (;;) {
      const select = trx('one_time_prekeys').select('id', 'key_id', 'public_key').where({ device_id: deviceId }).orderBy('id').limit(1);
      if (mysql) select.forUpdate();
      const row = (await select.first()) as { id: unknown; key_id: unknown; public_key: string } | undefined;
      if (!row) return undefined;
      const deleted = Number(await trx('one_time_prekeys').where({ id: row.id }).delete());
      if (deleted === 1) return { keyId: Number(row.key_id), publicKey: row.public_key };
    }
  });
}

/** Deletes every pre-key of a user (signed and one-time). For use inside a transaction. */
export async function deletePreKeysOfUser(db: Knex, userId: string): Promise<void> {
  await db('one_time_prekeys').where({ user_id: userId }).delete();
  await db('signed_prekeys').where({ user_id: userId }).delete();
}
