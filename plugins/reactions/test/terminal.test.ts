/**
 * Unit tests of the reactions plugin's client pieces that need no server, through the harness's
 * FakeClientApi and FakeTerminal: the commands' parsing and output, the note under a message, the
 * push handling against a stand-in cache, the notices, and the pure helpers.
 */
import { expect } from 'chai';
import { FakeClientApi, FakeTerminal, decorated, settle, type FakeSetup } from '../../../engine/testing/index.js';
import type { DecoratedMessage } from '../../../engine/plugin/index.js';
import { applyChange, reactionNote, reactionsClient, summarize, type ReactionsMethods } from '../client.js';
import { DEFAULT_REACTIONS, parseReactionInput, reactionEmoji, type MessageReactedPush, type ReactionEntry } from '../shared.js';

const ME = { userId: 'u-me', username: 'me', deviceId: 'd-me' };
const BOB = 'u-bob';
const CONVERSATION = 'c-1';

/** A terminal where `#n` names the n-th of `ids`. */
class Terminal extends FakeTerminal {
  constructor(private readonly ids: readonly string[]) {
    super(CONVERSATION);
  }

  override resolveMessage(reference: string): string {
    const id = this.ids[Number(reference.replace(/^#/, '')) - 1];
    if (!id) throw new Error(`There is no message ${reference}`);
    return id;
  }
}

function entry(userId: string, reaction: string, createdAt = 1): ReactionEntry {
  return { user_id: userId, reaction, created_at: createdAt };
}

function message(id: string, fields: Partial<DecoratedMessage> = {}): DecoratedMessage {
  return decorated({ id, conversationId: CONVERSATION, senderId: ME.userId, own: true, text: `text of ${id}`, createdAt: Date.now() + 60_000, ...fields });
}

function start(setup: FakeSetup = {}): { fake: FakeClientApi; methods: ReactionsMethods } {
  const fake = new FakeClientApi('reactions', {
    self: ME,
    members: { [CONVERSATION]: new Map([[ME.userId, 'me'], [BOB, 'bob']]) },
    conversations: { [CONVERSATION]: { kind: 'group', name: 'Hiking' } },
    ...setup,
  });
  reactionsClient(fake.api as Parameters<typeof reactionsClient>[0]);
  return { fake, methods: fake.exposed as unknown as ReactionsMethods };
}

function push(fields: Partial<MessageReactedPush>): MessageReactedPush {
  return {
    message_id: 'm1',
    conversation_id: CONVERSATION,
    user_id: BOB,
    username: 'bob',
    reaction: 'heart',
    action: 'add',
    message_sender_id: ME.userId,
    created_at: 5,
    ...fields,
  };
}

describe('reactions plugin: helpers', () => {
  it('maps names to emoji, and unknown names to :name:', () => {
    expect(DEFAULT_REACTIONS.map(reactionEmoji)).to.deep.equal(['👍', '❤', '😂', '😮', '😢', '👎']);
    expect(reactionEmoji('party')).to.equal(':party:');
    expect(reactionEmoji('constructor')).to.equal(':constructor:');
  });

  it('reads what users type: names, :names: and the emoji', () => {
    expect(['heart', ':heart:', '❤', '❤️', ' HEART ', '👍', 'party_1', ':a-b:'].map(parseReactionInput)).to.deep.equal([
      'heart',
      'heart',
      'heart',
      'heart',
      'heart',
      'thumbsup',
      'party_1',
      'a-b',
    ]);
    expect(['', 'no way', 'x'.repeat(33), '🚀', ':heart'].map(parseReactionInput)).to.deep.equal([undefined, undefined, undefined, undefined, undefined]);
  });

  it('counts reactions in the allowed order, unknown names last, each user once per kind', () => {
    const entries = [entry(BOB, 'party'), entry(ME.userId, 'heart'), entry(BOB, 'heart'), entry(BOB, 'thumbsup'), entry(BOB, 'heart'), entry('u-x', 'aaa')];
    const summary = summarize(entries, ME.userId, DEFAULT_REACTIONS);
    expect(summary).to.deep.equal([
      { reaction: 'thumbsup', emoji: '👍', count: 1, mine: false },
      { reaction: 'heart', emoji: '❤', count: 2, mine: true },
      { reaction: 'aaa', emoji: ':aaa:', count: 1, mine: false },
      { reaction: 'party', emoji: ':party:', count: 1, mine: false },
    ]);
    expect(reactionNote(summary)).to.equal('👍 1  ❤ 2 (you)  :aaa: 1  :party: 1');
  });

  it('applies pushed changes idempotently', () => {
    const list = [entry(BOB, 'heart')];
    expect(applyChange(list, push({ action: 'add' }))).to.equal(list);
    expect(applyChange(list, push({ action: 'add', reaction: 'sad', created_at: 9 }))).to.deep.equal([entry(BOB, 'heart'), entry(BOB, 'sad', 9)]);
    expect(applyChange(list, push({ action: 'remove' }))).to.deep.equal([]);
    expect(applyChange(list, push({ action: 'remove', user_id: ME.userId }))).to.equal(list);
  });
});

describe('reactions plugin: client part without a server', () => {
  it('registers /react and /reactions and exposes its methods', () => {
    const { fake, methods } = start();
    expect(fake.commands.map((c) => [c.name, c.usage, c.needsConversation])).to.deep.equal([
      ['react', '<#n> <reaction>', true],
      ['reactions', '<#n>', true],
    ]);
    expect(Object.keys(methods).sort()).to.deep.equal(['allowed', 'emoji', 'react', 'refresh', 'summary', 'toggle', 'unreact']);
    expect(methods.allowed()).to.deep.equal([...DEFAULT_REACTIONS]);
  });

  it('lists the allowed reactions (the server’s list) when no reaction is given, and refuses unknown ones', async () => {
    const { fake } = start({ config: { allowed: ['ok', 'heart'] } });
    const terminal = new Terminal(['m1']);
    await fake.command('react').run([], terminal);
    await fake.command('react').run(['#1'], terminal);
    await fake.command('react').run(['#1', 'thumbsup'], terminal);
    await fake.command('react').run(['#1', '🚀'], terminal);
    expect(terminal.lines).to.deep.equal(['Reactions: :ok: ok  ❤ heart  (/react <#n> <reaction>)', 'Reactions: :ok: ok  ❤ heart']);
    expect(terminal.errors).to.deep.equal(['Unknown reaction "thumbsup": use one of :ok: ok  ❤ heart', 'Unknown reaction "🚀": use one of :ok: ok  ❤ heart']);
    expect(fake.requests).to.deep.equal([]);
    let failure: unknown;
    try {
      await fake.command('react').run(['#4', 'heart'], terminal);
    } catch (error) {
      failure = error;
    }
    expect((failure as Error).message).to.equal('There is no message #4');
  });

  it('/react toggles: adds, or removes what the user had given', async () => {
    const given = new Set<string>();
    const { fake } = start({
      messages: { [CONVERSATION]: [message('m1')] },
      request: (type, fields) => {
        expect(type).to.equal('react_message');
        const key = String(fields.reaction);
        const changed = fields.action === 'add' ? !given.has(key) : given.has(key);
        if (fields.action === 'add') given.add(key);
        else given.delete(key);
        return { ...fields, changed, reactions: [...given].map((reaction) => entry(ME.userId, reaction)) };
      },
    });
    const terminal = new Terminal(['m1']);
    await fake.command('react').run(['1', '👍'], terminal);
    await fake.command('react').run(['#1', ':thumbsup:'], terminal);
    expect(terminal.lines).to.deep.equal(['You reacted 👍 to #1', 'You took back your 👍 from #1']);
    expect(fake.requests.map((r) => r.fields.action)).to.deep.equal(['add', 'add', 'remove']);
    expect(fake.updates.map((u) => u.patch)).to.deep.equal([{ reactions: [entry(ME.userId, 'thumbsup')] }, { reactions: [entry(ME.userId, 'thumbsup')] }, { reactions: [] }]);
  });

  it('/reactions asks the server and names who reacted', async () => {
    const { fake } = start({
      messages: { [CONVERSATION]: [message('m1')] },
      request: (type, fields) => {
        expect(type).to.equal('get_reactions');
        expect(fields).to.deep.equal({ conversation_id: CONVERSATION, message_ids: ['m1'] });
        return { reactions: { m1: [entry(BOB, 'heart', 1), entry(ME.userId, 'heart', 2), entry('0123456789abcdef', 'laugh', 3)] } };
      },
    });
    const terminal = new Terminal(['m1']);
    await fake.command('reactions').run(['1'], terminal);
    expect(terminal.lines).to.deep.equal(['Reactions on #1:', '  ❤ heart: bob, you', '  😂 laugh: someone (01234567)']);
    expect(fake.updates).to.have.length(1);
    await fake.command('reactions').run([], terminal);
    expect(terminal.errors).to.deep.equal(['Usage: /reactions <#n>']);
  });

  it('notes reactions under a message; a message cached in an earlier run is refreshed once', async () => {
    const old = message('m-old', { createdAt: 0, extra: { reactions: [entry(BOB, 'sad')] } });
    const { fake } = start({
      messages: { [CONVERSATION]: [old] },
      request: () => ({ reactions: { 'm-old': [entry(BOB, 'sad'), entry(ME.userId, 'sad')] } }),
    });
    const [decorate] = fake.decorators;
    expect(decorate!(message('m-new'), ME)).to.equal(undefined);
    expect(decorate!(message('m-gone', { deleted: true, extra: { reactions: [entry(BOB, 'sad')] } }), ME)).to.equal(undefined);
    expect(decorate!(message('m-new', { extra: { reactions: [entry(BOB, 'heart'), entry(ME.userId, 'heart'), entry(BOB, 'laugh')] } }), ME)).to.deep.equal({
      notes: ['❤ 2 (you)  😂 1'],
    });
    expect(decorate!(old, ME)).to.deep.equal({ notes: ['😢 1'] });
    decorate!(old, ME);
    await settle();
    expect(fake.requests).to.deep.equal([{ type: 'get_reactions', fields: { conversation_id: CONVERSATION, message_ids: ['m-old'] } }]);
    expect(fake.updates).to.deep.equal([{ conversationId: CONVERSATION, messageId: 'm-old', patch: { reactions: [entry(BOB, 'sad'), entry(ME.userId, 'sad')] } }]);
  });

  it('applies pushes to the cached list without asking the server, and tells about reactions to my messages', async () => {
    const cachedMessage = message('m1', { text: 'see you at 6', extra: { reactions: [entry(ME.userId, 'heart', 1)] } });
    const { fake } = start({ messages: { [CONVERSATION]: [cachedMessage] } });
    fake.push('message_reacted', push({ reaction: 'heart', created_at: 5 }));
    fake.push('message_reacted', push({ reaction: 'laugh', created_at: 6 }));
    fake.push('message_reacted', push({ reaction: 'heart', action: 'remove', created_at: null }));
    fake.push('message_reacted', { nonsense: true });
    await settle();
    expect(fake.requests).to.deep.equal([]);
    // One write with the three changes applied in order.
    expect(fake.updates).to.deep.equal([{ conversationId: CONVERSATION, messageId: 'm1', patch: { reactions: [entry(ME.userId, 'heart', 1), entry(BOB, 'laugh', 6)] } }]);
    expect(fake.emitted.map((e) => (e.data as { notice: string }).notice)).to.deep.equal([
      'bob reacted ❤ to your message "see you at 6" in Hiking',
      'bob reacted 😂 to your message "see you at 6" in Hiking',
    ]);

    // Not my message, my own reaction, a removal: no notice.
    fake.push('message_reacted', push({ message_sender_id: BOB, reaction: 'sad' }));
    fake.push('message_reacted', push({ user_id: ME.userId, username: 'me', reaction: 'sad' }));
    await settle();
    expect(fake.emitted).to.have.length(2);
  });

  it('refreshes a message once it is decrypted when its change arrived before it was cached', async () => {
    const { fake } = start({ request: () => ({ reactions: { m9: [entry(BOB, 'heart', 5)] } }) });
    fake.push('message_reacted', push({ message_id: 'm9' }));
    await settle();
    expect(fake.updates).to.deep.equal([]);
    expect(fake.emitted.map((e) => (e.data as { notice: string }).notice)).to.deep.equal(['bob reacted ❤ to one of your messages in Hiking']);
    // Another message decrypted: nothing to do. Then m9.
    for (const id of ['m8', 'm9']) fake.incoming[0]!({ v: 1, text: 'hi' }, { conversationId: CONVERSATION, messageId: id, senderId: ME.userId, senderDeviceId: 'd', createdAt: 1, own: true });
    await settle();
    expect(fake.requests).to.deep.equal([{ type: 'get_reactions', fields: { conversation_id: CONVERSATION, message_ids: ['m9'] } }]);
  });
});
