/**
 * ClientBridge against a real harness server: accounts, conversations, messages and their events
 * in the plain Bridge* shapes, plugin calls, errors, device linking through two bridges, settings.
 */
import { expect } from 'chai';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PASSWORD, removeHomes, startTestServer, tempHome, waitFor, type TestServer } from '../../engine/testing/index.js';
import { ClientBridge, BridgeCallFailure } from '../main/bridge.js';
import { builtinClientPlugins } from '../../engine/client/plugin-loader.js';
import { INTERNAL_ERROR_MESSAGE } from '../main/errors.js';
import { SETTINGS_FILE } from '../main/settings.js';
import type { BridgeConversation, BridgeMessage } from '../shared/bridge.js';
import { bridgeOptions, decodeQrSvg, echoPlugin, isPlainJson, Recorder, signUp, type BridgeUser } from './bridge-fixtures.js';

async function failure(promise: Promise<unknown>): Promise<BridgeCallFailure> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(BridgeCallFailure);
    return error as BridgeCallFailure;
  }
  throw new Error('expected the call to fail');
}

const MESSAGE_KEYS = ['id', 'conversationId', 'senderId', 'senderUsername', 'senderDeviceId', 'createdAt', 'own', 'text', 'payload', 'deleted', 'undecryptable', 'status', 'extra'];

