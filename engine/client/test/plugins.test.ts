/**
 * The client plugin host through real servers: a test plugin's outgoingPayload and
 * incomingPayload taps, exposed methods, push listeners, emitted events, terminal commands and
 * public settings; activation only when the server's hello advertises the plugin; a client
 * without a plugin the server has keeps working; a throwing tap is reported with the plugin's
 * name and does not break sending.
 */
import { expect } from 'chai';
import { Type } from 'typebox';
import { definePlugin } from '../../plugin/define.js';
import { ed25519KeyPair } from '../../crypto/index.js';
import { encodeBase64 } from '../../protocol/base64.js';
import type { MessagePayload } from '../../plugin/client-api.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import { closeAll, registerUser, removeHomes, waitFor, waitForText, type User } from './helpers.js';

interface StampMethods {
  ping(conversationId: string): Promise<{ messageId: string; createdAt: number }>;
  poke(userId: string): Promise<unknown>;
  pings(): MessagePayload[];
}

const stamp = definePlugin({
  name: 'stamp',
  version: '1.0.0',
  apiVersion: 1,
  configSchema: Type.Object({ label: Type.String({ default: 'stamped' }), secret: Type.String({ default: 'server only' }) }),
  publicConfig: ['label'],
  server(api) {
    api.handle('stamp_poke', Type.Object({ user_id: Type.String() }), async (request, ctx) => {
      api.notify([request.user_id], 'stamp_poked', { from: ctx.session.userId });
      return { poked: true };
    });
  },
  client(api) {
    const pings: MessagePayload[] = [];
    api.hooks.outgoingPayload.tap((payload, context) => ({ ...payload, stamp: api.config.label, conversation_kind: context.conversationKind }));
    api.hooks.incomingPayload.tap((payload) => {
      if (payload.ping !== true) return undefined;
      pings.push(payload);
      return true;
    });
    // A stand-in for the verification plugin: every key it has seen counts as verified.
    api.hooks.identityKeySeen.tap((status) => (status === 'changed' ? 'changed_verified' : 'verified'));
    api.on('stamp_poked', (data) => api.emit('poked', data));
    api.expose({
      ping: (conversationId: string) => api.client.sendPayload(conversationId, { ping: true }),
      poke: (userId: string) => api.client.request('stamp_poke', { user_id: userId }),
      pings: () => pings,
      config: () => api.config,
    });
    api.command({ name: 'ping', usage: '', help: 'Sends a ping', needsConversation: true, run: () => undefined });
  },
});

const thrower = definePlugin({
  name: 'thrower',
  version: '1.0.0',
  apiVersion: 1,
  client(api) {
    api.hooks.outgoingPayload.tap(() => {
      throw new Error('outgoing tap broke');
    });
    api.hooks.incomingPayload.tap(() => {
      throw new Error('incoming tap broke');
    });
  },
});

