/**
 * Accounts for tests: register through the real protocol (reading the code from the development
 * outbox), log in with the login key, upload pre-keys. Every step is a real frame to a real server,
 * so a test that uses these helpers also exercises registration and login.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ed25519KeyPair,
  ed25519Sign,
  generateOneTimePreKeys,
  generateSignedPreKey,
  type KeyPair,
  type OneTimePreKey,
  type SignedPreKey,
} from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64.js';
import { loginChallengeMessage, normalizeEmail } from '../protocol/auth.js';
import { SERVER_VERSION } from '../server/version.js';
import { OUTBOX_FOLDER, type OutboxMail } from '../server/core/mailer.js';
import type { TestConnection } from './connection.js';
import type { TestServer } from './server.js';

/** One-time pre-keys createAccount uploads. */
export const TEST_ONE_TIME_PREKEYS = 10;

export interface TestAccount {
  readonly userId: string;
  readonly email: string;
  readonly username: string;
  /** The device of `connection`. */
  readonly deviceId: string;
  /** Ed25519 identity key pair (privateKey is the seed). */
  readonly identity: KeyPair;
  /** Ed25519 login key pair. */
  readonly login: KeyPair;
  /** A connection logged in as this account on `deviceId`. */
  readonly connection: TestConnection;
  /** The signed pre-key uploaded for `deviceId` (with its private key, for X3DH as the responder). */
  readonly signedPreKey: SignedPreKey;
  /** The one-time pre-keys uploaded for `deviceId`. */
  readonly oneTimePreKeys: readonly OneTimePreKey[];
}

export interface CreateAccountOptions {
  readonly username?: string;
  readonly email?: string;
  /** A connection (not logged in) to register on; default: a new one, closed after registration. */
  readonly connection?: TestConnection;
  readonly deviceName?: string;
}

export interface LoginOptions {
  /** Log in as this existing device; default: a new device. */
  readonly deviceId?: string;
  readonly deviceName?: string;
  /** A connection to log in on; default: a new one. */
  readonly connection?: TestConnection;
  /** The login key to sign with (default: the account's). */
  readonly login?: KeyPair;
  /** Upload a signed pre-key and one-time pre-keys when the device is new (default true). */
  readonly uploadPreKeys?: boolean;
  readonly clientVersion?: string;
}

export interface TestLogin {
  readonly connection: TestConnection;
  readonly deviceId: string;
  readonly newDevice: boolean;
  /** Present when pre-keys were uploaded for a new device. */
  readonly signedPreKey?: SignedPreKey;
  readonly oneTimePreKeys?: readonly OneTimePreKey[];
}

let sequence = 0;

function uniqueName(): string {
  sequence += 1;
  return `user${process.pid}x${Date.now().toString(36)}x${sequence}`;
}

/**
 * Registers a new account (register, code from the outbox, register_confirm), logs a new
 * connection in on a new device and uploads a signed pre-key and TEST_ONE_TIME_PREKEYS one-time
 * pre-keys for it.
 */
export async function createAccount(server: TestServer, options: CreateAccountOptions = {}): Promise<TestAccount> {
  const username = options.username ?? uniqueName();
  const email = normalizeEmail(options.email ?? `${username.toLowerCase()}@example.test`);
  const identity = ed25519KeyPair();
  const login = ed25519KeyPair();

  const registration = options.connection ?? (await server.connect());
  let userId: string;
  try {
    await registration.expectOk('register', {
      username,
      email,
      identity_key: encodeBase64(identity.publicKey),
      login_key: encodeBase64(login.publicKey),
    });
    const code = await readOutboxCode(server, email);
    const confirmed = await registration.expectOk<{ user_id: string; username: string }>('register_confirm', { email, code });
    userId = confirmed.user_id;
  } finally {
    if (!options.connection) await registration.close();
  }

  const account = { userId, email, username, identity, login };
  const session = await loginAs(server, account, { deviceName: options.deviceName, connection: undefined, uploadPreKeys: true });
  return {
    ...account,
    deviceId: session.deviceId,
    connection: session.connection,
    signedPreKey: session.signedPreKey!,
    oneTimePreKeys: session.oneTimePreKeys!,
  };
}

/**
 * Logs an account in on a (new by default) connection: login_start, login_finish signed with the
 * login key. A new device gets pre-keys uploaded unless `uploadPreKeys` is false.
 */
export async function login(
  server: TestServer,
  account: Pick<TestAccount, 'email' | 'identity' | 'login'>,
  options: LoginOptions = {},
): Promise<TestLogin> {
  return loginAs(server, account, options);
}

async function loginAs(
  server: TestServer,
  account: Pick<TestAccount, 'email' | 'identity' | 'login'>,
  options: LoginOptions,
): Promise<TestLogin> {
  const connection = options.connection ?? (await server.connect());
  const started = await connection.expectOk<{ challenge: string }>('login_start', { email: account.email });
  const challenge = decodeBase64(started.challenge, 'challenge', { exactBytes: 32 });
  const loginKey = options.login ?? account.login;
  const signature = ed25519Sign(loginKey.privateKey, loginChallengeMessage(challenge, account.email));
  const finished = await connection.expectOk<{ device_id: string; new_device: boolean }>('login_finish', {
    email: account.email,
    signature: encodeBase64(signature),
    client_version: options.clientVersion ?? SERVER_VERSION,
    ...(options.deviceId !== undefined ? { device_id: options.deviceId } : {}),
    ...(options.deviceName !== undefined ? { device_name: options.deviceName } : {}),
  });
  if (!finished.new_device || options.uploadPreKeys === false) {
    return { connection, deviceId: finished.device_id, newDevice: finished.new_device };
  }
  const signedPreKey = generateSignedPreKey(account.identity.privateKey, 1);
  const oneTimePreKeys = generateOneTimePreKeys(1, TEST_ONE_TIME_PREKEYS);
  await connection.expectOk('upload_prekeys', {
    signed_prekey: { key_id: signedPreKey.keyId, public_key: encodeBase64(signedPreKey.publicKey), signature: encodeBase64(signedPreKey.signature) },
    one_time_prekeys: oneTimePreKeys.map((key) => ({ key_id: key.keyId, public_key: encodeBase64(key.publicKey) })),
  });
  return { connection, deviceId: finished.device_id, newDevice: true, signedPreKey, oneTimePreKeys };
}

/** The outbox mails (development mode) to `email`, oldest first. */
export async function readOutbox(server: TestServer, email?: string): Promise<OutboxMail[]> {
  const folder = join(server.config.dataDir, OUTBOX_FOLDER);
  let names: string[];
  try {
    names = (await readdir(folder)).filter((name) => name.endsWith('.json')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const wanted = email === undefined ? undefined : normalizeEmail(email);
  const mails: OutboxMail[] = [];
  for (const name of names) {
    const mail = JSON.parse(await readFile(join(folder, name), 'utf8')) as OutboxMail;
    if (wanted === undefined || mail.to === wanted) mails.push(mail);
  }
  return mails.sort((a, b) => a.created_at - b.created_at);
}

/** The newest registration code mailed to `email` (through the development outbox). */
export async function readOutboxCode(server: TestServer, email: string): Promise<string> {
  const codes = (await readOutbox(server, email)).filter((mail) => mail.kind === 'registration' && mail.code !== null);
  const newest = codes[codes.length - 1];
  if (!newest?.code) throw new Error(`No registration code was mailed to ${email}`);
  return newest.code;
}
