/**
 * The invitations plugin across deployments and over time: settings validation, a deployment
 * without the plugin (members are added directly), switching the plugin off and on again on the
 * same database (pending invitations survive), a full group (accepting fails with conflict and the
 * invitation stays), and phantom accounts deleted by maintenance taking their invitations along.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createAccount, forEachBackend, login, startTestServer, type TestAccount, type TestServer } from '../../../engine/testing/index.js';
import invitations from '../index.js';
import { DAY_MS, createGroup, invitationsOf } from './helpers.js';

let people = 0;

/** An account with this username and an address no other test uses (the suites share a database). */
function person(server: TestServer, username: string): Promise<TestAccount> {
  people += 1;
  return createAccount(server, { username, email: `${username}-${people}-${Date.now()}@example.test` });
}

async function startFailure(promise: Promise<TestServer>): Promise<Error & { code?: string }> {
  let server: TestServer | undefined;
  try {
    server = await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  await server.close();
  throw new Error('the server started');
}

describe('invitations plugin: settings', () => {
  it('defaults expireDays to 30 and advertises it', async () => {
    const server = await startTestServer({ plugins: [invitations] });
    try {
      const connection = await server.connect();
      expect(connection.hello.plugins).to.deep.include({ name: 'invitations', version: '1.0.0' });
      expect((connection.hello.plugin_settings as Record<string, unknown>).invitations).to.deep.equal({ expireDays: 30 });
    } finally {
      await server.close();
    }
  });

  it('accepts a valid expireDays', async () => {
    const server = await startTestServer({ plugins: [invitations], settings: { invitations: { expireDays: 7 } } });
    try {
      expect(((await server.connect()).hello.plugin_settings as Record<string, unknown>).invitations).to.deep.equal({ expireDays: 7 });
    } finally {
      await server.close();
    }
  });

  for (const [label, settings] of [
    ['zero days', { expireDays: 0 }],
    ['a fraction', { expireDays: 1.5 }],
    ['text', { expireDays: '30' }],
    ['more than ten years', { expireDays: 3651 }],
  ] as const) {
    it(`refuses to start with expireDays as ${label}, naming the setting`, async () => {
      const error = await startFailure(startTestServer({ plugins: [invitations], settings: { invitations: settings } }));
      expect(error.code).to.equal('plugin_config_invalid');
      expect(error.message).to.include('invitations.expireDays');
    });
  }

  it('refuses unknown settings', async () => {
    const error = await startFailure(startTestServer({ plugins: [invitations], settings: { invitations: { expiryDays: 3 } } }));
    expect(error.code).to.equal('plugin_config_invalid');
    expect(error.message).to.include('invitations');
  });
});

forEachBackend('invitations plugin: deployments', (backend) => {
  let dataDir: string;
  const servers: TestServer[] = [];

  async function start(withPlugin: boolean, extra: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
    const server = await startTestServer({ databaseUrl: backend.databaseUrl, config: { dataDir, ...(extra.config ?? {}) }, plugins: withPlugin ? [invitations] : [], settings: extra.settings });
    servers.push(server);
    return server;
  }

  async function stop(server: TestServer): Promise<void> {
    await server.close();
    servers.splice(servers.indexOf(server), 1);
  }

  async function again(server: TestServer, account: TestAccount): Promise<TestAccount> {
    return { ...account, connection: (await login(server, account, { deviceId: account.deviceId })).connection };
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kecalek-invitations-'));
  });

  after(async function () {
    this.timeout(30_000);
    for (const server of servers.splice(0)) await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps pending invitations while the plugin is off; members are added directly meanwhile', async function () {
    this.timeout(60_000);
    // With the plugin: Alice invites Bob.
    let server = await start(true);
    let alice = await person(server, 'alice');
    let bob = await person(server, 'bob');
    let carol = await person(server, 'carol');
    let dave = await person(server, 'dave');
    const created = await createGroup(alice, 'Book club', [bob]);
    const groupId = created.conversation.id;
    expect(created.outcomes).to.deep.equal([{ user_id: bob.userId, outcome: 'invited' }]);
    await stop(server);

    // Without it: additions are direct, its requests are unknown.
    server = await start(false);
    [alice, bob, carol, dave] = await Promise.all([alice, bob, carol, dave].map((account) => again(server, account)));
    expect(server.server.plugins.map((p) => p.name)).to.not.include('invitations');
    expect(await alice.connection.expectOk('add_member', { conversation_id: groupId, user_id: carol.userId })).to.deep.equal({ user_id: carol.userId, outcome: 'added' });
    const direct = await createGroup(alice, 'Direct', [dave]);
    expect(direct.outcomes).to.deep.equal([{ user_id: dave.userId, outcome: 'added' }]);
    expect(direct.conversation.members.map((m) => m.user_id)).to.have.members([alice.userId, dave.userId]);
    for (const type of ['accept_invitation', 'decline_invitation', 'list_conversation_invitations']) {
      await bob.connection.expectError(type, { conversation_id: groupId }, 'unknown_type');
    }
    await bob.connection.expectError('list_invitations', {}, 'unknown_type');
    await alice.connection.expectError('cancel_invitation', { conversation_id: groupId, user_id: bob.userId }, 'unknown_type');
    await bob.connection.expectError('get_conversation', { conversation_id: groupId }, 'not_found');
    await stop(server);

    // With it again: Bob's invitation is there, and he can accept it.
    server = await start(true);
    [alice, bob, carol] = await Promise.all([alice, bob, carol].map((account) => again(server, account)));
    const [invitation, ...rest] = await invitationsOf(bob);
    expect(rest).to.deep.equal([]);
    expect(invitation).to.include({ conversation_id: groupId, conversation_name: 'Book club', invited_by: alice.userId, member_count: 2 });
    expect(await invitationsOf(carol)).to.deep.equal([]);
    await bob.connection.expectOk('accept_invitation', { conversation_id: groupId });
    const { conversation } = await bob.connection.expectOk<{ conversation: { members: Array<{ user_id: string }> } }>('get_conversation', { conversation_id: groupId });
    expect(conversation.members.map((m) => m.user_id)).to.have.members([alice.userId, bob.userId, carol.userId]);
    await stop(server);
  });

  it('refuses to accept into a full group (conflict) and keeps the invitation', async function () {
    this.timeout(60_000);
    const server = await start(true, { config: { limits: { maxGroupMembers: 3 } } });
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    const carol = await person(server, 'carol');
    const dave = await person(server, 'dave');
    const groupId = (await createGroup(alice, 'Trio', [bob, carol])).conversation.id;
    await alice.connection.expectOk('add_member', { conversation_id: groupId, user_id: dave.userId });
    await bob.connection.expectOk('accept_invitation', { conversation_id: groupId });
    await carol.connection.expectOk('accept_invitation', { conversation_id: groupId });
    await dave.connection.expectError('accept_invitation', { conversation_id: groupId }, 'conflict');
    expect((await invitationsOf(dave)).map((i) => i.conversation_id)).to.deep.equal([groupId]);
    await dave.connection.expectError('get_conversation', { conversation_id: groupId }, 'not_found');
    // Room again: the same invitation works.
    await alice.connection.expectOk('remove_member', { conversation_id: groupId, user_id: carol.userId });
    await dave.connection.expectOk('accept_invitation', { conversation_id: groupId });
    expect(await invitationsOf(dave)).to.deep.equal([]);
    await stop(server);
  });

  it('removes the invitations of phantom accounts that maintenance deletes', async function () {
    this.timeout(60_000);
    const server = await start(true, { settings: { invitations: { expireDays: 365 } } });
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    const email = `nobody-yet-${Date.now()}@example.test`;
    const created = await createGroup(alice, 'Future', [bob], [email]);
    const phantomId = created.outcomes.find((o) => o.user_id !== bob.userId)!.user_id;
    const table = () => server.server.database.knex('invitations_invitations').where({ conversation_id: created.conversation.id });
    expect((await table()).map((row: { user_id: string }) => row.user_id)).to.have.members([bob.userId, phantomId]);
    // 31 days on, the phantom is stale and deleted (phantomRetentionDays 30); Bob's invitation
    // is younger than expireDays (365) and stays.
    await server.server.hooks.maintenance.promise({ now: Date.now() + 31 * DAY_MS });
    expect((await table()).map((row: { user_id: string }) => row.user_id)).to.deep.equal([bob.userId]);
    await stop(server);
  });
});
