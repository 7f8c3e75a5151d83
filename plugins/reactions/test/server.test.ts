/**
 * The reactions plugin's server part over real sockets against a real server, on SQLite and (when
 * configured) MariaDB: react_message and get_reactions (success, authorization, bad input), the
 * message_reacted push (who gets it and who does not), reactions in get_messages, clean-up with a
 * deleted message and a deleted conversation, the rate limit, and retention.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../engine/testing/index.js';
import reactions from '../index.js';
import { REACTIONS_TABLE } from '../migrations/0001_init.js';
import { DEFAULT_REACTIONS, type MessageReactedPush, type ReactAnswer, type ReactionEntry } from '../shared.js';
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

const DAY_MS = 24 * 60 * 60 * 1000;

function react(device: Device, messageId: string, reaction: string, action: 'add' | 'remove' = 'add'): Promise<ReactAnswer> {
  return device.connection.expectOk<ReactAnswer>('react_message', { message_id: messageId, reaction, action });
}

function getReactions(device: Device, conversationId: string, messageIds: string[]): Promise<Record<string, ReactionEntry[]>> {
  return device.connection
    .expectOk<{ reactions: Record<string, ReactionEntry[]> }>('get_reactions', { conversation_id: conversationId, message_ids: messageIds })
    .then((answer) => answer.reactions);
}

/**
 * `user:reaction` of each entry, after checking the list is oldest first. Sorted, because entries
 * added within the same millisecond are ordered by user id and name, not by request.
 */
const brief = (entries: readonly ReactionEntry[]) => {
  const times = entries.map((e) => e.created_at);
  expect(times, 'oldest first').to.deep.equal([...times].sort((a, b) => a - b));
  return entries.map((e) => `${e.user_id}:${e.reaction}`).sort();
};

