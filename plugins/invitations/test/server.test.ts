/**
 * The invitations plugin's frames through a real server: additions to groups become invitations
 * (create_conversation and add_member, idempotent), pushes reach the invitee's devices only,
 * accept / decline / cancel with their authorization and bad input, the group's view of who is
 * invited, the phantom path (invite an unregistered address, register it, see the invitation),
 * clean-up with the group, and expiry by maintenance.
 */
import { expect } from 'chai';
import { createAccount, forEachBackend, login, startTestServer, type TestAccount, type TestConnection, type TestServer } from '../../../engine/testing/index.js';
import invitations from '../index.js';
import { DAY_MS, createGroup, flush, flushPlugin, invitationsOf, pushesOf } from './helpers.js';

const TABLE = 'invitations_invitations';

forEachBackend('invitations plugin: frames', (backend) => {
  let server: TestServer;
  let alice: TestAccount;
  let bob: TestAccount;
  let carol: TestAccount;
  let dave: TestAccount;
  let eve: TestAccount;
  let carol2: TestConnection;
  let groupId: string;

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [invitations, flushPlugin] });
    alice = await createAccount(server, { username: 'alice' });
    bob = await createAccount(server, { username: 'bob' });
    carol = await createAccount(server, { username: 'carol' });
    dave = await createAccount(server, { username: 'dave' });
    eve = await createAccount(server, { username: 'eve' });
    carol2 = (await login(server, carol)).connection;
  });

  after(async function () {
    this.timeout(30_000);
    await server?.close();
  });

  async function rows(conversationId: string): Promise<Array<Record<string, unknown>>> {
    return server.server.database.knex(TABLE).where({ conversation_id: conversationId });
  }

  it('turns the people named in create_conversation into invitations', async () => {
    const created = await createGroup(alice, 'Hiking', [bob, carol]);
    groupId = created.conversation.id;
    expect(created.outcomes).to.deep.equal([
      { user_id: bob.userId, outcome: 'invited' },
      { user_id: carol.userId, outcome: 'invited' },
    ]);
    expect(created.conversation.members.map((m) => m.user_id)).to.deep.equal([alice.userId]);
    expect(await rows(groupId)).to.have.length(2);
  });

  it('pushes group_invitation to every device of the invitee, and to nobody else', async () => {
    const push = await bob.connection.nextPush<Record<string, unknown>>('group_invitation');
    expect(push).to.deep.equal({
      conversation_id: groupId,
      conversation_name: 'Hiking',
      invited_by: alice.userId,
      invited_by_username: 'alice',
      created_at: push.created_at,
    });
    expect(push.created_at).to.be.a('number');
    for (const connection of [carol.connection, carol2]) {
      expect(await connection.nextPush('group_invitation')).to.include({ conversation_id: groupId, invited_by: alice.userId });
    }
    for (const [account, connection] of [[alice, alice.connection], [dave, dave.connection]] as const) {
      await flush(connection, account.userId, eve.connection);
      expect(pushesOf(connection, 'group_invitation')).to.deep.equal([]);
    }
    // The new group is only the creator's for now: nobody else heard of it.
    await flush(bob.connection, bob.userId, eve.connection);
    expect(pushesOf(bob.connection, 'conversation_created')).to.deep.equal([]);
  });

  it('lists the invitee its pending invitations', async () => {
    const [invitation, ...rest] = await invitationsOf(bob);
    expect(rest).to.deep.equal([]);
    expect(invitation).to.deep.equal({
      conversation_id: groupId,
      conversation_name: 'Hiking',
      invited_by: alice.userId,
      invited_by_username: 'alice',
      created_at: invitation!.created_at,
      member_count: 1,
    });
    expect(await invitationsOf(dave)).to.deep.equal([]);
  });

  it('turns add_member into an invitation, and inviting again changes nothing', async () => {
    const first = await alice.connection.expectOk('add_member', { conversation_id: groupId, user_id: dave.userId });
    expect(first).to.deep.equal({ user_id: dave.userId, outcome: 'invited' });
    await dave.connection.nextPush('group_invitation');
    const [before] = await rows(groupId).then((all) => all.filter((row) => row.user_id === dave.userId));
    const again = await alice.connection.expectOk('add_member', { conversation_id: groupId, email: dave.email });
    expect(again).to.deep.equal({ user_id: dave.userId, outcome: 'invited' });
    const [after] = await rows(groupId).then((all) => all.filter((row) => row.user_id === dave.userId));
    expect(after).to.deep.equal(before);
    await flush(dave.connection, dave.userId, eve.connection);
    expect(pushesOf(dave.connection, 'group_invitation').filter((p) => p.conversation_id === groupId)).to.have.length(1);
  });

  it('shows members who is invited; outsiders learn nothing', async () => {
    const { invitations: invited } = await alice.connection.expectOk<{ invitations: Array<Record<string, unknown>> }>('list_conversation_invitations', { conversation_id: groupId });
    expect(invited.map((i) => i.user_id)).to.have.members([bob.userId, carol.userId, dave.userId]);
    expect(invited.find((i) => i.user_id === bob.userId)).to.deep.include({ username: 'bob', invited_by: alice.userId, invited_by_username: 'alice' });
    // Invitees are not members yet.
    await bob.connection.expectError('list_conversation_invitations', { conversation_id: groupId }, 'not_found');
    await eve.connection.expectError('list_conversation_invitations', { conversation_id: groupId }, 'not_found');
    await eve.connection.expectError('list_conversation_invitations', { conversation_id: 'not-a-uuid' }, 'bad_request');
    await eve.connection.expectError('list_conversation_invitations', {}, 'bad_request');
  });

  it('lets only the invitee accept, and answers bad input with bad_request', async () => {
    await alice.connection.expectError('accept_invitation', { conversation_id: groupId }, 'not_found');
    await eve.connection.expectError('accept_invitation', { conversation_id: groupId }, 'not_found');
    await bob.connection.expectError('accept_invitation', { conversation_id: '12345' }, 'bad_request');
    await bob.connection.expectError('accept_invitation', {}, 'bad_request');
    await bob.connection.expectError('accept_invitation', { conversation_id: '0193aaaa-0000-7000-8000-000000000000' }, 'not_found');
  });

  it('accepts: the invitee joins (member_added to members, conversation_created to the newcomer) and the invitation goes', async () => {
    const answer = await bob.connection.expectOk('accept_invitation', { conversation_id: groupId });
    expect(answer).to.deep.equal({ conversation_id: groupId });
    const added = await alice.connection.nextPush<Record<string, unknown>>('member_added');
    expect(added).to.include({ conversation_id: groupId, user_id: bob.userId, username: 'bob', added_by: alice.userId });
    const created = await bob.connection.nextPush<{ conversation: { id: string; members: Array<{ user_id: string }> } }>('conversation_created');
    expect(created.conversation.id).to.equal(groupId);
    expect(created.conversation.members.map((m) => m.user_id)).to.have.members([alice.userId, bob.userId]);
    expect(await invitationsOf(bob)).to.deep.equal([]);
    expect((await rows(groupId)).map((row) => row.user_id)).to.not.include(bob.userId);
    await bob.connection.expectOk('get_conversation', { conversation_id: groupId });
    await bob.connection.expectError('accept_invitation', { conversation_id: groupId }, 'not_found');
    // A member now, so Carol's invitation counts two members.
    expect((await invitationsOf(carol))[0]!.member_count).to.equal(2);
  });

  it('declines: the invitation goes and the inviter (and the invitee\'s other devices) hear it', async () => {
    await alice.connection.expectError('decline_invitation', { conversation_id: groupId }, 'not_found');
    await eve.connection.expectError('decline_invitation', { conversation_id: groupId }, 'not_found');
    await carol.connection.expectError('decline_invitation', { conversation_id: 'x' }, 'bad_request');
    expect(await carol.connection.expectOk('decline_invitation', { conversation_id: groupId })).to.deep.equal({});
    const told = await alice.connection.nextPush('invitation_declined');
    expect(told).to.deep.equal({ conversation_id: groupId, user_id: carol.userId, username: 'carol', conversation_name: 'Hiking' });
    expect(await carol2.nextPush('invitation_declined')).to.include({ conversation_id: groupId, user_id: carol.userId });
    for (const [account, connection] of [[carol, carol.connection], [bob, bob.connection]] as const) {
      await flush(connection, account.userId, eve.connection);
      expect(pushesOf(connection, 'invitation_declined')).to.deep.equal([]);
    }
    expect(await invitationsOf(carol)).to.deep.equal([]);
    await carol.connection.expectError('accept_invitation', { conversation_id: groupId }, 'not_found');
    await carol.connection.expectError('decline_invitation', { conversation_id: groupId }, 'not_found');
  });

  it('lets whoever invited, or the creator, withdraw an invitation — nobody else', async () => {
    // Bob (a member, not the creator) invites Eve.
    expect(await bob.connection.expectOk('add_member', { conversation_id: groupId, user_id: eve.userId })).to.deep.equal({ user_id: eve.userId, outcome: 'invited' });
    await eve.connection.nextPush('group_invitation');
    // Dave's invitation came from Alice: Bob may not withdraw it; Carol (no member) learns nothing.
    await bob.connection.expectError('cancel_invitation', { conversation_id: groupId, user_id: dave.userId }, 'forbidden');
    await carol.connection.expectError('cancel_invitation', { conversation_id: groupId, user_id: dave.userId }, 'not_found');
    await alice.connection.expectError('cancel_invitation', { conversation_id: groupId, user_id: carol.userId }, 'not_found');
    await alice.connection.expectError('cancel_invitation', { conversation_id: groupId }, 'bad_request');

    // The creator withdraws Bob's invitation of Eve: Eve and Bob hear it.
    expect(await alice.connection.expectOk('cancel_invitation', { conversation_id: groupId, user_id: eve.userId })).to.deep.equal({});
    const cancelled = { conversation_id: groupId, conversation_name: 'Hiking', user_id: eve.userId, username: 'eve', cancelled_by: alice.userId };
    expect(await eve.connection.nextPush('invitation_cancelled')).to.deep.equal(cancelled);
    expect(await bob.connection.nextPush('invitation_cancelled')).to.deep.equal(cancelled);
    expect(await invitationsOf(eve)).to.deep.equal([]);

    // Whoever invited withdraws their own: only the invitee hears it.
    await bob.connection.expectOk('add_member', { conversation_id: groupId, user_id: eve.userId });
    await bob.connection.expectOk('cancel_invitation', { conversation_id: groupId, user_id: eve.userId });
    expect(await eve.connection.nextPush('invitation_cancelled')).to.include({ cancelled_by: bob.userId });
    await flush(alice.connection, alice.userId, eve.connection);
    expect(pushesOf(alice.connection, 'invitation_cancelled')).to.deep.equal([]);
    await bob.connection.expectError('cancel_invitation', { conversation_id: groupId, user_id: eve.userId }, 'not_found');
  });

  it('stores invitations for unregistered addresses without a push; registering the address shows them', async () => {
    const email = `phantom-${Date.now()}@example.test`;
    const answer = await alice.connection.expectOk<{ user_id: string; outcome: string }>('add_member', { conversation_id: groupId, email });
    expect(answer.outcome).to.equal('invited');
    const registered = await createAccount(server, { username: 'newcomer', email });
    expect(registered.userId, "the account keeps the phantom's id").to.equal(answer.user_id);
    const [invitation, ...rest] = await invitationsOf(registered);
    expect(rest).to.deep.equal([]);
    expect(invitation).to.include({ conversation_id: groupId, conversation_name: 'Hiking', invited_by: alice.userId, invited_by_username: 'alice' });
    await registered.connection.expectOk('accept_invitation', { conversation_id: groupId });
    await registered.connection.expectOk('get_conversation', { conversation_id: groupId });
  });

  it('does not touch direct conversations', async () => {
    const dm = await eve.connection.expectOk<{ conversation: { id: string; members: unknown[] } }>('create_conversation', { kind: 'dm', emails: [dave.email] });
    expect(dm.conversation.members).to.have.length(2);
    expect(await rows(dm.conversation.id)).to.deep.equal([]);
  });

  it('removes the invitations of a deleted group', async () => {
    const created = await createGroup(eve, 'Short-lived', [dave, bob]);
    const id = created.conversation.id;
    expect(await rows(id)).to.have.length(2);
    await eve.connection.expectOk('delete_conversation', { conversation_id: id });
    expect(await rows(id)).to.deep.equal([]);
    expect((await invitationsOf(dave)).map((i) => i.conversation_id)).to.not.include(id);
    await dave.connection.expectError('accept_invitation', { conversation_id: id }, 'not_found');
  });

  it('lets invitations lapse after expireDays (maintenance deletes them; until then they are not offered)', async () => {
    const created = await createGroup(eve, 'Lapsing', [carol]);
    const id = created.conversation.id;
    expect((await invitationsOf(carol)).map((i) => i.conversation_id)).to.include(id);
    // A maintenance run now keeps it.
    await server.server.hooks.maintenance.promise({ now: Date.now() });
    expect(await rows(id)).to.have.length(1);
    // 30 days (the default) later it has lapsed: no longer listed or acceptable, even before maintenance...
    await server.server.database.knex(TABLE).where({ conversation_id: id }).update({ created_at: Date.now() - 30 * DAY_MS - 60_000 });
    expect((await invitationsOf(carol)).map((i) => i.conversation_id)).to.not.include(id);
    await carol.connection.expectError('accept_invitation', { conversation_id: id }, 'not_found');
    // ... and inviting again starts a new one.
    await eve.connection.expectOk('add_member', { conversation_id: id, user_id: carol.userId });
    expect((await invitationsOf(carol)).map((i) => i.conversation_id)).to.include(id);
    // Maintenance 31 days from now deletes it.
    await server.server.hooks.maintenance.promise({ now: Date.now() + 31 * DAY_MS });
    expect(await rows(id)).to.deep.equal([]);
  });
});
