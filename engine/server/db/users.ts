/**
 * Accounts and pending registrations. Emails are stored normalised (trimmed, lowercased); keys as
 * the canonical base64 the client sent. Functions take a knex instance or a transaction, so
 * callers compose them inside `knex.transaction` (with SQLite, never mix the two).
 */
import type { Knex } from 'knex';
import { toBool, toMillis } from './dialect.js';

export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  /** Ed25519 identity public key, base64. */
  readonly identityKey: string;
  /** Ed25519 login public key, base64. */
  readonly loginKey: string;
  /** An unregistered placeholder (anti-enumeration), upgraded in place on registration. */
  readonly phantom: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface PendingRegistration {
  readonly email: string;
  readonly username: string;
  readonly identityKey: string;
  readonly loginKey: string;
  /** HMAC-SHA256(server secret, email + ':' + code), hex. */
  readonly codeHash: string;
  readonly attempts: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

interface UserRow {
  id: string;
  username: string;
  email: string;
  identity_key: string;
  login_key: string;
  phantom: unknown;
  created_at: unknown;
  updated_at: unknown;
}

interface PendingRow {
  email: string;
  username: string;
  identity_key: string;
  login_key: string;
  code_hash: string;
  attempts: unknown;
  created_at: unknown;
  expires_at: unknown;
}

const USER_COLUMNS = ['id', 'username', 'email', 'identity_key', 'login_key', 'phantom', 'created_at', 'updated_at'];

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    identityKey: row.identity_key,
    loginKey: row.login_key,
    phantom: toBool(row.phantom),
    createdAt: toMillis(row.created_at),
    updatedAt: toMillis(row.updated_at),
  };
}

function toPending(row: PendingRow): PendingRegistration {
  return {
    email: row.email,
    username: row.username,
    identityKey: row.identity_key,
    loginKey: row.login_key,
    codeHash: row.code_hash,
    attempts: Number(row.attempts),
    createdAt: toMillis(row.created_at),
    expiresAt: toMillis(row.expires_at),
  };
}

// ---- users -------------------------------------------------------------------------------------

export async function findUserById(db: Knex, userId: string): Promise<UserRecord | undefined> {
  const row = (await db('users').select(USER_COLUMNS).where({ id: userId }).first()) as UserRow | undefined;
  return row ? toUser(row) : undefined;
}

/** `email` must already be normalised. */
export async function findUserByEmail(db: Knex, email: string): Promise<UserRecord | undefined> {
  const row = (await db('users').select(USER_COLUMNS).where({ email }).first()) as UserRow | undefined;
  return row ? toUser(row) : undefined;
}

/** Users by id (unknown ids are left out). Queries in chunks to stay under bound-variable limits. */
export async function findUsersByIds(db: Knex, userIds: Iterable<string>): Promise<Map<string, UserRecord>> {
  const ids = [...new Set(userIds)];
  const result = new Map<string, UserRecord>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = (await db('users').select(USER_COLUMNS).whereIn('id', ids.slice(i, i + 500))) as UserRow[];
    for (const row of rows) result.set(row.id, toUser(row));
  }
  return result;
}

export async function insertUser(db: Knex, user: UserRecord): Promise<void> {
  await db('users').insert({
    id: user.id,
    username: user.username,
    email: user.email,
    identity_key: user.identityKey,
    login_key: user.loginKey,
    phantom: user.phantom,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  });
}

/**
 * Turns a phantom into a registered account, keeping its id (so its memberships survive).
 * Returns false when the user is not (or no longer) a phantom.
 */
export async function upgradePhantomUser(
  db: Knex,
  userId: string,
  values: { username: string; identityKey: string; loginKey: string; now: number },
): Promise<boolean> {
  const updated = await db('users')
    .where({ id: userId, phantom: true })
    .update({ username: values.username, identity_key: values.identityKey, login_key: values.loginKey, phantom: false, updated_at: values.now });
  return Number(updated) > 0;
}

export async function updateLoginKey(db: Knex, userId: string, loginKey: string, now: number): Promise<boolean> {
  const updated = await db('users').where({ id: userId }).update({ login_key: loginKey, updated_at: now });
  return Number(updated) > 0;
}

