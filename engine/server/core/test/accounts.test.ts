/**
 * core-accounts over real sockets against a real server, on SQLite and (when configured) MariaDB:
 * registration with mailed codes, anti-enumeration, phantoms, login, logout, login-key rotation,
 * user look-ups, rate limits and maintenance.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { ed25519KeyPair, ed25519Sign, ed25519Verify, signedPreKeySignatureMessage, type KeyPair } from '../../../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../../../protocol/base64.js';
import { loginChallengeMessage, rotateLoginKeyMessage } from '../../../protocol/auth.js';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { createAccount, login, readOutbox, readOutboxCode, type TestAccount } from '../../../testing/accounts.js';
import { SERVER_VERSION } from '../../version.js';
import { definePlugin } from '../../../plugin/define.js';

const b64 = encodeBase64;
let counter = 0;

function freshName(prefix = 'u'): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}`;
}

function freshEmail(prefix = 'u'): string {
  return `${freshName(prefix)}@example.test`;
}

interface Keys {
  identity: KeyPair;
  login: KeyPair;
}

function newKeys(): Keys {
  return { identity: ed25519KeyPair(), login: ed25519KeyPair() };
}

function registerFields(username: string, email: string, keys: Keys): Record<string, unknown> {
  return { username, email, identity_key: b64(keys.identity.publicKey), login_key: b64(keys.login.publicKey) };
}

/** login_start + login_finish with a given key; returns the raw login_finish response. */
async function attemptLogin(connection: TestConnection, email: string, key: KeyPair, extra: Record<string, unknown> = {}) {
  const started = await connection.expectOk<{ challenge: string; server_time: number }>('login_start', { email });
  const challenge = decodeBase64(started.challenge, 'challenge', { exactBytes: 32 });
  return connection.request<Record<string, unknown>>('login_finish', {
    email,
    signature: b64(ed25519Sign(key.privateKey, loginChallengeMessage(challenge, email))),
    client_version: SERVER_VERSION,
    ...extra,
  });
}

function knexOf(server: TestServer) {
  return server.server.database.knex;
}