forEachBackend('reactions plugin: server', (backend) => {
  let server: TestServer;
  let probe: TestConnection;

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [reactions, probePlugin] });
    probe = await server.connect();
  });

  afterEach(closeOpened);

  after(async function () {
    this.timeout(30_000);
    await server?.close();
  });

  const rowsOf = (where: Record<string, string>) => server.server.database.knex(REACTIONS_TABLE).where(where).count<Array<{ n: number | string }>>({ n: '*' });
  const countRows = async (where: Record<string, string>) => Number((await rowsOf(where))[0]!.n);

  it('is listed in hello with its allowed reactions', async () => {
    const connection = await server.connect();
    expect(connection.hello.plugins.map((p) => p.name)).to.include('reactions');
    expect((connection.hello as unknown as { plugin_settings: Record<string, unknown> }).plugin_settings.reactions).to.deep.equal({ allowed: [...DEFAULT_REACTIONS] });
    await connection.close();
  });

  it('adds and removes reactions; adding twice or removing what is not there changes nothing', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const messageId = await sendDm(alice.devices[0]!, dm, [alice, bob]);

    const added = await react(bob.devices[0]!, messageId, 'heart');
    expect(added).to.include({ message_id: messageId, reaction: 'heart', action: 'add', changed: true });
    expect(brief(added.reactions)).to.have.members([`${bob.userId}:heart`]);
    expect(added.reactions[0]!.created_at).to.be.a('number');

    const again = await react(bob.devices[0]!, messageId, 'heart');
    expect(again).to.include({ changed: false });
    expect(again.reactions).to.deep.equal(added.reactions);

    // Several kinds per user, several users; the list is oldest first.
    await react(bob.devices[0]!, messageId, 'laugh');
    const own = await react(alice.devices[0]!, messageId, 'heart');
    expect(brief(own.reactions)).to.have.members([`${bob.userId}:heart`, `${bob.userId}:laugh`, `${alice.userId}:heart`]);

    const removed = await react(bob.devices[0]!, messageId, 'heart', 'remove');
    expect(removed).to.include({ action: 'remove', changed: true });
    expect(brief(removed.reactions)).to.have.members([`${bob.userId}:laugh`, `${alice.userId}:heart`]);
    const removedAgain = await react(bob.devices[0]!, messageId, 'heart', 'remove');
    expect(removedAgain.changed).to.equal(false);
    expect(await countRows({ message_id: messageId })).to.equal(2);
  });

  it('answers not_found to non-members and for messages one cannot see, bad_request for malformed input', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const carol = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const before = await sendGroup(alice.devices[0]!, group);
    await react(bob.devices[0]!, before, 'thumbsup');

    // Not a member (also: a member of another conversation).
    const other = await createDm(carol.devices[0]!, alice);
    await sendDm(carol.devices[0]!, other, [carol, alice]);
    await expectFailure(carol.devices[0]!, 'react_message', { message_id: before, reaction: 'heart', action: 'add' }, 'not_found');
    await expectFailure(carol.devices[0]!, 'get_reactions', { conversation_id: group, message_ids: [before] }, 'not_found');
    // No such message / conversation.
    await expectFailure(bob.devices[0]!, 'react_message', { message_id: randomUUID(), reaction: 'heart', action: 'add' }, 'not_found');
    await expectFailure(bob.devices[0]!, 'get_reactions', { conversation_id: randomUUID(), message_ids: [before] }, 'not_found');

    // Carol joins later: the message from before she joined is not hers to see, nor its reactions.
    await alice.devices[0]!.connection.expectOk('add_member', { conversation_id: group, user_id: carol.userId });
    await expectFailure(carol.devices[0]!, 'react_message', { message_id: before, reaction: 'heart', action: 'add' }, 'not_found');
    expect(await getReactions(carol.devices[0]!, group, [before])).to.deep.equal({ [before]: [] });
    const after = await sendGroup(alice.devices[0]!, group);
    expect((await react(carol.devices[0]!, after, 'heart')).changed).to.equal(true);

    // A control message is no message to react to.
    const control = await alice.devices[0]!.connection.expectOk<{ message_id: string }>('send_message', {
      conversation_id: other,
      kind: 'control',
      recipients: [{ user_id: carol.userId, device_id: carol.devices[0]!.deviceId, body: cipher() }],
    });
    await expectFailure(carol.devices[0]!, 'react_message', { message_id: control.message_id, reaction: 'heart', action: 'add' }, 'not_found');

    // Malformed input names the field.
    const bobDevice = bob.devices[0]!;
    await expectFailure(bobDevice, 'react_message', { reaction: 'heart', action: 'add' }, 'bad_request', 'message_id');
    await expectFailure(bobDevice, 'react_message', { message_id: 'not-a-uuid', reaction: 'heart', action: 'add' }, 'bad_request', 'message_id');
    await expectFailure(bobDevice, 'react_message', { message_id: before.toUpperCase(), reaction: 'heart', action: 'add' }, 'bad_request', 'message_id');
    await expectFailure(bobDevice, 'react_message', { message_id: before, action: 'add' }, 'bad_request', 'reaction');
    await expectFailure(bobDevice, 'react_message', { message_id: before, reaction: 'Heart!', action: 'add' }, 'bad_request', 'reaction');
    await expectFailure(bobDevice, 'react_message', { message_id: before, reaction: 'x'.repeat(33), action: 'add' }, 'bad_request', 'reaction');
    const unknown = await expectFailure(bobDevice, 'react_message', { message_id: before, reaction: 'rocket', action: 'add' }, 'bad_request', 'reaction');
    expect(unknown.message).to.contain('thumbsup');
    await expectFailure(bobDevice, 'react_message', { message_id: before, reaction: 'heart' }, 'bad_request', 'action');
    await expectFailure(bobDevice, 'react_message', { message_id: before, reaction: 'heart', action: 'toggle' }, 'bad_request', 'action');
    // Removing a name that is not allowed (any more) is fine: nothing to remove here.
    expect((await react(bobDevice, before, 'rocket', 'remove')).changed).to.equal(false);

    await expectFailure(bobDevice, 'get_reactions', { message_ids: [before] }, 'bad_request', 'conversation_id');
    await expectFailure(bobDevice, 'get_reactions', { conversation_id: group }, 'bad_request', 'message_ids');
    await expectFailure(bobDevice, 'get_reactions', { conversation_id: group, message_ids: [] }, 'bad_request', 'message_ids');
    const tooMany = Array.from({ length: 201 }, () => randomUUID());
    await expectFailure(bobDevice, 'get_reactions', { conversation_id: group, message_ids: tooMany }, 'bad_request', 'message_ids');
    await expectFailure(bobDevice, 'get_reactions', { conversation_id: group, message_ids: [before, 'nope'] }, 'bad_request', 'message_ids[1]');
    // Without logging in.
    const anonymous = await server.connect();
    const refused = await anonymous.expectError('react_message', { message_id: before, reaction: 'heart', action: 'add' }, 'not_authenticated');
    expect(refused.code).to.equal('not_authenticated');
    await anonymous.close();
  });

  it('pushes message_reacted to every device of every member except the acting connection, only when something changed', async () => {
    const alice = await person(server, 2);
    const bob = await person(server, 2);
    const carol = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const messageId = await sendGroup(alice.devices[0]!, group);
    const everyone = [...alice.devices, ...bob.devices, ...carol.devices];
    await settle(probe, everyone);
    for (const device of everyone) device.connection.clearPushes();

    const actor = bob.devices[0]!;
    await react(actor, messageId, 'heart');
    await settle(probe, everyone);
    const expected = {
      message_id: messageId,
      conversation_id: group,
      user_id: bob.userId,
      username: bob.username,
      reaction: 'heart',
      action: 'add',
      message_sender_id: alice.userId,
    };
    for (const device of [alice.devices[0]!, alice.devices[1]!, bob.devices[1]!]) {
      const pushes = received<MessageReactedPush>(device.connection, 'message_reacted');
      expect(pushes, `pushes at ${device.deviceId}`).to.have.length(1);
      expect(pushes[0]).to.deep.include(expected);
      expect(pushes[0]!.created_at).to.be.a('number');
    }
    expect(received(actor.connection, 'message_reacted'), 'the acting connection').to.deep.equal([]);
    expect(received(carol.devices[0]!.connection, 'message_reacted'), 'a non-member').to.deep.equal([]);

    // Nothing changed: nobody hears about it.
    for (const device of everyone) device.connection.clearPushes();
    expect((await react(actor, messageId, 'heart')).changed).to.equal(false);
    expect((await react(alice.devices[0]!, messageId, 'sad', 'remove')).changed).to.equal(false);
    await settle(probe, everyone);
    for (const device of everyone) expect(received(device.connection, 'message_reacted')).to.deep.equal([]);

    // A removal from another device of the same user reaches the first one.
    await react(bob.devices[1]!, messageId, 'heart', 'remove');
    await settle(probe, everyone);
    const removal = received<MessageReactedPush>(actor.connection, 'message_reacted');
    expect(removal).to.deep.equal([{ ...expected, action: 'remove', created_at: null }]);
    expect(received(bob.devices[1]!.connection, 'message_reacted')).to.deep.equal([]);
    expect(received(alice.devices[1]!.connection, 'message_reacted')).to.have.length(1);
    expect(received(carol.devices[0]!.connection, 'message_reacted')).to.deep.equal([]);
  });

  it('attaches each message’s reactions to get_messages', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const first = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    const second = await sendDm(bob.devices[0]!, dm, [alice, bob]);
    const third = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    await react(bob.devices[0]!, first, 'thumbsup');
    await react(alice.devices[0]!, first, 'laugh');
    await react(alice.devices[0]!, third, 'surprised');

    for (const viewer of [alice, bob]) {
      const messages = await getMessages(viewer.devices[0]!, dm);
      const byId = new Map(messages.map((m) => [m.id, m]));
      expect(brief(byId.get(first)!.reactions as ReactionEntry[])).to.have.members([`${bob.userId}:thumbsup`, `${alice.userId}:laugh`]);
      expect(byId.get(second)!.reactions).to.deep.equal([]);
      expect(brief(byId.get(third)!.reactions as ReactionEntry[])).to.have.members([`${alice.userId}:surprised`]);
    }
    // get_reactions answers the same lists, and an empty one for every id without reactions.
    const unknown = randomUUID();
    const answer = await getReactions(bob.devices[0]!, dm, [first, second, third, unknown, first]);
    expect(Object.keys(answer).sort()).to.deep.equal([first, second, third, unknown].sort());
    expect(brief(answer[first]!)).to.have.members([`${bob.userId}:thumbsup`, `${alice.userId}:laugh`]);
    expect(answer[second]).to.deep.equal([]);
    expect(answer[unknown]).to.deep.equal([]);
    // Ids of another conversation answer empty lists, too.
    const carol = await person(server);
    const elsewhere = await createDm(bob.devices[0]!, carol);
    expect(await getReactions(bob.devices[0]!, elsewhere, [first])).to.deep.equal({ [first]: [] });
  });

  it('removes the reactions of a deleted message', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const messageId = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    const kept = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    await react(bob.devices[0]!, messageId, 'heart');
    await react(alice.devices[0]!, messageId, 'thumbsup');
    await react(bob.devices[0]!, kept, 'sad');

    await alice.devices[0]!.connection.expectOk('delete_message', { message_id: messageId });
    expect(await countRows({ message_id: messageId })).to.equal(0);
    expect(await countRows({ message_id: kept })).to.equal(1);
    const deleted = (await getMessages(bob.devices[0]!, dm)).find((m) => m.id === messageId)!;
    expect(deleted.deleted_at).to.be.a('number');
    expect(deleted.reactions).to.deep.equal([]);
    await expectFailure(bob.devices[0]!, 'react_message', { message_id: messageId, reaction: 'heart', action: 'add' }, 'not_found');
    expect(await getReactions(bob.devices[0]!, dm, [messageId])).to.deep.equal({ [messageId]: [] });
  });

  it('loses the reactions with a deleted conversation (foreign-key cascade)', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const messageId = await sendGroup(alice.devices[0]!, group);
    await react(bob.devices[0]!, messageId, 'heart');
    await react(alice.devices[0]!, messageId, 'laugh');
    expect(await countRows({ conversation_id: group })).to.equal(2);
    await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: group });
    expect(await countRows({ conversation_id: group })).to.equal(0);

    // A DM both members deleted "for me" is purged: its reactions go with it.
    const dm = await createDm(alice.devices[0]!, bob);
    const dmMessage = await sendDm(bob.devices[0]!, dm, [alice, bob]);
    await react(alice.devices[0]!, dmMessage, 'thumbsup');
    await alice.devices[0]!.connection.expectOk('delete_conversation', { conversation_id: dm });
    // Deleted for Alice only: she cannot see or react to it any more, Bob still sees her reaction.
    await expectFailure(alice.devices[0]!, 'react_message', { message_id: dmMessage, reaction: 'heart', action: 'add' }, 'not_found');
    expect(brief((await getReactions(bob.devices[0]!, dm, [dmMessage]))[dmMessage]!)).to.have.members([`${alice.userId}:thumbsup`]);
    const purged = await bob.devices[0]!.connection.expectOk<{ purged: boolean }>('delete_conversation', { conversation_id: dm });
    expect(purged.purged).to.equal(true);
    expect(await countRows({ conversation_id: dm })).to.equal(0);
  });

  it('removes the reactions of a deleted account (foreign-key cascade)', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const group = await createGroup(alice.devices[0]!, [bob]);
    const messageId = await sendGroup(alice.devices[0]!, group);
    await react(bob.devices[0]!, messageId, 'heart');
    await react(alice.devices[0]!, messageId, 'heart');
    await server.server.database.knex('users').where({ id: bob.userId }).delete();
    expect(brief((await getReactions(alice.devices[0]!, group, [messageId]))[messageId]!)).to.have.members([`${alice.userId}:heart`]);
  });
});

