/**
 * The devices of an account as ChatClients see them, through a real server, on SQLite and (when
 * configured) MariaDB:
 * - a removed device stops (no reconnecting), says so (`device_removed`), keeps its folder, is
 *   refused at the next login, and can be linked again into that folder as a new device; the
 *   device that removed it forgets it (no device_mismatch afterwards, a new sender key);
 * - a new device is known to contacts at once (`device_added`): their next direct and group
 *   messages reach it readable, without device_mismatch and without a sender-key request;
 * - a device whose message cache was deleted reads its whole history again through the self
 *   copies, received direct messages included, and its sessions go on working;
 * - whether people who just became contacts are online is known at once, without logging in again.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { bytesToHex, peekSenderKeyChainId } from '../../crypto/index.js';
import { decodeBase64 } from '../../protocol/base64.js';
import { SELF_DEVICE_ID } from '../../protocol/constants.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import { listAccounts } from '../index.js';
import { PASSWORD, clientFor, closeAll, EventLog, linkDevice, loginUser, registerUser, removeHomes, waitFor, waitForText, type User } from './helpers.js';
import { requestRecorder } from './server-tools.js';

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

forEachBackend('ChatClient devices', (backend) => {
  let server: TestServer;
  const recorder = requestRecorder();
  const users: User[] = [];

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [recorder.plugin] });
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(...users);
    await server?.close();
    await removeHomes();
  });

  async function user(username: string): Promise<User> {
    const created = await registerUser(server, { username });
    users.push(created);
    return created;
  }

  async function linked(owner: User, home?: string): Promise<User> {
    const device = await linkDevice(server, owner, home === undefined ? {} : { home });
    users.push(device);
    return device;
  }

  /** The send_message requests the server received for this client_msg_id (more than one: a device_mismatch retry). */
  const sendsOf = (clientMsgId: string | undefined) => recorder.requests.filter((r) => r.type === 'send_message' && r.clientMsgId === clientMsgId);

  /** The sender-key chain of a stored group message. */
  async function chainOf(messageId: string): Promise<string> {
    const row = (await server.server.database.knex('messages').where({ id: messageId }).first('body')) as { body: string };
    return bytesToHex(peekSenderKeyChainId(decodeBase64(row.body, 'body').subarray(2)));
  }

  /** How many of these messages the server holds a self copy of for this user. */
  async function selfCopies(userId: string, messageIds: readonly string[]): Promise<number> {
    const rows = await server.server.database.knex('message_recipients').where({ user_id: userId, device_id: SELF_DEVICE_ID }).whereIn('message_id', [...messageIds]);
    return rows.length;
  }

  it('stops a removed device, which says so, keeps its folder, is refused at login and can be linked again', async function () {
    this.timeout(120_000);
    const alice = await user('alice');
    const bob = await user('bob');
    const phone = await linked(alice);
    const dm = await alice.client.createDm(bob.email);
    const group = await alice.client.createGroup('Removal', [bob.email]);
    await bob.client.sendMessage(dm.id, 'before the phone was removed');
    await waitForText(phone, dm.id, 'before the phone was removed');
    const before = await alice.client.sendMessage(group.id, 'alice, before the removal');
    await waitForText(phone, group.id, before.text);
    await waitForText(bob, group.id, before.text);

    await alice.client.removeDevice(phone.self.deviceId);
    const [info] = await waitFor('device_removed at the phone', () => phone.events.of('device_removed')[0]);
    expect(info).to.deep.equal({ email: alice.email, deviceId: phone.self.deviceId });
    // Logged out and not reconnecting: no session is left to reconnect with.
    expect(phone.client.self).to.equal(undefined);
    expect(phone.client.state).to.equal('disconnected');
    expect(server.server.registry.deviceConnections(alice.self.userId, phone.self.deviceId)).to.have.length(0);
    // The folder stays, for linking again.
    expect((await listAccounts(phone.home)).map((account) => account.email)).to.deep.equal([alice.email]);

    // Logging in on that folder is refused at once, with the same event; no device is made.
    const again = await clientFor(server, { home: phone.home });
    const events = new EventLog(again);
    const refused = await rejection(again.login({ email: alice.email, password: PASSWORD }));
    expect(refused.code).to.equal('device_removed');
    expect(events.of('device_removed')).to.deep.equal([[{ email: alice.email, deviceId: phone.self.deviceId }]]);
    expect(again.self).to.equal(undefined);
    await again.close();
    expect((await alice.client.listDevices()).map((d) => d.deviceId)).to.deep.equal([alice.self.deviceId]);

    // Alice's device forgot it: her next direct message needs no device_mismatch round trip, and
    // her next group message uses a new sender key, which the removed phone never had.
    const direct = await alice.client.sendMessage(dm.id, 'after the removal');
    await waitForText(bob, dm.id, direct.text);
    expect(sendsOf(direct.clientMsgId)).to.have.length(1);
    const after = await alice.client.sendMessage(group.id, 'alice, after the removal');
    await waitForText(bob, group.id, after.text);
    expect(await chainOf(after.id)).to.not.equal(await chainOf(before.id));

    // Linked again from Alice's device: the same folder, a new device; the history it had is still
    // there, and new messages reach it.
    const relinked = await linked(alice, phone.home);
    expect(relinked.self.deviceId).to.not.equal(phone.self.deviceId);
    expect((await relinked.client.getCachedMessages(dm.id)).map((m) => m.text)).to.include('before the phone was removed');
    await bob.client.sendMessage(dm.id, 'welcome back');
    await waitForText(relinked, dm.id, 'welcome back');
    await relinked.client.sendMessage(group.id, 'the phone, linked again');
    for (const member of [alice, bob]) await waitForText(member, group.id, 'the phone, linked again');
    expect(relinked.events.errors).to.deep.equal([]);
  });

  it('tells contacts about a new device at once: their next direct and group messages reach it, no device_mismatch, with the sender key', async function () {
    this.timeout(120_000);
    const carol = await user('carol');
    const dan = await user('dan');
    const dm = await carol.client.createDm(dan.email);
    const group = await carol.client.createGroup('New devices', [dan.email]);
    const earlier = [await carol.client.sendMessage(dm.id, 'before dan’s second device'), await carol.client.sendMessage(group.id, 'group, before dan’s second device')];
    await waitForText(dan, dm.id, earlier[0]!.text);
    await waitForText(dan, group.id, earlier[1]!.text);
    // Dan's device shares what it read (so the new device reads it without asking anyone).
    await waitFor('dan’s self copies', async () => (await selfCopies(dan.self.userId, earlier.map((m) => m.id))) === 2);

    // Carol has Dan's devices cached and her sender key given to them; Dan links a second device.
    const dan2 = await linked(dan);
    // A round trip of Carol's after the link: the device_added push, sent before it, has arrived.
    await carol.client.listDevices();
    const mark = recorder.requests.length;
    const direct = await carol.client.sendMessage(dm.id, 'to both of dan’s devices');
    const grouped = await carol.client.sendMessage(group.id, 'to both of dan’s devices, in the group');
    for (const device of [dan, dan2]) {
      expect((await waitForText(device, dm.id, direct.text)).id).to.equal(direct.id);
      expect((await waitForText(device, group.id, grouped.text)).id).to.equal(grouped.id);
    }
    expect(sendsOf(direct.clientMsgId)).to.have.length(1);
    expect(sendsOf(grouped.clientMsgId)).to.have.length(1);
    const since = recorder.requests.slice(mark);
    // Her sender key went to the new device first (one control message), and it never had to ask.
    const distributions = since.filter((r) => r.type === 'send_message' && r.kind === 'control' && r.userId === carol.self.userId && r.conversationId === group.id);
    expect(distributions).to.have.length(1);
    expect(since.filter((r) => r.type === 'send_message' && r.deviceId === dan2.self.deviceId)).to.have.length(0);
    expect(carol.events.errors).to.deep.equal([]);
    expect(dan2.events.errors).to.deep.equal([]);
    expect((await dan2.client.getCachedMessages(dm.id)).map((m) => m.text)).to.include(earlier[0]!.text);

    // Dan's first device learnt it as well: its next message reaches the new device at once.
    const fromDan = await dan.client.sendMessage(dm.id, 'from dan’s first device');
    await waitForText(dan2, dm.id, fromDan.text);
    await waitForText(carol, dm.id, fromDan.text);
    expect(sendsOf(fromDan.clientMsgId)).to.have.length(1);
  });

  it('reads its whole history again after its message cache was deleted, received direct messages included', async function () {
    this.timeout(120_000);
    const erin = await user('erin');
    let finn = await user('finn');
    const dm = await erin.client.createDm(finn.email);
    const group = await erin.client.createGroup('Lost cache', [finn.email]);
    const received = [];
    for (let i = 1; i <= 3; i++) received.push(await erin.client.sendMessage(dm.id, `erin to finn ${i}`));
    const inGroup = await erin.client.sendMessage(group.id, 'erin, in the group');
    for (const message of received) await waitForText(finn, dm.id, message.text);
    await waitForText(finn, group.id, inGroup.text);
    const own = await finn.client.sendMessage(dm.id, 'finn to erin');
    await waitForText(erin, dm.id, own.text);
    // Finn's device used the ratchet keys of what it received, and uploaded self copies of it.
    const ids = [...received, inGroup].map((m) => m.id);
    await waitFor('finn’s self copies', async () => (await selfCopies(finn.self.userId, ids)) === ids.length);

    await finn.client.close();
    await rm(join(finn.home, finn.email, 'cache'), { recursive: true, force: true });
    finn = await loginUser(server, finn, { home: finn.home });
    users.push(finn);

    const history = await finn.client.getCachedMessages(dm.id);
    expect(history.map((m) => [m.text, m.undecryptable])).to.deep.equal([...received.map((m) => [m.text, false]), [own.text, false]]);
    expect((await finn.client.getCachedMessages(group.id)).map((m) => [m.text, m.undecryptable])).to.deep.equal([[inGroup.text, false]]);
    expect(finn.events.errors).to.deep.equal([]);

    // Reading through the self copies left the sessions alone: both directions go on.
    await erin.client.sendMessage(dm.id, 'after finn lost his cache');
    await waitForText(finn, dm.id, 'after finn lost his cache');
    await finn.client.sendMessage(dm.id, 'finn answers');
    await waitForText(erin, dm.id, 'finn answers');
    await erin.client.sendMessage(group.id, 'the group goes on');
    await waitForText(finn, group.id, 'the group goes on');
  });

  it('knows at once whether people who just became contacts are online: a DM, a group addition', async function () {
    this.timeout(60_000);
    const gus = await user('gus');
    const hal = await user('hal');
    const ida = await user('ida');
    expect(gus.client.isOnline(hal.self.userId)).to.equal(false);

    await gus.client.createDm(hal.email);
    await waitFor('hal online at gus', () => gus.client.isOnline(hal.self.userId));
    await waitFor('gus online at hal', () => hal.client.isOnline(gus.self.userId));

    const group = await gus.client.createGroup('Presence', [hal.email]);
    expect(ida.client.isOnline(gus.self.userId)).to.equal(false);
    await hal.client.addMember(group.id, ida.email);
    await waitFor('gus and hal online at ida', () => ida.client.isOnline(gus.self.userId) && ida.client.isOnline(hal.self.userId));
    await waitFor('ida online at gus and hal', () => gus.client.isOnline(ida.self.userId) && hal.client.isOnline(ida.self.userId));

    // Contacts now: Ida going away is announced to both.
    await ida.client.close();
    await waitFor('ida offline at gus and hal', () => !gus.client.isOnline(ida.self.userId) && !hal.client.isOnline(ida.self.userId));
  });
});
