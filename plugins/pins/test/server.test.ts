/**
 * The pins plugin's server part over real sockets against a real server, on SQLite and (when
 * configured) MariaDB: pin_message and get_pinned_messages (success, authorization, bad input, the
 * cap), the message_pinned / message_unpinned pushes (who gets them and who does not), pinned_at /
 * pinned_by in get_messages, unpinning with a deleted message and a deleted conversation, settings.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../engine/testing/index.js';
import pins from '../index.js';
import { PINS_TABLE } from '../migrations/0001_init.js';
import type { MessagePinnedPush, PinAnswer, PinEntry } from '../shared.js';
import {
  cipher,
  closeOpened,
  createDm,
  createGroup,
  expectFailure,
  getMessages,
  person,
  probePlugin,
  received,
  sendDm,
  sendGroup,
  settle,
  type Device,
} from '../../../engine/testing/people.js';

function pin(device: Device, messageId: string, pinned = true): Promise<PinAnswer> {
  return device.connection.expectOk<PinAnswer>('pin_message', { message_id: messageId, pinned });
}

async function pinned(device: Device, conversationId: string): Promise<PinEntry[]> {
  return (await device.connection.expectOk<{ pins: PinEntry[] }>('get_pinned_messages', { conversation_id: conversationId })).pins;
}

forEachBackend('pins plugin: server', (backend) => {
  let server: TestServer;
  let probe: TestConnection;

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [pins, probePlugin], settings: { pins: { maxPinsPerConversation: 3 } } });
    probe = await server.connect();
  });

  afterEach(closeOpened);

  after(async function () {
    this.timeout(30_000);
    await server?.close();
  });

  const countRows = async (where: Record<string, string>) =>
    Number(((await server.server.database.knex(PINS_TABLE).where(where).count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);

  it('is listed in hello with its cap', async () => {
    const connection = await server.connect();
    expect(connection.hello.plugins.map((p) => p.name)).to.include('pins');
    expect((connection.hello as unknown as { plugin_settings: Record<string, unknown> }).plugin_settings.pins).to.deep.equal({ maxPinsPerConversation: 3 });
    await connection.close();
  });

  it('pins and unpins; pinning twice or unpinning what is not pinned changes nothing; lists newest first', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const first = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    const second = await sendDm(bob.devices[0]!, dm, [alice, bob]);

    const pinnedFirst = await pin(bob.devices[0]!, first);
    expect(pinnedFirst).to.include({ message_id: first, pinned: true, changed: true, pinned_by: bob.userId });
    expect(pinnedFirst.pinned_at).to.be.a('number');
    // Pinned already (by someone else): unchanged, the first pin stays.
    expect(await pin(alice.devices[0]!, first)).to.deep.equal({ ...pinnedFirst, changed: false });
    const pinnedSecond = await pin(alice.devices[0]!, second);

    for (const viewer of [alice, bob]) {
      const list = await pinned(viewer.devices[0]!, dm);
      expect(list.map((p) => p.message_id)).to.deep.equal([second, first]);
      expect(list[1]).to.deep.include({ message_id: first, pinned_by: bob.userId, pinned_by_username: bob.username, pinned_at: pinnedFirst.pinned_at, sender_id: alice.userId });
      expect(list[0]).to.deep.include({ pinned_by: alice.userId, pinned_by_username: alice.username, pinned_at: pinnedSecond.pinned_at, sender_id: bob.userId });
      expect(list[0]!.message_created_at).to.be.a('number');
    }

    expect(await pin(alice.devices[0]!, first, false)).to.deep.equal({ message_id: first, pinned: false, changed: true, pinned_at: null, pinned_by: null });
    expect((await pin(alice.devices[0]!, first, false)).changed).to.equal(false);
    expect((await pinned(bob.devices[0]!, dm)).map((p) => p.message_id)).to.deep.equal([second]);
    expect(await countRows({ conversation_id: dm })).to.equal(1);
  });

  it('refuses a pin over maxPinsPerConversation with conflict, per conversation', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await sendGroup(alice.devices[0]!, group));
    for (const id of ids.slice(0, 3)) await pin(bob.devices[0]!, id);
    const refused = await expectFailure(bob.devices[0]!, 'pin_message', { message_id: ids[3], pinned: true }, 'conflict');
    expect(refused.message).to.contain('at most 3');
    // Re-pinning a pinned message is no new pin; unpinning makes room.
    expect((await pin(bob.devices[0]!, ids[0]!)).changed).to.equal(false);
    await pin(alice.devices[0]!, ids[1]!, false);
    expect((await pin(alice.devices[0]!, ids[3]!)).changed).to.equal(true);
    // Another conversation has its own count.
    const dm = await createDm(alice.devices[0]!, bob);
    expect((await pin(alice.devices[0]!, await sendDm(alice.devices[0]!, dm, [alice, bob]))).changed).to.equal(true);
  });

  it('answers not_found to non-members (also members of another conversation) and for messages one cannot see; bad_request for malformed input', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const carol = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const before = await sendGroup(alice.devices[0]!, group);
    await pin(bob.devices[0]!, before);

    // Carol is a member of another conversation with Alice, not of this group.
    const other = await createDm(carol.devices[0]!, alice);
    const carols = await sendDm(carol.devices[0]!, other, [carol, alice]);
    await expectFailure(carol.devices[0]!, 'pin_message', { message_id: before, pinned: true }, 'not_found');
    await expectFailure(carol.devices[0]!, 'pin_message', { message_id: before, pinned: false }, 'not_found');
    await expectFailure(carol.devices[0]!, 'get_pinned_messages', { conversation_id: group }, 'not_found');
    await expectFailure(bob.devices[0]!, 'pin_message', { message_id: carols, pinned: true }, 'not_found');
    await expectFailure(bob.devices[0]!, 'get_pinned_messages', { conversation_id: other }, 'not_found');
    await expectFailure(bob.devices[0]!, 'pin_message', { message_id: randomUUID(), pinned: true }, 'not_found');
    await expectFailure(bob.devices[0]!, 'get_pinned_messages', { conversation_id: randomUUID() }, 'not_found');
    expect(await countRows({ message_id: before })).to.equal(1);

    // Carol joins later: the pin of a message from before she joined is not hers to see.
    await alice.devices[0]!.connection.expectOk('add_member', { conversation_id: group, user_id: carol.userId });
    await expectFailure(carol.devices[0]!, 'pin_message', { message_id: before, pinned: false }, 'not_found');
    expect(await pinned(carol.devices[0]!, group)).to.deep.equal([]);
    const after = await sendGroup(bob.devices[0]!, group);
    expect((await pin(carol.devices[0]!, after)).changed).to.equal(true);
    expect((await pinned(carol.devices[0]!, group)).map((p) => p.message_id)).to.deep.equal([after]);
    expect((await pinned(alice.devices[0]!, group)).map((p) => p.message_id)).to.deep.equal([after, before]);

    // A control message is no message to pin.
    const control = await alice.devices[0]!.connection.expectOk<{ message_id: string }>('send_message', {
      conversation_id: other,
      kind: 'control',
      recipients: [{ user_id: carol.userId, device_id: carol.devices[0]!.deviceId, body: cipher() }],
    });
    await expectFailure(carol.devices[0]!, 'pin_message', { message_id: control.message_id, pinned: true }, 'not_found');

    const bobDevice = bob.devices[0]!;
    await expectFailure(bobDevice, 'pin_message', { pinned: true }, 'bad_request', 'message_id');
    await expectFailure(bobDevice, 'pin_message', { message_id: 'nope', pinned: true }, 'bad_request', 'message_id');
    await expectFailure(bobDevice, 'pin_message', { message_id: before }, 'bad_request', 'pinned');
    await expectFailure(bobDevice, 'pin_message', { message_id: before, pinned: 'yes' }, 'bad_request', 'pinned');
    await expectFailure(bobDevice, 'get_pinned_messages', {}, 'bad_request', 'conversation_id');
    await expectFailure(bobDevice, 'get_pinned_messages', { conversation_id: `${group}x` }, 'bad_request', 'conversation_id');
  });

  it('pushes message_pinned / message_unpinned to every device of every member except the acting connection, only on a change', async () => {
    const alice = await person(server, 2);
    const bob = await person(server, 2);
    const carol = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const messageId = await sendGroup(alice.devices[0]!, group);
    const everyone = [...alice.devices, ...bob.devices, ...carol.devices];
    await settle(probe, everyone);
    for (const device of everyone) device.connection.clearPushes();

    const actor = bob.devices[0]!;
    const answer = await pin(actor, messageId);
    await settle(probe, everyone);
    const expected: MessagePinnedPush = { message_id: messageId, conversation_id: group, user_id: bob.userId, username: bob.username, pinned_at: answer.pinned_at! };
    for (const device of [alice.devices[0]!, alice.devices[1]!, bob.devices[1]!]) {
      expect(received(device.connection, 'message_pinned'), `at ${device.deviceId}`).to.deep.equal([expected]);
    }
    expect(received(actor.connection, 'message_pinned'), 'the acting connection').to.deep.equal([]);
    expect(received(carol.devices[0]!.connection, 'message_pinned'), 'a non-member').to.deep.equal([]);

    for (const device of everyone) device.connection.clearPushes();
    await pin(alice.devices[0]!, messageId);
    await pin(alice.devices[0]!, await sendGroup(alice.devices[0]!, group), false);
    await settle(probe, everyone);
    for (const device of everyone) {
      expect(received(device.connection, 'message_pinned')).to.deep.equal([]);
      expect(received(device.connection, 'message_unpinned')).to.deep.equal([]);
    }

    const unpinner = alice.devices[1]!;
    await pin(unpinner, messageId, false);
    await settle(probe, everyone);
    const unpinned = { message_id: messageId, conversation_id: group, user_id: alice.userId, username: alice.username };
    for (const device of [alice.devices[0]!, bob.devices[0]!, bob.devices[1]!]) expect(received(device.connection, 'message_unpinned')).to.deep.equal([unpinned]);
    expect(received(unpinner.connection, 'message_unpinned')).to.deep.equal([]);
    expect(received(carol.devices[0]!.connection, 'message_unpinned')).to.deep.equal([]);
  });

  it('says in get_messages whether and by whom each message is pinned', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const first = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    const second = await sendDm(bob.devices[0]!, dm, [alice, bob]);
    const answer = await pin(bob.devices[0]!, first);
    for (const viewer of [alice, bob]) {
      const byId = new Map((await getMessages(viewer.devices[0]!, dm)).map((m) => [m.id, m]));
      expect(byId.get(first)).to.deep.include({ pinned_at: answer.pinned_at, pinned_by: bob.userId });
      expect(byId.get(second)).to.deep.include({ pinned_at: null, pinned_by: null });
    }
  });

  it('unpins a deleted message, which then cannot be pinned', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const messageId = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    await pin(bob.devices[0]!, messageId);
    await alice.devices[0]!.connection.expectOk('delete_message', { message_id: messageId });
    expect(await countRows({ message_id: messageId })).to.equal(0);
    expect(await pinned(bob.devices[0]!, dm)).to.deep.equal([]);
    const row = (await getMessages(bob.devices[0]!, dm)).find((m) => m.id === messageId)!;
    expect(row).to.deep.include({ pinned_at: null, pinned_by: null });
    await expectFailure(bob.devices[0]!, 'pin_message', { message_id: messageId, pinned: true }, 'not_found');
  });

  it('loses the pins with a deleted conversation (foreign-key cascade)', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    await pin(bob.devices[0]!, await sendGroup(alice.devices[0]!, group));
    await pin(alice.devices[0]!, await sendGroup(bob.devices[0]!, group));
    expect(await countRows({ conversation_id: group })).to.equal(2);
    await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: group });
    expect(await countRows({ conversation_id: group })).to.equal(0);
  });
});

describe('pins plugin: invalid settings stop start-up', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a cap of 0', { maxPinsPerConversation: 0 }, 'pins.maxPinsPerConversation'],
    ['a cap that is no integer', { maxPinsPerConversation: 2.5 }, 'pins.maxPinsPerConversation'],
    ['a rate of 0', { ratePerMinute: 0 }, 'pins.ratePerMinute'],
    ['a misspelt setting', { maxPins: 5 }, 'pins.maxPins'],
  ];
  for (const [what, settings, named] of cases) {
    it(`refuses ${what}, naming ${named}`, async () => {
      let failure: unknown;
      try {
        const started = await startTestServer({ plugins: [pins], settings: { pins: settings } });
        await started.close();
      } catch (error) {
        failure = error;
      }
      expect(failure, 'start-up should fail').to.be.instanceOf(Error);
      expect((failure as Error).message).to.contain(`Invalid setting ${named}`);
      expect((failure as { code?: string }).code).to.equal('plugin_config_invalid');
    });
  }

  it('defaults to 50 pins per conversation', async () => {
    const started = await startTestServer({ plugins: [pins] });
    try {
      const connection = await started.connect();
      expect((connection.hello as unknown as { plugin_settings: Record<string, unknown> }).plugin_settings.pins).to.deep.equal({ maxPinsPerConversation: 50 });
    } finally {
      await started.close();
    }
  });
});