forEachBackend('reactions plugin: settings, rate limit and retention', (backend) => {
  let server: TestServer | undefined;

  afterEach(async function () {
    this.timeout(30_000);
    await closeOpened();
    await server?.close();
    server = undefined;
  });

  it('uses a custom list of allowed reactions and advertises it', async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [reactions], settings: { reactions: { allowed: ['ok', 'party_parrot'] } } });
    const alice = await person(server);
    const bob = await person(server);
    expect((alice.devices[0]!.connection.hello as unknown as { plugin_settings: Record<string, unknown> }).plugin_settings.reactions).to.deep.equal({
      allowed: ['ok', 'party_parrot'],
    });
    const dm = await createDm(alice.devices[0]!, bob);
    const messageId = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    expect((await react(bob.devices[0]!, messageId, 'party_parrot')).changed).to.equal(true);
    const refused = await expectFailure(bob.devices[0]!, 'react_message', { message_id: messageId, reaction: 'heart', action: 'add' }, 'bad_request', 'reaction');
    expect(refused.message).to.contain('ok, party_parrot');
  });

  it('limits react_message per user (ratePerMinute)', async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [reactions], settings: { reactions: { ratePerMinute: 3 } } });
    const alice = await person(server, 2);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const messageId = await sendDm(bob.devices[0]!, dm, [alice, bob]);
    await react(alice.devices[0]!, messageId, 'heart');
    await react(alice.devices[1]!, messageId, 'heart', 'remove');
    await react(alice.devices[0]!, messageId, 'sad');
    // The fourth request of the same user, from either device, is refused; another user is not.
    const limited = await alice.devices[1]!.connection.expectError('react_message', { message_id: messageId, reaction: 'laugh', action: 'add' }, 'rate_limited');
    expect(limited.retry_after_ms).to.be.a('number');
    expect((await react(bob.devices[0]!, messageId, 'laugh')).changed).to.equal(true);
  });

  it('deletes reactions older than retentionDays in maintenance, and keeps them with retentionDays 0', async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [reactions], settings: { reactions: { retentionDays: 30 } } });
    const alice = await person(server);
    const bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const old = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    const recent = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    await react(bob.devices[0]!, old, 'heart');
    await react(bob.devices[0]!, recent, 'heart');
    const knex = server.server.database.knex;
    await knex(REACTIONS_TABLE).where({ message_id: old }).update({ created_at: Date.now() - 31 * DAY_MS });
    await server.server.hooks.maintenance.promise({ now: Date.now() });
    expect(brief((await getReactions(alice.devices[0]!, dm, [old, recent]))[recent]!)).to.have.members([`${bob.userId}:heart`]);
    expect(await knex(REACTIONS_TABLE).where({ message_id: old }).select('reaction')).to.deep.equal([]);
    await server.close();

    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [reactions] });
    const carol = await person(server);
    const dave = await person(server);
    const keep = await createDm(carol.devices[0]!, dave);
    const ancient = await sendDm(carol.devices[0]!, keep, [carol, dave]);
    await react(dave.devices[0]!, ancient, 'laugh');
    await server.server.database.knex(REACTIONS_TABLE).where({ message_id: ancient }).update({ created_at: 1 });
    await server.server.hooks.maintenance.promise({ now: Date.now() });
    expect(brief((await getReactions(carol.devices[0]!, keep, [ancient]))[ancient]!)).to.have.members([`${dave.userId}:laugh`]);
  });
});