forEachBackend('ChatClient plugins', (backend) => {
  let withPlugins: TestServer;
  let without: TestServer;
  const users: User[] = [];

  before(async function () {
    this.timeout(30_000);
    withPlugins = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [stamp, thrower], settings: { stamp: { label: 'custom label' } } });
    without = await startTestServer();
  });

  after(async function () {
    this.timeout(30_000);
    await closeAll(...users);
    await withPlugins?.close();
    await without?.close();
    await removeHomes();
  });

  it('activates advertised plugins: taps, exposed methods, push listeners, events, commands and public settings', async function () {
    this.timeout(60_000);
    const alice = await registerUser(withPlugins, { username: 'alice', plugins: [stamp, thrower] });
    const bob = await registerUser(withPlugins, { username: 'bob', plugins: [stamp] });
    users.push(alice, bob);
    const methods = alice.client.plugins.stamp as unknown as StampMethods & { config(): Record<string, unknown> };
    expect(methods).to.be.an('object');
    expect(methods.config()).to.deep.equal({ label: 'custom label' });
    expect(alice.client.serverInfo?.pluginSettings.stamp).to.deep.equal({ label: 'custom label' });
    expect(alice.client.commands().map((c) => `${c.plugin}:${c.command.name}`)).to.deep.equal(['stamp:ping']);

    const dm = await alice.client.createDm(bob.email);
    const sent = await alice.client.sendMessage(dm.id, 'decorated');
    // The throwing tap was reported with its plugin's name; the message went out, decorated by the other tap.
    expect(sent.payload).to.include({ text: 'decorated', stamp: 'custom label', conversation_kind: 'dm' });
    const failure = alice.events.errors.find((error) => error.message.includes('thrower'));
    expect(failure?.message).to.contain('outgoing tap broke');
    const received = await waitForText(bob, dm.id, 'decorated');
    expect(received.payload).to.include({ stamp: 'custom label' });

    // A payload a plugin swallows never becomes a message.
    const ping = await methods.ping(dm.id);
    expect(ping.messageId).to.be.a('string');
    const bobMethods = bob.client.plugins.stamp as unknown as StampMethods;
    await waitFor('the ping at Bob’s plugin', () => bobMethods.pings().length === 1);
    expect(bobMethods.pings()[0]).to.include({ ping: true, stamp: 'custom label' });
    expect((await bob.client.getCachedMessages(dm.id)).some((m) => m.id === ping.messageId)).to.equal(false);
    expect(bob.events.messages.some((m) => m.id === ping.messageId)).to.equal(false);

    // Bob's answer reaches Alice even though her thrower's incoming tap fails.
    await bob.client.sendMessage(dm.id, 'answer');
    await waitForText(alice, dm.id, 'answer');
    expect(alice.events.errors.some((error) => error.message.includes('incoming tap broke'))).to.equal(true);

    // identityKeySeen decides the status; a changed key is reported with what the plugin said.
    expect((await alice.client.getUser({ userId: bob.self.userId })).identityStatus).to.equal('verified');
    const knex = withPlugins.server.database.knex;
    const genuine = (await knex('users').where({ id: bob.self.userId }).first('identity_key')) as { identity_key: string };
    await knex('users').where({ id: bob.self.userId }).update({ identity_key: encodeBase64(ed25519KeyPair().publicKey) });
    expect((await alice.client.getUser({ userId: bob.self.userId })).identityStatus).to.equal('changed_verified');
    expect(alice.events.of('identity_changed').map(([info]) => info)).to.deep.equal([{ userId: bob.self.userId, username: 'bob', wasVerified: true }]);
    await knex('users').where({ id: bob.self.userId }).update({ identity_key: genuine.identity_key });

    // Push listener -> api.emit -> `plugin` event.
    await methods.poke(bob.self.userId);
    const [event] = await waitFor('the plugin event at Bob', () => bob.events.of('plugin').find(([info]) => info.type === 'poked'));
    expect(event).to.deep.equal({ plugin: 'stamp', type: 'poked', data: { from: alice.self.userId } });
  });

  it('keeps a plugin off when the server does not advertise it', async function () {
    this.timeout(60_000);
    const carol = await registerUser(without, { username: 'carol', plugins: [stamp, thrower] });
    const dave = await registerUser(without, { username: 'dave', plugins: [stamp] });
    users.push(carol, dave);
    expect(carol.client.plugins).to.deep.equal({});
    expect(carol.client.commands()).to.deep.equal([]);
    const dm = await carol.client.createDm(dave.email);
    const sent = await carol.client.sendMessage(dm.id, 'plain');
    expect(sent.payload).to.deep.equal({ v: 1, text: 'plain' });
    const received = await waitForText(dave, dm.id, 'plain');
    expect(received.payload).to.deep.equal({ v: 1, text: 'plain' });
    expect(carol.events.errors).to.deep.equal([]);
  });

  it('works for everything else when the client lacks a plugin the server has', async function () {
    this.timeout(60_000);
    const erin = await registerUser(withPlugins, { username: 'erin' });
    const frank = await registerUser(withPlugins, { username: 'frank', plugins: [stamp] });
    users.push(erin, frank);
    expect(erin.client.plugins).to.deep.equal({});
    expect(erin.client.serverInfo?.plugins.map((p) => p.name)).to.include.members(['stamp', 'thrower']);
    const dm = await erin.client.createDm(frank.email);
    await erin.client.sendMessage(dm.id, 'no plugins here');
    const atFrank = await waitForText(frank, dm.id, 'no plugins here');
    expect(atFrank.payload).to.deep.equal({ v: 1, text: 'no plugins here' });
    await frank.client.sendMessage(dm.id, 'stamped for erin');
    const atErin = await waitForText(erin, dm.id, 'stamped for erin');
    expect(atErin.payload).to.include({ stamp: 'custom label' });
    expect(erin.events.errors).to.deep.equal([]);
  });
});
