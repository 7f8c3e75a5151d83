/**
 * core-conversations over real sockets against a real server, on SQLite and (when configured)
 * MariaDB: creating DMs and groups, finding, listing (unread counts, hidden DMs, many
 * conversations without N+1 queries), membership changes with their pushes and hooks, renaming,
 * and both kinds of deletion.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { uuidv7 } from '../../ids.js';
import {
  addDevice,
  cipher,
  closeOpened,
  createDm,
  createGroup,
  createRecorder,
  expectFailure,
  getMessages,
  listConversations,
  person,
  probePlugin,
  received,
  sendDm,
  sendGroup,
  settle,
  type ConversationView,
  type Device,
  type Person,
} from './chat-helpers.js';

const MAX_MEMBERS = 4;

forEachBackend('core-conversations', (backend) => {
  let server: TestServer;
  let probe: TestConnection;
  const recorder = createRecorder();
  const { record } = recorder;

  before(async () => {
    server = await startTestServer({
      databaseUrl: backend.databaseUrl,
      plugins: [probePlugin, recorder.plugin],
      config: { limits: { maxGroupMembers: MAX_MEMBERS } },
    });
    probe = await server.connect();
  });

  afterEach(closeOpened);

  after(async () => {
    await server?.close();
  });

  const knex = () => server.server.database.knex;
  const devicesOf = (...people: Person[]): Device[] => people.flatMap((p) => p.devices);

  describe('create_conversation (DM)', () => {
    it('creates a DM with both members and pushes it to the peer and to the creator\'s other devices only', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const carol = await person(server);
      const answer = await alice.devices[0]!.connection.expectOk<{ conversation: ConversationView; created: boolean }>('create_conversation', {
        kind: 'dm',
        user_ids: [bob.userId],
      });
      expect(answer.created).to.equal(true);
      const view = answer.conversation;
      expect(view.kind).to.equal('dm');
      expect(view.name).to.equal(null);
      expect(view.created_by).to.equal(alice.userId);
      expect(view.last_message_at).to.equal(null);
      expect(view.unread_count).to.equal(0);
      expect(view.members.map((m) => m.user_id).sort()).to.deep.equal([alice.userId, bob.userId].sort());
      expect(view.members.find((m) => m.user_id === bob.userId)!.username).to.equal(bob.username);
      expect(view.members.every((m) => m.role === 'member')).to.equal(true);
      expect(view.listed_for).to.equal(alice.userId);

      const atBob = await bob.devices[0]!.connection.nextPush<{ conversation: ConversationView }>('conversation_created');
      expect(atBob.conversation.id).to.equal(view.id);
      expect(atBob.conversation.listed_for, 'decorated for the receiving user').to.equal(bob.userId);
      const atAlice2 = await alice.devices[1]!.connection.nextPush<{ conversation: ConversationView }>('conversation_created');
      expect(atAlice2.conversation.id).to.equal(view.id);

      await settle(probe, devicesOf(alice, bob, carol));
      expect(received(alice.devices[0]!.connection, 'conversation_created')).to.have.length(0);
      expect(received(carol.devices[0]!.connection, 'conversation_created')).to.have.length(0);
    });

    it('returns the existing DM of a pair (by id or by email, from either side) without pushing again', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const first = await createDm(alice.devices[0]!, bob);
      await bob.devices[0]!.connection.nextPush('conversation_created');
      const again = await alice.devices[0]!.connection.expectOk<{ conversation: ConversationView; created: boolean }>('create_conversation', {
        kind: 'dm',
        emails: [bob.email.toUpperCase()],
      });
      expect(again.created).to.equal(false);
      expect(again.conversation.id).to.equal(first.id);
      const fromBob = await bob.devices[0]!.connection.expectOk<{ conversation: ConversationView; created: boolean }>('create_conversation', {
        kind: 'dm',
        user_ids: [alice.userId],
        emails: [alice.email],
      });
      expect(fromBob.created).to.equal(false);
      expect(fromBob.conversation.id).to.equal(first.id);
      await settle(probe, devicesOf(alice, bob));
      expect(received(bob.devices[0]!.connection, 'conversation_created')).to.have.length(1);
      expect(received(alice.devices[0]!.connection, 'conversation_created')).to.have.length(0);
    });

    it('starts a DM with an address that has no account (a phantom), like with anyone', async () => {
      const alice = await person(server);
      const email = `nobody-${randomUUID().slice(0, 8)}@example.test`;
      const answer = await alice.devices[0]!.connection.expectOk<{ conversation: ConversationView; created: boolean }>('create_conversation', {
        kind: 'dm',
        emails: [email],
      });
      expect(answer.created).to.equal(true);
      const peer = answer.conversation.members.find((m) => m.user_id !== alice.userId)!;
      const found = await alice.devices[0]!.connection.expectOk<{ user_id: string; conversation_id: string | null }>('find_conversation', { email });
      expect(found.user_id).to.equal(peer.user_id);
      expect(found.conversation_id).to.equal(answer.conversation.id);
    });

    it('refuses a DM with yourself, with nobody, with two people, and with an unknown id', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const a = alice.devices[0]!;
      await expectFailure(a, 'create_conversation', { kind: 'dm', user_ids: [alice.userId] }, 'bad_request', 'user_ids');
      await expectFailure(a, 'create_conversation', { kind: 'dm', emails: [alice.email] }, 'bad_request', 'emails');
      await expectFailure(a, 'create_conversation', { kind: 'dm' }, 'bad_request', 'user_ids');
      await expectFailure(a, 'create_conversation', { kind: 'dm', user_ids: [bob.userId, carol.userId] }, 'bad_request', 'user_ids');
      await expectFailure(a, 'create_conversation', { kind: 'dm', user_ids: [randomUUID()] }, 'not_found');
    });

    it('validates the request', async () => {
      const a = (await person(server)).devices[0]!;
      await expectFailure(a, 'create_conversation', { user_ids: [randomUUID()] }, 'bad_request', 'kind');
      await expectFailure(a, 'create_conversation', { kind: 'channel', user_ids: [randomUUID()] }, 'bad_request', 'kind');
      await expectFailure(a, 'create_conversation', { kind: 'dm', user_ids: ['not-a-uuid'] }, 'bad_request', 'user_ids[0]');
      await expectFailure(a, 'create_conversation', { kind: 'dm', user_ids: 'x' }, 'bad_request', 'user_ids');
      await expectFailure(a, 'create_conversation', { kind: 'dm', emails: ['no-at-sign'] }, 'bad_request', 'emails[0]');
      const tooMany = Array.from({ length: MAX_MEMBERS + 1 }, () => randomUUID());
      await expectFailure(a, 'create_conversation', { kind: 'group', name: 'x', user_ids: tooMany }, 'bad_request', 'user_ids');
    });

    it('needs a logged-in connection', async () => {
      const anonymous = await server.connect();
      await anonymous.expectError('create_conversation', { kind: 'dm', user_ids: [randomUUID()] }, 'not_authenticated');
      await anonymous.expectError('list_conversations', {}, 'not_authenticated');
      await anonymous.close();
    });
  });

  describe('create_conversation (group)', () => {
    it('makes the caller creator, adds the others, pushes to them and to the caller\'s other devices, fires memberAdded', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const carol = await person(server);
      const dave = await person(server);
      const answer = await alice.devices[0]!.connection.expectOk<{
        conversation: ConversationView;
        created: boolean;
        outcomes: Array<{ user_id: string; outcome: string }>;
      }>('create_conversation', { kind: 'group', name: '  Hiking  ', user_ids: [bob.userId, alice.userId], emails: [carol.email] });
      const view = answer.conversation;
      expect(answer.created).to.equal(true);
      expect(view.kind).to.equal('group');
      expect(view.name).to.equal('Hiking');
      expect(view.created_by).to.equal(alice.userId);
      expect(view.members.map((m) => [m.user_id, m.role]).sort()).to.deep.equal(
        [
          [alice.userId, 'creator'],
          [bob.userId, 'member'],
          [carol.userId, 'member'],
        ].sort(),
      );
      expect(answer.outcomes.map((o) => [o.user_id, o.outcome]).sort()).to.deep.equal(
        [
          [bob.userId, 'added'],
          [carol.userId, 'added'],
        ].sort(),
      );
      for (const device of [bob.devices[0]!, carol.devices[0]!, alice.devices[1]!]) {
        const pushed = await device.connection.nextPush<{ conversation: ConversationView }>('conversation_created');
        expect(pushed.conversation.id).to.equal(view.id);
        expect(pushed.conversation.members).to.have.length(3);
      }
      await settle(probe, devicesOf(alice, dave));
      expect(received(alice.devices[0]!.connection, 'conversation_created')).to.have.length(0);
      expect(received(dave.devices[0]!.connection, 'conversation_created')).to.have.length(0);
      const added = record.memberAdded.filter((c) => c.conversationId === view.id);
      expect(added.map((c) => [c.userId, c.by, c.reason]).sort()).to.deep.equal(
        [
          [bob.userId, alice.userId, 'create'],
          [carol.userId, alice.userId, 'create'],
        ].sort(),
      );
    });

    it('lets a memberAdding tap take an addition over (outcome) and refuses the whole group when a tap refuses', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const invitee = await person(server);
      const refuser = await person(server);
      record.invite.add(invitee.userId);
      const answer = await alice.devices[0]!.connection.expectOk<{
        conversation: ConversationView;
        outcomes: Array<{ user_id: string; outcome: string; data?: Record<string, unknown> }>;
      }>('create_conversation', { kind: 'group', name: 'Invites', user_ids: [bob.userId, invitee.userId] });
      expect(answer.outcomes.find((o) => o.user_id === invitee.userId)).to.deep.equal({ user_id: invitee.userId, outcome: 'invited', data: { reason: 'create' } });
      expect(answer.outcomes.find((o) => o.user_id === bob.userId)!.outcome).to.equal('added');
      expect(answer.conversation.members.map((m) => m.user_id)).to.not.include(invitee.userId);
      await settle(probe, invitee.devices);
      expect(received(invitee.devices[0]!.connection, 'conversation_created')).to.have.length(0);
      expect(record.memberAdded.some((c) => c.conversationId === answer.conversation.id && c.userId === invitee.userId)).to.equal(false);

      record.refuseAdding.add(refuser.userId);
      const refused = await alice.devices[0]!.connection.expectError(
        'create_conversation',
        { kind: 'group', name: 'Refused', user_ids: [bob.userId, refuser.userId] },
        'conflict',
      );
      expect(refused.message).to.match(/invitations/);
      const names = (await listConversations(alice.devices[0]!)).map((c) => c.name);
      expect(names).to.include('Invites');
      expect(names).to.not.include('Refused');
    });

    it('validates the name', async () => {
      const a = (await person(server)).devices[0]!;
      await expectFailure(a, 'create_conversation', { kind: 'group' }, 'bad_request', 'name');
      await expectFailure(a, 'create_conversation', { kind: 'group', name: '   ' }, 'bad_request', 'name');
      await expectFailure(a, 'create_conversation', { kind: 'group', name: 'x'.repeat(101) }, 'bad_request', 'name');
      await expectFailure(a, 'create_conversation', { kind: 'group', name: 'bad\u0007name' }, 'bad_request', 'name');
      await expectFailure(a, 'create_conversation', { kind: 'group', name: 42 }, 'bad_request', 'name');
      const ok = await a.connection.expectOk<{ conversation: ConversationView }>('create_conversation', { kind: 'group', name: `  ${'é'.repeat(100)}  ` });
      expect(ok.conversation.name).to.equal('é'.repeat(100));
      expect(ok.conversation.members).to.have.length(1);
    });
  });

  describe('find_conversation / get_conversation', () => {
    it('finds the DM with a person by address, or null, without creating one', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const found = await alice.devices[0]!.connection.expectOk<{ user_id: string; username: string; conversation_id: string | null }>('find_conversation', {
        email: bob.email,
      });
      expect(found).to.deep.equal({ user_id: bob.userId, username: bob.username, conversation_id: dm.id });
      const none = await alice.devices[0]!.connection.expectOk<{ conversation_id: string | null }>('find_conversation', { email: carol.email });
      expect(none.conversation_id).to.equal(null);
      expect((await listConversations(alice.devices[0]!)).map((c) => c.id)).to.deep.equal([dm.id]);
      await expectFailure(alice.devices[0]!, 'find_conversation', {}, 'bad_request', 'email');
      await expectFailure(alice.devices[0]!, 'find_conversation', { email: 'nope' }, 'bad_request', 'email');
    });

    it('gets a conversation for members and answers not_found to everyone else', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const got = await bob.devices[0]!.connection.expectOk<{ conversation: ConversationView }>('get_conversation', { conversation_id: dm.id });
      expect(got.conversation.id).to.equal(dm.id);
      expect(got.conversation.listed_for).to.equal(bob.userId);
      await expectFailure(eve.devices[0]!, 'get_conversation', { conversation_id: dm.id }, 'not_found');
      await expectFailure(eve.devices[0]!, 'get_conversation', { conversation_id: randomUUID() }, 'not_found');
      await expectFailure(eve.devices[0]!, 'get_conversation', { conversation_id: 'x' }, 'bad_request', 'conversation_id');
      await expectFailure(eve.devices[0]!, 'get_conversation', { conversation_id: dm.id.toUpperCase() }, 'bad_request', 'conversation_id');
      await expectFailure(eve.devices[0]!, 'get_conversation', {}, 'bad_request', 'conversation_id');
    });
  });

  describe('list_conversations', () => {
    it('lists newest activity first with unread counts, and decorates through conversationsListed', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const dmBob = await createDm(alice.devices[0]!, bob);
      const dmCarol = await createDm(alice.devices[0]!, carol);
      const group = await createGroup(alice.devices[0]!, 'Three', [bob, carol]);
      // Activity: group (newest by creation), then a message in dmBob makes it the newest.
      expect((await listConversations(alice.devices[0]!)).map((c) => c.id)).to.deep.equal([group.id, dmCarol.id, dmBob.id]);
      const m1 = await sendDm(bob.devices[0]!, dmBob.id, [alice, bob]);
      await sendDm(bob.devices[0]!, dmBob.id, [alice, bob]);
      await sendGroup(carol.devices[0]!, group.id);
      await sendDm(alice.devices[0]!, dmCarol.id, [alice, carol]);
      const list = await listConversations(alice.devices[0]!);
      // Newest activity first (ties, within one millisecond, by id: the newer conversation first).
      const activity = (c: ConversationView) => c.last_message_at ?? c.created_at;
      for (let i = 1; i < list.length; i++) {
        const [prev, next] = [list[i - 1]!, list[i]!];
        expect(activity(prev) > activity(next) || (activity(prev) === activity(next) && prev.id > next.id), 'ordered by activity').to.equal(true);
      }
      expect(list.map((c) => c.id)).to.have.members([dmCarol.id, group.id, dmBob.id]);
      expect(list.every((c) => c.last_message_at !== null)).to.equal(true);
      const byId = new Map(list.map((c) => [c.id, c]));
      expect(byId.get(dmBob.id)!.unread_count).to.equal(2);
      expect(byId.get(group.id)!.unread_count).to.equal(1);
      expect(byId.get(dmCarol.id)!.unread_count, 'own messages are never unread').to.equal(0);
      expect(byId.get(dmBob.id)!.last_message_at).to.be.a('number');
      expect(list.every((c) => c.listed_for === alice.userId)).to.equal(true);

      await alice.devices[0]!.connection.expectOk('mark_read', { conversation_id: dmBob.id, message_ids: [m1.message_id] });
      expect((await listConversations(alice.devices[0]!)).find((c) => c.id === dmBob.id)!.unread_count).to.equal(1);
      const bobList = await listConversations(bob.devices[0]!);
      expect(bobList.map((c) => c.id)).to.have.members([dmBob.id, group.id]);
      expect(bobList.find((c) => c.id === group.id)!.unread_count).to.equal(1);
    });

    it('stays batched with hundreds of conversations: the query count does not grow with them', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const now = Date.now();
      const count = 300;
      const conversations = [];
      const members = [];
      const messages = [];
      for (let i = 0; i < count; i++) {
        const id = uuidv7();
        conversations.push({ id, kind: 'group', name: `g${i}`, created_by: alice.userId, dm_key: null, created_at: now - count + i, last_message_at: i % 3 === 0 ? now + i : null });
        members.push({ conversation_id: id, user_id: alice.userId, role: 'creator', joined_at: now - count, cleared_at: null, hidden: false });
        members.push({ conversation_id: id, user_id: bob.userId, role: 'member', joined_at: now - count, cleared_at: null, hidden: false });
        for (let j = 0; j < i % 4; j++) {
          messages.push({ id: uuidv7(), conversation_id: id, sender_id: bob.userId, sender_device_id: bob.devices[0]!.deviceId, client_msg_id: null, kind: 'message', body: cipher(), created_at: now + j });
        }
      }
      await knex().batchInsert('conversations', conversations, 200);
      await knex().batchInsert('conversation_members', members, 200);
      await knex().batchInsert('messages', messages, 200);

      let queries = 0;
      const onQuery = () => void queries++;
      knex().on('query', onQuery);
      let list: ConversationView[];
      try {
        list = await listConversations(alice.devices[0]!);
      } finally {
        knex().off('query', onQuery);
      }
      expect(list).to.have.length(count);
      expect(queries, 'queries for one list_conversations of 300 conversations (maintenance may add a few)').to.be.at.most(12);
      const byName = new Map(list.map((c) => [c.name, c]));
      for (let i = 0; i < count; i++) {
        const view = byName.get(`g${i}`)!;
        expect(view.unread_count).to.equal(i % 4);
        expect(view.members).to.have.length(2);
      }
      // Conversations with messages first (newest last_message_at), then by creation, newest first.
      expect(list[0]!.name).to.equal(`g${count - 3}`);
      expect(list[list.length - 1]!.name).to.equal('g1');
    });

    it('ignores unread messages older than the read-receipt retention', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const old = Date.now() - (server.config.metadataRetentionDays + 1) * 24 * 3600 * 1000;
      await knex()('conversation_members').where({ conversation_id: dm.id }).update({ joined_at: old - 10 });
      await knex()('messages').insert({
        id: uuidv7(),
        conversation_id: dm.id,
        sender_id: bob.userId,
        sender_device_id: bob.devices[0]!.deviceId,
        client_msg_id: null,
        kind: 'message',
        body: null,
        created_at: old,
      });
      await sendDm(bob.devices[0]!, dm.id, [alice, bob]);
      expect((await listConversations(alice.devices[0]!)).find((c) => c.id === dm.id)!.unread_count).to.equal(1);
    });
  });

  describe('add_member', () => {
    it('adds directly: member_added to the others (not the caller\'s connection), conversation_created to the newcomer', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const carol = await person(server, 2);
      const group = await createGroup(alice.devices[0]!, 'Adds', [bob]);
      const answer = await alice.devices[0]!.connection.expectOk('add_member', { conversation_id: group.id, user_id: carol.userId });
      expect(answer).to.deep.equal({ user_id: carol.userId, outcome: 'added' });
      for (const device of [bob.devices[0]!, alice.devices[1]!]) {
        const pushed = await device.connection.nextPush<Record<string, unknown>>('member_added');
        expect(pushed).to.deep.equal({ conversation_id: group.id, user_id: carol.userId, username: carol.username, added_by: alice.userId });
      }
      for (const device of carol.devices) {
        const created = await device.connection.nextPush<{ conversation: ConversationView }>('conversation_created');
        expect(created.conversation.id).to.equal(group.id);
        expect(created.conversation.members.map((m) => m.user_id)).to.include(carol.userId);
        expect(created.conversation.unread_count).to.equal(0);
      }
      await settle(probe, devicesOf(alice, carol));
      expect(received(alice.devices[0]!.connection, 'member_added')).to.have.length(0);
      expect(received(carol.devices[0]!.connection, 'member_added')).to.have.length(0);
      expect(record.memberAdded.some((c) => c.conversationId === group.id && c.userId === carol.userId && c.reason === 'add')).to.equal(true);
      const view = await carol.devices[0]!.connection.expectOk<{ conversation: ConversationView }>('get_conversation', { conversation_id: group.id });
      expect(view.conversation.members).to.have.length(3);
    });

    it('any member may add; by email too; refuses duplicates, a full group, DMs and outsiders', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const eve = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Rules', [bob]);
      const byEmail = await bob.devices[0]!.connection.expectOk('add_member', { conversation_id: group.id, email: carol.email });
      expect(byEmail).to.deep.equal({ user_id: carol.userId, outcome: 'added' });
      await expectFailure(bob.devices[0]!, 'add_member', { conversation_id: group.id, user_id: carol.userId }, 'conflict');
      const phantom = `ghost-${randomUUID().slice(0, 8)}@example.test`;
      const ghost = await alice.devices[0]!.connection.expectOk<{ user_id: string; outcome: string }>('add_member', { conversation_id: group.id, email: phantom });
      expect(ghost.outcome).to.equal('added');
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: group.id, user_id: eve.userId }, 'conflict');
      await expectFailure(eve.devices[0]!, 'add_member', { conversation_id: group.id, user_id: eve.userId }, 'not_found');
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: randomUUID(), user_id: eve.userId }, 'not_found');
      const dm = await createDm(alice.devices[0]!, bob);
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: dm.id, user_id: eve.userId }, 'bad_request', 'conversation_id');
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: group.id }, 'bad_request', 'user_id');
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: group.id, user_id: eve.userId, email: eve.email }, 'bad_request', 'email');
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: group.id, user_id: 'nope' }, 'bad_request', 'user_id');
    });

    it('refuses an unknown user id', async () => {
      const alice = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Unknown', []);
      await expectFailure(alice.devices[0]!, 'add_member', { conversation_id: group.id, user_id: randomUUID() }, 'not_found');
    });

    it('lets a memberAdding tap take the addition over', async () => {
      const alice = await person(server);
      const invitee = await person(server);
      record.invite.add(invitee.userId);
      const group = await createGroup(alice.devices[0]!, 'Invite later', []);
      const answer = await alice.devices[0]!.connection.expectOk('add_member', { conversation_id: group.id, user_id: invitee.userId });
      expect(answer).to.deep.equal({ user_id: invitee.userId, outcome: 'invited', data: { reason: 'add' } });
      await expectFailure(invitee.devices[0]!, 'get_conversation', { conversation_id: group.id }, 'not_found');

      // The plugin completes it later through the service (no guard): same pushes as a direct add.
      await probe.expectOk('test_add_member', { conversation_id: group.id, user_id: invitee.userId, by: invitee.userId });
      const created = await invitee.devices[0]!.connection.nextPush<{ conversation: ConversationView }>('conversation_created');
      expect(created.conversation.id).to.equal(group.id);
      const added = await alice.devices[0]!.connection.nextPush<Record<string, unknown>>('member_added');
      expect(added.user_id).to.equal(invitee.userId);
      expect(record.memberAdded.some((c) => c.conversationId === group.id && c.userId === invitee.userId && c.reason === 'accept')).to.equal(true);
      const again = await probe.request('test_add_member', { conversation_id: group.id, user_id: invitee.userId, by: invitee.userId });
      expect(again.status).to.equal('error');
    });
  });

  describe('remove_member', () => {
    it('lets the creator remove a member: pushes to the remaining members and the removed user, fires memberRemoved', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const carol = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Removal', [bob, carol]);
      const answer = await alice.devices[0]!.connection.expectOk('remove_member', { conversation_id: group.id, user_id: carol.userId });
      expect(answer).to.deep.equal({ conversation_id: group.id, user_id: carol.userId });
      const expected = { conversation_id: group.id, user_id: carol.userId, removed_by: alice.userId, reason: 'removed' };
      for (const device of [bob.devices[0]!, carol.devices[0]!, alice.devices[1]!]) {
        expect(await device.connection.nextPush('member_removed')).to.deep.equal(expected);
      }
      await settle(probe, alice.devices);
      expect(received(alice.devices[0]!.connection, 'member_removed')).to.have.length(0);
      expect(record.memberRemoved.some((c) => c.conversationId === group.id && c.userId === carol.userId && c.reason === 'remove')).to.equal(true);
      await expectFailure(carol.devices[0]!, 'get_conversation', { conversation_id: group.id }, 'not_found');
    });

    it('refuses members who are not the creator, removing yourself, DMs, outsiders and non-members', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const eve = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Strict', [bob, carol]);
      await expectFailure(bob.devices[0]!, 'remove_member', { conversation_id: group.id, user_id: carol.userId }, 'forbidden');
      await expectFailure(alice.devices[0]!, 'remove_member', { conversation_id: group.id, user_id: alice.userId }, 'bad_request', 'user_id');
      await expectFailure(eve.devices[0]!, 'remove_member', { conversation_id: group.id, user_id: carol.userId }, 'not_found');
      await expectFailure(alice.devices[0]!, 'remove_member', { conversation_id: group.id, user_id: eve.userId }, 'not_found');
      const dm = await createDm(alice.devices[0]!, bob);
      await expectFailure(alice.devices[0]!, 'remove_member', { conversation_id: dm.id, user_id: bob.userId }, 'bad_request', 'conversation_id');
      await expectFailure(alice.devices[0]!, 'remove_member', { conversation_id: group.id }, 'bad_request', 'user_id');
    });

    it('answers not_found to the second of two concurrent removals of the same member (M6)', async () => {
      const alice = await person(server, 3);
      const bob = await person(server);
      const carol = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Race', [bob, carol]);
      const answers = await Promise.all(
        alice.devices.map((d) => d.connection.request('remove_member', { conversation_id: group.id, user_id: carol.userId })),
      );
      const statuses = answers.map((a) => (a.status === 'ok' ? 'ok' : (a.data as { code: string }).code)).sort();
      expect(statuses).to.deep.equal(['not_found', 'not_found', 'ok']);
      await settle(probe, carol.devices);
      expect(received(carol.devices[0]!.connection, 'member_removed')).to.have.length(1);
      expect(record.memberRemoved.filter((c) => c.conversationId === group.id && c.userId === carol.userId)).to.have.length(1);
    });
  });

  describe('leave_group', () => {
    it('lets a member leave: member_removed (reason left) to the others and the leaver\'s other devices', async () => {
      const alice = await person(server);
      const bob = await person(server, 2);
      const group = await createGroup(alice.devices[0]!, 'Leaving', [bob]);
      const answer = await bob.devices[0]!.connection.expectOk('leave_group', { conversation_id: group.id });
      expect(answer).to.deep.equal({ conversation_id: group.id, new_creator_id: null, deleted: false });
      const expected = { conversation_id: group.id, user_id: bob.userId, removed_by: bob.userId, reason: 'left' };
      expect(await alice.devices[0]!.connection.nextPush('member_removed')).to.deep.equal(expected);
      expect(await bob.devices[1]!.connection.nextPush('member_removed')).to.deep.equal(expected);
      await settle(probe, bob.devices);
      expect(received(bob.devices[0]!.connection, 'member_removed')).to.have.length(0);
      expect(record.memberRemoved.some((c) => c.conversationId === group.id && c.userId === bob.userId && c.reason === 'leave')).to.equal(true);
    });

    it('hands the creator role to the earliest-joined member when the creator leaves', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Handover', [bob]);
      await knex()('conversation_members').where({ conversation_id: group.id, user_id: bob.userId }).update({ joined_at: group.created_at + 5 });
      await alice.devices[0]!.connection.expectOk('add_member', { conversation_id: group.id, user_id: carol.userId });
      await knex()('conversation_members').where({ conversation_id: group.id, user_id: carol.userId }).update({ joined_at: group.created_at + 1 });
      const answer = await alice.devices[0]!.connection.expectOk<{ new_creator_id: string }>('leave_group', { conversation_id: group.id });
      expect(answer.new_creator_id).to.equal(carol.userId);
      const pushed = await bob.devices[0]!.connection.nextPush<Record<string, unknown>>('member_removed');
      expect(pushed).to.deep.equal({ conversation_id: group.id, user_id: alice.userId, removed_by: alice.userId, reason: 'left', new_creator_id: carol.userId });
      const view = (await carol.devices[0]!.connection.expectOk<{ conversation: ConversationView }>('get_conversation', { conversation_id: group.id })).conversation;
      expect(view.created_by).to.equal(carol.userId);
      expect(view.members.find((m) => m.user_id === carol.userId)!.role).to.equal('creator');
      await carol.devices[0]!.connection.expectOk('rename_conversation', { conversation_id: group.id, name: 'Carol\'s now' });
      await expectFailure(bob.devices[0]!, 'rename_conversation', { conversation_id: group.id, name: 'Nope' }, 'forbidden');
    });

    it('deletes the group when the last member leaves (conversationDeleting first)', async () => {
      const alice = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Alone', []);
      await sendGroup(alice.devices[0]!, group.id);
      const answer = await alice.devices[0]!.connection.expectOk('leave_group', { conversation_id: group.id });
      expect(answer).to.deep.equal({ conversation_id: group.id, new_creator_id: null, deleted: true });
      expect(record.conversationDeleting.some((c) => c.conversationId === group.id)).to.equal(true);
      expect(await knex()('conversations').where({ id: group.id }).first()).to.equal(undefined);
      expect(Number((await knex()('messages').where({ conversation_id: group.id }).count({ n: '*' }))[0]!.n)).to.equal(0);
    });

    it('refuses DMs and outsiders', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      await expectFailure(alice.devices[0]!, 'leave_group', { conversation_id: dm.id }, 'bad_request', 'conversation_id');
      const group = await createGroup(alice.devices[0]!, 'Closed', []);
      await expectFailure(bob.devices[0]!, 'leave_group', { conversation_id: group.id }, 'not_found');
      await expectFailure(bob.devices[0]!, 'leave_group', { conversation_id: 5 }, 'bad_request', 'conversation_id');
    });
  });

  describe('rename_conversation', () => {
    it('renames a group (creator only) and pushes to the other members and own other devices', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Old', [bob]);
      const answer = await alice.devices[0]!.connection.expectOk('rename_conversation', { conversation_id: group.id, name: '  New name ' });
      expect(answer).to.deep.equal({ conversation_id: group.id, name: 'New name' });
      const expected = { conversation_id: group.id, name: 'New name', renamed_by: alice.userId };
      expect(await bob.devices[0]!.connection.nextPush('conversation_renamed')).to.deep.equal(expected);
      expect(await alice.devices[1]!.connection.nextPush('conversation_renamed')).to.deep.equal(expected);
      await settle(probe, alice.devices);
      expect(received(alice.devices[0]!.connection, 'conversation_renamed')).to.have.length(0);
      expect((await listConversations(bob.devices[0]!)).find((c) => c.id === group.id)!.name).to.equal('New name');
    });

    it('refuses members, DMs, outsiders and bad names', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Stays', [bob]);
      await expectFailure(bob.devices[0]!, 'rename_conversation', { conversation_id: group.id, name: 'Mine' }, 'forbidden');
      await expectFailure(eve.devices[0]!, 'rename_conversation', { conversation_id: group.id, name: 'Mine' }, 'not_found');
      const dm = await createDm(alice.devices[0]!, bob);
      await expectFailure(alice.devices[0]!, 'rename_conversation', { conversation_id: dm.id, name: 'DM' }, 'bad_request', 'conversation_id');
      await expectFailure(alice.devices[0]!, 'rename_conversation', { conversation_id: group.id, name: ' ' }, 'bad_request', 'name');
      await expectFailure(alice.devices[0]!, 'rename_conversation', { conversation_id: group.id, name: 'y'.repeat(101) }, 'bad_request', 'name');
      await expectFailure(alice.devices[0]!, 'rename_conversation', { conversation_id: group.id }, 'bad_request', 'name');
    });
  });

  describe('delete_conversation', () => {
    it('DM: deletes for me (history and my ciphertexts), then the DM reappears with only new messages', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const before = await sendDm(bob.devices[0]!, dm.id, [alice, bob]);
      await sendDm(alice.devices[0]!, dm.id, [alice, bob]);

      const answer = await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: dm.id });
      expect(answer).to.deep.equal({ conversation_id: dm.id, scope: 'self', purged: false });
      expect(await alice.devices[1]!.connection.nextPush('conversation_deleted')).to.deep.equal({
        conversation_id: dm.id,
        deleted_by: alice.userId,
        scope: 'self',
      });
      await settle(probe, devicesOf(alice, bob));
      expect(received(bob.devices[0]!.connection, 'conversation_deleted')).to.have.length(0);
      expect((await listConversations(alice.devices[0]!)).map((c) => c.id)).to.not.include(dm.id);
      expect((await listConversations(bob.devices[0]!)).map((c) => c.id)).to.include(dm.id);
      expect((await getMessages(alice.devices[1]!, dm.id)).messages).to.have.length(0);
      expect((await getMessages(bob.devices[0]!, dm.id)).messages).to.have.length(2);
      const aliceRows = await knex()('message_recipients').where({ user_id: alice.userId }).whereIn('message_id', [before.message_id]);
      expect(aliceRows).to.have.length(0);

      const after = await sendDm(bob.devices[0]!, dm.id, [alice, bob]);
      const listed = (await listConversations(alice.devices[0]!)).find((c) => c.id === dm.id);
      expect(listed, 'the DM reappears on a new message').to.not.equal(undefined);
      expect(listed!.unread_count).to.equal(1);
      const visible = (await getMessages(alice.devices[1]!, dm.id)).messages;
      expect(visible.map((m) => m.id)).to.deep.equal([after.message_id]);
    });

    it('DM: deleting a DM again from create_conversation shows it again on the other devices', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: dm.id });
      const again = await alice.devices[0]!.connection.expectOk<{ conversation: ConversationView; created: boolean }>('create_conversation', {
        kind: 'dm',
        user_ids: [bob.userId],
      });
      expect(again.created).to.equal(false);
      expect(again.conversation.id).to.equal(dm.id);
      const shown = await alice.devices[1]!.connection.nextPush<{ conversation: ConversationView }>('conversation_created');
      expect(shown.conversation.id).to.equal(dm.id);
      expect((await listConversations(alice.devices[1]!)).map((c) => c.id)).to.include(dm.id);
    });

    it('DM: deletes the conversation entirely once both members deleted it', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: dm.id });
      const second = await bob.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: dm.id });
      expect(second).to.deep.equal({ conversation_id: dm.id, scope: 'self', purged: true });
      expect(await knex()('conversations').where({ id: dm.id }).first()).to.equal(undefined);
      expect(Number((await knex()('messages').where({ conversation_id: dm.id }).count({ n: '*' }))[0]!.n)).to.equal(0);
      expect(record.conversationDeleting.some((c) => c.conversationId === dm.id && c.kind === 'dm')).to.equal(true);
      const fresh = await createDm(alice.devices[0]!, bob);
      expect(fresh.id).to.not.equal(dm.id);
    });

    it('group: the creator deletes it for everyone (cascade), members are told and memberRemoved fires per member', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const carol = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Doomed', [bob, carol]);
      const sent = await sendGroup(bob.devices[0]!, group.id);
      await carol.devices[0]!.connection.expectOk('mark_read', { conversation_id: group.id, message_ids: [sent.message_id] });
      await expectFailure(bob.devices[0]!, 'delete_conversation', { conversation_id: group.id }, 'forbidden');

      const answer = await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: group.id });
      expect(answer).to.deep.equal({ conversation_id: group.id, scope: 'all', purged: true });
      const expected = { conversation_id: group.id, deleted_by: alice.userId, scope: 'all' };
      for (const device of [bob.devices[0]!, carol.devices[0]!, alice.devices[1]!]) {
        expect(await device.connection.nextPush('conversation_deleted')).to.deep.equal(expected);
      }
      await settle(probe, alice.devices);
      expect(received(alice.devices[0]!.connection, 'conversation_deleted')).to.have.length(0);
      const deleting = record.conversationDeleting.find((c) => c.conversationId === group.id)!;
      expect([...deleting.memberIds].sort()).to.deep.equal([alice.userId, bob.userId, carol.userId].sort());
      expect(record.memberRemoved.filter((c) => c.conversationId === group.id && c.reason === 'delete').map((c) => c.userId).sort()).to.deep.equal(
        [alice.userId, bob.userId, carol.userId].sort(),
      );
      for (const table of ['conversations', 'conversation_members', 'messages', 'message_reads']) {
        const column = table === 'conversations' ? 'id' : table === 'message_reads' ? 'message_id' : 'conversation_id';
        const value = table === 'message_reads' ? sent.message_id : group.id;
        expect(await knex()(table).where(column, value).first(), table).to.equal(undefined);
      }
      await expectFailure(bob.devices[0]!, 'get_messages', { conversation_id: group.id }, 'not_found');
    });

    it('refuses outsiders and bad ids', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      await expectFailure(eve.devices[0]!, 'delete_conversation', { conversation_id: dm.id }, 'not_found');
      await expectFailure(eve.devices[0]!, 'delete_conversation', { conversation_id: randomUUID() }, 'not_found');
      await expectFailure(eve.devices[0]!, 'delete_conversation', {}, 'bad_request', 'conversation_id');
    });
  });

  describe('the conversations service', () => {
    it('adds through addMember only to groups that exist', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const refused = await probe.request('test_add_member', { conversation_id: dm.id, user_id: bob.userId, by: alice.userId });
      expect((refused.data as { code: string }).code).to.equal('bad_request');
      const missing = await probe.request('test_add_member', { conversation_id: randomUUID(), user_id: bob.userId, by: alice.userId });
      expect((missing.data as { code: string }).code).to.equal('not_found');
    });

    it('keeps a full group full', async () => {
      const people = await Promise.all(Array.from({ length: MAX_MEMBERS + 1 }, () => person(server)));
      const [creator, ...others] = people as [Person, ...Person[]];
      const group = await createGroup(creator.devices[0]!, 'Full', others.slice(0, MAX_MEMBERS - 1));
      await expectFailure(creator.devices[0]!, 'add_member', { conversation_id: group.id, user_id: others[MAX_MEMBERS - 1]!.userId }, 'conflict');
      const viaService = await probe.request('test_add_member', { conversation_id: group.id, user_id: others[MAX_MEMBERS - 1]!.userId, by: creator.userId });
      expect((viaService.data as { code: string }).code).to.equal('conflict');
    });
  });

  describe('multi-device views', () => {
    it('shows a new device the conversations of its account', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const laptop = await addDevice(server, alice.account);
      expect((await listConversations(laptop)).map((c) => c.id)).to.include(dm.id);
    });
  });
});
