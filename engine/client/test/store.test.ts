/**
 * The key store on disk, for an account that really chatted through a real server: permissions
 * (files 0600, folders 0700), no plaintext anywhere (message texts, key bytes), typed errors for
 * damaged files (and an empty identity registry, never a forged one), atomic writes that survive
 * a crash (temporary files ignored and cleaned up), the wrong-password lockout with exponential
 * backoff persisted in the account folder, and listAccounts.
 */
import { cp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { ClientError } from '../../errors.js';
import {
  DEFAULT_ARGON2ID,
  bytesToHex,
  deriveLocalStorageKey,
  deriveSelfCopyKey,
  inspectEnvelope,
  nodeProvider,
  utf8Encode,
} from '../../crypto/index.js';
import { encodeBase64 } from '../../protocol/base64.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import { listAccounts } from '../index.js';
import { AccountStore, KEYS_FILE } from '../store/account-store.js';
import { FileWriters, TEMP_MARKER } from '../store/files.js';
import { LOCKOUT_FILE } from '../store/lockout.js';
import { SELF_DEVICE_ID } from '../../protocol/constants.js';
import { PASSWORD, clientFor, closeAll, EventLog, registerUser, removeHomes, tempHome, waitFor, waitForText, type User } from './helpers.js';

async function walk(dir: string): Promise<Array<{ path: string; dir: boolean }>> {
  const out: Array<{ path: string; dir: boolean }> = [{ path: dir, dir: true }];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else out.push({ path: full, dir: false });
  }
  return out;
}

function contains(haystack: Buffer, needle: Uint8Array | string): boolean {
  return haystack.includes(typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle));
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

