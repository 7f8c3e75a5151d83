/**
 * Mentions end to end, with real ChatClients on a real server: the mention list travels inside
 * the encrypted payload (the recipients' clients read `payload.mentions`), only the mentioned user
 * hears a `mention` event, the server's stored rows carry no trace of the list, and clients add
 * mentions only when the server lists the plugin.
 */
import { expect } from 'chai';
import { closeAll, forEachBackend, registerUser, removeHomes, startTestServer, waitFor, waitForText, type TestServer, type User } from '../../../engine/testing/index.js';
import mentions from '../index.js';
import type { MentionEvent } from '../client.js';

const plugins = [mentions];

function mentionEvents(user: User): MentionEvent[] {
  return user.events
    .of('plugin')
    .filter(([info]) => info.plugin === 'mentions' && info.type === 'mention')
    .map(([info]) => info.data as MentionEvent);
}

function mentionOf(user: User, messageId: string): Promise<MentionEvent> {
  return waitFor(`${user.username}'s mention event for ${messageId}`, () => mentionEvents(user).find((event) => event.messageId === messageId));
}

forEachBackend('mentions plugin', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  let bobToo: User;
  let carol: User;
  let groupId: string;

  before(async function () {
    this.timeout(120_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [mentions] });
    alice = await registerUser(server, { username: 'alice', plugins });
    bob = await registerUser(server, { username: 'bob', plugins });
    // Usernames are not unique: a second bob.
    bobToo = await registerUser(server, { username: 'bob', email: `bob-too-${Date.now()}@example.test`, plugins });
    carol = await registerUser(server, { username: 'carol', plugins });
    groupId = (await alice.client.createGroup('Hiking', [bob.email, bobToo.email, carol.email])).id;
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(alice, bob, bobToo, carol);
    await server?.close();
    await removeHomes();
  });

  it('is advertised by the server and active on the clients', () => {
    expect(server.server.plugins.map((p) => p.name)).to.include('mentions');
    expect(alice.client.serverInfo?.plugins.map((p) => p.name)).to.include('mentions');
    expect(alice.client.plugins.mentions).to.be.an('object');
  });

  it('carries the mentioned members inside the encrypted payload to every member', async function () {
    this.timeout(60_000);
    const text = 'hi @bob, see `@carol` and mail carol@example.test';
    const sent = await alice.client.sendMessage(groupId, text);
    expect(sent.payload.mentions).to.have.members([bob.self.userId, bobToo.self.userId]);
    for (const member of [bob, bobToo, carol]) {
      const received = await waitForText(member, groupId, text);
      expect(received.payload.mentions).to.have.members([bob.self.userId, bobToo.self.userId]);
      expect(received.payload.mentions_all).to.equal(undefined);
    }
  });

  it('tells only the mentioned users, never the sender', async function () {
    this.timeout(60_000);
    const first = await alice.client.sendMessage(groupId, 'question for @BOB.');
    const forBob = await mentionOf(bob, first.id);
    expect(forBob).to.deep.include({ conversationId: groupId, senderId: alice.self.userId, senderUsername: 'alice', conversationName: 'Hiking' });
    expect(forBob.notice).to.equal('alice mentioned you in Hiking');
    await mentionOf(bobToo, first.id);

    // A later message that does mention Carol (and Alice): by the time its event is there, one for
    // the first message would have been too.
    const second = await bob.client.sendMessage(groupId, '@carol @alice ok');
    await mentionOf(carol, second.id);
    await mentionOf(alice, second.id);
    expect(mentionEvents(carol).map((event) => event.messageId)).to.not.include(first.id);
    expect(mentionEvents(alice).map((event) => event.messageId)).to.not.include(first.id);
    expect(mentionEvents(bob).map((event) => event.messageId), 'no event for his own message').to.not.include(second.id);
  });

  it('mentions everyone with @all / @here in a group', async function () {
    this.timeout(60_000);
    const sent = await carol.client.sendMessage(groupId, '@here lunch?');
    expect(sent.payload.mentions_all).to.equal(true);
    for (const member of [alice, bob, bobToo]) await mentionOf(member, sent.id);
    expect(mentionEvents(carol).map((event) => event.messageId)).to.not.include(sent.id);
    const cached = (await bob.client.getCachedMessages(groupId)).find((m) => m.id === sent.id)!;
    expect((bob.client.plugins.mentions as { mentionsMe(m: unknown): boolean }).mentionsMe(cached)).to.equal(true);
  });

  it('works in direct conversations (no @all there)', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(carol.email);
    const sent = await alice.client.sendMessage(dm.id, '@carol @all ping');
    expect(sent.payload).to.deep.include({ mentions: [carol.self.userId] });
    expect(sent.payload.mentions_all).to.equal(undefined);
    const event = await mentionOf(carol, sent.id);
    expect(event.notice).to.equal('alice mentioned you in a direct message');
  });

  it('leaves no trace of the mention list in what the server stores', async function () {
    this.timeout(60_000);
    const text = 'secret plan, @carol';
    const sent = await bob.client.sendMessage(groupId, text);
    await waitForText(carol, groupId, text);
    const knex = server.server.database.knex;
    const groupBodies = (await knex('messages').where({ conversation_id: groupId }).select('id', 'body')) as Array<{ id: string; body: string | null }>;
    const recipientBodies = (await knex('message_recipients').whereIn('message_id', groupBodies.map((row) => row.id)).select('body')) as Array<{ body: string }>;
    const bodies = [...groupBodies.map((row) => row.body), ...recipientBodies.map((row) => row.body)].filter((body): body is string => typeof body === 'string');
    expect(groupBodies.some((row) => row.id === sent.id)).to.equal(true);
    expect(bodies.length).to.be.greaterThan(0);
    for (const body of bodies) {
      for (const needle of [carol.self.userId, bob.self.userId, 'mentions', 'secret plan']) expect(body).to.not.include(needle);
      expect(body).to.match(/^[A-Za-z0-9+/]+=*$/);
    }
    // The plugin has no tables and no key-value rows.
    expect(await knex('plugin_kv').where({ plugin: 'mentions' }).count({ n: '*' }).first()).to.satisfy((row: { n: number | string }) => Number(row.n) === 0);
  });

  it('answers candidates for autocomplete from the conversation members', async () => {
    const methods = alice.client.plugins.mentions as { candidates(conversationId: string, prefix: string): Promise<Array<{ userId: string; username: string }>> };
    const found = await methods.candidates(groupId, '@b');
    expect(found.map((c) => c.userId)).to.have.members([bob.self.userId, bobToo.self.userId]);
    expect(await methods.candidates(groupId, 'al')).to.deep.equal([]);
  });

  it('highlights mentions in the terminal, strongly for the mentioned user', async function () {
    this.timeout(60_000);
    const text = '@alice and @carol: look';
    const sent = await bob.client.sendMessage(groupId, text);
    const atCarol = await waitForText(carol, groupId, text);
    await mentionOf(carol, sent.id);
    const decoration = carol.client.terminalDecorations(atCarol);
    expect(decoration.highlights).to.deep.equal([{ text: '@alice' }, { text: '@carol', strong: true }]);
    const atBob = (await bob.client.getCachedMessages(groupId)).find((m) => m.id === sent.id)!;
    expect(bob.client.terminalDecorations(atBob).highlights).to.deep.equal([{ text: '@alice' }, { text: '@carol' }]);
  });

  describe('on a server that does not list the plugin', () => {
    let plain: TestServer;
    let dora: User;
    let eve: User;

    before(async function () {
      this.timeout(60_000);
      plain = await startTestServer({ databaseUrl: undefined });
      dora = await registerUser(plain, { username: 'dora', plugins });
      eve = await registerUser(plain, { username: 'eve', plugins });
    });

    after(async function () {
      this.timeout(30_000);
      await closeAll(dora, eve);
      await plain?.close();
    });

    it('is not activated: no methods, no mention fields, no events', async function () {
      this.timeout(60_000);
      expect(dora.client.serverInfo?.plugins.map((p) => p.name)).to.not.include('mentions');
      expect(dora.client.plugins.mentions).to.equal(undefined);
      expect(dora.client.commands().map((c) => c.command.name)).to.not.include('mentions');
      const group = await dora.client.createGroup('Plain', [eve.email]);
      const sent = await dora.client.sendMessage(group.id, '@eve @all hello');
      expect(sent.payload).to.not.have.property('mentions');
      expect(sent.payload).to.not.have.property('mentions_all');
      const received = await waitForText(eve, group.id, '@eve @all hello');
      expect(received.payload).to.not.have.property('mentions');
      expect(mentionEvents(eve)).to.deep.equal([]);
    });
  });
});
