/**
 * Unit tests of the pins plugin's client pieces that need no server, through the harness's
 * FakeClientApi and FakeTerminal: the commands' output, the 📌 badge, the push handling against a
 * stand-in cache, and the notices.
 */
import { expect } from 'chai';
import { FakeClientApi, FakeTerminal, decorated, settle, type FakeSetup } from '../../../engine/testing/index.js';
import type { DecoratedMessage } from '../../../engine/plugin/index.js';
import { pinsClient, type PinsMethods } from '../client.js';
import type { PinEntry } from '../shared.js';

const ME = { userId: 'u-me', username: 'me', deviceId: 'd-me' };
const BOB = 'u-bob';
const CONVERSATION = 'c-1';

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

function message(id: string, fields: Partial<DecoratedMessage> = {}): DecoratedMessage {
  return decorated({ id, conversationId: CONVERSATION, senderId: BOB, text: `text of ${id}`, createdAt: Date.now() + 60_000, ...fields });
}

function pinEntry(messageId: string, fields: Partial<PinEntry> = {}): PinEntry {
  return { message_id: messageId, pinned_by: BOB, pinned_by_username: 'bob', pinned_at: 100, sender_id: BOB, message_created_at: 50, ...fields };
}

function start(setup: FakeSetup = {}): { fake: FakeClientApi; methods: PinsMethods } {
  const fake = new FakeClientApi('pins', {
    self: ME,
    members: { [CONVERSATION]: new Map([[ME.userId, 'me'], [BOB, 'bob']]) },
    conversations: { [CONVERSATION]: { kind: 'group', name: 'Hiking' } },
    ...setup,
  });
  pinsClient(fake.api as Parameters<typeof pinsClient>[0]);
  return { fake, methods: fake.exposed as unknown as PinsMethods };
}