describe('desktop: ClientBridge against a real server', function () {
  this.timeout(90_000);
  let server: TestServer;
  const bridges: ClientBridge[] = [];
  let alice: BridgeUser;
  let bob: BridgeUser;
  let dm: BridgeConversation;

  before(async () => {
    server = await startTestServer({ plugins: [echoPlugin] });
    alice = await signUp(server, bridges);
    bob = await signUp(server, bridges);
  });

  after(async () => {
    for (const bridge of bridges.splice(0)) await bridge.close();
    await server?.close();
    await removeHomes();
  });

  it('signs up through the bridge: confirmRegistration answers the plain self and a state event follows', async () => {
    const state = await alice.bridge.call('getState', {});
    expect(state.self).to.deep.equal({ userId: alice.userId, username: alice.username, deviceId: state.self!.deviceId, email: alice.email });
    expect(state.connection).to.equal('connected');
    expect(state.server?.plugins.map((p) => p.name)).to.include('echo');
    expect(state.server?.localPlugins).to.deep.equal(['echo']);
    // The certificate is checked against the test server's CA: the UI may show the address as secure.
    expect(state.serverVerified).to.equal(true);
    expect(state.serverAddress).to.equal(`${server.host}:${server.port}`);
    expect(state.accounts).to.deep.equal([{ email: alice.email, username: alice.username }]);
    expect(isPlainJson(state)).to.equal(true);
    const signedIn = alice.recorder.of('state').filter((s) => s.self?.userId === alice.userId);
    expect(signedIn.length).to.be.greaterThan(0);
  });

  it('creates a DM and delivers a message: the peer gets a `message` event in the plain BridgeMessage shape', async () => {
    dm = await alice.bridge.call('createDm', { email: bob.email });
    expect(dm.kind).to.equal('dm');
    expect(dm.members.map((m) => m.userId).sort()).to.deep.equal([alice.userId, bob.userId].sort());
    expect(isPlainJson(dm)).to.equal(true);

    const sent = await alice.bridge.call('sendMessage', { conversationId: dm.id, text: 'ahoj Bobe' });
    expect(sent.status).to.equal('sent');
    expect(sent.own).to.equal(true);
    expect(isPlainJson(sent)).to.equal(true);

    const received = await bob.recorder.waitFor('message', (m) => m.text === 'ahoj Bobe');
    expect(isPlainJson(received)).to.equal(true);
    expect(received).to.include({ id: sent.id, conversationId: dm.id, senderId: alice.userId, senderUsername: alice.username, own: false, status: 'sent' });
    for (const key of MESSAGE_KEYS) expect(received, key).to.have.property(key);
    expect(Object.keys(received).every((key) => [...MESSAGE_KEYS, 'clientMsgId', 'replyTo'].includes(key))).to.equal(true);
  });

  it('answers getCachedMessages, markRead and listDevices', async () => {
    const cached: BridgeMessage[] = await waitFor('the cached message', async () => {
      const list = await bob.bridge.call('getCachedMessages', { conversationId: dm.id });
      return list.some((m) => m.text === 'ahoj Bobe') ? list : undefined;
    });
    expect(isPlainJson(cached)).to.equal(true);
    const read = await bob.bridge.call('markRead', { conversationId: dm.id });
    expect(read).to.deep.equal({ marked: 1 });
    const readEvent = await alice.recorder.waitFor('messages_read', (e) => e.conversationId === dm.id);
    expect(readEvent.userId).to.equal(bob.userId);

    const devices = await alice.bridge.call('listDevices', {});
    expect(devices).to.have.length(1);
    expect(devices[0]).to.include({ current: true, online: true });
    expect(Object.keys(devices[0]!).sort()).to.deep.equal(['createdAt', 'current', 'deviceId', 'lastSeenAt', 'name', 'online']);

    const list = await bob.bridge.call('listConversations', {});
    expect(list.find((c) => c.id === dm.id)?.lastMessage?.text).to.equal('ahoj Bobe');
    expect(isPlainJson(list)).to.equal(true);
  });

  it('sends once per idempotency key (clientMsgId)', async () => {
    const args = { conversationId: dm.id, text: 'jen jednou', clientMsgId: 'renderer-1' };
    const [first, second] = await Promise.all([alice.bridge.call('sendMessage', args), alice.bridge.call('sendMessage', args)]);
    expect(second.id).to.equal(first.id);
    const again = await alice.bridge.call('sendMessage', args);
    expect(again.id).to.equal(first.id);
    const copies = (await alice.bridge.call('getCachedMessages', { conversationId: dm.id })).filter((m) => m.text === 'jen jednou');
    expect(copies).to.have.length(1);
  });

  it('calls only methods that active plugins exposed', async () => {
    const echoed = await alice.bridge.call('pluginCall', { plugin: 'echo', method: 'echo', args: [1, 'two', { three: [3] }] });
    expect(echoed).to.deep.equal({ values: [1, 'two', { three: [3] }], self: alice.username });

    for (const [plugin, method] of [
      ['echo', 'hidden'],
      ['echo', 'notAFunction'],
      ['echo', '__proto__'],
      ['echo', 'constructor'],
      ['echo', 'toString'],
      ['nope', 'echo'],
      ['__proto__', 'toString'],
    ] as const) {
      const reply = await alice.bridge.invoke('pluginCall', { plugin, method, args: [] });
      expect(reply.ok, `${plugin}.${method}`).to.equal(false);
      if (!reply.ok) expect(reply.error.code, `${plugin}.${method}`).to.equal('unknown_method');
    }
  });

  it('reports errors as {code, message, details} and never leaks internals', async () => {
    const unknown = await alice.bridge.invoke('dropDatabase', {});
    expect(unknown).to.deep.include({ ok: false });
    if (!unknown.ok) expect(unknown.error.code).to.equal('unknown_method');

    const bad = await alice.bridge.invoke('createDm', { email: 42 });
    expect(bad.ok).to.equal(false);
    if (!bad.ok) {
      expect(bad.error.code).to.equal('bad_request');
      expect(bad.error.details).to.deep.equal({ field: 'email' });
    }
    const extraField = await alice.bridge.invoke('getState', { sneaky: true });
    expect(extraField.ok).to.equal(false);
    if (!extraField.ok) expect(extraField.error.code).to.equal('bad_request');

    const missing = await failure(alice.bridge.call('getConversation', { conversationId: '00000000-0000-4000-8000-000000000000' }));
    expect(missing.error.code).to.equal('not_found');
    expect(missing.error.message).to.be.a('string').and.not.include('\n');

    const internal = await alice.bridge.invoke('pluginCall', { plugin: 'echo', method: 'fail', args: [] });
    expect(internal).to.deep.equal({ ok: false, error: { code: 'internal_error', message: INTERNAL_ERROR_MESSAGE } });

    const other = new ClientBridge(bridgeOptions(server, alice.home));
    bridges.push(other);
    const wrongPassword = await other.invoke('login', { email: alice.email, password: 'wrong' });
    expect(wrongPassword.ok).to.equal(false);
    if (!wrongPassword.ok) {
      expect(wrongPassword.error.code).to.equal('invalid_credentials');
      expect(JSON.stringify(wrongPassword.error)).to.not.match(/stack|at .*\.ts/);
    }
  });

  it('links a new device through two bridges (startLinking, approveLinking, linkingSas, confirmApproval, acceptLinking)', async () => {
    const home = await tempHome();
    const fresh = new ClientBridge(bridgeOptions(server, home));
    bridges.push(fresh);
    const recorder = new Recorder(fresh);
    await fresh.start();

    const started = await fresh.call('startLinking', {});
    expect(started.code).to.be.a('string').and.not.equal('');
    expect(started.qrText).to.be.a('string').and.not.equal('');
    expect(started.qrSvg).to.match(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(decodeQrSvg(started.qrSvg)).to.equal(started.qrText);
    expect(started.expiresAt).to.be.greaterThan(Date.now());

    const approval = await alice.bridge.call('approveLinking', { input: started.code });
    const { sas } = await fresh.call('linkingSas', {});
    expect(sas).to.equal(approval.sas);

    const accepting = fresh.call('acceptLinking', { password: PASSWORD });
    await alice.bridge.call('confirmApproval', {});
    const self = await accepting;
    expect(self.userId).to.equal(alice.userId);
    expect(self.email).to.equal(alice.email);

    const state = await recorder.waitFor('state', (s) => s.self?.userId === alice.userId);
    expect(state.self!.deviceId).to.equal(self.deviceId);
    const devices = await alice.bridge.call('listDevices', {});
    expect(devices.map((d) => d.deviceId)).to.include(self.deviceId);
    await alice.recorder.waitFor('devices_changed');

    // Nothing left to confirm or accept.
    expect((await failure(alice.bridge.call('confirmApproval', {}))).error.code).to.equal('conflict');
    expect((await failure(fresh.call('linkingSas', {}))).error.code).to.equal('conflict');

    // Removed by the first device: the new one hears device_removed, and the last state it was
    // handed is signed out (never a signed-in snapshot taken earlier and emitted late).
    const before = recorder.of('state').length;
    await alice.bridge.call('removeDevice', { deviceId: self.deviceId });
    await recorder.waitFor('device_removed', (info) => info.deviceId === self.deviceId);
    await waitFor('a signed-out state after the removal', () => recorder.of('state').slice(before).find((s) => s.self === undefined));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const states = recorder.of('state');
    expect(states.at(-1)!.self).to.equal(undefined);
    const revisions = states.map((s) => s.revision);
    expect(revisions).to.deep.equal([...revisions].sort((a, b) => a - b));
    expect(new Set(revisions).size).to.equal(revisions.length);
    const reread = await fresh.call('getState', {});
    expect(reread.self).to.equal(undefined);
    expect(reread.revision).to.be.greaterThan(states.at(-1)!.revision);
  });

  it('persists settings in <home>/desktop-settings.json with mode 0600', async () => {
    const settings = await bob.bridge.call('setSettings', { theme: 'dark' });
    expect(settings).to.deep.equal({ theme: 'dark' });
    const file = join(bob.home, SETTINGS_FILE);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).to.include({ theme: 'dark' });
    await bob.recorder.waitFor('state', (s) => s.settings.theme === 'dark');

    const reopened = new ClientBridge(bridgeOptions(server, bob.home));
    try {
      const state = await reopened.call('getState', {});
      expect(state.settings).to.deep.equal({ theme: 'dark' });
      expect(state.self).to.equal(undefined);
      expect(state.accounts).to.deep.equal([{ email: bob.email, username: bob.username }]);
    } finally {
      await reopened.close();
    }
    const refused = await bob.bridge.invoke('setSettings', { theme: 'neon' });
    expect(refused.ok).to.equal(false);
  });

  it('signs out: logout emits a state without self', async () => {
    bob.recorder.events.length = 0;
    await bob.bridge.call('logout', {});
    const state = await bob.recorder.waitFor('state', (s) => s.self === undefined);
    expect(state.accounts.map((a) => a.email)).to.include(bob.email);
    expect((await failure(bob.bridge.call('listConversations', {}))).error.code).to.equal('not_logged_in');
    const again = await bob.bridge.call('login', { email: bob.email, password: PASSWORD });
    expect(again.userId).to.equal(bob.userId);
  });
});