forEachBackend('core-accounts', (backend) => {
  let server: TestServer;
  let anon: TestConnection;
  /** Users the userDeleting hook announced. */
  const deleting: string[] = [];
  const recorder = definePlugin({
    name: 'deletion-recorder',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.hooks.userDeleting.tap(({ userId }) => void deleting.push(userId));
    },
  });

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [recorder] });
  });

  after(async () => {
    await server?.close();
  });

  beforeEach(async () => {
    anon = await server.connect();
  });

  afterEach(async () => {
    await anon.close();
  });

  describe('register and register_confirm', () => {
    it('registers with the mailed code and answers user_id and username', async () => {
      const email = freshEmail('reg');
      const keys = newKeys();
      const answer = await anon.expectOk('register', registerFields('alice', email, keys));
      expect(answer).to.deep.equal({ status: 'code_sent' });
      const code = await readOutboxCode(server, email);
      expect(code).to.match(/^\d{6}$/);
      const confirmed = await anon.expectOk<{ user_id: string; username: string }>('register_confirm', { email, code });
      expect(confirmed.username).to.equal('alice');
      expect(confirmed.user_id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

      const row = await knexOf(server)('users').where({ id: confirmed.user_id }).first();
      expect(row.email).to.equal(email);
      expect(row.identity_key).to.equal(b64(keys.identity.publicKey));
      expect(row.login_key).to.equal(b64(keys.login.publicKey));
      expect(await knexOf(server)('pending_registrations').where({ email }).first()).to.equal(undefined);

      // The code is single use.
      await anon.expectError('register_confirm', { email, code }, 'invalid_code');
      const loggedIn = await attemptLogin(anon, email, keys.login);
      expect(loggedIn.status).to.equal('ok');
    });

    it('stores the code hashed, never in the clear', async () => {
      const email = freshEmail('hash');
      await anon.expectOk('register', registerFields('hash', email, newKeys()));
      const code = await readOutboxCode(server, email);
      const row = await knexOf(server)('pending_registrations').where({ email }).first();
      expect(row.code_hash).to.match(/^[0-9a-f]{64}$/);
      expect(row.code_hash).not.to.include(code);
      expect(Number(row.attempts)).to.equal(0);
      expect(Number(row.expires_at) - Number(row.created_at)).to.equal(server.config.registrationCodeTtlMs);
    });

    it('normalises the address: mixed case registers, confirms and logs in as lowercase', async () => {
      const lower = freshEmail('mixed');
      const mixed = lower.replace(/^m/, 'M').replace('example.test', 'Example.TEST');
      const keys = newKeys();
      await anon.expectOk('register', registerFields('mixed', mixed, keys));
      const code = await readOutboxCode(server, lower);
      const confirmed = await anon.expectOk<{ user_id: string }>('register_confirm', { email: mixed, code });
      const row = await knexOf(server)('users').where({ id: confirmed.user_id }).first();
      expect(row.email).to.equal(lower);
      expect((await attemptLogin(anon, mixed, keys.login)).status).to.equal('ok');
    });

    it('a new register replaces the pending one: only the newest code works', async () => {
      const email = freshEmail('again');
      await anon.expectOk('register', registerFields('first', email, newKeys()));
      const first = await readOutboxCode(server, email);
      const keys = newKeys();
      await anon.expectOk('register', registerFields('second', email, keys));
      const second = await readOutboxCode(server, email);
      if (first !== second) await anon.expectError('register_confirm', { email, code: first }, 'invalid_code');
      const confirmed = await anon.expectOk<{ username: string }>('register_confirm', { email, code: second });
      expect(confirmed.username).to.equal('second');
    });

    it('answers an existing address exactly like a new one, mails no code to it but a notice (H3)', async () => {
      const owner = await createAccount(server);
      try {
        const before = await readOutbox(server, owner.email);
        const forNew = await anon.request('register', registerFields('someone', freshEmail('other'), newKeys()));
        const forExisting = await anon.request('register', registerFields('someone', owner.email, newKeys()));
        expect(forExisting.status).to.equal('ok');
        expect(forExisting.data).to.deep.equal(forNew.data);

        const after = await readOutbox(server, owner.email);
        const added = after.slice(before.length);
        expect(added.map((mail) => mail.kind)).to.deep.equal(['registration_attempt']);
        expect(added[0]!.code).to.equal(null);
        expect(added[0]!.text).not.to.match(/\b\d{6}\b/);
        expect(await knexOf(server)('pending_registrations').where({ email: owner.email }).first()).to.equal(undefined);

        // Nothing can be confirmed for it, and the owner's keys are untouched.
        await anon.expectError('register_confirm', { email: owner.email, code: '000000' }, 'invalid_code');
        const row = await knexOf(server)('users').where({ id: owner.userId }).first();
        expect(row.identity_key).to.equal(b64(owner.identity.publicKey));
        expect((await attemptLogin(anon, owner.email, owner.login)).status).to.equal('ok');
      } finally {
        await owner.connection.close();
      }
    });

    it('deletes the pending registration after 5 wrong codes', async () => {
      const email = freshEmail('wrong');
      await anon.expectOk('register', registerFields('wrong', email, newKeys()));
      const code = await readOutboxCode(server, email);
      const wrong = code === '123456' ? '654321' : '123456';
      for (let attempt = 1; attempt <= 5; attempt++) {
        const error = await anon.expectError('register_confirm', { email, code: wrong }, 'invalid_code');
        expect(error.message).to.equal('The code is wrong or has expired');
        const row = await knexOf(server)('pending_registrations').where({ email }).first();
        if (attempt < 5) expect(Number(row.attempts)).to.equal(attempt);
        else expect(row).to.equal(undefined);
      }
      // Even the right code no longer works.
      await anon.expectError('register_confirm', { email, code }, 'invalid_code');
      expect(await knexOf(server)('users').where({ email }).first()).to.equal(undefined);
    });

    it('refuses an expired code and removes it', async () => {
      const email = freshEmail('expired');
      await anon.expectOk('register', registerFields('expired', email, newKeys()));
      const code = await readOutboxCode(server, email);
      // Time passes: the code's validity ends.
      await knexOf(server)('pending_registrations').where({ email }).update({ expires_at: Date.now() - 1 });
      await anon.expectError('register_confirm', { email, code }, 'invalid_code');
      expect(await knexOf(server)('pending_registrations').where({ email }).first()).to.equal(undefined);
      expect(await knexOf(server)('users').where({ email }).first()).to.equal(undefined);
    });

    it('answers invalid_code for an address with no pending registration', async () => {
      const error = await anon.expectError('register_confirm', { email: freshEmail('none'), code: '111111' }, 'invalid_code');
      expect(error.message).to.equal('The code is wrong or has expired');
    });

    it('creates exactly one account when the same code is confirmed concurrently', async () => {
      const email = freshEmail('race');
      await anon.expectOk('register', registerFields('race', email, newKeys()));
      const code = await readOutboxCode(server, email);
      const others = await Promise.all([server.connect(), server.connect(), server.connect()]);
      try {
        const answers = await Promise.all([anon, ...others].map((c) => c.request<{ user_id: string }>('register_confirm', { email, code })));
        const ok = answers.filter((a) => a.status === 'ok');
        expect(ok).to.have.length(1);
        for (const failed of answers.filter((a) => a.status !== 'ok')) expect((failed.data as { code: string }).code).to.equal('invalid_code');
        const rows = await knexOf(server)('users').where({ email });
        expect(rows).to.have.length(1);
      } finally {
        await Promise.all(others.map((c) => c.close()));
      }
    });

    describe('refuses bad input', () => {
      const valid = () => registerFields('valid', freshEmail('bad'), newKeys());

      it('missing fields and wrong types', async () => {
        for (const field of ['username', 'email', 'identity_key', 'login_key']) {
          const fields = valid();
          delete fields[field];
          const error = await anon.expectError('register', fields, 'bad_request');
          expect(error.field).to.equal(field);
        }
        expect((await anon.expectError('register', { ...valid(), username: 42 }, 'bad_request')).field).to.equal('username');
        expect((await anon.expectError('register', { ...valid(), identity_key: null }, 'bad_request')).field).to.equal('identity_key');
      });

      it('oversized and malformed strings', async () => {
        expect((await anon.expectError('register', { ...valid(), username: 'x'.repeat(33) }, 'bad_request')).field).to.equal('username');
        expect((await anon.expectError('register', { ...valid(), username: 'no spaces' }, 'bad_request')).field).to.equal('username');
        expect((await anon.expectError('register', { ...valid(), username: '' }, 'bad_request')).field).to.equal('username');
        expect((await anon.expectError('register', { ...valid(), email: 'not-an-address' }, 'bad_request')).field).to.equal('email');
        const long = `${'a'.repeat(64)}@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example`;
        expect((await anon.expectError('register', { ...valid(), email: long }, 'bad_request')).field).to.equal('email');
      });

      it('invalid base64, 31-byte keys, keys that are not curve points, equal keys', async () => {
        expect((await anon.expectError('register', { ...valid(), identity_key: 'not base64!' }, 'bad_request')).field).to.equal('identity_key');
        const short = b64(new Uint8Array(31).fill(9));
        expect((await anon.expectError('register', { ...valid(), identity_key: short }, 'invalid_base64')).field).to.equal('identity_key');
        expect((await anon.expectError('register', { ...valid(), login_key: short }, 'invalid_base64')).field).to.equal('login_key');
        const notAPoint = b64(new Uint8Array(32).fill(0xff));
        expect((await anon.expectError('register', { ...valid(), identity_key: notAPoint }, 'bad_request')).field).to.equal('identity_key');
        const smallOrder = b64(new Uint8Array(32));
        expect((await anon.expectError('register', { ...valid(), login_key: smallOrder }, 'bad_request')).field).to.equal('login_key');
        const key = b64(ed25519KeyPair().publicKey);
        const same = await anon.expectError('register', { ...valid(), identity_key: key, login_key: key }, 'bad_request');
        expect(same.field).to.equal('login_key');
      });

      it('register_confirm with a malformed code or address', async () => {
        const email = freshEmail('fmt');
        expect((await anon.expectError('register_confirm', { email, code: '12345' }, 'bad_request')).field).to.equal('code');
        expect((await anon.expectError('register_confirm', { email, code: 'abcdef' }, 'bad_request')).field).to.equal('code');
        expect((await anon.expectError('register_confirm', { email, code: 123456 }, 'bad_request')).field).to.equal('code');
        expect((await anon.expectError('register_confirm', { code: '123456' }, 'bad_request')).field).to.equal('email');
      });
    });
  });

  describe('login', () => {
    let account: TestAccount;

    before(async () => {
      account = await createAccount(server, { deviceName: 'first' });
    });

    after(async () => {
      await account.connection.close();
    });

    it('logs in with the login key and answers the session', async () => {
      const started = await anon.expectOk<{ challenge: string; server_time: number }>('login_start', { email: account.email });
      expect(decodeBase64(started.challenge, 'challenge')).to.have.length(32);
      expect(started.server_time).to.be.a('number');
      const challenge = decodeBase64(started.challenge, 'challenge');
      const data = await anon.expectOk<Record<string, unknown>>('login_finish', {
        email: account.email,
        signature: b64(ed25519Sign(account.login.privateKey, loginChallengeMessage(challenge, account.email))),
        client_version: SERVER_VERSION,
        device_id: account.deviceId,
      });
      expect(data).to.include({ user_id: account.userId, username: account.username, device_id: account.deviceId, new_device: false, server_version: SERVER_VERSION });
      expect(data.server_time).to.be.a('number');
      // Logged in: an auth-only request now works.
      await anon.expectOk('list_devices');
    });

    it('answers invalid_credentials identically for a wrong signature, an unknown address and a phantom (H3)', async () => {
      const wrongKey = await attemptLogin(anon, account.email, ed25519KeyPair());
      const unknown = await attemptLogin(anon, freshEmail('ghost'), ed25519KeyPair());
      const phantomEmail = freshEmail('phantom');
      await account.connection.expectOk('get_user_info', { email: phantomEmail });
      const phantom = await attemptLogin(anon, phantomEmail, ed25519KeyPair());
      for (const answer of [wrongKey, unknown, phantom]) {
        expect(answer.status).to.equal('error');
        expect(answer.data).to.deep.equal({ code: 'invalid_credentials', message: 'Invalid credentials' });
      }
      await anon.expectError('list_devices', {}, 'not_authenticated');
    });

    it('gives unknown addresses a challenge of the same shape', async () => {
      const known = await anon.expectOk<Record<string, unknown>>('login_start', { email: account.email });
      const unknown = await anon.expectOk<Record<string, unknown>>('login_start', { email: freshEmail('nobody') });
      expect(Object.keys(unknown).sort()).to.deep.equal(Object.keys(known).sort());
      expect(decodeBase64(unknown.challenge, 'challenge')).to.have.length(32);
      expect(unknown.challenge).not.to.equal(known.challenge);
    });

    it('uses each challenge once, whatever the outcome', async () => {
      const started = await anon.expectOk<{ challenge: string }>('login_start', { email: account.email });
      const challenge = decodeBase64(started.challenge, 'challenge');
      const good = b64(ed25519Sign(account.login.privateKey, loginChallengeMessage(challenge, account.email)));
      const bad = b64(ed25519Sign(ed25519KeyPair().privateKey, loginChallengeMessage(challenge, account.email)));
      const fields = { email: account.email, client_version: SERVER_VERSION, device_id: account.deviceId };
      await anon.expectError('login_finish', { ...fields, signature: bad }, 'invalid_credentials');
      // The right signature over the consumed challenge is refused too.
      await anon.expectError('login_finish', { ...fields, signature: good }, 'invalid_credentials');

      const again = await anon.expectOk<{ challenge: string }>('login_start', { email: account.email });
      const signature = b64(ed25519Sign(account.login.privateKey, loginChallengeMessage(decodeBase64(again.challenge, 'challenge'), account.email)));
      await anon.expectOk('login_finish', { ...fields, signature });
      // Replaying the successful answer fails.
      await anon.expectError('login_finish', { ...fields, signature }, 'invalid_credentials');
    });

    it('refuses an answer after the challenge expired', async () => {
      const started = await anon.expectOk<{ challenge: string }>('login_start', { email: account.email });
      // 60 seconds pass: age the challenge this server holds for the connection.
      let aged = 0;
      for (const connection of server.server.registry.all()) {
        const challenge = connection.state.get('core-accounts.login-challenge') as { email: string; expiresAt: number } | undefined;
        if (challenge?.email === account.email) {
          connection.state.set('core-accounts.login-challenge', { ...challenge, expiresAt: Date.now() - 1 });
          aged++;
        }
      }
      expect(aged).to.equal(1);
      const challenge = decodeBase64(started.challenge, 'challenge');
      const signature = b64(ed25519Sign(account.login.privateKey, loginChallengeMessage(challenge, account.email)));
      await anon.expectError('login_finish', { email: account.email, signature, client_version: SERVER_VERSION }, 'invalid_credentials');
    });

    it('refuses login_finish without a challenge, or for another address than the challenge', async () => {
      const signature = b64(new Uint8Array(64));
      await anon.expectError('login_finish', { email: account.email, signature, client_version: SERVER_VERSION }, 'invalid_credentials');

      const other = await createAccount(server);
      try {
        const started = await anon.expectOk<{ challenge: string }>('login_start', { email: other.email });
        const challenge = decodeBase64(started.challenge, 'challenge');
        // A valid signature by the account's key, but the challenge was issued for another address.
        const signed = b64(ed25519Sign(account.login.privateKey, loginChallengeMessage(challenge, account.email)));
        await anon.expectError('login_finish', { email: account.email, signature: signed, client_version: SERVER_VERSION }, 'invalid_credentials');
      } finally {
        await other.connection.close();
      }
    });

    it('refuses a signature over the challenge without the domain tag', async () => {
      const started = await anon.expectOk<{ challenge: string }>('login_start', { email: account.email });
      const raw = decodeBase64(started.challenge, 'challenge');
      const signature = b64(ed25519Sign(account.login.privateKey, raw));
      await anon.expectError('login_finish', { email: account.email, signature, client_version: SERVER_VERSION }, 'invalid_credentials');
    });

    it('refuses an old client version before looking at the signature', async () => {
      await anon.expectOk('login_start', { email: account.email });
      const old = await anon.expectError(
        'login_finish',
        { email: account.email, signature: b64(new Uint8Array(64)), client_version: '0.0.9' },
        'unsupported_version',
      );
      expect(old.min_client_version).to.equal(server.config.minClientVersion);
      expect(old.message).to.include('0.0.9');
      const pre = await anon.expectError('login_finish', { email: account.email, signature: b64(new Uint8Array(64)), client_version: '0.1.0-beta.1' }, 'unsupported_version');
      expect(pre.code).to.equal('unsupported_version');
      const malformed = await anon.expectError('login_finish', { email: account.email, signature: b64(new Uint8Array(64)), client_version: 'latest' }, 'bad_request');
      expect(malformed.field).to.equal('client_version');
    });

    it('creates a new device without device_id and reuses a known one', async () => {
      const fresh = await login(server, account, { uploadPreKeys: false, deviceName: 'tablet' });
      try {
        expect(fresh.newDevice).to.equal(true);
        expect(fresh.deviceId).not.to.equal(account.deviceId);
        const reused = await login(server, account, { deviceId: fresh.deviceId });
        expect(reused.newDevice).to.equal(false);
        expect(reused.deviceId).to.equal(fresh.deviceId);
        await reused.connection.close();
        const { devices } = await account.connection.expectOk<{ devices: Array<{ device_id: string; name: string | null }> }>('list_devices');
        expect(devices.find((d) => d.device_id === fresh.deviceId)?.name).to.equal('tablet');
      } finally {
        await fresh.connection.close();
        await account.connection.expectOk('remove_device', { device_id: fresh.deviceId });
      }
    });

    it("never reuses another account's device id", async () => {
      const other = await createAccount(server);
      try {
        const result = await login(server, account, { deviceId: other.deviceId, uploadPreKeys: false });
        expect(result.newDevice).to.equal(true);
        expect(result.deviceId).not.to.equal(other.deviceId);
        await result.connection.close();
        await account.connection.expectOk('remove_device', { device_id: result.deviceId });
      } finally {
        await other.connection.close();
      }
    });

    it('lets a logged-in connection log in again (re-binding it)', async () => {
      const other = await createAccount(server);
      try {
        const relogin = await attemptLogin(other.connection, account.email, account.login, { device_id: account.deviceId });
        expect(relogin.status).to.equal('ok');
        expect((relogin.data as { user_id: string }).user_id).to.equal(account.userId);
        const { devices } = await other.connection.expectOk<{ devices: Array<{ device_id: string; current: boolean }> }>('list_devices');
        expect(devices.find((d) => d.current)?.device_id).to.equal(account.deviceId);
      } finally {
        await other.connection.close();
      }
    });

    it('refuses bad login input', async () => {
      expect((await anon.expectError('login_start', {}, 'bad_request')).field).to.equal('email');
      expect((await anon.expectError('login_start', { email: 'nope' }, 'bad_request')).field).to.equal('email');
      const base = { email: account.email, signature: b64(new Uint8Array(64)), client_version: SERVER_VERSION };
      expect((await anon.expectError('login_finish', { ...base, signature: undefined }, 'bad_request')).field).to.equal('signature');
      expect((await anon.expectError('login_finish', { ...base, signature: b64(new Uint8Array(63)) }, 'invalid_base64')).field).to.equal('signature');
      expect((await anon.expectError('login_finish', { ...base, signature: '***' }, 'bad_request')).field).to.equal('signature');
      expect((await anon.expectError('login_finish', { ...base, device_id: 'not-a-uuid' }, 'bad_request')).field).to.equal('device_id');
      expect((await anon.expectError('login_finish', { ...base, device_id: randomUUID().toUpperCase() }, 'bad_request')).field).to.equal('device_id');
      expect((await anon.expectError('login_finish', { ...base, device_name: 'x'.repeat(65) }, 'bad_request')).field).to.equal('device_name');
      expect((await anon.expectError('login_finish', { ...base, device_name: 'tab\u0000' }, 'bad_request')).field).to.equal('device_name');
      expect((await anon.expectError('login_finish', { ...base, client_version: 7 }, 'bad_request')).field).to.equal('client_version');
    });

    it('logout ends the login on this connection only', async () => {
      const second = await login(server, account, { deviceId: account.deviceId });
      try {
        expect(await second.connection.expectOk('logout')).to.deep.equal({});
        await second.connection.expectError('list_devices', {}, 'not_authenticated');
        await second.connection.expectError('logout', {}, 'not_authenticated');
        await account.connection.expectOk('list_devices');
        // The connection stays open and can log in again.
        expect((await attemptLogin(second.connection, account.email, account.login, { device_id: account.deviceId })).status).to.equal('ok');
        await second.connection.expectOk('list_devices');
      } finally {
        await second.connection.close();
      }
    });
  });

  describe('device cap', () => {
    let capped: TestServer;

    before(async () => {
      capped = await startTestServer({ databaseUrl: backend.databaseUrl, config: { limits: { maxDevicesPerUser: 3 } } });
    });

    after(async () => {
      await capped?.close();
    });

    it('refuses a new device beyond maxDevicesPerUser with conflict, still accepts known devices', async () => {
      const account = await createAccount(capped);
      const second = await login(capped, account, { uploadPreKeys: false });
      const third = await login(capped, account, { uploadPreKeys: false });
      const connection = await capped.connect();
      try {
        const refused = await attemptLogin(connection, account.email, account.login);
        expect(refused.status).to.equal('error');
        expect(refused.data).to.include({ code: 'conflict' });
        expect((refused.data as { message: string }).message).to.include('maximum of 3 devices');
        expect(await knexOf(capped)('devices').where({ user_id: account.userId })).to.have.length(3);
        const known = await attemptLogin(connection, account.email, account.login, { device_id: third.deviceId });
        expect(known.status).to.equal('ok');
        // After removing one, a new device fits again.
        await account.connection.expectOk('remove_device', { device_id: second.deviceId });
        const again = await login(capped, account, { uploadPreKeys: false });
        expect(again.newDevice).to.equal(true);
        await again.connection.close();
      } finally {
        await connection.close();
        await Promise.all([account.connection.close(), second.connection.close(), third.connection.close()]);
      }
    });
  });

  describe('rotate_keys', () => {
    it('replaces the login key with one vouched for by the identity key and closes the other connections', async () => {
      const account = await createAccount(server);
      const other = await login(server, account, { deviceId: account.deviceId });
      try {
        const newLogin = ed25519KeyPair();
        const signature = ed25519Sign(account.identity.privateKey, rotateLoginKeyMessage(newLogin.publicKey, account.userId));
        expect(await account.connection.expectOk('rotate_keys', { login_key: b64(newLogin.publicKey), signature: b64(signature) })).to.deep.equal({});
        await other.connection.closed;
        expect(other.connection.isClosed).to.equal(true);
        // This connection stays logged in.
        await account.connection.expectOk('list_devices');

        const oldKey = await attemptLogin(anon, account.email, account.login);
        expect(oldKey.data).to.deep.equal({ code: 'invalid_credentials', message: 'Invalid credentials' });
        const newKey = await attemptLogin(anon, account.email, newLogin, { device_id: account.deviceId });
        expect(newKey.status).to.equal('ok');
      } finally {
        await account.connection.close();
        await other.connection.close();
      }
    });

    it('refuses a signature that is not by the identity key, naming signature', async () => {
      const account = await createAccount(server);
      try {
        const newLogin = ed25519KeyPair();
        const message = rotateLoginKeyMessage(newLogin.publicKey, account.userId);
        // A stolen session with the login key cannot rotate.
        const byLoginKey = b64(ed25519Sign(account.login.privateKey, message));
        expect((await account.connection.expectError('rotate_keys', { login_key: b64(newLogin.publicKey), signature: byLoginKey }, 'bad_request')).field).to.equal('signature');
        // A signature for another user id is refused.
        const otherUser = b64(ed25519Sign(account.identity.privateKey, rotateLoginKeyMessage(newLogin.publicKey, randomUUID())));
        expect((await account.connection.expectError('rotate_keys', { login_key: b64(newLogin.publicKey), signature: otherUser }, 'bad_request')).field).to.equal('signature');
        // The identity key itself cannot become the login key.
        const selfSigned = b64(ed25519Sign(account.identity.privateKey, rotateLoginKeyMessage(account.identity.publicKey, account.userId)));
        expect((await account.connection.expectError('rotate_keys', { login_key: b64(account.identity.publicKey), signature: selfSigned }, 'bad_request')).field).to.equal('login_key');
        // Malformed input.
        expect((await account.connection.expectError('rotate_keys', { login_key: b64(new Uint8Array(31)), signature: byLoginKey }, 'invalid_base64')).field).to.equal('login_key');
        expect((await account.connection.expectError('rotate_keys', { login_key: b64(newLogin.publicKey) }, 'bad_request')).field).to.equal('signature');
        // Nothing changed.
        expect((await attemptLogin(anon, account.email, account.login)).status).to.equal('ok');
      } finally {
        await account.connection.close();
      }
    });
  });

  describe('get_user_info and phantoms', () => {
    let account: TestAccount;

    before(async () => {
      account = await createAccount(server);
    });

    after(async () => {
      await account.connection.close();
    });

    it('answers a user by id or by address, never with the address', async () => {
      const other = await createAccount(server);
      try {
        const byId = await account.connection.expectOk('get_user_info', { user_id: other.userId });
        expect(byId).to.deep.equal({ user_id: other.userId, username: other.username, identity_key: b64(other.identity.publicKey) });
        const byEmail = await account.connection.expectOk('get_user_info', { email: other.email.toUpperCase() });
        expect(byEmail).to.deep.equal(byId);
      } finally {
        await other.connection.close();
      }
    });

    it('refuses neither or both selectors, unknown ids, and anonymous callers', async () => {
      const neither = await account.connection.expectError('get_user_info', {}, 'bad_request');
      expect(neither.field).to.equal('user_id');
      const both = await account.connection.expectError('get_user_info', { user_id: account.userId, email: account.email }, 'bad_request');
      expect(both.field).to.equal('email');
      await account.connection.expectError('get_user_info', { user_id: randomUUID() }, 'not_found');
      expect((await account.connection.expectError('get_user_info', { user_id: 'abc' }, 'bad_request')).field).to.equal('user_id');
      expect((await account.connection.expectError('get_user_info', { email: 'abc' }, 'bad_request')).field).to.equal('email');
      await anon.expectError('get_user_info', { user_id: account.userId }, 'not_authenticated');
    });

    it('resolves an unknown address to a phantom that looks like a user and is stable', async () => {
      const email = freshEmail('phantom');
      const first = await account.connection.expectOk<{ user_id: string; username: string; identity_key: string }>('get_user_info', { email });
      expect(Object.keys(first).sort()).to.deep.equal(['identity_key', 'user_id', 'username']);
      expect(first.username).to.equal(email.slice(0, email.indexOf('@')));
      expect(decodeBase64(first.identity_key, 'identity_key')).to.have.length(32);
      const again = await account.connection.expectOk('get_user_info', { email: email.toUpperCase() });
      expect(again).to.deep.equal(first);
      expect(await account.connection.expectOk('get_user_info', { user_id: first.user_id })).to.deep.equal(first);

      const row = await knexOf(server)('users').where({ id: first.user_id }).first();
      expect(Boolean(row.phantom)).to.equal(true);

      // A bundle like anyone's: one device, a signed pre-key the identity key vouches for, a one-time pre-key.
      const bundle = await account.connection.expectOk<{
        identity_key: string;
        devices: Array<{ signed_prekey: { public_key: string; signature: string }; one_time_prekey: unknown }>;
      }>('get_key_bundle', { user_id: first.user_id });
      expect(bundle.identity_key).to.equal(first.identity_key);
      expect(bundle.devices).to.have.length(1);
      const spk = bundle.devices[0]!.signed_prekey;
      expect(
        ed25519Verify(
          decodeBase64(first.identity_key, 'ik'),
          signedPreKeySignatureMessage(decodeBase64(spk.public_key, 'spk')),
          decodeBase64(spk.signature, 'sig'),
        ),
      ).to.equal(true);
      expect(bundle.devices[0]!.one_time_prekey).to.be.an('object');
    });

    it('creates one phantom when the same address is resolved concurrently', async () => {
      const email = freshEmail('burst');
      const answers = await Promise.all(Array.from({ length: 6 }, () => account.connection.expectOk<{ user_id: string }>('get_user_info', { email })));
      expect(new Set(answers.map((a) => a.user_id)).size).to.equal(1);
      expect(await knexOf(server)('users').where({ email })).to.have.length(1);
    });

    it('upgrades the phantom in place on registration: same user id, new username and keys, no phantom device', async () => {
      const email = freshEmail('upgrade');
      const phantom = await account.connection.expectOk<{ user_id: string; identity_key: string }>('get_user_info', { email });
      const phantomDevices = await knexOf(server)('devices').where({ user_id: phantom.user_id });
      expect(phantomDevices).to.have.length(1);
      // The phantom is a member of a conversation; that must survive the upgrade.
      const conversationId = randomUUID();
      const now = Date.now();
      await knexOf(server)('conversations').insert({ id: conversationId, kind: 'group', name: 'kept', created_by: account.userId, created_at: now });
      await knexOf(server)('conversation_members').insert([
        { conversation_id: conversationId, user_id: account.userId, role: 'creator', joined_at: now },
        { conversation_id: conversationId, user_id: phantom.user_id, role: 'member', joined_at: now },
      ]);

      const registered = await createAccount(server, { email, username: 'upgraded' });
      try {
        expect(registered.userId).to.equal(phantom.user_id);
        const info = await account.connection.expectOk<{ username: string; identity_key: string }>('get_user_info', { user_id: phantom.user_id });
        expect(info.username).to.equal('upgraded');
        expect(info.identity_key).to.equal(b64(registered.identity.publicKey));
        expect(info.identity_key).not.to.equal(phantom.identity_key);
        const row = await knexOf(server)('users').where({ id: phantom.user_id }).first();
        expect(Boolean(row.phantom)).to.equal(false);
        // The server-made device and its pre-keys are gone; the owner's own device is there.
        expect(await knexOf(server)('devices').where({ id: phantomDevices[0].id }).first()).to.equal(undefined);
        expect(await knexOf(server)('one_time_prekeys').where({ device_id: phantomDevices[0].id })).to.have.length(0);
        const bundle = await account.connection.expectOk<{ devices: Array<{ device_id: string }> }>('get_key_bundle', { user_id: phantom.user_id });
        expect(bundle.devices.map((d) => d.device_id)).to.deep.equal([registered.deviceId]);
        expect(await knexOf(server)('conversation_members').where({ conversation_id: conversationId, user_id: phantom.user_id }).first()).to.not.equal(undefined);
      } finally {
        await registered.connection.close();
      }
    });
  });

  describe('maintenance', () => {
    const DAY = 24 * 60 * 60 * 1000;

    it('removes expired pending registrations', async () => {
      const expired = freshEmail('maint');
      const fresh = freshEmail('maintfresh');
      await anon.expectOk('register', registerFields('m', expired, newKeys()));
      await anon.expectOk('register', registerFields('m', fresh, newKeys()));
      await knexOf(server)('pending_registrations').where({ email: expired }).update({ expires_at: Date.now() - 1000 });
      await server.server.hooks.maintenance.promise({ now: Date.now() });
      expect(await knexOf(server)('pending_registrations').where({ email: expired }).first()).to.equal(undefined);
      expect(await knexOf(server)('pending_registrations').where({ email: fresh }).first()).to.not.equal(undefined);
    });

    it('removes old phantoms nobody talks to, keeps recent ones, active ones and registered users (L8)', async () => {
      const account = await createAccount(server);
      try {
        const knex = knexOf(server);
        const resolve = (email: string) => account.connection.expectOk<{ user_id: string }>('get_user_info', { email });
        const stale = await resolve(freshEmail('stale'));
        const recent = await resolve(freshEmail('recent'));
        const active = await resolve(freshEmail('active'));
        const retention = server.config.phantomRetentionDays * DAY;
        const now = Date.now();
        const old = now - retention - DAY;
        await knex('users').whereIn('id', [stale.user_id, active.user_id]).update({ created_at: old, updated_at: old });
        // `active` shares a conversation with a registered user who wrote in it recently.
        const conversationId = randomUUID();
        await knex('conversations').insert({ id: conversationId, kind: 'group', name: 'g', created_by: account.userId, created_at: old });
        await knex('conversation_members').insert([
          { conversation_id: conversationId, user_id: account.userId, role: 'creator', joined_at: old },
          { conversation_id: conversationId, user_id: active.user_id, role: 'member', joined_at: old },
        ]);
        await knex('messages').insert({
          id: randomUUID(),
          conversation_id: conversationId,
          sender_id: account.userId,
          sender_device_id: account.deviceId,
          kind: 'message',
          body: 'AAAA',
          created_at: now - DAY,
        });
        // An old registered account is never touched.
        await knex('users').where({ id: account.userId }).update({ created_at: old });

        await server.server.hooks.maintenance.promise({ now });

        expect(await knex('users').where({ id: stale.user_id }).first()).to.equal(undefined);
        expect(await knex('devices').where({ user_id: stale.user_id })).to.have.length(0);
        expect(deleting).to.include(stale.user_id);
        expect(deleting).not.to.include(active.user_id);
        expect(await knex('users').where({ id: recent.user_id }).first()).to.not.equal(undefined);
        expect(await knex('users').where({ id: active.user_id }).first()).to.not.equal(undefined);
        expect(await knex('users').where({ id: account.userId }).first()).to.not.equal(undefined);

        // Once the conversation has been quiet for the whole period, the phantom goes too.
        await server.server.hooks.maintenance.promise({ now: now + retention + DAY });
        expect(await knex('users').where({ id: active.user_id }).first()).to.equal(undefined);
        expect(await knex('users').where({ id: account.userId }).first()).to.not.equal(undefined);
      } finally {
        await account.connection.close();
      }
    });
  });

  describe('anonymous connections', () => {
    it('answers not_authenticated to every request that needs a login, unknown_type to unknown types', async () => {
      for (const type of ['logout', 'rotate_keys', 'get_user_info', 'list_devices', 'remove_device', 'upload_prekeys', 'get_prekey_count', 'ensure_prekeys', 'get_key_bundle']) {
        const error = await anon.expectError(type, {}, 'not_authenticated');
        expect(error.code, type).to.equal('not_authenticated');
      }
      await anon.expectError('register_everything', {}, 'unknown_type');
    });
  });
});

