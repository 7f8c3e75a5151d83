/**
 * The client plugin API's onReady hook through a real server: it runs after the first login
 * (`reconnected: false`) and after every login again following a lost connection
 * (`reconnected: true`), so a plugin recovers state whose pushes it missed while offline; a
 * throwing listener is reported with the plugin's name and does not disturb the client.
 */
import { expect } from 'chai';
import { Type } from 'typebox';
import { definePlugin } from '../../plugin/define.js';
import type { ReadyContext } from '../../plugin/client-api.js';
import { forEachBackend, offlineSwitch, startTestServer, type TestServer } from '../../testing/index.js';
import { closeAll, registerUser, removeHomes, waitFor, type User } from './helpers.js';

interface TallyMethods {
  bump(userId: string): Promise<{ value: number }>;
  value(): number | undefined;
  readies(): ReadyContext[];
}

/** A counter per user on the server; its owner's client keeps the value from `tally_changed` pushes and refetches it in onReady. */
const tally = definePlugin({
  name: 'tally',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    const valueOf = async (userId: string) => (await api.kv.get<number>(`tally:${userId}`)) ?? 0;
    api.handle('tally_bump', Type.Object({ user_id: Type.String() }), async (request) => {
      const value = (await valueOf(request.user_id)) + 1;
      await api.kv.set(`tally:${request.user_id}`, value);
      api.notify([request.user_id], 'tally_changed', { value });
      return { value };
    });
    api.handle('tally_get', Type.Object({}), async (_request, ctx) => ({ value: await valueOf(ctx.session.userId) }));
  },
  client(api) {
    let value: number | undefined;
    const readies: ReadyContext[] = [];
    api.on('tally_changed', (data) => {
      value = (data as { value: number }).value;
    });
    api.onReady(async (context) => {
      readies.push(context);
      value = (await api.client.request<{ value: number }>('tally_get')).value;
    });
    api.expose({
      bump: (userId: string) => api.client.request('tally_bump', { user_id: userId }),
      value: () => value,
      readies: () => readies,
    });
  },
});

/** Its onReady listener always fails. */
const brokenReady = definePlugin({
  name: 'broken-ready',
  version: '1.0.0',
  apiVersion: 1,
  client(api) {
    api.onReady(() => {
      throw new Error('ready listener broke');
    });
  },
});

forEachBackend('ChatClient plugins: onReady after login and reconnect', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  const offline = offlineSwitch();
  const tallyOf = (user: User) => user.client.plugins.tally as unknown as TallyMethods;

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [tally, brokenReady, offline.plugin] });
    alice = await registerUser(server, { username: 'alice', plugins: [tally, brokenReady] });
    bob = await registerUser(server, { username: 'bob', plugins: [tally] });
  });

  after(async function () {
    this.timeout(60_000);
    if (alice) offline.bringOnline(alice);
    await closeAll(alice, bob);
    await server?.close();
    await removeHomes();
  });

  it('runs after the first login, with the logged-in user', async function () {
    this.timeout(30_000);
    const [first] = await waitFor('alice ready', () => tallyOf(alice).readies()[0] && tallyOf(alice).readies());
    expect(first).to.deep.equal({ reconnected: false, self: { userId: alice.self.userId, username: 'alice', deviceId: alice.self.deviceId } });
    await waitFor('the first value', () => tallyOf(alice).value() === 0);
    // A failing listener is reported with its plugin's name; the client goes on.
    const failure = await waitFor('the broken listener reported', () => alice.events.errors.find((error) => error.message.includes('broken-ready')));
    expect(failure.message).to.contain('ready listener broke');
    expect(failure.message).to.contain('onReady');
  });

  it('runs again after a reconnect, and the plugin recovers what it missed while offline', async function () {
    this.timeout(60_000);
    await tallyOf(bob).bump(alice.self.userId);
    await waitFor('the pushed value', () => tallyOf(alice).value() === 1);

    await offline.takeOffline(server, alice);
    expect(alice.client.state).to.equal('reconnecting');
    // Pushed while Alice is offline: lost.
    await tallyOf(bob).bump(alice.self.userId);
    await tallyOf(bob).bump(alice.self.userId);
    expect(tallyOf(alice).value()).to.equal(1);
    offline.bringOnline(alice);

    await waitFor('alice connected again', () => alice.client.state === 'connected');
    const readies = await waitFor('the second onReady', () => (tallyOf(alice).readies().length >= 2 ? tallyOf(alice).readies() : undefined));
    expect(readies.map((context) => context.reconnected)).to.deep.equal([false, true]);
    expect(readies[1]!.self.userId).to.equal(alice.self.userId);
    await waitFor('the value fetched again', () => tallyOf(alice).value() === 3);

    // Pushes reach it again afterwards.
    await tallyOf(bob).bump(alice.self.userId);
    await waitFor('a push after the reconnect', () => tallyOf(alice).value() === 4);
    // Bob's client stayed connected: no second onReady there.
    expect(tallyOf(bob).readies().map((context) => context.reconnected)).to.deep.equal([false]);
  });
});
