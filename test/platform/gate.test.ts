/**
 * The runtime gate (`server.runtime.setEnabled`): a disabled plugin's types answer unknown_type,
 * its taps pass everything through, it disappears from hello — and its data stays, so enabling
 * it again brings everything back. Core modules cannot be switched off, nor a plugin that an
 * enabled plugin depends on.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Type } from 'typebox';
import { definePlugin, WireError, WireErrorCode } from '../../engine/plugin/index.js';
import { createAccount, forEachBackend, startTestServer, type TestAccount, type TestServer } from '../../engine/testing/index.js';

/** Refuses one core request type (a guard tap). */
const blocker = definePlugin({
  name: 'blocker',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.hooks.beforeRequest.tap((request) => (request.type === 'get_prekey_count' ? new WireError(WireErrorCode.FORBIDDEN, 'blocked') : undefined));
  },
});

/** Decorates listed conversations (a waterfall tap) and has a request type of its own. */
const tagger = definePlugin({
  name: 'tagger',
  version: '2.0.0',
  apiVersion: 1,
  server(api) {
    api.hooks.conversationsListed.tap((views) => views.map((view) => ({ ...view, tag: 'tagged' })));
    api.handle('tagger_ping', Type.Object({}), () => ({ pong: true }));
  },
});

const needsTagger = definePlugin({ name: 'needs-tagger', version: '1.0.0', apiVersion: 1, dependsOn: ['tagger'] });

forEachBackend('platform: the runtime gate', (backend) => {
  let server: TestServer;
  let alice: TestAccount;
  let conversationId: string;
  let pollId: string;

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: ['kecalek-plugin-polls', blocker, tagger, needsTagger] });
    alice = await createAccount(server);
    ({
      conversation: { id: conversationId },
    } = await alice.connection.expectOk<{ conversation: { id: string } }>('create_conversation', { kind: 'group', name: 'gated', user_ids: [] }));
    pollId = randomUUID();
    await alice.connection.expectOk('create_poll', { conversation_id: conversationId, poll_id: pollId, option_count: 3, multiple: false });
    await alice.connection.expectOk('vote_poll', { poll_id: pollId, option_indexes: [2] });
  });

  after(async function () {
    this.timeout(30_000);
    await server?.close();
  });

  const helloPlugins = async (): Promise<string[]> => {
    const connection = await server.connect();
    try {
      return connection.hello.plugins.map((plugin) => plugin.name);
    } finally {
      await connection.close();
    }
  };

  it('turns a disabled plugin’s types into unknown_type and hides it from hello, keeping its data; enabling restores it', async () => {
    server.server.runtime.setEnabled('polls', false);
    const unknown = await alice.connection.expectError('get_poll_results', { poll_id: pollId }, 'unknown_type');
    expect(unknown.type).to.equal('get_poll_results');
    await alice.connection.expectError('create_poll', { conversation_id: conversationId, poll_id: randomUUID(), option_count: 2, multiple: false }, 'unknown_type');
    expect(await helloPlugins()).to.deep.equal(['blocker', 'tagger', 'needs-tagger']);
    expect(server.server.runtime.enabledPlugins().map((p) => p.name)).not.to.include('polls');
    // The data is untouched.
    expect(await server.server.database.knex('polls_votes').where({ poll_id: pollId }).pluck('option_index')).to.deep.equal([2]);

    server.server.runtime.setEnabled('polls', true);
    const results = await alice.connection.expectOk<{ counts: number[]; my_votes: number[] }>('get_poll_results', { poll_id: pollId });
    expect(results.counts).to.deep.equal([0, 0, 1]);
    expect(results.my_votes).to.deep.equal([2]);
    expect(await helloPlugins()).to.deep.equal(['polls', 'blocker', 'tagger', 'needs-tagger']);
  });

  it('lets a disabled plugin’s guard and waterfall taps pass everything through', async () => {
    await alice.connection.expectError('get_prekey_count', {}, 'forbidden');
    server.server.runtime.setEnabled('blocker', false);
    expect(await alice.connection.expectOk('get_prekey_count')).to.have.property('count');
    server.server.runtime.setEnabled('blocker', true);
    await alice.connection.expectError('get_prekey_count', {}, 'forbidden');

    const tags = async () =>
      (await alice.connection.expectOk<{ conversations: Array<{ id: string; tag?: string }> }>('list_conversations')).conversations.find((c) => c.id === conversationId)?.tag;
    expect(await tags()).to.equal('tagged');
    server.server.runtime.setEnabled('needs-tagger', false);
    server.server.runtime.setEnabled('tagger', false);
    expect(await tags()).to.equal(undefined);
    await alice.connection.expectError('tagger_ping', {}, 'unknown_type');
    server.server.runtime.setEnabled('tagger', true);
    server.server.runtime.setEnabled('needs-tagger', true);
    expect(await tags()).to.equal('tagged');
    expect(await alice.connection.expectOk('tagger_ping')).to.deep.equal({ pong: true });
  });

  it('refuses to switch off the engine’s core, an unknown plugin, or a plugin an enabled plugin depends on', () => {
    expect(() => server.server.runtime.setEnabled('core-messages', false)).to.throw('"core-messages" is part of the engine and cannot be disabled');
    expect(() => server.server.runtime.setEnabled('weather', false)).to.throw('No plugin named "weather" is loaded');
    expect(() => server.server.runtime.setEnabled('tagger', false)).to.throw('"needs-tagger" depends on "tagger"; disable it first');
    expect(server.server.runtime.find('tagger')?.enabled).to.equal(true);
  });
});
