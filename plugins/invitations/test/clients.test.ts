/**
 * Invitations with real ChatClients: the invitee hears about an invitation (plugin event with a
 * notice), lists and accepts it through `client.plugins.invitations`; the group then appears in
 * its conversation list, the existing members hand it their sender keys on the `member_added`
 * push (before anyone writes), so it reads the first group message sent after it joined — and
 * nothing from before. Declining and withdrawing reach the other side as notices. The terminal
 * commands run against the same server with a stand-in terminal.
 */
import { expect } from 'chai';
import { closeAll, forEachBackend, registerUser, removeHomes, startTestServer, waitFor, waitForText, type TestServer, type User } from '../../../engine/testing/index.js';
import invitations from '../index.js';
import type { Invitation, InvitationsMethods } from '../client.js';
import { FakeTerminal } from './fake-api.js';

const plugins = [invitations];

function methodsOf(user: User): InvitationsMethods {
  return user.client.plugins.invitations as unknown as InvitationsMethods;
}

function pluginEvents(user: User, type: string): Array<Record<string, unknown>> {
  return user.events
    .of('plugin')
    .filter(([info]) => info.plugin === 'invitations' && info.type === type)
    .map(([info]) => info.data as Record<string, unknown>);
}

function waitForEvent(user: User, type: string, conversationId: string): Promise<Record<string, unknown>> {
  return waitFor(`${user.username}'s ${type} event`, () => pluginEvents(user, type).find((data) => data.conversationId === conversationId));
}

async function run(user: User, name: string, args: string[], conversationId?: string): Promise<FakeTerminal> {
  const entry = user.client.commands().find((c) => c.plugin === 'invitations' && c.command.name === name);
  if (!entry) throw new Error(`no /${name}`);
  const terminal = new FakeTerminal(conversationId);
  await entry.command.run(args, terminal);
  return terminal;
}