describe('desktop: ClientBridge with the shipped plugins', function () {
  this.timeout(90_000);
  let server: TestServer;
  const bridges: ClientBridge[] = [];

  before(async () => {
    server = await startTestServer({ plugins: ['reactions', 'pins', 'mentions', 'invitations'] });
  });
  after(async () => {
    for (const bridge of bridges.splice(0)) await bridge.close();
    await server?.close();
    await removeHomes();
  });

  it('loads their client parts and calls their exposed methods (reactions) across the bridge', async () => {
    const plugins = await builtinClientPlugins((line) => {
      throw new Error(line);
    });
    expect(plugins.map((p) => p.name)).to.include.members(['reactions', 'pins', 'mentions', 'invitations']);
    const alice = await signUp(server, bridges, { plugins });
    const bob = await signUp(server, bridges, { plugins });
    const state = await alice.bridge.call('getState', {});
    expect(state.server?.plugins.map((p) => p.name)).to.include('reactions');
    // The app has every shipped plugin; the renderer activates a UI part only for one the server runs too.
    expect(state.server?.localPlugins).to.include.members(['reactions', 'pins', 'mentions', 'invitations']);

    const dm = await alice.bridge.call('createDm', { email: bob.email });
    const sent = await alice.bridge.call('sendMessage', { conversationId: dm.id, text: 'reaguj' });
    await bob.recorder.waitFor('message', (m) => m.id === sent.id);

    const allowed = (await bob.bridge.call('pluginCall', { plugin: 'reactions', method: 'allowed', args: [] })) as string[];
    expect(allowed).to.be.an('array').with.length.greaterThan(0);
    await bob.bridge.call('pluginCall', { plugin: 'reactions', method: 'react', args: [dm.id, sent.id, allowed[0]] });
    const updated = await alice.recorder.waitFor('message_updated', (m) => m.id === sent.id && Array.isArray(m.extra.reactions) && m.extra.reactions.length > 0);
    expect(isPlainJson(updated)).to.equal(true);
    expect(JSON.stringify(updated.extra.reactions)).to.include(allowed[0]!);
  });
});
