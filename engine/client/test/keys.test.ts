/**
 * Keys end to end through a real server: pre-key upload and upkeep (one-time pre-keys replenished
 * to 50 below 20; the signed pre-key rotated with the previous one kept, so an X3DH message made
 * with it before the rotation still decrypts, and dropped after the grace period), a malicious
 * server that substitutes a pre-key signature or an identity key (detected: the send is refused,
 * identity_changed is emitted), and login-key rotation.
 */
import { expect } from 'chai';
import { ClientError, CryptoError, CryptoErrorCode } from '../../errors.js';
import { ed25519KeyPair, randomBytes, x25519KeyPair } from '../../crypto/index.js';
import { encodeBase64 } from '../../protocol/base64.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import { createAccount, readOutboxCode } from '../../testing/accounts.js';
import {
  PASSWORD,
  clientFor,
  closeAll,
  linkDevice,
  loginUser,
  registerUser,
  removeHomes,
  tempHome,
  waitFor,
  waitForText,
  type User,
} from './helpers.js';

interface PreKeyStatus {
  count: number;
  spk_created_at: number | null;
  spk_key_id: number | null;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

forEachBackend('ChatClient keys', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  const others: User[] = [];

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
    alice = await registerUser(server, { username: 'alice' });
    bob = await registerUser(server, { username: 'bob' });
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(alice, bob, ...others);
    await server?.close();
    await removeHomes();
  });

  async function newUser(username: string): Promise<User> {
    const user = await registerUser(server, { username });
    others.push(user);
    return user;
  }

  it('uploads a signed pre-key and 50 one-time pre-keys for a new device', async function () {
    const status = await alice.client.request<PreKeyStatus>('get_prekey_count');
    expect(status.count).to.equal(50);
    expect(status.spk_key_id).to.equal(1);
    expect(status.spk_created_at).to.be.a('number');
  });

  it('finishes an interrupted registration: unconfirmed until the code is given, confirmed elsewhere picked up at login', async function () {
    this.timeout(30_000);
    // Registered, never confirmed: login says so, and the code can still be given.
    const home = await tempHome();
    const first = await clientFor(server, { home });
    await first.register({ username: 'ivan', email: 'ivan@example.test', password: PASSWORD });
    await first.close();
    const second = await clientFor(server, { home });
    const unconfirmed = await rejection(second.login({ email: 'ivan@example.test', password: PASSWORD }));
    expect(unconfirmed.code).to.equal('no_account');
    const ivan = await second.confirmRegistration(await readOutboxCode(server, 'ivan@example.test'));
    expect(ivan.username).to.equal('ivan');
    expect((await second.request<PreKeyStatus>('get_prekey_count')).count).to.equal(50);
    await second.close();

    // Confirmed, but the client stopped before its first login: the next login finds the account.
    const home2 = await tempHome();
    const third = await clientFor(server, { home: home2 });
    await third.register({ username: 'judy', email: 'judy@example.test', password: PASSWORD });
    await third.close();
    const raw = await server.connect();
    await raw.expectOk('register_confirm', { email: 'judy@example.test', code: await readOutboxCode(server, 'judy@example.test') });
    await raw.close();
    const fourth = await clientFor(server, { home: home2 });
    const judy = await fourth.login({ email: 'judy@example.test', password: PASSWORD });
    expect(judy.username).to.equal('judy');
    const status = await fourth.request<PreKeyStatus>('get_prekey_count');
    expect(status).to.include({ count: 50, spk_key_id: 1 });
    const dm = await alice.client.createDm('judy@example.test');
    await alice.client.sendMessage(dm.id, 'hello judy');
    await waitFor('the message at Judy', async () => {
      await fourth.catchUp();
      return (await fourth.getCachedMessages(dm.id)).find((m) => m.text === 'hello judy');
    });
    await fourth.close();
  });

  it('replenishes one-time pre-keys to 50 once fewer than 20 are left', async function () {
    this.timeout(30_000);
    const fetcher = await createAccount(server, { username: 'fetcher' });
    try {
      for (let i = 0; i < 25; i++) await fetcher.connection.expectOk('get_key_bundle', { user_id: alice.self.userId });
      const enough = await alice.client.maintainPreKeys();
      expect(enough).to.deep.include({ oneTimePreKeys: 25, uploadedOneTimePreKeys: 0, rotatedSignedPreKey: false });
      for (let i = 0; i < 10; i++) await fetcher.connection.expectOk('get_key_bundle', { user_id: alice.self.userId });
      const refilled = await alice.client.maintainPreKeys();
      expect(refilled).to.deep.include({ oneTimePreKeys: 50, uploadedOneTimePreKeys: 35, rotatedSignedPreKey: false, signedPreKeyId: 1 });
      expect((await alice.client.request<PreKeyStatus>('get_prekey_count')).count).to.equal(50);
    } finally {
      await fetcher.connection.close();
    }
    // The new keys work: a new session with the refilled supply.
    const carol = await newUser('carol');
    const dm = await carol.client.createDm(alice.email);
    await carol.client.sendMessage(dm.id, 'with a replenished pre-key');
    await waitForText(alice, dm.id, 'with a replenished pre-key');
  });

  it('still decrypts an X3DH message made with the previous signed pre-key after a rotation, until the grace period ends', async function () {
    this.timeout(60_000);
    const dave = await newUser('dave');
    const erin = await newUser('erin');
    await dave.client.close();
    await erin.client.close();
    // Bob starts sessions with both while they are offline: X3DH with their signed pre-key 1.
    const toDave = await bob.client.createDm(dave.email);
    const toErin = await bob.client.createDm(erin.email);
    await bob.client.sendMessage(toDave.id, 'in flight across a rotation');
    await bob.client.sendMessage(toErin.id, 'in flight past the grace period');

    // Dave's device rotates its signed pre-key when it logs in (before it reads anything).
    const dave2 = await loginUser(server, dave, { home: dave.home, options: { preKeyPolicy: { signedPreKeyRotationMs: 0 } } });
    others.push(dave2);
    expect((await dave2.client.request<PreKeyStatus>('get_prekey_count')).spk_key_id).to.equal(2);
    const message = await waitForText(dave2, toDave.id, 'in flight across a rotation');
    expect(message.undecryptable).to.equal(false);
    await dave2.client.sendMessage(toDave.id, 'and the session goes on');
    await waitForText(bob, toDave.id, 'and the session goes on');

    // Erin's device keeps no previous signed pre-key at all (grace period 0): the message is kept unreadable, not lost.
    const erin2 = await loginUser(server, erin, { home: erin.home, options: { preKeyPolicy: { signedPreKeyRotationMs: 0, signedPreKeyGraceMs: 0 } } });
    others.push(erin2);
    const placeholder = await waitFor('the placeholder at Erin', async () => (await erin2.client.getCachedMessages(toErin.id)).find((m) => m.undecryptable));
    expect(placeholder).to.include({ senderId: bob.self.userId, text: '' });
  });

  it('refuses to send when the server substitutes a signed pre-key (nothing is sent)', async function () {
    this.timeout(30_000);
    const frank = await newUser('frank');
    // The server hands out its own key with frank's old signature, and another key with a random signature.
    const knex = server.server.database.knex;
    await knex('signed_prekeys').where({ user_id: frank.self.userId }).update({ public_key: encodeBase64(x25519KeyPair().publicKey) });
    const dm = await alice.client.createDm(frank.email);
    const error = await rejection(alice.client.sendMessage(dm.id, 'must not leave'));
    expect(error).to.be.instanceOf(CryptoError);
    expect(error.code).to.equal(CryptoErrorCode.BAD_SIGNATURE);
    expect(error.message).to.contain('frank');
    const stored = (await knex('messages').where({ conversation_id: dm.id }).count({ n: '*' })) as Array<{ n: number | string }>;
    expect(Number(stored[0]!.n)).to.equal(0);
    const failed = (await alice.client.getCachedMessages(dm.id)).find((m) => m.text === 'must not leave');
    expect(failed?.status).to.equal('failed');
    expect(alice.events.errors.some((e) => e === error || (e as CryptoError).code === CryptoErrorCode.BAD_SIGNATURE)).to.equal(true);

    await knex('signed_prekeys').where({ user_id: frank.self.userId }).update({ signature: encodeBase64(randomBytes(64)) });
    const again = await rejection(alice.client.retryMessage(dm.id, failed!.clientMsgId!));
    expect(again.code).to.equal(CryptoErrorCode.BAD_SIGNATURE);
  });

  it('detects a substituted identity key: identity_changed, and no new session with it', async function () {
    this.timeout(60_000);
    const knex = server.server.database.knex;
    const dm = await alice.client.createDm(bob.email);
    await alice.client.sendMessage(dm.id, 'before the substitution');
    await waitForText(bob, dm.id, 'before the substitution');
    const genuine = (await knex('users').where({ id: bob.self.userId }).first('identity_key')) as { identity_key: string };

    await knex('users').where({ id: bob.self.userId }).update({ identity_key: encodeBase64(ed25519KeyPair().publicKey) });
    const seen = await alice.client.getUser({ userId: bob.self.userId });
    expect(seen.identityStatus).to.equal('changed');
    const [changed] = await waitFor('identity_changed', () => alice.events.of('identity_changed').find(([info]) => info.userId === bob.self.userId));
    expect(changed).to.deep.equal({ userId: bob.self.userId, username: 'bob', wasVerified: false });
    // A new session would use the substituted key: refused.
    await alice.client.resetSession(bob.self.userId);
    const refused = await rejection(alice.client.sendMessage(dm.id, 'not with a substituted key'));
    expect(refused).to.be.instanceOf(ClientError);
    expect(refused.code).to.equal('identity_changed');

    // First contact with a substituted key: trusted on first use, but its pre-keys do not verify.
    const grace = await newUser('grace');
    await knex('users').where({ id: grace.self.userId }).update({ identity_key: encodeBase64(ed25519KeyPair().publicKey) });
    const toGrace = await alice.client.createDm(grace.email);
    const firstContact = await rejection(alice.client.sendMessage(toGrace.id, 'first contact'));
    expect(firstContact.code).to.equal(CryptoErrorCode.BAD_SIGNATURE);

    // The genuine key back: the conversation works again.
    await knex('users').where({ id: bob.self.userId }).update({ identity_key: genuine.identity_key });
    await alice.client.sendMessage(dm.id, 'genuine key again');
    await waitForText(bob, dm.id, 'genuine key again');
  });

  it('rotates the login key: the new key logs in, a device with the old key cannot', async function () {
    this.timeout(60_000);
    const heidi = await newUser('heidi');
    const heidi2 = await linkDevice(server, heidi);
    others.push(heidi2);
    await heidi.client.rotateLoginKey(PASSWORD);
    // The server closed the other device's connection; logging in again with the old key fails.
    const failure = await waitFor('the old key refused on the other device', () =>
      heidi2.events.errors.find((error) => (error as ClientError).code === 'invalid_credentials'),
    );
    expect(failure.message).to.match(/Reconnecting failed/);
    await waitFor('the other device disconnected', () => heidi2.client.state === 'disconnected');

    await heidi.client.logout();
    const again = await clientFor(server, { home: heidi.home });
    const self = await again.login({ email: heidi.email, password: PASSWORD });
    expect(self.deviceId).to.equal(heidi.self.deviceId);
    await again.close();
  });
});
