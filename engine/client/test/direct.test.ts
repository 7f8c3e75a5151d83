/**
 * Direct messages end to end through a real server, with three users and Alice on two devices:
 * both directions, live and offline delivery, both of Alice's devices seeing sent and received
 * messages, history read through self copies by a device linked later, device_mismatch recovery
 * when a peer's new device could not be encrypted for yet, session resets, and the history API
 * (cache-first, sync, paging back, deletion, read receipts).
 */
import { expect } from 'chai';
import { SELF_DEVICE_ID } from '../../protocol/constants.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import type { ChatMessage } from '../types.js';
import {
  PASSWORD,
  clientFor,
  closeAll,
  linkDevice,
  registerUser,
  removeHomes,
  waitFor,
  waitForText,
  EventLog,
  type User,
} from './helpers.js';
import { preKeyGate, requestRecorder } from './server-tools.js';

/** Self-copy rows the server holds for these messages of this user. */
async function selfCopies(server: TestServer, userId: string, messageIds: string[]): Promise<number> {
  const rows = (await server.server.database.knex('message_recipients')
    .where({ user_id: userId, device_id: SELF_DEVICE_ID })
    .whereIn('message_id', messageIds)
    .count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(rows[0]!.n);
}

forEachBackend('ChatClient direct messages', (backend) => {
  let server: TestServer;
  let alice: User;
  let alice2: User;
  let bob: User;
  let carol: User;
  const extra: User[] = [];
  const gate = preKeyGate();
  const recorder = requestRecorder();

  before(async function () {
    this.timeout(120_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [gate.plugin, recorder.plugin] });
    alice = await registerUser(server, { username: 'alice' });
    bob = await registerUser(server, { username: 'bob' });
    carol = await registerUser(server, { username: 'carol' });
    alice2 = await linkDevice(server, alice);
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(alice, alice2, bob, carol, ...extra);
    await server?.close();
    await removeHomes();
  });

  it('delivers live in both directions, and both of Alice’s devices see sent and received messages', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    expect(dm.kind).to.equal('dm');
    expect(dm.peerId).to.equal(bob.self.userId);
    expect(dm.name).to.equal('bob');

    const sent = await alice.client.sendMessage(dm.id, 'hello bob');
    expect(sent).to.include({ text: 'hello bob', own: true, status: 'sent', undecryptable: false, senderId: alice.self.userId });
    expect(sent.clientMsgId).to.be.a('string');

    const atBob = await waitForText(bob, dm.id, 'hello bob');
    expect(atBob).to.include({ own: false, senderId: alice.self.userId, senderUsername: 'alice', senderDeviceId: alice.self.deviceId, id: sent.id });
    const atAlice2 = await waitForText(alice2, dm.id, 'hello bob');
    expect(atAlice2.own).to.equal(true);

    const reply = await bob.client.sendMessage(dm.id, 'hi alice', { replyTo: sent.id });
    expect(reply.replyTo).to.deep.equal({ messageId: sent.id, senderId: alice.self.userId, excerpt: 'hello bob' });
    for (const device of [alice, alice2]) {
      const received = await waitForText(device, dm.id, 'hi alice');
      expect(received.replyTo?.messageId).to.equal(sent.id);
      expect(received.own).to.equal(false);
    }
    // A message from Alice's second device reaches Bob and her first device.
    await alice2.client.sendMessage(dm.id, 'from the second device');
    await waitForText(bob, dm.id, 'from the second device');
    const own = await waitForText(alice, dm.id, 'from the second device');
    expect(own.own).to.equal(true);
    expect(own.senderDeviceId).to.equal(alice2.self.deviceId);

    // Each message id appears once in each cache, and `message` fired once per id.
    for (const device of [alice, alice2, bob]) {
      const ids = (await device.client.getCachedMessages(dm.id)).map((m) => m.id);
      expect(new Set(ids).size).to.equal(ids.length);
      const eventIds = device.events.messages.filter((m) => m.conversationId === dm.id).map((m) => m.id);
      expect(new Set(eventIds).size).to.equal(eventIds.length);
    }
    expect(alice.events.errors).to.deep.equal([]);
    expect(bob.events.errors).to.deep.equal([]);
  });

  it('delivers to a recipient that was offline: it catches up when it logs in again', async function () {
    this.timeout(60_000);
    const dm = await carol.client.createDm(bob.email);
    await bob.client.close();
    await carol.client.sendMessage(dm.id, 'while you were away 1');
    await carol.client.sendMessage(dm.id, 'while you were away 2');

    const client = await clientFor(server, { home: bob.home });
    const events = new EventLog(client);
    await client.login({ email: bob.email, password: PASSWORD });
    bob = { ...bob, client, events };
    await client.catchUp();
    const texts = (await client.getCachedMessages(dm.id)).map((m) => m.text);
    expect(texts).to.include.members(['while you were away 1', 'while you were away 2']);
    expect(events.messages.filter((m) => m.conversationId === dm.id).map((m) => m.text)).to.deep.equal([
      'while you were away 1',
      'while you were away 2',
    ]);
    // The history from before the restart is still there, from the encrypted cache.
    const earlier = (await client.listConversations()).find((c) => c.peerId === alice.self.userId)!;
    expect((await client.getCachedMessages(earlier.id)).map((m) => m.text)).to.include('hello bob');
  });

  it('lets a device linked later read the earlier history through self copies', async function () {
    this.timeout(90_000);
    const dm = await alice.client.createDm(carol.email);
    const mine = await alice.client.sendMessage(dm.id, 'alice to carol, before the new device');
    const theirs = await carol.client.sendMessage(dm.id, 'carol to alice, before the new device');
    await waitForText(alice, dm.id, theirs.text);
    // Alice's devices upload self copies of what they received.
    await waitFor('self copies of both messages', async () => (await selfCopies(server, alice.self.userId, [mine.id, theirs.id])) === 2);

    const alice3 = await linkDevice(server, alice);
    extra.push(alice3);
    const history = await alice3.client.getCachedMessages(dm.id);
    const byId = new Map(history.map((m) => [m.id, m]));
    expect(byId.get(mine.id)).to.include({ text: mine.text, own: true, undecryptable: false });
    expect(byId.get(theirs.id)).to.include({ text: theirs.text, own: false, undecryptable: false });
    // The older DM with Bob too.
    const withBob = (await alice3.client.listConversations()).find((c) => c.peerId === bob.self.userId)!;
    expect((await alice3.client.getCachedMessages(withBob.id)).map((m) => m.text)).to.include.members(['hello bob', 'hi alice']);

    // From now on the new device gets new messages directly (Carol learnt about it from device_added).
    await carol.client.sendMessage(dm.id, 'hello third device');
    await waitForText(alice3, dm.id, 'hello third device');
    await alice3.client.close();
  });

  it('recovers from device_mismatch when it encrypted before the peer’s new device had pre-keys', async function () {
    this.timeout(90_000);
    const dm = await carol.client.createDm(bob.email);
    await carol.client.sendMessage(dm.id, 'before bob has a second device');
    await waitForText(bob, dm.id, 'before bob has a second device');
    // Bob links a second device whose pre-keys are held back: Carol, told about it, fetches Bob's
    // devices for her next message and finds no bundle for it yet.
    gate.arm(bob.self.userId);
    const linking = linkDevice(server, bob);
    await gate.reached();
    await carol.client.sendMessage(dm.id, 'while the new device has no pre-keys');
    gate.release();
    const bob2 = await linking;
    extra.push(bob2);
    // Her cached list lacks the device, which has pre-keys now: device_mismatch, re-encrypted, sent again.
    const sent = await carol.client.sendMessage(dm.id, 'after bob added a device');
    const atBob2 = await waitForText(bob2, dm.id, 'after bob added a device');
    expect(atBob2.id).to.equal(sent.id);
    await waitForText(bob, dm.id, 'after bob added a device');
    const attempts = recorder.requests.filter((r) => r.type === 'send_message' && r.clientMsgId === sent.clientMsgId);
    expect(attempts).to.have.length(2);
    // Exactly one message was stored.
    const stored = (await server.server.database.knex('messages').where({ client_msg_id: sent.clientMsgId }).count({ n: '*' })) as Array<{ n: number | string }>;
    expect(Number(stored[0]!.n)).to.equal(1);
    await bob2.client.close();
  });

  it('recovers after a session reset on either side', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    await bob.client.resetSession(alice.self.userId);
    const [reset] = await waitFor('session_reset at Alice', () => alice.events.of('session_reset').find(([info]) => info.userId === bob.self.userId));
    expect(reset.deviceId).to.equal(bob.self.deviceId);
    await alice.client.sendMessage(dm.id, 'after the reset');
    await waitForText(bob, dm.id, 'after the reset');
    await bob.client.sendMessage(dm.id, 'answer after the reset');
    await waitForText(alice, dm.id, 'answer after the reset');
    await waitForText(alice2, dm.id, 'answer after the reset');
  });

  it('serves history cache-first, syncs incrementally, pages back, deletes and marks read', async function () {
    this.timeout(90_000);
    const dm = await carol.client.createDm(alice.email);
    await alice.client.markRead(dm.id);
    const sent: ChatMessage[] = [];
    for (let i = 0; i < 6; i++) sent.push(await carol.client.sendMessage(dm.id, `page ${i}`));
    await waitForText(alice, dm.id, 'page 5');

    // Cache-first: the cache answers without the network; sync finds nothing new.
    const cached = await alice.client.getCachedMessages(dm.id);
    expect(cached.filter((m) => m.text.startsWith('page ')).map((m) => m.text)).to.deep.equal(sent.map((m) => m.text));
    expect(await alice.client.syncConversation(dm.id)).to.deep.equal([]);

    // Paging back returns the older page as the server orders it.
    const older = await alice.client.loadOlder(dm.id, sent[3]!.createdAt, 2);
    expect(older.map((m) => m.text)).to.deep.equal(['page 1', 'page 2']);

    // Unread counts and read receipts.
    const before = (await alice.client.listConversations()).find((c) => c.id === dm.id)!;
    expect(before.unreadCount).to.equal(6);
    expect(before.lastMessage?.text).to.equal('page 5');
    expect(await alice.client.markRead(dm.id)).to.equal(6);
    const after = (await alice.client.listConversations()).find((c) => c.id === dm.id)!;
    expect(after.unreadCount).to.equal(0);
    await waitFor('messages_read at Carol', () => carol.events.of('messages_read').find(([info]) => info.conversationId === dm.id && info.messageIds.length === 6));

    // Deleting: at once locally, then everywhere.
    await carol.client.deleteMessage(dm.id, sent[0]!.id);
    expect((await carol.client.getCachedMessages(dm.id)).find((m) => m.id === sent[0]!.id)?.deleted).to.equal(true);
    await waitFor('message_deleted at Alice', () => alice.events.of('message_deleted').find(([info]) => info.messageId === sent[0]!.id));
    expect((await alice.client.getCachedMessages(dm.id)).find((m) => m.id === sent[0]!.id)).to.include({ deleted: true, text: '' });
    // A device that was offline learns the deletion when it syncs.
    await waitFor('deletion at Alice’s second device', async () => (await alice2.client.syncConversation(dm.id), (await alice2.client.getCachedMessages(dm.id)).find((m) => m.id === sent[0]!.id)?.deleted));
    // Only the sender may delete; the local copy is restored when the server refuses.
    let refused: unknown;
    try {
      await alice.client.deleteMessage(dm.id, sent[1]!.id);
    } catch (error) {
      refused = error;
    }
    expect(refused).to.have.property('code', 'forbidden');
    expect((await alice.client.getCachedMessages(dm.id)).find((m) => m.id === sent[1]!.id)).to.include({ deleted: false, text: 'page 1' });
  });

  it('manages conversations, presence and devices', async function () {
    this.timeout(60_000);
    const group = await alice.client.createGroup('Plans', [bob.email]);
    expect(group).to.include({ kind: 'group', name: 'Plans', createdBy: alice.self.userId });
    await waitFor('the group at Bob', async () => (await bob.client.listConversations({ refresh: false })).find((c) => c.id === group.id));
    await alice.client.renameConversation(group.id, 'Better plans');
    await waitFor('the rename at Bob', async () => (await bob.client.getConversation(group.id)).name === 'Better plans');
    expect(bob.events.of('conversation_updated').some(([info]) => info.conversationId === group.id && info.reason === 'renamed')).to.equal(true);
    await bob.client.leaveGroup(group.id);
    expect((await bob.client.listConversations()).some((c) => c.id === group.id)).to.equal(false);
    await waitFor('Bob gone at Alice', async () => (await alice.client.getConversation(group.id, { refresh: true })).members.length === 1);
    await alice.client.deleteConversation(group.id);
    expect((await alice.client.listConversations()).some((c) => c.id === group.id)).to.equal(false);

    // Presence: Alice sees Carol (a contact: they share a conversation) come online and go offline.
    await alice.client.createDm(carol.email);
    await carol.client.close();
    let client = await clientFor(server, { home: carol.home });
    let events = new EventLog(client);
    await client.login({ email: carol.email, password: PASSWORD });
    carol = { ...carol, client, events };
    await waitFor('Carol online at Alice', () => alice.client.isOnline(carol.self.userId));
    expect(alice.client.onlineUsers()).to.include(carol.self.userId);
    await carol.client.close();
    await waitFor('Carol offline at Alice', () => !alice.client.isOnline(carol.self.userId));
    const seen = alice.events.of('presence').filter(([info]) => info.userId === carol.self.userId).map(([info]) => info.online);
    expect(seen.slice(-2)).to.deep.equal([true, false]);
    client = await clientFor(server, { home: carol.home });
    events = new EventLog(client);
    await client.login({ email: carol.email, password: PASSWORD });
    carol = { ...carol, client, events };

    // Devices: Alice's two devices; removing one tells the other.
    const devices = await alice.client.listDevices();
    expect(devices.filter((d) => d.current).map((d) => d.deviceId)).to.deep.equal([alice.self.deviceId]);
    expect(devices.map((d) => d.deviceId)).to.include(alice2.self.deviceId);
    const user = await alice.client.getUser({ email: bob.email });
    expect(user).to.include({ userId: bob.self.userId, username: 'bob', identityStatus: 'trusted' });
  });
});
