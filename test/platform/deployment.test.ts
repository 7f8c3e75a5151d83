/**
 * Plugins are a per-deployment choice. With a plugin list that leaves the polls plugin out, its
 * types answer unknown_type, it is absent from hello, clients hide its commands and methods — and
 * its tables keep their rows: restarting on the same data with polls enabled again shows the old
 * polls. Clients and servers that disagree about plugins keep working for everything else.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin, type MessagePayload } from '../../engine/plugin/index.js';
import {
  closeAll,
  forEachBackend,
  loginUser,
  registerUser,
  removeHomes,
  startTestServer,
  waitForText,
  type TestServer,
  type User,
} from '../../engine/testing/index.js';
import polls, { type PollsMethods } from 'kecalek-plugin-polls';

function pollsOf(user: User): PollsMethods {
  return user.client.plugins.polls as unknown as PollsMethods;
}

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

/** A small plugin with a client part that adds a field to every outgoing payload. */
const signature = definePlugin({
  name: 'signature',
  version: '1.0.0',
  apiVersion: 1,
  client(api) {
    api.hooks.outgoingPayload.tap((payload: MessagePayload) => ({ ...payload, signature: '-- sent with signature' }));
    api.expose({ enabled: () => true });
    api.command({ name: 'sig', help: 'Shows the signature', run: (_args, context) => context.print('-- sent with signature') });
  },
});

forEachBackend('platform: plugins per deployment', (backend) => {
  const users: User[] = [];
  const servers: TestServer[] = [];
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kecalek-deployment-'));
  });

  after(async function () {
    this.timeout(30_000);
    await closeAll(...users);
    for (const server of servers) await server.close();
    await rm(dataDir, { recursive: true, force: true });
    await removeHomes();
  });

  /** A server on the shared data folder and database with this plugin list. */
  async function deployment(plugins: string[]): Promise<TestServer> {
    const server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins, config: { dataDir } });
    servers.push(server);
    return server;
  }

  async function stop(server: TestServer, ...people: User[]): Promise<void> {
    await closeAll(...people);
    await server.close();
  }

  it('switches the polls plugin off and on again per deployment, keeping its data in between', async function () {
    this.timeout(120_000);
    // 1. Enabled: a poll with a vote.
    const first = await deployment(['kecalek-plugin-polls']);
    const alice = await registerUser(first, { username: 'alice', plugins: [polls] });
    const bob = await registerUser(first, { username: 'bob', plugins: [polls] });
    const group = await alice.client.createGroup('Weekend', [bob.email]);
    const { pollId } = await pollsOf(alice).create(group.id, 'Hike or bike?', ['hike', 'bike']);
    await waitForText(bob, group.id, 'Poll: Hike or bike?');
    await pollsOf(bob).vote(pollId, [1]);
    await stop(first, alice, bob);

    // 2. The same data, a plugin list without polls.
    const second = await deployment([]);
    const alice2 = await loginUser(second, alice, { home: alice.home, plugins: [polls] });
    const bob2 = await loginUser(second, bob, { home: bob.home, plugins: [polls] });
    expect(alice2.client.serverInfo?.plugins).to.deep.equal([]);
    expect(alice2.client.plugins).to.deep.equal({});
    expect(alice2.client.commands()).to.deep.equal([]);
    const unknown = await failure(alice2.client.request('get_poll_results', { poll_id: pollId }));
    expect(unknown.code).to.equal('unknown_type');
    // The poll message is still an ordinary message; nothing decorates it.
    const pollMessage = (await alice2.client.getCachedMessages(group.id)).find((m) => m.text === 'Poll: Hike or bike?')!;
    expect(alice2.client.terminalDecorations(pollMessage)).to.deep.equal({ badges: [], notes: [], highlights: [] });
    // Everything else works.
    await alice2.client.sendMessage(group.id, 'no polls this week');
    await waitForText(bob2, group.id, 'no polls this week');
    // The tables and their rows are still there.
    const knex = second.server.database.knex;
    expect(await knex('polls_polls').where({ poll_id: pollId }).pluck('option_count')).to.deep.equal([2]);
    expect(await knex('polls_votes').where({ poll_id: pollId }).pluck('option_index')).to.deep.equal([1]);
    await stop(second, alice2, bob2);

    // 3. Enabled again: the old poll and its votes are back; the texts come from the device's cache.
    const third = await deployment(['kecalek-plugin-polls']);
    const alice3 = await loginUser(third, alice, { home: alice.home, plugins: [polls] });
    users.push(alice3);
    expect(alice3.client.commands().map((c) => c.command.name)).to.include('poll');
    const results = await pollsOf(alice3).results(pollId);
    expect(results.question).to.equal('Hike or bike?');
    expect(results.options.map((o) => [o.text, o.count])).to.deep.equal([
      ['hike', 0],
      ['bike', 1],
    ]);
    expect(results.voters).to.equal(1);
    await stop(third);
  });

  it('keeps clients and servers that disagree about plugins working for everything else', async function () {
    this.timeout(120_000);
    // The server has `signature` and not polls; Carol's client has polls but not signature.
    const server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [signature] });
    servers.push(server);
    const carol = await registerUser(server, { username: 'carol', plugins: [polls] });
    const dave = await registerUser(server, { username: 'dave', plugins: [polls, signature] });
    users.push(carol, dave);
    expect(carol.client.plugins).to.deep.equal({});
    expect(carol.client.commands()).to.deep.equal([]);
    expect(Object.keys(dave.client.plugins)).to.deep.equal(['signature']);
    expect(dave.client.commands().map((c) => `${c.plugin}:${c.command.name}`)).to.deep.equal(['signature:sig']);
    const dm = await carol.client.createDm(dave.email);
    await carol.client.sendMessage(dm.id, 'from carol');
    const atDave = await waitForText(dave, dm.id, 'from carol');
    expect(atDave.payload).to.deep.equal({ v: 1, text: 'from carol' });
    await dave.client.sendMessage(dm.id, 'from dave');
    const atCarol = await waitForText(carol, dm.id, 'from dave');
    expect(atCarol.payload).to.deep.include({ text: 'from dave', signature: '-- sent with signature' });
    expect(carol.events.errors).to.deep.equal([]);
    expect(dave.events.errors).to.deep.equal([]);

    // The server has polls; Erin's client does not: a poll reaches her as a plain message.
    const pollServer = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: ['kecalek-plugin-polls'] });
    servers.push(pollServer);
    const erin = await registerUser(pollServer, { username: 'erin' });
    const frank = await registerUser(pollServer, { username: 'frank', plugins: [polls] });
    users.push(erin, frank);
    expect(erin.client.plugins).to.deep.equal({});
    expect(erin.client.serverInfo?.plugins.map((p) => p.name)).to.deep.equal(['polls']);
    const chat = await frank.client.createDm(erin.email);
    await pollsOf(frank).create(chat.id, 'Lunch at noon?', ['yes', 'no']);
    const shown = await waitForText(erin, chat.id, 'Poll: Lunch at noon?');
    expect(erin.client.terminalDecorations(shown).notes).to.deep.equal([]);
    await erin.client.sendMessage(chat.id, 'yes, see you');
    await waitForText(frank, chat.id, 'yes, see you');
    expect(erin.events.errors).to.deep.equal([]);
    expect(frank.events.errors).to.deep.equal([]);
  });
});