forEachBackend('core-accounts rate limits', (backend) => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({
      databaseUrl: backend.databaseUrl,
      config: { rateLimits: { registerPerMinute: 2, registerPerIpPerHour: 5, loginPerMinute: 3 } },
    });
  });

  after(async () => {
    await server?.close();
  });

  it('limits register per address and per IP', async () => {
    const connection = await server.connect();
    try {
      const email = freshEmail('rl');
      await connection.expectOk('register', registerFields('rl', email, newKeys()));
      await connection.expectOk('register', registerFields('rl', email, newKeys()));
      const limited = await connection.expectError('register', registerFields('rl', email, newKeys()), 'rate_limited');
      expect(limited.retry_after_ms).to.be.a('number').and.to.be.above(0);
      // The same address in another case shares the bucket.
      await connection.expectError('register', registerFields('rl', email.toUpperCase(), newKeys()), 'rate_limited');
      // Other addresses from the same IP: the hourly per-IP budget (5, two used; refusals by the
      // per-address rule come first and cost nothing) runs out after three more.
      for (let i = 0; i < 3; i++) await connection.expectOk('register', registerFields('rl', freshEmail('rl'), newKeys()));
      const perIp = await connection.expectError('register', registerFields('rl', freshEmail('rl'), newKeys()), 'rate_limited');
      expect(perIp.retry_after_ms).to.be.above(0);
    } finally {
      await connection.close();
    }
  });

  it('limits login_start and login_finish per address', async () => {
    const connection = await server.connect();
    try {
      const email = freshEmail('rll');
      for (let i = 0; i < 3; i++) await connection.expectOk('login_start', { email });
      const limited = await connection.expectError('login_start', { email }, 'rate_limited');
      expect(limited.retry_after_ms).to.be.above(0);
      const finish = { email, signature: b64(new Uint8Array(64)), client_version: SERVER_VERSION };
      for (let i = 0; i < 3; i++) await connection.expectError('login_finish', finish, 'invalid_credentials');
      const finishLimited = await connection.expectError('login_finish', finish, 'rate_limited');
      expect(finishLimited.retry_after_ms).to.be.above(0);
      // Another address is not affected.
      await connection.expectOk('login_start', { email: freshEmail('rll') });
    } finally {
      await connection.close();
    }
  });
});