describe('reactions plugin: invalid settings stop start-up', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a name with capitals', { allowed: ['ok', 'Party'] }, 'reactions.allowed[1]'],
    ['no names', { allowed: [] }, 'reactions.allowed'],
    ['a name twice', { allowed: ['ok', 'ok'] }, 'reactions.allowed'],
    ['33 names', { allowed: Array.from({ length: 33 }, (_, i) => `r${i}`) }, 'reactions.allowed'],
    ['a name of 33 characters', { allowed: ['a'.repeat(33)] }, 'reactions.allowed[0]'],
    ['a negative retention', { retentionDays: -1 }, 'reactions.retentionDays'],
    ['a misspelt setting', { alowed: ['ok'] }, 'reactions.alowed'],
  ];
  for (const [what, settings, named] of cases) {
    it(`refuses ${what}, naming ${named}`, async () => {
      let failure: unknown;
      try {
        const started = await startTestServer({ plugins: [reactions], settings: { reactions: settings } });
        await started.close();
      } catch (error) {
        failure = error;
      }
      expect(failure, 'start-up should fail').to.be.instanceOf(Error);
      const message = (failure as Error).message;
      expect(message).to.contain(`Invalid setting ${named}`);
      expect((failure as { code?: string }).code).to.equal('plugin_config_invalid');
    });
  }
});
