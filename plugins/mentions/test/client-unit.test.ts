/**
 * The mentions client part's pieces on a stand-in plugin API: the outgoing tap's payload fields,
 * the incoming tap (never swallows; `mention` event only for the mentioned user, never for own
 * messages), the terminal decorator's highlights, `/mentions`, and the exposed methods.
 */
import { expect } from 'chai';
import mentions from '../index.js';
import type { MentionsMethods } from '../client.js';
import { FakeClientApi, FakeTerminal, decorated, settle } from './fake-api.js';

const ME = { userId: '11111111-1111-4111-8111-111111111111', username: 'me', deviceId: 'd1' };
const BOB = '22222222-2222-4222-8222-222222222222';
const CAROL = '33333333-3333-4333-8333-333333333333';
const GROUP = '01940000-0000-7000-8000-00000000a001';
const DM = '01940000-0000-7000-8000-00000000a002';

/** UUIDv7-shaped message ids at a given time. */
function messageId(ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-${n.toString(16).padStart(12, '0')}`;
}

const groupMembers = new Map([
  [ME.userId, 'me'],
  [BOB, 'bob'],
  [CAROL, 'carol'],
]);

function setup(options: { withMembers?: boolean } = {}) {
  const fake = new FakeClientApi('mentions', {
    self: ME,
    members: options.withMembers === false ? {} : { [GROUP]: groupMembers, [DM]: new Map([[ME.userId, 'me'], [BOB, 'bob']]) },
    request: (type, fields) => {
      if (type !== 'get_conversation') throw new Error(`unexpected ${type}`);
      return fields.conversation_id === GROUP ? { conversation: { kind: 'group', name: 'Hiking' } } : { conversation: { kind: 'dm', name: null } };
    },
  });
  void mentions.client!(fake.api);
  return { fake, methods: fake.exposed as unknown as MentionsMethods };
}

function outgoing(fake: FakeClientApi, text: string, kind: 'dm' | 'group' = 'group', extra: Record<string, unknown> = {}) {
  let payload: Record<string, unknown> = { v: 1, text, ...extra };
  const members = kind === 'group' ? groupMembers : new Map([[ME.userId, 'me'], [BOB, 'bob']]);
  for (const tap of fake.outgoing) payload = tap(payload, { conversationId: kind === 'group' ? GROUP : DM, conversationKind: kind, members }) ?? payload;
  return payload;
}

function incoming(fake: FakeClientApi, payload: Record<string, unknown>, context: { senderId?: string; own?: boolean; conversationId?: string; messageId?: string; createdAt?: number } = {}) {
  const results = fake.incoming.map((tap) =>
    tap(payload, {
      conversationId: context.conversationId ?? GROUP,
      messageId: context.messageId ?? messageId(Date.now(), 1),
      senderId: context.senderId ?? BOB,
      senderDeviceId: 'dev',
      createdAt: context.createdAt ?? Date.now(),
      own: context.own ?? false,
    }),
  );
  return results;
}

describe('mentions: client part', () => {
  describe('outgoing payloads', () => {
    it('adds the mentioned members ids', () => {
      const { fake } = setup();
      expect(outgoing(fake, 'hi @bob and @carol and @bob')).to.deep.equal({ v: 1, text: 'hi @bob and @carol and @bob', mentions: [BOB, CAROL] });
    });

    it('adds nothing when nobody is mentioned (and drops stray fields)', () => {
      const { fake } = setup();
      expect(outgoing(fake, 'hello bob@example.com `@bob`')).to.deep.equal({ v: 1, text: 'hello bob@example.com `@bob`' });
      expect(outgoing(fake, 'hello', 'group', { mentions: [], mentions_all: false })).to.deep.equal({ v: 1, text: 'hello' });
      expect(outgoing(fake, '', 'group')).to.deep.equal({ v: 1, text: '' });
    });

    it('sets mentions_all for @all / @here in groups only', () => {
      const { fake } = setup();
      expect(outgoing(fake, '@here standup')).to.deep.equal({ v: 1, text: '@here standup', mentions_all: true });
      expect(outgoing(fake, '@all standup', 'dm')).to.deep.equal({ v: 1, text: '@all standup' });
    });

    it('keeps ids a front end gave when they are members, drops the others', () => {
      const { fake } = setup();
      const stranger = '44444444-4444-4444-8444-444444444444';
      expect(outgoing(fake, 'see @carol', 'group', { mentions: [BOB, stranger, 7] })).to.deep.equal({ v: 1, text: 'see @carol', mentions: [BOB, CAROL] });
    });
  });

  describe('incoming payloads', () => {
    it('never swallows a payload', () => {
      const { fake } = setup();
      expect(incoming(fake, { v: 1, text: '@me hi', mentions: [ME.userId] })).to.deep.equal([undefined]);
      expect(incoming(fake, { v: 1, text: 'plain' })).to.deep.equal([undefined]);
    });

    it('emits a mention event with a notice for a message that mentions the user', async () => {
      const { fake } = setup();
      const id = messageId(Date.now(), 2);
      incoming(fake, { v: 1, text: 'hey @me', mentions: [ME.userId] }, { messageId: id });
      await settle();
      expect(fake.emitted).to.have.length(1);
      expect(fake.emitted[0]!.type).to.equal('mention');
      expect(fake.emitted[0]!.data).to.deep.equal({
        conversationId: GROUP,
        messageId: id,
        senderId: BOB,
        senderUsername: 'bob',
        conversationName: 'Hiking',
        notice: 'bob mentioned you in Hiking',
      });
    });

    it('says "in a direct message" for DMs and counts mentions_all', async () => {
      const { fake } = setup();
      incoming(fake, { v: 1, text: 'yo @all', mentions_all: true }, { conversationId: DM });
      await settle();
      expect((fake.emitted[0]!.data as { notice: string }).notice).to.equal('bob mentioned you in a direct message');
    });

    it('emits nothing for own messages or messages mentioning others', async () => {
      const { fake } = setup();
      incoming(fake, { v: 1, text: '@me', mentions: [ME.userId] }, { own: true, senderId: ME.userId });
      incoming(fake, { v: 1, text: '@carol', mentions: [CAROL] });
      incoming(fake, { v: 1, text: '@me (not resolved by the sender)' });
      await settle();
      expect(fake.emitted).to.deep.equal([]);
    });
  });

  describe('terminal', () => {
    it('highlights the mentions a message carries, strongly the ones of the user', async () => {
      const { fake } = setup();
      // Members become known through the outgoing tap or are loaded on first use.
      outgoing(fake, 'x');
      const decorate = fake.decorators[0]!;
      const message = decorated({ id: messageId(Date.now(), 3), conversationId: GROUP, senderId: BOB, text: '@me and @Carol, not @nobody', payload: { v: 1, mentions: [ME.userId, CAROL] } });
      expect(decorate(message, ME)).to.deep.equal({ highlights: [{ text: '@me', strong: true }, { text: '@Carol' }] });
    });

    it('does not highlight @names the sender did not mention, nor anything in messages without mentions', () => {
      const { fake } = setup();
      outgoing(fake, 'x');
      const decorate = fake.decorators[0]!;
      const plain = decorated({ id: messageId(Date.now(), 4), conversationId: GROUP, senderId: BOB, text: '@me @carol' });
      expect(decorate(plain, ME)).to.equal(undefined);
      const onlyCarol = decorated({ id: messageId(Date.now(), 5), conversationId: GROUP, senderId: BOB, text: '@me @carol', payload: { v: 1, mentions: [CAROL] } });
      expect(decorate(onlyCarol, ME)).to.deep.equal({ highlights: [{ text: '@carol' }] });
    });

    it('highlights own messages without emphasis, and @all strongly for the others', () => {
      const { fake } = setup();
      outgoing(fake, 'x');
      const decorate = fake.decorators[0]!;
      const own = decorated({ id: messageId(Date.now(), 6), conversationId: GROUP, senderId: ME.userId, own: true, text: '@all @bob', payload: { v: 1, mentions: [BOB], mentions_all: true } });
      expect(decorate(own, ME)).to.deep.equal({ highlights: [{ text: '@all' }, { text: '@bob' }] });
      const theirs = decorated({ id: messageId(Date.now(), 7), conversationId: GROUP, senderId: BOB, text: '@here now', payload: { v: 1, mentions_all: true } });
      expect(decorate(theirs, ME)).to.deep.equal({ highlights: [{ text: '@here', strong: true }] });
    });

    it('recognises the user before the members are loaded, and other @names as plain highlights', () => {
      const { fake } = setup({ withMembers: false });
      const decorate = fake.decorators[0]!;
      const message = decorated({ id: messageId(Date.now(), 8), conversationId: GROUP, senderId: BOB, text: '@ME, ask @carol.', payload: { v: 1, mentions: [ME.userId, CAROL] } });
      expect(decorate(message, ME)).to.deep.equal({ highlights: [{ text: '@ME', strong: true }, { text: '@carol' }] });
    });

    it('/mentions lists recent messages of the open conversation that mention the user, oldest first', async () => {
      const { fake } = setup();
      const command = fake.command('mentions');
      expect(command.needsConversation).to.equal(true);
      const empty = new FakeTerminal(GROUP);
      await command.run([], empty);
      expect(empty.lines).to.deep.equal(['No recent messages here mention you.']);

      const at = Date.UTC(2025, 4, 6, 7, 8);
      // One seen live, one rendered from the cache, one in another conversation, one not for me.
      incoming(fake, { v: 1, text: 'second @me', mentions: [ME.userId] }, { messageId: messageId(at + 60_000, 10), createdAt: at + 60_000 });
      fake.decorators[0]!(decorated({ id: messageId(at, 11), conversationId: GROUP, senderId: CAROL, text: 'first   @me\nline two', payload: { v: 1, mentions: [ME.userId] } }), ME);
      incoming(fake, { v: 1, text: 'elsewhere @me', mentions: [ME.userId] }, { conversationId: DM, messageId: messageId(at, 12) });
      incoming(fake, { v: 1, text: '@carol only', mentions: [CAROL] }, { messageId: messageId(at, 13) });
      const terminal = new FakeTerminal(GROUP);
      await command.run([], terminal);
      const clock = (ms: number) => `${String(new Date(ms).getHours()).padStart(2, '0')}:${String(new Date(ms).getMinutes()).padStart(2, '0')}`;
      expect(terminal.lines).to.deep.equal([
        'Messages that mention you (2):',
        `  ${clock(at)} carol: first @me line two`,
        `  ${clock(at + 60_000)} bob: second @me`,
      ]);
      expect(terminal.errors).to.deep.equal([]);
    });

    it('/mentions without an open conversation says so', async () => {
      const { fake } = setup();
      const terminal = new FakeTerminal(undefined);
      await fake.command('mentions').run([], terminal);
      expect(terminal.errors).to.have.length(1);
    });

    it('forgets a deleted message', async () => {
      const { fake, methods } = setup();
      const id = messageId(Date.now(), 20);
      incoming(fake, { v: 1, text: '@me', mentions: [ME.userId] }, { messageId: id });
      expect(methods.recent(GROUP).map((m) => m.messageId)).to.deep.equal([id]);
      fake.push('message_deleted', { conversation_id: GROUP, message_id: id });
      expect(methods.recent(GROUP)).to.deep.equal([]);
    });
  });

  describe('exposed methods', () => {
    it('extract takes a map or a plain object of members', () => {
      const { methods } = setup();
      expect(methods.extract('@bob @all', groupMembers)).to.deep.equal({ userIds: [BOB], everyone: true });
      expect(methods.extract('@carol', { [CAROL]: 'carol' })).to.deep.equal({ userIds: [CAROL], everyone: false });
    });

    it('mentionsMe is true for others messages naming the user or everyone', () => {
      const { methods } = setup();
      expect(methods.mentionsMe({ senderId: BOB, payload: { mentions: [ME.userId] } })).to.equal(true);
      expect(methods.mentionsMe({ senderId: BOB, payload: { mentions_all: true } })).to.equal(true);
      expect(methods.mentionsMe({ senderId: BOB, payload: { mentions: [CAROL] } })).to.equal(false);
      expect(methods.mentionsMe({ senderId: ME.userId, own: true, payload: { mentions: [ME.userId] } })).to.equal(false);
      expect(methods.mentionsMe({ senderId: BOB })).to.equal(false);
    });

    it('candidates are the other members whose username starts with the prefix', async () => {
      const { methods } = setup();
      expect(await methods.candidates(GROUP, '')).to.deep.equal([
        { userId: BOB, username: 'bob' },
        { userId: CAROL, username: 'carol' },
      ]);
      expect(await methods.candidates(GROUP, '@C')).to.deep.equal([{ userId: CAROL, username: 'carol' }]);
      expect(await methods.candidates(GROUP, 'm')).to.deep.equal([]);
      expect(await methods.candidates(GROUP, 'zz')).to.deep.equal([]);
    });
  });
});
