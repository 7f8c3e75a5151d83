/**
 * Devices: each login binds a connection to one of the user's devices. A device owns its signed
 * pre-key and one-time pre-keys (deleted with it by the foreign keys' cascade). A removed device
 * leaves a tombstone (`removed_devices`, migrations/0003_removed_devices.ts) so that it cannot log
 * in as itself again.
 */
import type { Knex } from 'knex';
import { databaseKind } from './connect.js';
import { toMillis } from './dialect.js';

export interface DeviceRecord {
  readonly id: string;
  readonly userId: string;
  readonly name: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
}

interface DeviceRow {
  id: string;
  user_id: string;
  name: string | null;
  created_at: unknown;
  last_seen_at: unknown;
}

const COLUMNS = ['id', 'user_id', 'name', 'created_at', 'last_seen_at'];

function toDevice(row: DeviceRow): DeviceRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name ?? null,
    createdAt: toMillis(row.created_at),
    lastSeenAt: toMillis(row.last_seen_at),
  };
}

/** The user's devices, oldest first. */
export async function listDevices(db: Knex, userId: string): Promise<DeviceRecord[]> {
  const rows = (await db('devices').select(COLUMNS).where({ user_id: userId }).orderBy([{ column: 'created_at' }, { column: 'id' }])) as DeviceRow[];
  return rows.map(toDevice);
}

/** One device, only if it belongs to `userId`. */
export async function findDevice(db: Knex, userId: string, deviceId: string): Promise<DeviceRecord | undefined> {
  const row = (await db('devices').select(COLUMNS).where({ id: deviceId, user_id: userId }).first()) as DeviceRow | undefined;
  return row ? toDevice(row) : undefined;
}

export async function countDevices(db: Knex, userId: string): Promise<number> {
  const row = (await db('devices').where({ user_id: userId }).count({ n: '*' }).first()) as { n: unknown } | undefined;
  return Number(row?.n ?? 0);
}

export async function insertDevice(db: Knex, device: DeviceRecord): Promise<void> {
  await db('devices').insert({
    id: device.id,
    user_id: device.userId,
    name: device.name,
    created_at: device.createdAt,
    last_seen_at: device.lastSeenAt,
  });
}

/**
 * Creates a device unless the user already has `maxDevices`. The user's row is locked first on
 * MySQL so that two concurrent logins cannot both pass the count (SQLite's single connection
 * serializes them anyway). Returns false at the cap.
 */
export async function insertDeviceWithinCap(knex: Knex, device: DeviceRecord, maxDevices: number): Promise<boolean> {
  return knex.transaction(async (trx) => {
    const lock = trx('users').select('id').where({ id: device.userId });
    if (databaseKind(knex) === 'mysql') lock.forUpdate();
    if (!(await lock.first())) return false;
    if ((await countDevices(trx, device.userId)) >= maxDevices) return false;
    await insertDevice(trx, device);
    return true;
  });
}

/** Updates last_seen_at (and the name when one is given). */
export async function touchDevice(db: Knex, userId: string, deviceId: string, now: number, name?: string): Promise<void> {
  const values: Record<string, unknown> = { last_seen_at: now };
  if (name !== undefined) values.name = name;
  await db('devices').where({ id: deviceId, user_id: userId }).update(values);
}

export interface DeviceTouch {
  readonly userId: string;
  readonly deviceId: string;
  readonly lastSeenAt: number;
}

/** Updates last_seen_at of several devices in one transaction (one commit). */
export async function touchDevices(knex: Knex, touches: readonly DeviceTouch[]): Promise<void> {
  if (touches.length === 0) return;
  await knex.transaction(async (trx) => {
    for (const touch of touches) {
      await trx('devices').where({ id: touch.deviceId, user_id: touch.userId }).update({ last_seen_at: touch.lastSeenAt });
    }
  });
}

/**
 * Removes a device of `userId` with everything addressed to it: its pre-keys (cascade) and the
 * per-device ciphertexts waiting for it, and leaves its tombstone, all in one transaction (a login
 * never finds neither the device nor its tombstone). Returns false when there is no such device of
 * that user.
 */
export async function removeDevice(knex: Knex, userId: string, deviceId: string, now: number): Promise<boolean> {
  return knex.transaction(async (trx) => {
    const deleted = Number(await trx('devices').where({ id: deviceId, user_id: userId }).delete());
    if (deleted === 0) return false;
    await trx('message_recipients').where({ user_id: userId, device_id: deviceId }).delete();
    await trx('removed_devices').insert({ device_id: deviceId, user_id: userId, removed_at: now });
    return true;
  });
}

/** Whether `deviceId` is a device of `userId` that was removed (a tombstone of another user's device does not count). */
export async function isRemovedDevice(db: Knex, userId: string, deviceId: string): Promise<boolean> {
  return (await db('removed_devices').where({ device_id: deviceId, user_id: userId }).first(db.raw('1 as one'))) !== undefined;
}

/** Deletes every device of a user (their pre-keys cascade). For use inside a transaction. */
export async function deleteDevicesOfUser(db: Knex, userId: string): Promise<number> {
  return Number(await db('devices').where({ user_id: userId }).delete());
}