describe('pins plugin: client part without a server', () => {
  it('registers /pin, /unpin and /pins and exposes its methods', () => {
    const { fake, methods } = start();
    expect(fake.commands.map((c) => [c.name, c.usage, c.needsConversation])).to.deep.equal([
      ['pin', '<#n>', true],
      ['unpin', '<#n>', true],
      ['pins', '', true],
    ]);
    expect(Object.keys(methods).sort()).to.deep.equal(['isPinned', 'list', 'pin', 'unpin']);
    expect(methods.isPinned({ extra: { pinned_at: 5, pinned_by: BOB } })).to.equal(true);
    expect(methods.isPinned({ extra: { pinned_at: null, pinned_by: null } })).to.equal(false);
    expect(methods.isPinned({})).to.equal(false);
  });

  it('/pin and /unpin say what happened and write the pin into the cache', async () => {
    let pinned = false;
    const { fake } = start({
      messages: { [CONVERSATION]: [message('m1')] },
      request: (type, fields) => {
        expect(type).to.equal('pin_message');
        const changed = pinned !== fields.pinned;
        pinned = fields.pinned === true;
        return { message_id: fields.message_id, pinned, changed, pinned_at: pinned ? 77 : null, pinned_by: pinned ? ME.userId : null };
      },
    });
    const terminal = new Terminal(['m1']);
    await fake.command('pin').run(['#1'], terminal);
    await fake.command('pin').run(['1'], terminal);
    await fake.command('unpin').run(['1'], terminal);
    await fake.command('unpin').run(['#1'], terminal);
    await fake.command('pin').run([], terminal);
    expect(terminal.lines).to.deep.equal(['📌 Pinned #1.', '#1 is pinned already.', 'Unpinned #1.', '#1 was not pinned.']);
    expect(terminal.errors).to.deep.equal(['Usage: /pin <#n>']);
    expect(fake.updates.map((u) => u.patch)).to.deep.equal([
      { pinned_at: 77, pinned_by: ME.userId },
      { pinned_at: 77, pinned_by: ME.userId },
      { pinned_at: null, pinned_by: null },
      { pinned_at: null, pinned_by: null },
    ]);
    const outside = new FakeTerminal(undefined);
    await fake.command('pins').run([], outside);
    expect(outside.errors).to.deep.equal(['Open a conversation first (/open <n>).']);
  });

  it('/pins lists with excerpts where this device has the message, and names who pinned', async () => {
    const { fake } = start({
      messages: { [CONVERSATION]: [message('m1', { text: 'the plan\nfor saturday', extra: { pinned_at: 100, pinned_by: BOB } }), message('m2', { senderId: ME.userId, text: 'x'.repeat(60), extra: {} })] },
      request: () => ({
        pins: [
          pinEntry('m3', { pinned_by: 'u-gone-0123', pinned_by_username: 'carol', sender_id: 'u-left-4567' }),
          pinEntry('m2', { pinned_by: ME.userId, sender_id: ME.userId }),
          pinEntry('m1'),
        ],
      }),
    });
    const terminal = new Terminal([]);
    await fake.command('pins').run([], terminal);
    expect(terminal.lines).to.deep.equal([
      'Pinned messages (3):',
      '  📌 someone (u-left-4): (not on this device) — pinned by carol',
      `  📌 you: "${'x'.repeat(39)}…" — pinned by you`,
      '  📌 bob: "the plan for saturday" — pinned by bob',
    ]);
    // The cache learnt the pin of m2 (it differed); m1 was right already; m3 is not cached.
    expect(fake.updates).to.deep.equal([{ conversationId: CONVERSATION, messageId: 'm2', patch: { pinned_at: 100, pinned_by: ME.userId } }]);

    const { fake: empty } = start({ messages: { [CONVERSATION]: [message('m1', { extra: { pinned_at: 5, pinned_by: BOB } })] }, request: () => ({ pins: [] }) });
    const none = new Terminal([]);
    await empty.command('pins').run([], none);
    expect(none.lines).to.deep.equal(['No pinned messages in this conversation.']);
    // A pin the server no longer has is cleared from the cache.
    expect(empty.updates).to.deep.equal([{ conversationId: CONVERSATION, messageId: 'm1', patch: { pinned_at: null, pinned_by: null } }]);
  });

  it('badges pinned messages; a conversation shown from an earlier run is listed once in the background', async () => {
    const old = message('m-old', { createdAt: 0, extra: { pinned_at: 5, pinned_by: BOB } });
    const { fake } = start({ messages: { [CONVERSATION]: [old] }, request: () => ({ pins: [] }) });
    const [decorate] = fake.decorators;
    expect(decorate!(message('m-new'), ME)).to.equal(undefined);
    expect(decorate!(message('m-new', { extra: { pinned_at: 9, pinned_by: BOB } }), ME)).to.deep.equal({ badges: ['📌'] });
    expect(decorate!(message('m-gone', { deleted: true, extra: { pinned_at: 9, pinned_by: BOB } }), ME)).to.equal(undefined);
    expect(decorate!(old, ME)).to.deep.equal({ badges: ['📌'] });
    decorate!(old, ME);
    await settle();
    expect(fake.requests).to.deep.equal([{ type: 'get_pinned_messages', fields: { conversation_id: CONVERSATION } }]);
    expect(fake.updates).to.deep.equal([{ conversationId: CONVERSATION, messageId: 'm-old', patch: { pinned_at: null, pinned_by: null } }]);
  });

  it('applies pushes to the cache and tells about others’ pins', async () => {
    const cache = [message('m1', { text: 'the plan for saturday' })];
    const { fake } = start({ messages: { [CONVERSATION]: cache } });
    fake.push('message_pinned', { message_id: 'm1', conversation_id: CONVERSATION, user_id: BOB, username: 'bob', pinned_at: 100 });
    fake.push('message_unpinned', { message_id: 'm1', conversation_id: CONVERSATION, user_id: BOB, username: 'bob' });
    fake.push('message_pinned', { message_id: 'm1', conversation_id: CONVERSATION, user_id: ME.userId, username: 'me', pinned_at: 200 });
    fake.push('message_pinned', { message_id: 'm2', conversation_id: CONVERSATION, user_id: BOB, username: 'bob', pinned_at: 300 });
    fake.push('message_pinned', { message_id: 'm1' });
    await settle();
    expect(fake.requests).to.deep.equal([]);
    expect(fake.updates.map((u) => [u.messageId, u.patch])).to.deep.equal([
      ['m1', { pinned_at: 100, pinned_by: BOB }],
      ['m1', { pinned_at: null, pinned_by: null }],
      ['m1', { pinned_at: 200, pinned_by: ME.userId }],
    ]);
    expect(fake.emitted.map((e) => (e.data as { notice: string }).notice)).to.deep.equal(['bob pinned "the plan for saturday" in Hiking', 'bob pinned a message in Hiking']);
    expect(fake.emitted[0]).to.deep.equal({
      type: 'pinned',
      data: { notice: 'bob pinned "the plan for saturday" in Hiking', conversation_id: CONVERSATION, message_id: 'm1', user_id: BOB, username: 'bob', pinned_at: 100 },
    });

    // m2 was not cached: its pin is written once the message has been decrypted (and stored).
    cache.push(message('m2'));
    fake.incoming[0]!({ v: 1, text: 'hi' }, { conversationId: CONVERSATION, messageId: 'm2', senderId: BOB, senderDeviceId: 'd', createdAt: 1, own: false });
    await settle();
    expect(fake.updates.map((u) => [u.messageId, u.patch])).to.deep.include(['m2', { pinned_at: 300, pinned_by: BOB }]);
  });
});
