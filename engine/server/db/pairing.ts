/**
 * Device-linking rows (`pairing_sessions`, migrations/0002_pairing.ts). Every state change is one
 * conditional UPDATE, so two racing requests can never both claim a pairing, both store a
 * payload, or push the poll count past its cap. Functions take a knex instance or a transaction.
 */
import type { Knex } from 'knex';
import { toMillis } from './dialect.js';

export type PairingStatus = 'waiting' | 'claimed' | 'ready';

export interface PairingRecord {
  readonly id: string;
  /** HMAC-SHA256(server secret, code), hex. */
  readonly codeHash: string;
  /** HMAC-SHA256(server secret, poll token), hex. */
  readonly pollTokenHash: string;
  /** Base64 SHA-256 commitment to the new device's ephemeral key. */
  readonly newDeviceCommitment: string;
  readonly newDeviceEphemeral: string | null;
  readonly approverUserId: string | null;
  readonly approverDeviceId: string | null;
  readonly approverEphemeral: string | null;
  readonly ciphertext: string | null;
  readonly status: PairingStatus;
  readonly pollCount: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

interface PairingRow {
  id: string;
  code_hash: string;
  poll_token_hash: string;
  new_device_commitment: string;
  new_device_ephemeral: string | null;
  approver_user_id: string | null;
  approver_device_id: string | null;
  approver_ephemeral: string | null;
  ciphertext: string | null;
  status: string;
  poll_count: unknown;
  created_at: unknown;
  expires_at: unknown;
}

const TABLE = 'pairing_sessions';

function toRecord(row: PairingRow): PairingRecord {
  return {
    id: row.id,
    codeHash: row.code_hash,
    pollTokenHash: row.poll_token_hash,
    newDeviceCommitment: row.new_device_commitment,
    newDeviceEphemeral: row.new_device_ephemeral ?? null,
    approverUserId: row.approver_user_id ?? null,
    approverDeviceId: row.approver_device_id ?? null,
    approverEphemeral: row.approver_ephemeral ?? null,
    ciphertext: row.ciphertext ?? null,
    status: row.status as PairingStatus,
    pollCount: Number(row.poll_count),
    createdAt: toMillis(row.created_at),
    expiresAt: toMillis(row.expires_at),
  };
}

export interface NewPairing {
  readonly id: string;
  readonly codeHash: string;
  readonly pollTokenHash: string;
  readonly newDeviceCommitment: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * Inserts a waiting pairing. An expired row still holding the same code is removed first, in the
 * same transaction; a live one makes the insert fail with a unique violation (pick another code).
 */
export async function insertPairing(db: Knex, pairing: NewPairing): Promise<void> {
  await db.transaction(async (trx) => {
    await trx(TABLE).where({ code_hash: pairing.codeHash }).andWhere('expires_at', '<=', pairing.createdAt).delete();
    await trx(TABLE).insert({
      id: pairing.id,
      code_hash: pairing.codeHash,
      poll_token_hash: pairing.pollTokenHash,
      new_device_commitment: pairing.newDeviceCommitment,
      status: 'waiting',
      poll_count: 0,
      created_at: pairing.createdAt,
      expires_at: pairing.expiresAt,
    });
  });
}

/** The pairing with this id, unless it has expired. */
export async function findLivePairing(db: Knex, id: string, now: number): Promise<PairingRecord | undefined> {
  const row = (await db(TABLE).where({ id }).andWhere('expires_at', '>', now).first()) as PairingRow | undefined;
  return row ? toRecord(row) : undefined;
}

/** The unexpired pairing holding this code, if any. */
export async function findLivePairingByCode(db: Knex, codeHash: string, now: number): Promise<PairingRecord | undefined> {
  const row = (await db(TABLE).where({ code_hash: codeHash }).andWhere('expires_at', '>', now).first()) as PairingRow | undefined;
  return row ? toRecord(row) : undefined;
}

/** Claims a waiting, unexpired pairing for one device of an account. False when it is no longer waiting. */
export async function claimPairing(db: Knex, id: string, approver: { userId: string; deviceId: string }, now: number): Promise<boolean> {
  const updated = await db(TABLE)
    .where({ id, status: 'waiting' })
    .andWhere('expires_at', '>', now)
    .update({ status: 'claimed', approver_user_id: approver.userId, approver_device_id: approver.deviceId });
  return Number(updated) > 0;
}

/** Records the approver's ephemeral key, once, from the claiming device only. */
export async function setApproverEphemeral(
  db: Knex,
  id: string,
  approver: { userId: string; deviceId: string },
  key: string,
  now: number,
): Promise<boolean> {
  const updated = await db(TABLE)
    .where({ id, status: 'claimed', approver_user_id: approver.userId, approver_device_id: approver.deviceId })
    .whereNull('approver_ephemeral')
    .andWhere('expires_at', '>', now)
    .update({ approver_ephemeral: key });
  return Number(updated) > 0;
}

/** Records the new device's ephemeral key, once, and only after the approver's key is there. */
export async function setNewDeviceEphemeral(db: Knex, id: string, key: string, now: number): Promise<boolean> {
  const updated = await db(TABLE)
    .where({ id })
    .whereNotNull('approver_ephemeral')
    .whereNull('new_device_ephemeral')
    .andWhere('expires_at', '>', now)
    .update({ new_device_ephemeral: key });
  return Number(updated) > 0;
}

/** Counts one poll by the new device. False when the cap is reached (or the pairing is gone). */
export async function countPoll(db: Knex, id: string, maxPolls: number, now: number): Promise<boolean> {
  const updated = await db(TABLE)
    .where({ id })
    .andWhere('poll_count', '<', maxPolls)
    .andWhere('expires_at', '>', now)
    .update({ poll_count: db.raw('poll_count + 1') });
  return Number(updated) > 0;
}

/** Stores the encrypted payload, once, from the claiming device, after it published its key. */
export async function storePairingPayload(
  db: Knex,
  id: string,
  approver: { userId: string; deviceId: string },
  ciphertext: string,
  now: number,
): Promise<boolean> {
  const updated = await db(TABLE)
    .where({ id, status: 'claimed', approver_user_id: approver.userId, approver_device_id: approver.deviceId })
    .whereNotNull('approver_ephemeral')
    .andWhere('expires_at', '>', now)
    .update({ status: 'ready', ciphertext });
  return Number(updated) > 0;
}

export async function deletePairing(db: Knex, id: string): Promise<boolean> {
  return Number(await db(TABLE).where({ id }).delete()) > 0;
}

/** Deletes every pairing that expired at or before `now`; returns how many. */
export async function deleteExpiredPairings(db: Knex, now: number): Promise<number> {
  return Number(await db(TABLE).where('expires_at', '<=', now).delete());
}