forEachBackend('ChatClient key store', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  let home: string;
  let folder: string;
  const secret = 'the plaintext that must never touch the disk';
  const groupSecret = 'a group secret that must never touch the disk';

  /** Logs Alice in again on a fresh client over her home (throws what login throws). */
  async function relogin(options: Parameters<typeof clientFor>[1] = {}): Promise<User> {
    const client = await clientFor(server, { home, ...options });
    const events = new EventLog(client);
    const self = await client.login({ email: alice.email, password: PASSWORD });
    return { ...alice, client, events, self };
  }

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
    // The default key envelope (Argon2id 256 MiB) for this account.
    alice = await registerUser(server, { username: 'alice', options: { keyEnvelope: undefined } });
    bob = await registerUser(server, { username: 'bob' });
    home = alice.home;
    folder = join(home, alice.email);
    const dm = await alice.client.createDm(bob.email);
    const received = await bob.client.sendMessage(dm.id, secret);
    await waitForText(alice, dm.id, secret);
    // Alice's self copy of what she received is on the server before she closes.
    await waitFor('Alice’s self copy', async () =>
      (await server.server.database.knex('message_recipients').where({ message_id: received.id, user_id: alice.self.userId, device_id: SELF_DEVICE_ID })).length === 1,
    );
    const group = await alice.client.createGroup('Secrets', [bob.email]);
    await alice.client.sendMessage(group.id, groupSecret);
    await waitForText(bob, group.id, groupSecret);
    await alice.client.close();
  });

  after(async function () {
    this.timeout(30_000);
    await closeAll(alice, bob);
    await server?.close();
    await removeHomes();
  });

  it('seals keys.kenv with Argon2id by default', async function () {
    const kdf = inspectEnvelope(new Uint8Array(await readFile(join(folder, KEYS_FILE))));
    expect(kdf).to.deep.equal({ kdf: 'argon2id', params: DEFAULT_ARGON2ID });
  });

  it('keeps every file 0600 and every folder 0700', async function () {
    const entries = await walk(home);
    expect(entries.filter((e) => !e.dir).length).to.be.greaterThan(6);
    for (const entry of entries) {
      const mode = (await stat(entry.path)).mode & 0o777;
      expect(mode.toString(8), entry.path).to.equal(entry.dir ? '700' : '600');
    }
    const names = entries.map((e) => e.path.slice(folder.length + 1));
    expect(names).to.include.members([KEYS_FILE, 'state.bin', 'prekeys.bin', 'identities.bin', 'conversations.bin']);
    expect(names.some((n) => n.startsWith('sessions/'))).to.equal(true);
    expect(names.some((n) => n.startsWith('groups/'))).to.equal(true);
    expect(names.some((n) => n.startsWith('cache/'))).to.equal(true);
  });

  it('writes no plaintext to disk: no message text, no key bytes, no peer ids in file names', async function () {
    const keys = await new AccountStore(home, alice.email, nodeProvider).openKeys(utf8Encode(PASSWORD));
    const localKey = deriveLocalStorageKey(keys.identitySeed);
    const selfCopyKey = deriveSelfCopyKey(keys.identitySeed);
    const needles: Array<[string, Uint8Array | string]> = [
      ['DM text', secret],
      ['group text', groupSecret],
      ["bob's address", bob.email],
      ["bob's user id", bob.self.userId],
    ];
    for (const [name, key] of [
      ['identity seed', keys.identitySeed],
      ['login seed', keys.loginSeed],
      ['local key', localKey],
      ['self-copy key', selfCopyKey],
    ] as const) {
      needles.push([`${name} (raw)`, key], [`${name} (hex)`, bytesToHex(key)], [`${name} (base64)`, encodeBase64(key)]);
    }
    for (const entry of await walk(home)) {
      expect(entry.path.includes(bob.self.userId), 'file names').to.equal(false);
      if (entry.dir) continue;
      const content = await readFile(entry.path);
      for (const [name, needle] of needles) expect(contains(content, needle), `${name} in ${entry.path}`).to.equal(false);
    }
  });

  it('reports damaged or truncated files with a typed error, and never accepts a forged identity registry', async function () {
    this.timeout(60_000);
    const backup = await tempHome();
    await cp(home, backup, { recursive: true });
    const restore = async () => {
      await rm(home, { recursive: true, force: true });
      await cp(backup, home, { recursive: true });
    };

    for (const file of ['state.bin', 'prekeys.bin', KEYS_FILE]) {
      await truncate(join(folder, file), 20);
      const error = await rejection(relogin());
      expect(error, file).to.be.instanceOf(ClientError);
      expect(error.code, file).to.equal('store_corrupt');
      expect(error.details?.file, file).to.equal(file);
      await restore();
    }

    // A registry replaced by plaintext (an attempt to plant a key): refused, treated as empty, reported.
    await writeFile(join(folder, 'identities.bin'), JSON.stringify({ v: 1, keys: { [bob.self.userId]: { identity_key: 'AAAA', first_seen: 0, last_seen: 0 } } }));
    const user = await relogin();
    try {
      const reported = user.events.errors.find((e) => (e as ClientError).code === 'store_corrupt');
      expect((reported as ClientError | undefined)?.details?.file).to.equal('identities.bin');
      const bobInfo = await user.client.getUser({ userId: bob.self.userId });
      expect(bobInfo.identityStatus).to.equal('new');
    } finally {
      await user.client.close();
    }
    await restore();

    // A damaged message cache is reported and rebuilt from the server through the self copies: a
    // received direct message too, although its per-device ratchet key was used up already.
    const cacheDir = join(folder, 'cache');
    for (const name of await readdir(cacheDir)) await truncate(join(cacheDir, name), 30);
    const rebuilt = await relogin();
    try {
      await rebuilt.client.catchUp();
      expect(rebuilt.events.errors.some((e) => (e as ClientError).code === 'store_corrupt')).to.equal(true);
      const list = await rebuilt.client.listConversations();
      const group = list.find((c) => c.kind === 'group')!;
      expect((await rebuilt.client.getCachedMessages(group.id)).map((m) => m.text)).to.deep.equal([groupSecret]);
      const dm = list.find((c) => c.kind === 'dm')!;
      const history = await rebuilt.client.getCachedMessages(dm.id);
      expect(history.map((m) => [m.text, m.undecryptable, m.senderId])).to.deep.equal([[secret, false, bob.self.userId]]);
    } finally {
      await rebuilt.client.close();
      await restore();
    }
  });

  it('survives a crash in the middle of a write: temporary files are ignored and removed', async function () {
    this.timeout(30_000);
    const statePath = join(folder, 'state.bin');
    const original = await readFile(statePath);
    // A write that crashed before its rename: half of a new file next to the intact old one.
    const leftover = `${statePath}${TEMP_MARKER}deadbeef0001`;
    await writeFile(leftover, original.subarray(0, original.length >> 1), { mode: 0o600 });
    const sessionDir = join(folder, 'sessions');
    const [session] = await readdir(sessionDir);
    const leftover2 = join(sessionDir, `${session}${TEMP_MARKER}deadbeef0002`);
    await writeFile(leftover2, 'garbage', { mode: 0o600 });

    const user = await relogin();
    try {
      expect(user.self.deviceId).to.equal(alice.self.deviceId);
      const names = (await walk(home)).map((e) => e.path);
      expect(names).to.not.include(leftover);
      expect(names).to.not.include(leftover2);
      const dm = (await user.client.listConversations({ refresh: false })).find((c) => c.kind === 'dm')!;
      expect((await user.client.getCachedMessages(dm.id)).map((m) => m.text)).to.include(secret);
      // The sessions still work after the crash.
      await bob.client.sendMessage(dm.id, 'after the crash');
      await waitForText(user, dm.id, 'after the crash');
    } finally {
      await user.client.close();
    }

    // Rapid writes of one file are coalesced; every writer is answered once its content (or newer) is on disk.
    const writers = new FileWriters();
    const target = join(await tempHome(), 'coalesced.bin');
    await Promise.all(Array.from({ length: 50 }, (_, i) => writers.write(target, utf8Encode(`version ${i}`))));
    expect((await readFile(target, 'utf8'))).to.equal('version 49');
    expect((await stat(target)).mode & 0o777).to.equal(0o600);
  });

  it('locks out wrong passwords with exponential backoff, persisted in the account folder', async function () {
    this.timeout(60_000);
    const client = await clientFor(server, { home });
    const wrong = await rejection(client.login({ email: alice.email, password: 'not the password' }));
    expect(wrong.code).to.equal('invalid_credentials');
    expect(wrong.details).to.deep.equal({ failed_attempts: 1, retry_after_ms: 2000 });

    // Even the right password waits; and so does another client instance (the state is on disk).
    const locked = await rejection(client.login({ email: alice.email, password: PASSWORD }));
    expect(locked.code).to.equal('locked_out');
    expect(locked.details?.retry_after_ms).to.be.within(1, 2000);
    const other = await clientFor(server, { home });
    expect((await rejection(other.login({ email: alice.email, password: PASSWORD }))).code).to.equal('locked_out');
    expect(JSON.parse(await readFile(join(folder, LOCKOUT_FILE), 'utf8'))).to.include({ failed_attempts: 1 });

    await new Promise((resolve) => setTimeout(resolve, locked.details!.retry_after_ms as number));
    const second = await rejection(client.login({ email: alice.email, password: 'still wrong' }));
    expect(second.details).to.deep.equal({ failed_attempts: 2, retry_after_ms: 4000 });
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const self = await client.login({ email: alice.email, password: PASSWORD });
    expect(self.userId).to.equal(alice.self.userId);
    expect(JSON.parse(await readFile(join(folder, LOCKOUT_FILE), 'utf8'))).to.deep.equal({ failed_attempts: 0, locked_until: 0 });
    await client.close();
    await other.close();
  });

  it('lists the accounts of a home folder', async function () {
    expect(await listAccounts(home)).to.deep.equal([{ email: alice.email, folder }]);
    expect(await listAccounts(join(home, 'missing'))).to.deep.equal([]);
  });
});