forEachBackend('invitations plugin: chat clients', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  let carol: User;
  let dave: User;
  let groupId: string;

  before(async function () {
    this.timeout(120_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins });
    alice = await registerUser(server, { username: 'alice', plugins });
    bob = await registerUser(server, { username: 'bob', plugins });
    carol = await registerUser(server, { username: 'carol', plugins });
    dave = await registerUser(server, { username: 'dave', plugins });
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(alice, bob, carol, dave);
    await server?.close();
    await removeHomes();
  });

  it('tells the invitee, who lists and accepts; the group then appears in its conversations', async function () {
    this.timeout(60_000);
    groupId = (await alice.client.createGroup('Hiking', [bob.email])).id;
    const event = await waitForEvent(bob, 'invitation', groupId);
    expect(event).to.deep.include({ conversationName: 'Hiking', invitedBy: alice.self.userId, invitedByUsername: 'alice', notice: 'alice invited you to Hiking — /invites' });
    const listed = await methodsOf(bob).list();
    expect(listed).to.have.length(1);
    expect(listed[0]).to.deep.include({ conversationId: groupId, conversationName: 'Hiking', invitedBy: alice.self.userId, invitedByUsername: 'alice', memberCount: 1 } satisfies Partial<Invitation>);
    expect((await bob.client.listConversations()).map((c) => c.id)).to.not.include(groupId);

    expect(await methodsOf(bob).accept(groupId)).to.deep.equal({ conversationId: groupId });
    const conversations = await bob.client.listConversations();
    const group = conversations.find((c) => c.id === groupId);
    expect(group?.members.map((m) => m.userId)).to.have.members([alice.self.userId, bob.self.userId]);
    expect(await methodsOf(bob).list()).to.deep.equal([]);
    await alice.client.sendMessage(groupId, 'welcome bob');
    await waitForText(bob, groupId, 'welcome bob');
  });

  it('hands the newcomer the members sender keys on member_added: it reads what is sent after joining, not before', async function () {
    this.timeout(90_000);
    await alice.client.sendMessage(groupId, 'before the invitation (alice)');
    await bob.client.sendMessage(groupId, 'before the invitation (bob)');
    await waitForText(alice, groupId, 'before the invitation (bob)');
    const added = await alice.client.addMember(groupId, carol.email);
    expect(added).to.deep.equal({ userId: carol.self.userId, outcome: 'invited' });
    await waitForEvent(carol, 'invitation', groupId);
    await bob.client.sendMessage(groupId, 'while carol is invited (bob)');
    await waitForText(alice, groupId, 'while carol is invited (bob)');

    await methodsOf(carol).accept(groupId);
    // Alice and Bob give Carol their current sender keys as soon as they hear she joined — before
    // anyone writes to the group (pairwise control messages, stored like any other).
    const knex = server.server.database.knex;
    for (const member of [alice, bob]) {
      await waitFor(`${member.username}'s sender key for carol`, async () => {
        const rows = (await knex('messages as m')
          .join('message_recipients as r', 'r.message_id', 'm.id')
          .where({ 'm.conversation_id': groupId, 'm.kind': 'control', 'm.sender_id': member.self.userId, 'r.user_id': carol.self.userId })
          .count({ n: '*' })
          .first()) as { n: number | string };
        return Number(rows.n) > 0;
      });
    }
    expect((await carol.client.listConversations()).map((c) => c.id)).to.include(groupId);

    await bob.client.sendMessage(groupId, 'first after carol joined (bob)');
    const first = await waitForText(carol, groupId, 'first after carol joined (bob)');
    expect(first.undecryptable).to.equal(false);
    await alice.client.sendMessage(groupId, 'then alice');
    await waitForText(carol, groupId, 'then alice');
    // Carol never had to ask for a key she lacked.
    const asked = (await knex('messages').where({ conversation_id: groupId, kind: 'control', sender_id: carol.self.userId }).count({ n: '*' }).first()) as { n: number | string };
    expect(Number(asked.n)).to.equal(0);

    await carol.client.syncConversation(groupId);
    const texts = (await carol.client.getCachedMessages(groupId)).map((m) => m.text);
    for (const earlier of ['welcome bob', 'before the invitation (alice)', 'before the invitation (bob)', 'while carol is invited (bob)']) expect(texts).to.not.include(earlier);
    await carol.client.sendMessage(groupId, 'hi all, carol here');
    for (const member of [alice, bob]) await waitForText(member, groupId, 'hi all, carol here');
  });

  it('tells the inviter about a decline, and the invitee about a withdrawn invitation', async function () {
    this.timeout(60_000);
    const other = (await alice.client.createGroup('Chess', [dave.email])).id;
    await waitForEvent(dave, 'invitation', other);
    await methodsOf(dave).decline(other);
    const declined = await waitForEvent(alice, 'invitation_declined', other);
    expect(declined).to.deep.include({ userId: dave.self.userId, username: 'dave', notice: 'dave declined your invitation to Chess' });
    expect(await methodsOf(dave).list()).to.deep.equal([]);

    await alice.client.addMember(other, dave.email);
    await waitFor('a second invitation event', () => pluginEvents(dave, 'invitation').filter((e) => e.conversationId === other).length === 2);
    const invited = await methodsOf(alice).invited(other);
    expect(invited.map((p) => ({ userId: p.userId, username: p.username, invitedBy: p.invitedBy }))).to.deep.equal([{ userId: dave.self.userId, username: 'dave', invitedBy: alice.self.userId }]);
    await methodsOf(alice).cancel(other, dave.self.userId);
    const removed = await waitForEvent(dave, 'invitation_removed', other);
    expect(removed).to.deep.include({ reason: 'cancelled', notice: 'Your invitation to Chess was withdrawn' });
    expect(await methodsOf(alice).invited(other)).to.deep.equal([]);
    const refused = await methodsOf(dave).accept(other).then(
      () => undefined,
      (error: { code?: string }) => error,
    );
    expect(refused?.code).to.equal('not_found');
  });

  it('runs the terminal commands: /invites, /accept <n>, /decline <n>, /invited, /uninvite', async function () {
    this.timeout(60_000);
    const names = dave.client.commands().filter((c) => c.plugin === 'invitations').map((c) => c.command.name);
    expect(names).to.have.members(['invites', 'accept', 'decline', 'invited', 'uninvite']);

    const none = await run(dave, 'invites', []);
    expect(none.lines).to.deep.equal(['You have no pending invitations.']);

    const books = (await alice.client.createGroup('Books', [dave.email])).id;
    const films = (await bob.client.createGroup('Films', [dave.email, carol.email])).id;
    await waitForEvent(dave, 'invitation', films);

    const invited = await run(alice, 'invited', [], books);
    expect(invited.lines[0]).to.equal('Invited, not joined yet (1):');
    expect(invited.lines[1]).to.match(/^ {2}dave — invited by you, \d{4}-\d{2}-\d{2}$/);

    const listed = await run(dave, 'invites', []);
    expect(listed.lines[0]).to.equal('Invitations (2) — /accept <n> or /decline <n>:');
    expect(listed.lines[1]).to.match(/^ {2}1\. Books — from alice, 1 member, \d{4}-\d{2}-\d{2}$/);
    expect(listed.lines[2]).to.match(/^ {2}2\. Films — from bob, 1 member, \d{4}-\d{2}-\d{2}$/);

    const wrong = await run(dave, 'accept', ['7']);
    expect(wrong.errors).to.deep.equal(['There is no invitation 7: /invites lists 2.']);
    const usage = await run(dave, 'accept', ['one']);
    expect(usage.errors).to.deep.equal(['Usage: /accept <n> — the number /invites shows.']);

    const accepted = await run(dave, 'accept', ['2']);
    expect(accepted.lines).to.deep.equal(['You joined Films (/list shows it).']);
    expect((await dave.client.listConversations()).map((c) => c.id)).to.include(films);
    // The numbers of the last listing still hold for the rest.
    const declined = await run(dave, 'decline', ['1']);
    expect(declined.lines).to.deep.equal(['You declined the invitation to Books.']);
    expect(await methodsOf(dave).list()).to.deep.equal([]);

    const filmsInvited = await run(dave, 'invited', [], films);
    expect(filmsInvited.lines).to.have.length(2);
    expect(filmsInvited.lines[1]).to.match(/^ {2}carol — invited by bob, /);
    const notAllowed = await run(dave, 'uninvite', ['carol'], films).then(
      () => undefined,
      (error: { code?: string }) => error,
    );
    expect(notAllowed?.code).to.equal('forbidden');
    const nobody = await run(bob, 'uninvite', ['zed'], films);
    expect(nobody.errors).to.deep.equal(['Nobody called zed is invited here (/invited shows who is).']);
    const withdrawn = await run(bob, 'uninvite', ['@Carol'], films);
    expect(withdrawn.lines).to.deep.equal(['The invitation of carol was withdrawn.']);
    expect((await run(bob, 'invited', [], films)).lines).to.deep.equal(['Nobody is invited here right now.']);
  });

  describe('on a server without the plugin', () => {
    let plain: TestServer;
    let erin: User;
    let finn: User;

    before(async function () {
      this.timeout(60_000);
      plain = await startTestServer();
      erin = await registerUser(plain, { username: 'erin', plugins });
      finn = await registerUser(plain, { username: 'finn', plugins });
    });

    after(async function () {
      this.timeout(30_000);
      await closeAll(erin, finn);
      await plain?.close();
    });

    it('is not active, and groups take members directly', async function () {
      this.timeout(60_000);
      expect(erin.client.plugins.invitations).to.equal(undefined);
      expect(erin.client.commands().map((c) => c.command.name)).to.not.include('invites');
      const group = await erin.client.createGroup('Direct', [finn.email]);
      expect(group.members.map((m) => m.userId)).to.have.members([erin.self.userId, finn.self.userId]);
      await erin.client.sendMessage(group.id, 'no invitation needed');
      await waitForText(finn, group.id, 'no invitation needed');
    });
  });
});
