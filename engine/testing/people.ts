/**
 * Protocol-level helpers for plugin suites (reactions, pins, and plugins of your own): people
 * with several logged-in devices (real accounts
 * through the harness), DMs and groups, stand-in ciphertexts, and a probe plugin that works as a
 * barrier for pushes — once a connection has the probe's push, every push sent to it before has
 * arrived — so "this device got nothing" is checked without sleeping.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Type } from 'typebox';
import { definePlugin, type AnyPluginDefinition, type ServerPluginApi } from '../plugin/index.js';
import { SELF_DEVICE_ID, encodeBase64 } from '../protocol/index.js';
import { createAccount, login, type TestAccount, type TestConnection, type TestServer } from './index.js';

export interface Device {
  readonly userId: string;
  readonly deviceId: string;
  readonly connection: TestConnection;
}

export interface Person {
  readonly account: TestAccount;
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  /** devices[0] is the account's first device. */
  readonly devices: Device[];
}

export interface MessageRow {
  id: string;
  conversation_id: string;
  sender_id: string;
  deleted_at: number | null;
  [field: string]: unknown;
}

const opened: TestConnection[] = [];

/** Closes every connection the helpers opened (afterEach). */
export async function closeOpened(): Promise<void> {
  await Promise.allSettled(opened.splice(0).map((connection) => connection.close()));
}

/** Random bytes as base64: a stand-in ciphertext (the server never reads it). */
export function cipher(bytes = 24): string {
  return encodeBase64(randomBytes(bytes));
}

/** A registered user with `deviceCount` logged-in devices, each with pre-keys. */
export async function person(server: TestServer, deviceCount = 1, username?: string): Promise<Person> {
  const account = await createAccount(server, username === undefined ? {} : { username });
  opened.push(account.connection);
  const devices: Device[] = [{ userId: account.userId, deviceId: account.deviceId, connection: account.connection }];
  for (let i = 1; i < deviceCount; i++) devices.push(await addDevice(server, account));
  return { account, userId: account.userId, username: account.username, email: account.email, devices };
}

/** Logs the account in on a new device (with pre-keys unless `uploadPreKeys` is false). */
export async function addDevice(server: TestServer, account: TestAccount, uploadPreKeys = true): Promise<Device> {
  const session = await login(server, account, { uploadPreKeys });
  opened.push(session.connection);
  return { userId: account.userId, deviceId: session.deviceId, connection: session.connection };
}

/** Logs an account in again on a device it had (after a server restart). */
export async function relogin(server: TestServer, account: TestAccount, deviceId: string): Promise<Device> {
  const session = await login(server, account, { deviceId });
  opened.push(session.connection);
  return { userId: account.userId, deviceId, connection: session.connection };
}

export async function createDm(from: Device, to: Person): Promise<string> {
  const answer = await from.connection.expectOk<{ conversation: { id: string } }>('create_conversation', { kind: 'dm', user_ids: [to.userId] });
  return answer.conversation.id;
}

export async function createGroup(from: Device, others: readonly Person[], name = 'Group'): Promise<string> {
  const answer = await from.connection.expectOk<{ conversation: { id: string } }>('create_conversation', {
    kind: 'group',
    name,
    user_ids: others.map((p) => p.userId),
  });
  return answer.conversation.id;
}

/** A DM message to every device of `members` (the sender's other devices included) plus a self copy. */
export async function sendDm(sender: Device, conversationId: string, members: readonly Person[]): Promise<string> {
  const recipients: Array<{ user_id: string; device_id: string; body: string }> = [];
  for (const member of members) {
    for (const device of member.devices) {
      if (device.userId === sender.userId && device.deviceId === sender.deviceId) continue;
      recipients.push({ user_id: device.userId, device_id: device.deviceId, body: cipher() });
    }
  }
  recipients.push({ user_id: sender.userId, device_id: SELF_DEVICE_ID, body: cipher() });
  const answer = await sender.connection.expectOk<{ message_id: string }>('send_message', { conversation_id: conversationId, recipients });
  return answer.message_id;
}

/** A group message (one shared body). */
export async function sendGroup(sender: Device, conversationId: string): Promise<string> {
  const answer = await sender.connection.expectOk<{ message_id: string }>('send_message', { conversation_id: conversationId, body: cipher() });
  return answer.message_id;
}

export async function getMessages(device: Device, conversationId: string): Promise<MessageRow[]> {
  return (await device.connection.expectOk<{ messages: MessageRow[] }>('get_messages', { conversation_id: conversationId, limit: 200 })).messages;
}

/** Asserts an error answer's code and, when given, the field it names. */
export async function expectFailure(device: Device | TestConnection, type: string, fields: Record<string, unknown>, code: string, field?: string) {
  const connection = 'connection' in device ? device.connection : device;
  const data = await connection.expectError(type, fields, code);
  if (field !== undefined) expect(data.field, `${type} error field`).to.equal(field);
  return data;
}

/** Pushes of `type` a connection received (consumed or not) whose data matches `where`. */
export function received<T = Record<string, unknown>>(connection: TestConnection, type: string, where: (data: T) => boolean = () => true): T[] {
  return connection.pushes.filter((push) => push.type === type && where(push.data as T)).map((push) => push.data as T);
}

/**
 * Test plugin: `test_probe {user_ids, nonce}` pushes `test_probe {nonce}` to every connection of
 * those users. Pushes to one connection arrive in the order they were sent.
 */
export const probePlugin: AnyPluginDefinition = definePlugin({
  name: 'test-probe',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    handleProbe(api);
  },
});

/** Registers the probe's `test_probe` handler on a server plugin (for probes with more handlers). */
export function handleProbe(api: ServerPluginApi): void {
  api.handle(
    'test_probe',
    Type.Object({ user_ids: Type.Array(Type.String()), nonce: Type.String() }),
    (request) => {
      api.notify(request.user_ids, 'test_probe', { nonce: request.nonce });
      return {};
    },
    { auth: false },
  );
}

/** Waits until every given device has received every push sent to it so far. */
export async function settle(probe: TestConnection, devices: readonly Device[]): Promise<void> {
  if (devices.length === 0) return;
  const nonce = encodeBase64(randomBytes(9));
  await probe.expectOk('test_probe', { user_ids: [...new Set(devices.map((d) => d.userId))], nonce });
  for (const device of devices) {
    for (;;) {
      const push = await device.connection.nextPush<{ nonce: string }>('test_probe');
      if (push.nonce === nonce) break;
    }
  }
}

/** A data folder that outlives one server (restart tests); removed by the returned function. */
export async function persistentDataDir(prefix = 'plugin'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `kecalek-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
