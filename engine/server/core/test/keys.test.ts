/**
 * core-keys over real sockets against a real server, on SQLite and (when configured) MariaDB:
 * devices, pre-key uploads with signature checks, key bundles, and one-time pre-keys that are
 * never handed out twice, even to concurrent fetches (H12).
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import {
  ed25519KeyPair,
  ed25519Sign,
  ed25519Verify,
  generateOneTimePreKeys,
  generateSignedPreKey,
  signedPreKeySignatureMessage,
  x25519KeyPair,
  x3dhInitiate,
  type OneTimePreKey,
} from '../../../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../../../protocol/base64.js';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { createAccount, login, TEST_ONE_TIME_PREKEYS, type TestAccount } from '../../../testing/accounts.js';
import { loginChallengeMessage } from '../../../protocol/auth.js';
import { SERVER_VERSION } from '../../version.js';

const b64 = encodeBase64;

interface DeviceView {
  device_id: string;
  name: string | null;
  created_at: number;
  last_seen_at: number;
  current: boolean;
  online: boolean;
}

interface Bundle {
  user_id: string;
  username: string;
  identity_key: string;
  devices: Array<{
    device_id: string;
    signed_prekey: { key_id: number; public_key: string; signature: string };
    one_time_prekey: { key_id: number; public_key: string } | null;
  }>;
}

interface PrekeyStatus {
  count: number;
  spk_created_at: number | null;
  spk_key_id: number | null;
}

function opkUploads(keys: readonly OneTimePreKey[]) {
  return keys.map((key) => ({ key_id: key.keyId, public_key: b64(key.publicKey) }));
}

function spkUpload(identitySeed: Uint8Array, keyId: number) {
  const spk = generateSignedPreKey(identitySeed, keyId);
  return { key_id: spk.keyId, public_key: b64(spk.publicKey), signature: b64(spk.signature) };
}

forEachBackend('core-keys', (backend) => {
  let server: TestServer;
  const cleanup: TestConnection[] = [];

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
  });

  after(async () => {
    await server?.close();
  });

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((connection) => connection.close()));
  });

  async function account(options: { deviceName?: string } = {}): Promise<TestAccount> {
    const created = await createAccount(server, options);
    cleanup.push(created.connection);
    return created;
  }

  async function device(owner: TestAccount, options: Parameters<typeof login>[2] = {}) {
    const session = await login(server, owner, options);
    cleanup.push(session.connection);
    return session;
  }

  describe('list_devices', () => {
    it('lists the devices with names, the current one and which are online', async () => {
      const alice = await account({ deviceName: 'laptop' });
      const phone = await device(alice, { deviceName: 'phone', uploadPreKeys: false });
      const tablet = await device(alice, { deviceName: 'tablet', uploadPreKeys: false });
      await tablet.connection.close();

      const { devices } = await alice.connection.expectOk<{ devices: DeviceView[] }>('list_devices');
      expect(devices.map((d) => d.device_id)).to.deep.equal([alice.deviceId, phone.deviceId, tablet.deviceId]);
      const byId = new Map(devices.map((d) => [d.device_id, d]));
      expect(byId.get(alice.deviceId)).to.include({ name: 'laptop', current: true, online: true });
      expect(byId.get(phone.deviceId)).to.include({ name: 'phone', current: false, online: true });
      expect(byId.get(tablet.deviceId)).to.include({ name: 'tablet', current: false, online: false });
      for (const d of devices) {
        expect(d.created_at).to.be.a('number');
        expect(d.last_seen_at).to.be.at.least(d.created_at);
      }
      // The other device sees itself as current.
      const fromPhone = await phone.connection.expectOk<{ devices: DeviceView[] }>('list_devices');
      expect(fromPhone.devices.find((d) => d.current)?.device_id).to.equal(phone.deviceId);
    });

    it('records last_seen_at on login and on disconnect', async () => {
      const alice = await account();
      const second = await device(alice, { uploadPreKeys: false });
      const knex = server.server.database.knex;
      await knex('devices').where({ id: second.deviceId }).update({ last_seen_at: 1 });
      await second.connection.close();
      // The disconnect hook runs after the socket closed; ask until it has.
      let seen = 1;
      for (let i = 0; i < 100 && seen === 1; i++) {
        seen = Number((await knex('devices').where({ id: second.deviceId }).first()).last_seen_at);
        if (seen === 1) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(seen).to.be.above(1);
      await knex('devices').where({ id: second.deviceId }).update({ last_seen_at: 1 });
      const again = await device(alice, { deviceId: second.deviceId });
      // Written behind in batches (core/last-seen.ts): within LAST_SEEN_FLUSH_MS of the login.
      seen = 1;
      for (let i = 0; i < 100 && seen === 1; i++) {
        seen = Number((await knex('devices').where({ id: again.deviceId }).first()).last_seen_at);
        if (seen === 1) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(seen).to.be.above(1);
    });
  });

  describe('remove_device', () => {
    it('removes the device with its keys and queued ciphertexts, disconnects it and tells the other devices', async () => {
      const alice = await account();
      const doomed = await device(alice);
      const watcher = await device(alice, { uploadPreKeys: false });
      const bob = await account();
      const knex = server.server.database.knex;

      // A ciphertext waiting for the doomed device, and one for the watcher.
      const conversationId = randomUUID();
      const messageId = randomUUID();
      const now = Date.now();
      await knex('conversations').insert({ id: conversationId, kind: 'dm', name: null, created_by: bob.userId, created_at: now });
      await knex('messages').insert({ id: messageId, conversation_id: conversationId, sender_id: bob.userId, sender_device_id: bob.deviceId, kind: 'message', body: null, created_at: now });
      await knex('message_recipients').insert([
        { message_id: messageId, user_id: alice.userId, device_id: doomed.deviceId, body: 'AAAA' },
        { message_id: messageId, user_id: alice.userId, device_id: watcher.deviceId, body: 'BBBB' },
      ]);

      expect(await alice.connection.expectOk('remove_device', { device_id: doomed.deviceId })).to.deep.equal({});
      await doomed.connection.closed;
      expect(doomed.connection.isClosed).to.equal(true);
      expect(await watcher.connection.nextPush('device_removed')).to.deep.equal({ device_id: doomed.deviceId });

      const { devices } = await alice.connection.expectOk<{ devices: DeviceView[] }>('list_devices');
      expect(devices.map((d) => d.device_id)).not.to.include(doomed.deviceId);
      expect(await knex('signed_prekeys').where({ device_id: doomed.deviceId })).to.have.length(0);
      expect(await knex('one_time_prekeys').where({ device_id: doomed.deviceId })).to.have.length(0);
      expect(await knex('message_recipients').where({ device_id: doomed.deviceId })).to.have.length(0);
      expect(await knex('message_recipients').where({ device_id: watcher.deviceId })).to.have.length(1);
      const bundle = await bob.connection.expectOk<Bundle>('get_key_bundle', { user_id: alice.userId });
      expect(bundle.devices.map((d) => d.device_id)).to.deep.equal([alice.deviceId]);

      // The caller's own connection got no push (a request round trip later, still none).
      await alice.connection.expectOk('get_prekey_count');
      expect(alice.connection.pushes.filter((p) => p.type === 'device_removed')).to.have.length(0);
      // The removed device cannot log in as itself again (its tombstone is kept).
      const back = await server.connect();
      cleanup.push(back);
      const started = await back.expectOk<{ challenge: string }>('login_start', { email: alice.email });
      const challenge = decodeBase64(started.challenge, 'challenge', { exactBytes: 32 });
      const refused = await back.expectError(
        'login_finish',
        {
          email: alice.email,
          signature: b64(ed25519Sign(alice.login.privateKey, loginChallengeMessage(challenge, alice.email))),
          client_version: SERVER_VERSION,
          device_id: doomed.deviceId,
        },
        'device_removed',
      );
      expect(refused.message).to.include('removed');
      expect(await knex('removed_devices').where({ device_id: doomed.deviceId, user_id: alice.userId })).to.have.length(1);
      expect(await knex('devices').where({ id: doomed.deviceId })).to.have.length(0);
    });

    it('refuses the current device, other users’ devices, unknown ids and bad input', async () => {
      const alice = await account();
      const bob = await account();
      const conflict = await alice.connection.expectError('remove_device', { device_id: alice.deviceId }, 'conflict');
      expect(conflict.message).to.include('device you are using');
      await alice.connection.expectError('remove_device', { device_id: bob.deviceId }, 'not_found');
      await alice.connection.expectError('remove_device', { device_id: randomUUID() }, 'not_found');
      expect((await alice.connection.expectError('remove_device', {}, 'bad_request')).field).to.equal('device_id');
      expect((await alice.connection.expectError('remove_device', { device_id: 'x' }, 'bad_request')).field).to.equal('device_id');
      // Bob's device is still there and connected.
      await bob.connection.expectOk('list_devices');
    });
  });

  describe('upload_prekeys, get_prekey_count, ensure_prekeys', () => {
    it('reports nothing for a fresh device, then what was uploaded', async () => {
      const alice = await account();
      const fresh = await device(alice, { uploadPreKeys: false });
      expect(await fresh.connection.expectOk('get_prekey_count')).to.deep.equal({ count: 0, spk_created_at: null, spk_key_id: null });

      const uploaded = await fresh.connection.expectOk<{ one_time_prekey_count: number; spk_created_at: number }>('upload_prekeys', {
        signed_prekey: spkUpload(alice.identity.privateKey, 5),
        one_time_prekeys: opkUploads(generateOneTimePreKeys(100, 20)),
      });
      expect(uploaded.one_time_prekey_count).to.equal(20);
      expect(uploaded.spk_created_at).to.be.a('number');
      const status = await fresh.connection.expectOk<PrekeyStatus>('get_prekey_count');
      expect(status).to.deep.equal({ count: 20, spk_created_at: uploaded.spk_created_at, spk_key_id: 5 });
      // Counts are per device.
      expect((await alice.connection.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(TEST_ONE_TIME_PREKEYS);
    });

    it('replaces the signed pre-key and ignores one-time key ids the device already has', async () => {
      const alice = await account();
      const bob = await account();
      const replacement = generateSignedPreKey(alice.identity.privateKey, 2);
      const before = await alice.connection.expectOk<PrekeyStatus>('get_prekey_count');
      const answer = await alice.connection.expectOk<{ one_time_prekey_count: number; spk_created_at: number }>('upload_prekeys', {
        signed_prekey: { key_id: 2, public_key: b64(replacement.publicKey), signature: b64(replacement.signature) },
        // Ids 1..10 exist already (createAccount); 11..12 are new; 12 twice in one request.
        one_time_prekeys: opkUploads([...generateOneTimePreKeys(5, 8), ...generateOneTimePreKeys(12, 1)]),
      });
      expect(answer.one_time_prekey_count).to.equal(TEST_ONE_TIME_PREKEYS + 2);
      expect(answer.spk_created_at).to.be.at.least(before.spk_created_at!);
      const bundle = await bob.connection.expectOk<Bundle>('get_key_bundle', { user_id: alice.userId });
      expect(bundle.devices[0]!.signed_prekey).to.deep.equal({ key_id: 2, public_key: b64(replacement.publicKey), signature: b64(replacement.signature) });
    });

    it('accepts the full uint32 range of key ids', async () => {
      const alice = await account();
      const bob = await account();
      const fresh = await device(alice, { uploadPreKeys: false });
      const [opk] = generateOneTimePreKeys(0xffffffff, 1);
      await fresh.connection.expectOk('upload_prekeys', { signed_prekey: spkUpload(alice.identity.privateKey, 0xffffffff), one_time_prekeys: opkUploads([opk!]) });
      expect(await fresh.connection.expectOk<PrekeyStatus>('get_prekey_count')).to.include({ count: 1, spk_key_id: 0xffffffff });
      const bundle = await bob.connection.expectOk<Bundle>('get_key_bundle', { user_id: alice.userId, device_ids: [fresh.deviceId] });
      expect(bundle.devices[0]!.signed_prekey.key_id).to.equal(0xffffffff);
      expect(bundle.devices[0]!.one_time_prekey).to.deep.equal({ key_id: 0xffffffff, public_key: b64(opk!.publicKey) });
    });

    it('verifies the signed pre-key against the identity key and stores nothing on failure', async () => {
      const alice = await account();
      const fresh = await device(alice, { uploadPreKeys: false });
      const forged = spkUpload(ed25519KeyPair().privateKey, 9);
      const error = await fresh.connection.expectError('upload_prekeys', { signed_prekey: forged, one_time_prekeys: opkUploads(generateOneTimePreKeys(1, 3)) }, 'bad_request');
      expect(error.field).to.equal('signed_prekey.signature');
      // A valid signature over another key does not vouch for this one.
      const real = spkUpload(alice.identity.privateKey, 9);
      const swapped = { ...real, public_key: b64(x25519KeyPair().publicKey) };
      expect((await fresh.connection.expectError('upload_prekeys', { signed_prekey: swapped }, 'bad_request')).field).to.equal('signed_prekey.signature');
      expect(await fresh.connection.expectOk('get_prekey_count')).to.deep.equal({ count: 0, spk_created_at: null, spk_key_id: null });
    });

    it('refuses malformed uploads naming the field', async () => {
      const alice = await account();
      const c = alice.connection;
      const spk = spkUpload(alice.identity.privateKey, 3);
      expect((await c.expectError('upload_prekeys', {}, 'bad_request')).field).to.equal('signed_prekey');
      expect((await c.expectError('upload_prekeys', { one_time_prekeys: [] }, 'bad_request')).field).to.equal('signed_prekey');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { ...spk, public_key: b64(new Uint8Array(31)) } }, 'invalid_base64')).field).to.equal('signed_prekey.public_key');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { ...spk, signature: b64(new Uint8Array(63)) } }, 'invalid_base64')).field).to.equal('signed_prekey.signature');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { ...spk, public_key: '%%%%' } }, 'bad_request')).field).to.equal('signed_prekey.public_key');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { ...spk, key_id: -1 } }, 'bad_request')).field).to.equal('signed_prekey.key_id');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { ...spk, key_id: 2 ** 32 } }, 'bad_request')).field).to.equal('signed_prekey.key_id');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { ...spk, key_id: 1.5 } }, 'bad_request')).field).to.equal('signed_prekey.key_id');
      expect((await c.expectError('upload_prekeys', { signed_prekey: { key_id: 1, public_key: spk.public_key } }, 'bad_request')).field).to.equal('signed_prekey.signature');
      const opks = opkUploads(generateOneTimePreKeys(500, 3));
      expect((await c.expectError('upload_prekeys', { one_time_prekeys: [opks[0], { key_id: 'x', public_key: opks[1]!.public_key }] }, 'bad_request')).field).to.equal('one_time_prekeys[1].key_id');
      expect((await c.expectError('upload_prekeys', { one_time_prekeys: [opks[0], { key_id: 9, public_key: b64(new Uint8Array(31)) }] }, 'invalid_base64')).field).to.equal('one_time_prekeys[1].public_key');
      expect((await c.expectError('upload_prekeys', { one_time_prekeys: 'many' }, 'bad_request')).field).to.equal('one_time_prekeys');
      const tooMany = opkUploads(generateOneTimePreKeys(1000, 101));
      expect((await c.expectError('upload_prekeys', { one_time_prekeys: tooMany }, 'bad_request')).field).to.equal('one_time_prekeys');
      expect((await c.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(TEST_ONE_TIME_PREKEYS);
    });

    it('stores at most 200 one-time pre-keys per device', async () => {
      const alice = await account();
      const c = alice.connection;
      await c.expectOk('upload_prekeys', { one_time_prekeys: opkUploads(generateOneTimePreKeys(1000, 100)) });
      await c.expectOk('upload_prekeys', { one_time_prekeys: opkUploads(generateOneTimePreKeys(2000, 90)) });
      expect((await c.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(200);
      const error = await c.expectError('upload_prekeys', { one_time_prekeys: opkUploads(generateOneTimePreKeys(3000, 1)) }, 'payload_too_large');
      expect(error).to.include({ field: 'one_time_prekeys', limit: 200 });
      // Re-sending ids the device has is harmless at the cap.
      await c.expectOk('upload_prekeys', { one_time_prekeys: opkUploads(generateOneTimePreKeys(1000, 5)) });
      expect((await c.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(200);
    });

    it('ensure_prekeys uploads what it is given and answers like get_prekey_count', async () => {
      const alice = await account();
      const fresh = await device(alice, { uploadPreKeys: false });
      expect(await fresh.connection.expectOk('ensure_prekeys')).to.deep.equal({ count: 0, spk_created_at: null, spk_key_id: null });
      const status = await fresh.connection.expectOk<PrekeyStatus>('ensure_prekeys', {
        signed_prekey: spkUpload(alice.identity.privateKey, 4),
        one_time_prekeys: opkUploads(generateOneTimePreKeys(1, 7)),
      });
      expect(status.count).to.equal(7);
      expect(status.spk_key_id).to.equal(4);
      expect(status.spk_created_at).to.be.a('number');
      expect(await fresh.connection.expectOk('ensure_prekeys', { one_time_prekeys: opkUploads(generateOneTimePreKeys(8, 3)) })).to.include({ count: 10 });
      const forged = spkUpload(ed25519KeyPair().privateKey, 5);
      expect((await fresh.connection.expectError('ensure_prekeys', { signed_prekey: forged }, 'bad_request')).field).to.equal('signed_prekey.signature');
    });
  });

  describe('get_key_bundle', () => {
    it('answers one verified bundle per device and consumes one one-time pre-key each', async () => {
      const alice = await account();
      const bob = await account();
      const bobPhone = await device(bob);
      const bundle = await alice.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId });
      expect(bundle.user_id).to.equal(bob.userId);
      expect(bundle.username).to.equal(bob.username);
      expect(bundle.identity_key).to.equal(b64(bob.identity.publicKey));
      expect(bundle.devices.map((d) => d.device_id).sort()).to.deep.equal([bob.deviceId, bobPhone.deviceId].sort());
      const identityKey = decodeBase64(bundle.identity_key, 'identity_key');
      for (const entry of bundle.devices) {
        const spk = entry.signed_prekey;
        expect(ed25519Verify(identityKey, signedPreKeySignatureMessage(decodeBase64(spk.public_key, 'spk')), decodeBase64(spk.signature, 'sig'))).to.equal(true);
        expect(entry.one_time_prekey).to.be.an('object');
      }
      const mine = bundle.devices.find((d) => d.device_id === bob.deviceId)!;
      expect(mine.signed_prekey.public_key).to.equal(b64(bob.signedPreKey.publicKey));
      expect(bob.oneTimePreKeys.map((k) => b64(k.publicKey))).to.include(mine.one_time_prekey!.public_key);
      // X3DH with the bundle works.
      const initiated = x3dhInitiate({
        identityPrivate: alice.identity.privateKey,
        identityPublic: alice.identity.publicKey,
        remoteIdentityPublic: identityKey,
        remoteSignedPreKey: { keyId: mine.signed_prekey.key_id, publicKey: decodeBase64(mine.signed_prekey.public_key, 'p'), signature: decodeBase64(mine.signed_prekey.signature, 's') },
        remoteOneTimePreKey: { keyId: mine.one_time_prekey!.key_id, publicKey: decodeBase64(mine.one_time_prekey!.public_key, 'o') },
      });
      expect(initiated.sharedSecret).to.have.length(32);

      expect((await bob.connection.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(TEST_ONE_TIME_PREKEYS - 1);
      expect((await bobPhone.connection.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(TEST_ONE_TIME_PREKEYS - 1);
    });

    it('hands out each one-time pre-key once, then none', async () => {
      const alice = await account();
      const bob = await account();
      const seen = new Set<number>();
      for (let i = 0; i < TEST_ONE_TIME_PREKEYS; i++) {
        const bundle = await alice.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId });
        const opk = bundle.devices[0]!.one_time_prekey;
        expect(opk).to.not.equal(null);
        expect(seen.has(opk!.key_id)).to.equal(false);
        seen.add(opk!.key_id);
      }
      const empty = await alice.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId });
      expect(empty.devices).to.have.length(1);
      expect(empty.devices[0]!.one_time_prekey).to.equal(null);
      expect(empty.devices[0]!.signed_prekey.key_id).to.equal(bob.signedPreKey.keyId);
    });

    it('never hands the same one-time pre-key to concurrent fetches (H12)', async () => {
      const bob = await account();
      const bobTablet = await device(bob);
      // 30 + 10 keys on bob's first device, 10 on the tablet.
      await bob.connection.expectOk('upload_prekeys', { one_time_prekeys: opkUploads(generateOneTimePreKeys(1000, 30)) });
      const fetchers = await Promise.all([account(), account(), account(), account()]);
      const extra = await Promise.all(fetchers.map((f) => device(f, { uploadPreKeys: false })));
      const connections = [...fetchers.map((f) => f.connection), ...extra.map((e) => e.connection)];
      const fetches = Array.from({ length: 24 }, (_, i) => connections[i % connections.length]!.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId }));
      const bundles = await Promise.all(fetches);

      const handedOut = new Map<string, number[]>();
      for (const bundle of bundles) {
        expect(bundle.devices).to.have.length(2);
        for (const entry of bundle.devices) {
          const list = handedOut.get(entry.device_id) ?? [];
          if (entry.one_time_prekey) list.push(entry.one_time_prekey.key_id);
          handedOut.set(entry.device_id, list);
        }
      }
      const first = handedOut.get(bob.deviceId)!;
      const tablet = handedOut.get(bobTablet.deviceId)!;
      // Every fetch got one from the first device (40 available), all different.
      expect(first).to.have.length(24);
      expect(new Set(first).size).to.equal(24);
      // The tablet had 10: exactly 10 fetches got one, all different, the rest got null.
      expect(tablet).to.have.length(TEST_ONE_TIME_PREKEYS);
      expect(new Set(tablet).size).to.equal(TEST_ONE_TIME_PREKEYS);
      expect((await bob.connection.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(40 - 24);
      expect((await bobTablet.connection.expectOk<PrekeyStatus>('get_prekey_count')).count).to.equal(0);
    });

    it('filters by device_ids, leaves out the caller’s own device and devices without a signed pre-key', async () => {
      const alice = await account();
      const bob = await account();
      const bobNoKeys = await device(bob, { uploadPreKeys: false });
      const bobPhone = await device(bob);

      const all = await alice.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId });
      expect(all.devices.map((d) => d.device_id).sort()).to.deep.equal([bob.deviceId, bobPhone.deviceId].sort());
      expect(all.devices.map((d) => d.device_id)).not.to.include(bobNoKeys.deviceId);

      const only = await alice.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId, device_ids: [bobPhone.deviceId, randomUUID()] });
      expect(only.devices.map((d) => d.device_id)).to.deep.equal([bobPhone.deviceId]);

      // Bob asking for his own bundles gets his other devices only.
      const own = await bob.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId });
      expect(own.devices.map((d) => d.device_id)).to.deep.equal([bobPhone.deviceId]);
      const ownOnly = await bob.connection.expectOk<Bundle>('get_key_bundle', { user_id: bob.userId, device_ids: [bob.deviceId] });
      expect(ownOnly.devices).to.deep.equal([]);
    });

    it('refuses unknown users and bad input', async () => {
      const alice = await account();
      await alice.connection.expectError('get_key_bundle', { user_id: randomUUID() }, 'not_found');
      expect((await alice.connection.expectError('get_key_bundle', {}, 'bad_request')).field).to.equal('user_id');
      expect((await alice.connection.expectError('get_key_bundle', { user_id: 'nope' }, 'bad_request')).field).to.equal('user_id');
      expect((await alice.connection.expectError('get_key_bundle', { user_id: alice.userId, device_ids: ['x'] }, 'bad_request')).field).to.equal('device_ids[0]');
      const tooMany = Array.from({ length: server.config.limits.maxDevicesPerUser + 1 }, () => randomUUID());
      expect((await alice.connection.expectError('get_key_bundle', { user_id: alice.userId, device_ids: tooMany }, 'bad_request')).field).to.equal('device_ids');
    });

    it('keeps a phantom supplied with one-time pre-keys, like a client would', async () => {
      const alice = await account();
      const phantom = await alice.connection.expectOk<{ user_id: string }>('get_user_info', { email: `ph${Date.now()}@example.test` });
      const seen = new Set<number>();
      for (let i = 0; i < 8; i++) {
        const bundle = await alice.connection.expectOk<Bundle>('get_key_bundle', { user_id: phantom.user_id });
        expect(bundle.devices).to.have.length(1);
        const opk = bundle.devices[0]!.one_time_prekey;
        expect(opk).to.not.equal(null);
        expect(seen.has(opk!.key_id)).to.equal(false);
        seen.add(opk!.key_id);
      }
    });
  });
});
