/**
 * core-messages over real sockets against a real server, on SQLite and (when configured) MariaDB:
 * DM fan-out with per-device ciphertexts and device_mismatch, group sends with a shared body,
 * control messages, idempotent retries, history paging (also through 100,000 messages), read
 * receipts, deletion, deletion sync, self copies, the hooks these handlers fire, and retention.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { login } from '../../../testing/accounts.js';
import { uuidv7 } from '../../ids.js';
import {
  SELF_DEVICE_ID,
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
  recipientsFor,
  sendDm,
  sendGroup,
  settle,
  type Device,
  type MessageView,
  type Person,
  type SendAnswer,
} from './chat-helpers.js';

const MAX_MESSAGE_BYTES = 4096;
const MAX_RECIPIENTS = 16;

interface NewMessagePush {
  message_id: string;
  conversation_id: string;
  sender_id: string;
  sender_device_id: string;
  kind: string;
  created_at: number;
  body: string | null;
  recipient_body: string | null;
}

forEachBackend('core-messages', (backend) => {
  let server: TestServer;
  let probe: TestConnection;
  const recorder = createRecorder();
  const { record } = recorder;

  before(async () => {
    server = await startTestServer({
      databaseUrl: backend.databaseUrl,
      plugins: [probePlugin, recorder.plugin],
      config: { limits: { maxMessageBytes: MAX_MESSAGE_BYTES, maxRecipients: MAX_RECIPIENTS } },
    });
    probe = await server.connect();
  });

  afterEach(closeOpened);

  after(async () => {
    await server?.close();
  });

  const knex = () => server.server.database.knex;
  const count = async (table: string, where: Record<string, unknown>) => Number((await knex()(table).where(where).count({ n: '*' }))[0]!.n);
  const devicesOf = (...people: Person[]): Device[] => people.flatMap((p) => p.devices);
  const newMessages = (device: Device, messageId: string) => received<NewMessagePush>(device.connection, 'new_message', (d) => d.message_id === messageId);

  describe('send_message: direct conversations', () => {
    it('delivers each device its own ciphertext, never to the sending connection; the self copy is stored, not pushed', async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      const carol = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const [a0, a1] = alice.devices as [Device, Device];
      const sent = await sendDm(a0, dm.id, [alice, bob]);
      expect(sent.duplicate).to.equal(false);
      expect(sent.message_id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      const bodyFor = (d: Device) => sent.recipients.find((r) => r.user_id === d.userId && r.device_id === d.deviceId)!.body;

      for (const device of [a1, ...bob.devices]) {
        const push = await device.connection.nextPush<NewMessagePush>('new_message');
        expect(push).to.deep.equal({
          message_id: sent.message_id,
          conversation_id: dm.id,
          sender_id: alice.userId,
          sender_device_id: a0.deviceId,
          kind: 'message',
          created_at: sent.created_at,
          body: null,
          recipient_body: bodyFor(device),
        });
      }
      await settle(probe, devicesOf(alice, bob, carol));
      expect(newMessages(a0, sent.message_id)).to.have.length(0);
      expect(newMessages(carol.devices[0]!, sent.message_id)).to.have.length(0);
      for (const device of [a1, ...bob.devices]) expect(newMessages(device, sent.message_id)).to.have.length(1);

      const atBob = (await getMessages(bob.devices[1]!, dm.id)).messages;
      expect(atBob).to.have.length(1);
      expect(atBob[0]).to.include({ id: sent.message_id, recipient_body: bodyFor(bob.devices[1]!), self_body: null, body: null, deleted_at: null, kind: 'message' });
      const selfBody = sent.recipients.find((r) => r.device_id === SELF_DEVICE_ID)!.body;
      const atSender = (await getMessages(a0, dm.id)).messages[0]!;
      expect(atSender).to.include({ recipient_body: null, self_body: selfBody });
      // A device with its own ciphertext gets the self copy next to it.
      expect((await getMessages(a1, dm.id)).messages[0]).to.include({ recipient_body: bodyFor(a1), self_body: selfBody });
      expect(atSender).to.not.have.property('self_copy');
      expect(await count('message_recipients', { message_id: sent.message_id })).to.equal(4);
    });

    it('keeps messages for devices that were offline (get_messages after they come back)', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const bobDevice = bob.devices[0]!;
      await bobDevice.connection.close();
      const sent: Array<SendAnswer & { recipients: Array<{ user_id: string; device_id: string; body: string }> }> = [];
      for (let i = 0; i < 3; i++) sent.push(await sendDm(alice.devices[0]!, dm.id, [alice, bob]));
      const back = await login(server, bob.account, { deviceId: bobDevice.deviceId });
      const again: Device = { ...bobDevice, connection: back.connection };
      const history = await getMessages(again, dm.id, { after_ts: 0 });
      expect(history.has_more).to.equal(false);
      expect(history.messages.map((m) => m.id)).to.deep.equal(sent.map((s) => s.message_id));
      expect(history.messages.map((m) => m.recipient_body)).to.deep.equal(sent.map((s) => s.recipients.find((r) => r.user_id === bob.userId)!.body));
      const since = await getMessages(again, dm.id, { after_ts: sent[0]!.created_at });
      expect(since.messages.map((m) => m.id)).to.deep.equal(sent.slice(1).map((s) => s.message_id));
      await back.connection.close();
    });

    it('answers device_mismatch with exactly the missing and extra devices, and stores nothing', async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const a0 = alice.devices[0]!;
      const full = recipientsFor(a0, [alice, bob]);
      const without = (d: Device) => full.filter((r) => !(r.user_id === d.userId && r.device_id === d.deviceId));
      const ref = (d: Device) => ({ user_id: d.userId, device_id: d.deviceId });
      const stranger = randomUUID();
      const attempts: Array<{ recipients: typeof full; missing: unknown[]; extra: unknown[] }> = [
        { recipients: without(bob.devices[1]!), missing: [ref(bob.devices[1]!)], extra: [] },
        { recipients: without(alice.devices[1]!), missing: [ref(alice.devices[1]!)], extra: [] },
        { recipients: [...full, { user_id: bob.userId, device_id: stranger, body: cipher() }], missing: [], extra: [{ user_id: bob.userId, device_id: stranger }] },
        { recipients: [...full, { ...ref(a0), body: cipher() }], missing: [], extra: [ref(a0)] },
        { recipients: [...full, { user_id: bob.userId, device_id: SELF_DEVICE_ID, body: cipher() }], missing: [], extra: [{ user_id: bob.userId, device_id: SELF_DEVICE_ID }] },
        { recipients: [...without(bob.devices[0]!), { ...ref(eve.devices[0]!), body: cipher() }], missing: [ref(bob.devices[0]!)], extra: [ref(eve.devices[0]!)] },
        { recipients: [], missing: [ref(alice.devices[1]!), ref(bob.devices[0]!), ref(bob.devices[1]!)], extra: [] },
      ];
      for (const attempt of attempts) {
        const error = await a0.connection.expectError('send_message', { conversation_id: dm.id, recipients: attempt.recipients }, 'device_mismatch');
        const sort = (list: unknown) => [...(list as Array<{ user_id: string; device_id: string }>)].sort((x, y) => (x.device_id < y.device_id ? -1 : 1));
        expect(sort(error.missing), 'missing').to.deep.equal(sort(attempt.missing));
        expect(sort(error.extra), 'extra').to.deep.equal(sort(attempt.extra));
      }
      expect(await count('messages', { conversation_id: dm.id })).to.equal(0);
      // The self copy is optional.
      await a0.connection.expectOk('send_message', { conversation_id: dm.id, recipients: recipientsFor(a0, [alice, bob], { selfCopy: false }) });
    });

    it('does not require a device that has not published pre-keys yet, but accepts one', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const fresh = await addDevice(server, bob.account, false);
      await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const withFresh = await alice.devices[0]!.connection.expectOk<SendAnswer>('send_message', {
        conversation_id: dm.id,
        recipients: [...recipientsFor(alice.devices[0]!, [alice, bob]), { user_id: bob.userId, device_id: fresh.deviceId, body: cipher() }],
      });
      const push = await fresh.connection.nextPush<NewMessagePush>('new_message');
      expect(push.message_id).to.equal(withFresh.message_id);
    });

    it('counts a phantom member\'s devices but never stores or pushes what is addressed to it', async () => {
      const alice = await person(server);
      const email = `phantom-${randomUUID().slice(0, 8)}@example.test`;
      const created = await alice.devices[0]!.connection.expectOk<{ conversation: { id: string; members: Array<{ user_id: string }> } }>('create_conversation', {
        kind: 'dm',
        emails: [email],
      });
      const dmId = created.conversation.id;
      const phantomId = created.conversation.members.find((m) => m.user_id !== alice.userId)!.user_id;
      const bundle = await alice.devices[0]!.connection.expectOk<{ devices: Array<{ device_id: string }> }>('get_key_bundle', { user_id: phantomId });
      expect(bundle.devices).to.have.length(1);
      const phantomDevice = bundle.devices[0]!.device_id;
      const missing = await alice.devices[0]!.connection.expectError('send_message', { conversation_id: dmId, recipients: [] }, 'device_mismatch');
      expect(missing.missing).to.deep.equal([{ user_id: phantomId, device_id: phantomDevice }]);
      const selfCopy = cipher();
      const sent = await alice.devices[0]!.connection.expectOk<SendAnswer>('send_message', {
        conversation_id: dmId,
        recipients: [
          { user_id: phantomId, device_id: phantomDevice, body: cipher() },
          { user_id: alice.userId, device_id: SELF_DEVICE_ID, body: selfCopy },
        ],
      });
      const rows: Array<{ user_id: string; device_id: string }> = await knex()('message_recipients').where({ message_id: sent.message_id });
      expect(rows.map((r) => [r.user_id, r.device_id])).to.deep.equal([[alice.userId, SELF_DEVICE_ID]]);
      expect((await getMessages(alice.devices[0]!, dmId)).messages[0]).to.include({ recipient_body: null, self_body: selfCopy });
    });

    it('validates the request', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const a = alice.devices[0]!;
      const ok = recipientsFor(a, [alice, bob]);
      const send = (fields: Record<string, unknown>) => ({ conversation_id: dm.id, recipients: ok, ...fields });
      await expectFailure(a, 'send_message', send({ body: cipher() }), 'bad_request', 'body');
      await expectFailure(a, 'send_message', send({ recipients: [...ok, ok[0]] }), 'bad_request', `recipients[${ok.length}]`);
      await expectFailure(a, 'send_message', send({ recipients: [{ ...ok[0]!, body: 'A'.repeat(MAX_MESSAGE_BYTES + 4) }] }), 'bad_request', 'recipients[0].body');
      await expectFailure(a, 'send_message', send({ recipients: [{ ...ok[0]!, body: 'abc' }] }), 'bad_request', 'recipients[0].body');
      await expectFailure(a, 'send_message', send({ recipients: [{ ...ok[0]!, body: 'ab=c' }] }), 'bad_request', 'recipients[0].body');
      await expectFailure(a, 'send_message', send({ recipients: [{ ...ok[0]!, body: 42 }] }), 'bad_request', 'recipients[0].body');
      await expectFailure(a, 'send_message', send({ recipients: [{ ...ok[0]!, device_id: 'x' }] }), 'bad_request', 'recipients[0].device_id');
      await expectFailure(a, 'send_message', send({ recipients: [{ user_id: bob.userId, body: cipher() }] }), 'bad_request', 'recipients[0].device_id');
      const tooMany = Array.from({ length: MAX_RECIPIENTS + 1 }, () => ({ user_id: bob.userId, device_id: randomUUID(), body: cipher() }));
      await expectFailure(a, 'send_message', send({ recipients: tooMany }), 'bad_request', 'recipients');
      await expectFailure(a, 'send_message', send({ recipients: 'x' }), 'bad_request', 'recipients');
      await expectFailure(a, 'send_message', send({ conversation_id: 'nope' }), 'bad_request', 'conversation_id');
      await expectFailure(a, 'send_message', { recipients: ok }, 'bad_request', 'conversation_id');
      await expectFailure(a, 'send_message', send({ client_msg_id: 'has space' }), 'bad_request', 'client_msg_id');
      await expectFailure(a, 'send_message', send({ client_msg_id: 'x'.repeat(65) }), 'bad_request', 'client_msg_id');
      await expectFailure(a, 'send_message', send({ client_msg_id: '' }), 'bad_request', 'client_msg_id');
      await expectFailure(a, 'send_message', send({ kind: 'shout' }), 'bad_request', 'kind');
      await expectFailure(eve.devices[0]!, 'send_message', send({}), 'not_found');
      await expectFailure(a, 'send_message', send({ conversation_id: randomUUID() }), 'not_found');
      expect(await count('messages', { conversation_id: dm.id })).to.equal(0);
      // Exactly at the limit is fine.
      const atLimit = 'A'.repeat(MAX_MESSAGE_BYTES);
      await a.connection.expectOk('send_message', send({ recipients: ok.map((r) => ({ ...r, body: atLimit })) }));
    });

    it('needs a logged-in connection', async () => {
      const anonymous = await server.connect();
      await anonymous.expectError('send_message', { conversation_id: randomUUID(), recipients: [] }, 'not_authenticated');
      await anonymous.expectError('get_messages', { conversation_id: randomUUID() }, 'not_authenticated');
      await anonymous.close();
    });
  });

  describe('send_message: groups', () => {
    it('sends one shared body to every member device (the sender\'s other devices too) and keeps the self copy', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const carol = await person(server);
      const eve = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Fan-out', [bob, carol]);
      const [a0, a1] = alice.devices as [Device, Device];
      const self = cipher();
      const sent = await sendGroup(a0, group.id, { recipients: [{ user_id: alice.userId, device_id: SELF_DEVICE_ID, body: self }] });
      for (const device of [a1, bob.devices[0]!, carol.devices[0]!]) {
        const push = await device.connection.nextPush<NewMessagePush>('new_message');
        expect(push).to.deep.equal({
          message_id: sent.message_id,
          conversation_id: group.id,
          sender_id: alice.userId,
          sender_device_id: a0.deviceId,
          kind: 'message',
          created_at: sent.created_at,
          body: sent.body,
          recipient_body: null,
        });
      }
      await settle(probe, devicesOf(alice, eve));
      expect(newMessages(a0, sent.message_id)).to.have.length(0);
      expect(newMessages(eve.devices[0]!, sent.message_id)).to.have.length(0);
      expect((await getMessages(bob.devices[0]!, group.id)).messages[0]).to.include({ body: sent.body, recipient_body: null, self_body: null });
      expect((await getMessages(a1, group.id)).messages[0]).to.include({ body: sent.body, recipient_body: null, self_body: self });
    });

    it('needs the shared body and refuses per-device ciphertexts', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Rules', [bob]);
      const a = alice.devices[0]!;
      await expectFailure(a, 'send_message', { conversation_id: group.id }, 'bad_request', 'body');
      await expectFailure(a, 'send_message', { conversation_id: group.id, body: null }, 'bad_request', 'body');
      await expectFailure(
        a,
        'send_message',
        { conversation_id: group.id, body: cipher(), recipients: [{ user_id: bob.userId, device_id: bob.devices[0]!.deviceId, body: cipher() }] },
        'bad_request',
        'recipients[0]',
      );
      await expectFailure(a, 'send_message', { conversation_id: group.id, body: 'A'.repeat(MAX_MESSAGE_BYTES + 4) }, 'bad_request', 'body');
      await expectFailure(a, 'send_message', { conversation_id: group.id, body: '!!!!' }, 'bad_request', 'body');
    });

    it('does not show a newcomer the history from before they joined', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const group = await createGroup(alice.devices[0]!, 'History', [bob]);
      const early = [await sendGroup(alice.devices[0]!, group.id), await sendGroup(bob.devices[0]!, group.id)];
      await alice.devices[0]!.connection.expectOk('add_member', { conversation_id: group.id, user_id: carol.userId });
      expect((await getMessages(carol.devices[0]!, group.id)).messages).to.have.length(0);
      const late = await sendGroup(bob.devices[0]!, group.id);
      expect((await getMessages(carol.devices[0]!, group.id)).messages.map((m) => m.id)).to.deep.equal([late.message_id]);
      expect((await getMessages(bob.devices[0]!, group.id)).messages.map((m) => m.id)).to.deep.equal([...early.map((e) => e.message_id), late.message_id]);
      const listed = (await listConversations(carol.devices[0]!)).find((c) => c.id === group.id)!;
      expect(listed.unread_count).to.equal(1);
      // Nor can the newcomer act on the old messages.
      const marked = await carol.devices[0]!.connection.expectOk<{ marked: number }>('mark_read', { conversation_id: group.id, message_ids: early.map((e) => e.message_id) });
      expect(marked.marked).to.equal(0);
    });
  });

  describe('send_message: control messages', () => {
    it('goes only to the listed devices, is not unread, does not move the list, and shows only where addressed', async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      const eve = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Keys', [bob]);
      const [a0, a1] = alice.devices as [Device, Device];
      const [b0, b1] = bob.devices as [Device, Device];
      const recipients = [
        { user_id: bob.userId, device_id: b1.deviceId, body: cipher() },
        { user_id: alice.userId, device_id: a1.deviceId, body: cipher() },
      ];
      const sent = await a0.connection.expectOk<SendAnswer>('send_message', { conversation_id: group.id, kind: 'control', recipients });
      const atB1 = await b1.connection.nextPush<NewMessagePush>('new_message');
      expect(atB1).to.include({ message_id: sent.message_id, kind: 'control', body: null, recipient_body: recipients[0]!.body });
      expect((await a1.connection.nextPush<NewMessagePush>('new_message')).recipient_body).to.equal(recipients[1]!.body);
      await settle(probe, devicesOf(alice, bob));
      expect(newMessages(b0, sent.message_id)).to.have.length(0);
      expect(newMessages(a0, sent.message_id)).to.have.length(0);

      const listed = (await listConversations(b0)).find((c) => c.id === group.id)!;
      expect(listed.unread_count).to.equal(0);
      expect(listed.last_message_at).to.equal(null);
      expect((await getMessages(b0, group.id)).messages).to.have.length(0);
      const atB1History = (await getMessages(b1, group.id)).messages;
      expect(atB1History.map((m) => [m.id, m.kind, m.recipient_body])).to.deep.equal([[sent.message_id, 'control', recipients[0]!.body]]);

      await expectFailure(a0, 'send_message', { conversation_id: group.id, kind: 'control', recipients: [] }, 'bad_request', 'recipients');
      await expectFailure(a0, 'send_message', { conversation_id: group.id, kind: 'control', body: cipher(), recipients }, 'bad_request', 'body');
      const outsider = await a0.connection.expectError(
        'send_message',
        { conversation_id: group.id, kind: 'control', recipients: [{ user_id: eve.userId, device_id: eve.devices[0]!.deviceId, body: cipher() }] },
        'device_mismatch',
      );
      expect(outsider.extra).to.deep.equal([{ user_id: eve.userId, device_id: eve.devices[0]!.deviceId }]);
      expect(outsider.missing).to.deep.equal([]);
    });

    it('does not bring back a DM deleted "for me"', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      await bob.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: dm.id });
      await alice.devices[0]!.connection.expectOk('send_message', {
        conversation_id: dm.id,
        kind: 'control',
        recipients: [{ user_id: bob.userId, device_id: bob.devices[0]!.deviceId, body: cipher() }],
      });
      expect((await listConversations(bob.devices[0]!)).map((c) => c.id)).to.not.include(dm.id);
      await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      expect((await listConversations(bob.devices[0]!)).map((c) => c.id)).to.include(dm.id);
    });
  });

  describe('send_message: idempotent retries', () => {
    it('stores and pushes a client_msg_id once, answering a retry with the same id', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const recipients = recipientsFor(alice.devices[0]!, [alice, bob]);
      const fields = { conversation_id: dm.id, client_msg_id: 'retry-1', recipients };
      const first = await alice.devices[0]!.connection.expectOk<SendAnswer>('send_message', fields);
      const second = await alice.devices[0]!.connection.expectOk<SendAnswer>('send_message', fields);
      expect(first.duplicate).to.equal(false);
      expect(second).to.deep.equal({ message_id: first.message_id, created_at: first.created_at, duplicate: true });
      await settle(probe, bob.devices);
      expect(newMessages(bob.devices[0]!, first.message_id)).to.have.length(1);
      expect(await count('messages', { conversation_id: dm.id })).to.equal(1);
      // A client_msg_id belongs to one conversation.
      const other = await createDm(alice.devices[0]!, await person(server));
      await expectFailure(alice.devices[0]!, 'send_message', { ...fields, conversation_id: other.id }, 'conflict');
    });

    it('stores once when two devices send the same client_msg_id at the same moment', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const answers = await Promise.all(
        alice.devices.map((d) => d.connection.expectOk<SendAnswer>('send_message', { conversation_id: dm.id, client_msg_id: 'same-moment', recipients: recipientsFor(d, [alice, bob]) })),
      );
      expect(answers[0]!.message_id).to.equal(answers[1]!.message_id);
      expect(answers.map((a) => a.duplicate).sort()).to.deep.equal([false, true]);
      await settle(probe, bob.devices);
      expect(newMessages(bob.devices[0]!, answers[0]!.message_id)).to.have.length(1);
      expect(await count('messages', { conversation_id: dm.id })).to.equal(1);
    });

    it('recognises the retry on a new connection after a disconnect', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const fields = { conversation_id: dm.id, client_msg_id: 'after-reconnect', recipients: recipientsFor(alice.devices[0]!, [alice, bob]) };
      const first = await alice.devices[0]!.connection.expectOk<SendAnswer>('send_message', fields);
      alice.devices[0]!.connection.destroy();
      await alice.devices[0]!.connection.closed;
      const back = await login(server, alice.account, { deviceId: alice.devices[0]!.deviceId });
      const retry = await back.connection.expectOk<SendAnswer>('send_message', fields);
      expect(retry).to.deep.equal({ message_id: first.message_id, created_at: first.created_at, duplicate: true });
      await settle(probe, bob.devices);
      expect(newMessages(bob.devices[0]!, first.message_id)).to.have.length(1);
      await back.connection.close();
    });
  });

  describe('the writer under concurrent senders', () => {
    it('acknowledges every send and orders a conversation by created_at exactly as by id', async () => {
      const people = await Promise.all(Array.from({ length: 6 }, () => person(server)));
      const [creator, ...others] = people as [Person, ...Person[]];
      const group = await createGroup(creator.devices[0]!, 'Busy', others);
      const before = await probe.expectOk<{ messages: number }>('test_writer_stats');
      const perSender = 25;
      const answers = await Promise.all(
        people.flatMap((p) => Array.from({ length: perSender }, () => p.devices[0]!.connection.expectOk<SendAnswer>('send_message', { conversation_id: group.id, body: cipher() }))),
      );
      expect(answers).to.have.length(people.length * perSender);
      const after = await probe.expectOk<{ messages: number; batches: number; largestBatch: number }>('test_writer_stats');
      expect(after.messages - before.messages).to.equal(answers.length);
      expect(after.largestBatch).to.be.at.least(1);
      const history = (await getMessages(creator.devices[0]!, group.id, { limit: 200 })).messages;
      expect(history).to.have.length(answers.length);
      const byTime = [...history].sort((x, y) => x.created_at - y.created_at).map((m) => m.id);
      const byId = history.map((m) => m.id).sort();
      expect(byTime).to.deep.equal(byId);
      expect(new Set(history.map((m) => m.created_at)).size, 'no two messages of a conversation share a millisecond').to.equal(history.length);
      expect(history.map((m) => m.id)).to.deep.equal(byId);
      expect(new Set(answers.map((a) => a.message_id))).to.deep.equal(new Set(byId));
    });
  });

  describe('get_messages', () => {
    it('pages backwards and forwards through a long conversation', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Long', [bob]);
      const total = 130;
      const ids: string[] = [];
      for (let i = 0; i < total; i++) ids.push((await sendGroup(i % 2 ? bob.devices[0]! : alice.devices[0]!, group.id)).message_id);
      const viewer = bob.devices[0]!;

      const newest = await getMessages(viewer, group.id);
      expect(newest.messages.map((m) => m.id)).to.deep.equal(ids.slice(-50));
      expect(newest.has_more).to.equal(true);

      const backwards: MessageView[][] = [];
      let cursor: number | undefined;
      for (;;) {
        const page = await getMessages(viewer, group.id, { limit: 40, ...(cursor === undefined ? {} : { before_ts: cursor }) });
        backwards.unshift(page.messages);
        if (!page.has_more) break;
        cursor = page.messages[0]!.created_at;
      }
      expect(backwards.map((p) => p.length)).to.deep.equal([10, 40, 40, 40]);
      expect(backwards.flat().map((m) => m.id)).to.deep.equal(ids);

      const forwards: MessageView[] = [];
      let after = 0;
      for (;;) {
        const page = await getMessages(viewer, group.id, { limit: 60, after_ts: after });
        forwards.push(...page.messages);
        if (!page.has_more) break;
        after = page.messages[page.messages.length - 1]!.created_at;
      }
      expect(forwards.map((m) => m.id)).to.deep.equal(ids);

      const all = forwards;
      const window = await getMessages(viewer, group.id, { after_ts: all[9]!.created_at, before_ts: all[30]!.created_at, limit: 15 });
      expect(window.messages.map((m) => m.id)).to.deep.equal(ids.slice(10, 25));
      expect(window.has_more).to.equal(true);

      await expectFailure(viewer, 'get_messages', { conversation_id: group.id, limit: 0 }, 'bad_request', 'limit');
      await expectFailure(viewer, 'get_messages', { conversation_id: group.id, limit: 201 }, 'bad_request', 'limit');
      await expectFailure(viewer, 'get_messages', { conversation_id: group.id, limit: 1.5 }, 'bad_request', 'limit');
      await expectFailure(viewer, 'get_messages', { conversation_id: group.id, after_ts: -1 }, 'bad_request', 'after_ts');
      await expectFailure(viewer, 'get_messages', { conversation_id: group.id, before_ts: 'x' }, 'bad_request', 'before_ts');
      await expectFailure((await person(server)).devices[0]!, 'get_messages', { conversation_id: group.id }, 'not_found');
    });

    it('pages through 100,000 messages without loading them', async function () {
      this.timeout(240_000);
      const alice = await person(server);
      const bob = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Huge', [bob]);
      const total = 100_000;
      const base = group.created_at + 1;
      const rows = Array.from({ length: total }, (_, i) => ({
        id: uuidv7(),
        conversation_id: group.id,
        sender_id: i % 2 ? bob.userId : alice.userId,
        sender_device_id: i % 2 ? bob.devices[0]!.deviceId : alice.devices[0]!.deviceId,
        client_msg_id: null,
        kind: 'message',
        body: 'QUJD',
        created_at: base + i,
      }));
      // Straight into the table, 500 rows per statement (knex's SQLite limit for multi-row inserts).
      await knex().batchInsert('messages', rows, 500);
      const viewer = bob.devices[0]!;
      const limit = 200;

      let seen = 0;
      let after = 0;
      let pages = 0;
      for (;;) {
        const page = await getMessages(viewer, group.id, { after_ts: after, limit });
        for (const message of page.messages) {
          if (message.created_at !== base + seen) expect.fail(`forward paging: message ${seen} has created_at ${message.created_at}`);
          seen++;
        }
        pages++;
        if (!page.has_more) break;
        after = page.messages[page.messages.length - 1]!.created_at;
      }
      expect(seen).to.equal(total);
      expect(pages).to.equal(total / limit);

      let remaining = total;
      let before: number | undefined;
      for (;;) {
        const page = await getMessages(viewer, group.id, { limit, ...(before === undefined ? {} : { before_ts: before }) });
        for (let i = page.messages.length - 1; i >= 0; i--) {
          remaining--;
          if (page.messages[i]!.created_at !== base + remaining) expect.fail(`backward paging: expected created_at ${base + remaining}`);
        }
        if (!page.has_more) break;
        before = page.messages[0]!.created_at;
      }
      expect(remaining).to.equal(0);
      expect((await listConversations(viewer)).find((c) => c.id === group.id)!.unread_count).to.equal(total / 2);
    });

    it('decorates pages through messagesFetched', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const page = await getMessages(bob.devices[0]!, dm.id);
      expect(page.messages[0]!.fetched_by).to.equal(bob.userId);
    });
  });

  describe('mark_read', () => {
    it('records receipts for others\' messages, pushes the newly read ids, and lowers the unread count', async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      const dm = await createDm(alice.devices[0]!, bob);
      const m1 = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const m2 = await sendDm(alice.devices[1]!, dm.id, [alice, bob]);
      const own = await sendDm(bob.devices[0]!, dm.id, [alice, bob]);
      expect((await listConversations(bob.devices[0]!)).find((c) => c.id === dm.id)!.unread_count).to.equal(2);
      const [b0, b1] = bob.devices as [Device, Device];
      const answer = await b0.connection.expectOk('mark_read', { conversation_id: dm.id, message_ids: [m1.message_id, m2.message_id, own.message_id, randomUUID()] });
      expect(answer).to.deep.equal({ marked: 2 });
      const expected = { conversation_id: dm.id, user_id: bob.userId, message_ids: [m1.message_id, m2.message_id] };
      for (const device of [...alice.devices, b1]) expect(await device.connection.nextPush('messages_read')).to.deep.equal(expected);
      expect((await listConversations(b1)).find((c) => c.id === dm.id)!.unread_count).to.equal(0);
      expect((await listConversations(alice.devices[0]!)).find((c) => c.id === dm.id)!.unread_count).to.equal(1);

      const again = await b1.connection.expectOk('mark_read', { conversation_id: dm.id, message_ids: [m1.message_id] });
      expect(again).to.deep.equal({ marked: 0 });
      await settle(probe, devicesOf(alice, bob));
      expect(received(b0.connection, 'messages_read')).to.have.length(0);
      expect(received(alice.devices[0]!.connection, 'messages_read')).to.have.length(1);
    });

    it('validates the request (at most 500 ids, M10) and answers not_found to outsiders', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const ids = (n: number) => Array.from({ length: n }, () => randomUUID());
      await bob.devices[0]!.connection.expectOk('mark_read', { conversation_id: dm.id, message_ids: ids(500) });
      await expectFailure(bob.devices[0]!, 'mark_read', { conversation_id: dm.id, message_ids: ids(501) }, 'bad_request', 'message_ids');
      await expectFailure(bob.devices[0]!, 'mark_read', { conversation_id: dm.id, message_ids: [] }, 'bad_request', 'message_ids');
      await expectFailure(bob.devices[0]!, 'mark_read', { conversation_id: dm.id, message_ids: ['x'] }, 'bad_request', 'message_ids[0]');
      await expectFailure(bob.devices[0]!, 'mark_read', { conversation_id: dm.id }, 'bad_request', 'message_ids');
      await expectFailure(eve.devices[0]!, 'mark_read', { conversation_id: dm.id, message_ids: ids(1) }, 'not_found');
    });

    it('forgets receipts after the retention period (maintenance)', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const m = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      await bob.devices[0]!.connection.expectOk('mark_read', { conversation_id: dm.id, message_ids: [m.message_id] });
      const old = Date.now() - (server.config.metadataRetentionDays + 1) * 24 * 3600 * 1000;
      await knex()('message_reads').where({ message_id: m.message_id }).update({ read_at: old });
      await server.server.hooks.maintenance.promise({ now: Date.now() });
      expect(await count('message_reads', { message_id: m.message_id })).to.equal(0);
    });
  });

  describe('delete_message', () => {
    it('lets the sender delete: ciphertexts wiped, tombstone kept, everyone else told, messageDeleted fired', async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      const dm = await createDm(alice.devices[0]!, bob);
      const sent = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const answer = await alice.devices[0]!.connection.expectOk<{ message_id: string; deleted_at: number }>('delete_message', { message_id: sent.message_id });
      expect(answer.message_id).to.equal(sent.message_id);
      const expected = { message_id: sent.message_id, conversation_id: dm.id, deleted_by: alice.userId };
      for (const device of [alice.devices[1]!, ...bob.devices]) expect(await device.connection.nextPush('message_deleted')).to.deep.equal(expected);
      await settle(probe, alice.devices);
      expect(received(alice.devices[0]!.connection, 'message_deleted')).to.have.length(0);
      expect(await count('message_recipients', { message_id: sent.message_id })).to.equal(0);
      const tombstone = (await getMessages(bob.devices[0]!, dm.id)).messages[0]!;
      expect(tombstone).to.include({ id: sent.message_id, deleted_at: answer.deleted_at, body: null, recipient_body: null, self_body: null });
      expect(record.messageDeleted.some((m) => m.id === sent.message_id && m.deletedBy === alice.userId)).to.equal(true);

      const again = await alice.devices[0]!.connection.expectOk('delete_message', { message_id: sent.message_id });
      expect(again).to.deep.equal(answer);
      await settle(probe, bob.devices);
      expect(received(bob.devices[0]!.connection, 'message_deleted')).to.have.length(1);
    });

    it('wipes a group message\'s shared body', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Wipe', [bob]);
      const sent = await sendGroup(alice.devices[0]!, group.id);
      await alice.devices[0]!.connection.expectOk('delete_message', { message_id: sent.message_id });
      const row = await knex()('messages').where({ id: sent.message_id }).first('body', 'deleted_at');
      expect(row.body).to.equal(null);
      expect(row.deleted_at).to.not.equal(null);
    });

    it('refuses other members (forbidden) and outsiders or unknown ids (not_found)', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const sent = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      await expectFailure(bob.devices[0]!, 'delete_message', { message_id: sent.message_id }, 'forbidden');
      await expectFailure(eve.devices[0]!, 'delete_message', { message_id: sent.message_id }, 'not_found');
      await expectFailure(eve.devices[0]!, 'delete_message', { message_id: randomUUID() }, 'not_found');
      await expectFailure(eve.devices[0]!, 'delete_message', { message_id: 'x' }, 'bad_request', 'message_id');
      await expectFailure(eve.devices[0]!, 'delete_message', {}, 'bad_request', 'message_id');
    });
  });

  describe('get_deleted_since', () => {
    it('lists deletions after a time, oldest first', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const kept = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const gone = [await sendDm(alice.devices[0]!, dm.id, [alice, bob]), await sendDm(bob.devices[0]!, dm.id, [alice, bob])];
      const first = await alice.devices[0]!.connection.expectOk<{ deleted_at: number }>('delete_message', { message_id: gone[0]!.message_id });
      const second = await bob.devices[0]!.connection.expectOk<{ deleted_at: number }>('delete_message', { message_id: gone[1]!.message_id });
      const all = await bob.devices[0]!.connection.expectOk<{ deleted: Array<{ message_id: string; deleted_at: number }>; has_more: boolean }>('get_deleted_since', {
        conversation_id: dm.id,
        since_ts: 0,
      });
      expect(all).to.deep.equal({
        deleted: [
          { message_id: gone[0]!.message_id, deleted_at: first.deleted_at },
          { message_id: gone[1]!.message_id, deleted_at: second.deleted_at },
        ],
        has_more: false,
      });
      expect(all.deleted.map((d) => d.message_id)).to.not.include(kept.message_id);
      const none = await bob.devices[0]!.connection.expectOk<{ deleted: unknown[] }>('get_deleted_since', { conversation_id: dm.id, since_ts: second.deleted_at });
      expect(none.deleted).to.deep.equal([]);
      await expectFailure(eve.devices[0]!, 'get_deleted_since', { conversation_id: dm.id, since_ts: 0 }, 'not_found');
      await expectFailure(bob.devices[0]!, 'get_deleted_since', { conversation_id: dm.id }, 'bad_request', 'since_ts');
      await expectFailure(bob.devices[0]!, 'get_deleted_since', { conversation_id: dm.id, since_ts: -5 }, 'bad_request', 'since_ts');
    });
  });

  describe('reencrypt_messages', () => {
    it('stores self copies for visible messages so that a new device can read history; skips the rest', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const other = await createDm(alice.devices[0]!, carol);
      const received1 = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const received2 = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const deleted = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      await alice.devices[0]!.connection.expectOk('delete_message', { message_id: deleted.message_id });
      const elsewhere = await sendDm(alice.devices[0]!, other.id, [alice, carol]);
      const unknown = randomUUID();

      const laptop = await addDevice(server, bob.account);
      expect((await getMessages(laptop, dm.id)).messages.filter((m) => m.deleted_at === null).map((m) => m.recipient_body)).to.deep.equal([null, null]);

      const copies = [cipher(), cipher()];
      const answer = await bob.devices[0]!.connection.expectOk<{ stored: number; skipped: string[] }>('reencrypt_messages', {
        items: [
          { message_id: received1.message_id, body: copies[0] },
          { message_id: received2.message_id, body: copies[1] },
          { message_id: deleted.message_id, body: cipher() },
          { message_id: elsewhere.message_id, body: cipher() },
          { message_id: unknown, body: cipher() },
        ],
      });
      expect(answer.stored).to.equal(2);
      expect([...answer.skipped].sort()).to.deep.equal([deleted.message_id, elsewhere.message_id, unknown].sort());
      const history = (await getMessages(laptop, dm.id)).messages.filter((m) => m.deleted_at === null);
      expect(history.map((m) => [m.recipient_body, m.self_body])).to.deep.equal([
        [null, copies[0]],
        [null, copies[1]],
      ]);
      // A device that has its own ciphertext gets both: its own (whose ratchet key it may have used
      // already) and the self copy (readable again after it lost its cache).
      const own = (await getMessages(bob.devices[0]!, dm.id)).messages.filter((m) => m.deleted_at === null);
      expect(own.map((m) => [m.recipient_body, m.self_body])).to.deep.equal([
        [received1.recipients.find((r) => r.device_id === bob.devices[0]!.deviceId)!.body, copies[0]],
        [received2.recipients.find((r) => r.device_id === bob.devices[0]!.deviceId)!.body, copies[1]],
      ]);

      const replaced = cipher();
      await bob.devices[0]!.connection.expectOk('reencrypt_messages', { items: [{ message_id: received1.message_id, body: replaced }] });
      expect((await getMessages(laptop, dm.id)).messages[0]!.self_body).to.equal(replaced);
      expect(await count('message_recipients', { message_id: received1.message_id, user_id: bob.userId, device_id: SELF_DEVICE_ID })).to.equal(1);
    });

    it('validates the request', async () => {
      const bob = (await person(server)).devices[0]!;
      const item = () => ({ message_id: randomUUID(), body: cipher() });
      await expectFailure(bob, 'reencrypt_messages', { items: [] }, 'bad_request', 'items');
      await expectFailure(bob, 'reencrypt_messages', { items: Array.from({ length: 501 }, item) }, 'bad_request', 'items');
      await expectFailure(bob, 'reencrypt_messages', { items: [{ ...item(), body: 'not base64' }] }, 'bad_request', 'items[0].body');
      await expectFailure(bob, 'reencrypt_messages', { items: [{ ...item(), body: 'A'.repeat(MAX_MESSAGE_BYTES + 4) }] }, 'bad_request', 'items[0].body');
      await expectFailure(bob, 'reencrypt_messages', { items: [{ body: cipher() }] }, 'bad_request', 'items[0].message_id');
      await expectFailure(bob, 'reencrypt_messages', {}, 'bad_request', 'items');
      const skipped = await bob.connection.expectOk<{ stored: number; skipped: string[] }>('reencrypt_messages', { items: Array.from({ length: 500 }, item) });
      expect(skipped.stored).to.equal(0);
      expect(skipped.skipped).to.have.length(500);
    });
  });

  describe('plugin hooks', () => {
    it('lets messageStoring refuse a message (nothing stored or pushed) or replace its body', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const group = await createGroup(alice.devices[0]!, 'Policy', [bob]);
      record.refuseStoring.add('refuse-me');
      const refused = await alice.devices[0]!.connection.expectError('send_message', { conversation_id: group.id, body: cipher(), client_msg_id: 'refuse-me' }, 'forbidden');
      expect(refused.message).to.equal('Refused by policy');
      expect(await count('messages', { conversation_id: group.id })).to.equal(0);

      const replacement = cipher();
      record.replaceBody.set('replace-me', replacement);
      const sent = await alice.devices[0]!.connection.expectOk<SendAnswer>('send_message', { conversation_id: group.id, body: cipher(), client_msg_id: 'replace-me' });
      const push = await bob.devices[0]!.connection.nextPush<NewMessagePush>('new_message');
      expect(push.message_id).to.equal(sent.message_id);
      expect(push.body).to.equal(replacement);
      expect((await getMessages(bob.devices[0]!, group.id)).messages[0]!.body).to.equal(replacement);
      await settle(probe, bob.devices);
      expect(received(bob.devices[0]!.connection, 'new_message')).to.have.length(1);
    });

    it('fires messageStored after the commit with the message\'s facts', async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const sent = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const stored = await recorder.waitStored(sent.message_id);
      expect(stored).to.deep.equal({
        id: sent.message_id,
        conversationId: dm.id,
        conversationKind: 'dm',
        senderId: alice.userId,
        senderDeviceId: alice.devices[0]!.deviceId,
        kind: 'message',
        createdAt: sent.created_at,
        recipientUserIds: [bob.userId],
      });
    });
  });

  describe('the messages service', () => {
    it('answers requireVisible for members and not_found otherwise', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const eve = await person(server);
      const dm = await createDm(alice.devices[0]!, bob);
      const sent = await sendDm(alice.devices[0]!, dm.id, [alice, bob]);
      const meta = await probe.expectOk<Record<string, unknown>>('test_require_visible', { message_id: sent.message_id, user_id: bob.userId });
      expect(meta).to.include({ id: sent.message_id, conversationId: dm.id, senderId: alice.userId, kind: 'message', createdAt: sent.created_at, deletedAt: null });
      const outsider = await probe.request('test_require_visible', { message_id: sent.message_id, user_id: eve.userId });
      expect((outsider.data as { code: string }).code).to.equal('not_found');
      await alice.devices[0]!.connection.expectOk('delete_message', { message_id: sent.message_id });
      const deleted = await probe.request('test_require_visible', { message_id: sent.message_id, user_id: bob.userId });
      expect((deleted.data as { code: string }).code).to.equal('not_found');
    });
  });
});

forEachBackend('core-messages rate limit', (backend) => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl, config: { rateLimits: { sendPerMinute: 3 } } });
  });

  afterEach(closeOpened);

  after(async () => {
    await server?.close();
  });

  it('limits send_message per account to sendPerMinute', async () => {
    const alice = await person(server);
    const group = await createGroup(alice.devices[0]!, 'Slow', []);
    for (let i = 0; i < 3; i++) await sendGroup(alice.devices[0]!, group.id);
    const limited = await alice.devices[0]!.connection.expectError('send_message', { conversation_id: group.id, body: cipher() }, 'rate_limited');
    expect(limited.retry_after_ms).to.be.a('number');
  });
});