/** Which of these users are phantoms. */
export async function selectPhantomIds(db: Knex, userIds: Iterable<string>): Promise<Set<string>> {
  const ids = [...new Set(userIds)];
  const result = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = (await db('users').select('id').whereIn('id', ids.slice(i, i + 500)).andWhere({ phantom: true })) as Array<{ id: string }>;
    for (const row of rows) result.add(row.id);
  }
  return result;
}

/**
 * Phantoms created before `cutoff` that nothing recent ties to a real user: no conversation they
 * share with a registered user saw a message from a registered user, or a new member, since
 * `cutoff`. At most `limit` ids.
 */
export async function selectStalePhantomIds(db: Knex, cutoff: number, limit: number): Promise<string[]> {
  const rows = (await db('users as p')
    .select('p.id')
    .where('p.phantom', true)
    .andWhere('p.created_at', '<', cutoff)
    .whereNotExists(function recentMessage() {
      this.select(db.raw('1'))
        .from('conversation_members as pm')
        .join('messages as m', 'm.conversation_id', 'pm.conversation_id')
        .join('users as s', 's.id', 'm.sender_id')
        .whereRaw('pm.user_id = p.id')
        .andWhere('s.phantom', false)
        .andWhere('m.created_at', '>=', cutoff);
    })
    .whereNotExists(function recentMembership() {
      this.select(db.raw('1'))
        .from('conversation_members as pm')
        .join('conversation_members as om', 'om.conversation_id', 'pm.conversation_id')
        .join('users as o', 'o.id', 'om.user_id')
        .whereRaw('pm.user_id = p.id')
        .andWhere('o.phantom', false)
        .andWhere(function joinedRecently() {
          this.where('pm.joined_at', '>=', cutoff).orWhere('om.joined_at', '>=', cutoff);
        });
    })
    .orderBy('p.created_at')
    .limit(limit)) as Array<{ id: string }>;
  return rows.map((row) => row.id);
}

/** Deletes these users if they are still phantoms (devices, pre-keys and memberships cascade). */
export async function deletePhantomUsers(db: Knex, userIds: readonly string[]): Promise<number> {
  if (userIds.length === 0) return 0;
  return Number(await db('users').whereIn('id', userIds).andWhere({ phantom: true }).delete());
}

// ---- pending registrations ---------------------------------------------------------------------

export async function findPendingRegistration(db: Knex, email: string): Promise<PendingRegistration | undefined> {
  const row = (await db('pending_registrations').where({ email }).first()) as PendingRow | undefined;
  return row ? toPending(row) : undefined;
}

/** Stores a pending registration, replacing any earlier one for the same email (attempts start again). */
export async function upsertPendingRegistration(db: Knex, pending: PendingRegistration): Promise<void> {
  const row = {
    email: pending.email,
    username: pending.username,
    identity_key: pending.identityKey,
    login_key: pending.loginKey,
    code_hash: pending.codeHash,
    attempts: pending.attempts,
    created_at: pending.createdAt,
    expires_at: pending.expiresAt,
  };
  await db('pending_registrations').insert(row).onConflict('email').merge();
}

/** Counts one wrong code; returns the attempts now recorded (0 when the row is gone). */
export async function recordFailedAttempt(db: Knex, email: string): Promise<number> {
  await db('pending_registrations').where({ email }).increment('attempts', 1);
  const row = (await db('pending_registrations').select('attempts').where({ email }).first()) as { attempts: unknown } | undefined;
  return row ? Number(row.attempts) : 0;
}

/** Deletes the pending registration; with `codeHash`, only if it is still the one that was checked. */
export async function deletePendingRegistration(db: Knex, email: string, codeHash?: string): Promise<boolean> {
  const query = db('pending_registrations').where({ email });
  if (codeHash !== undefined) query.andWhere({ code_hash: codeHash });
  return Number(await query.delete()) > 0;
}

export async function deleteExpiredPendingRegistrations(db: Knex, now: number): Promise<number> {
  return Number(await db('pending_registrations').where('expires_at', '<=', now).delete());
}
