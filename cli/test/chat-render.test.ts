import { expect } from 'chai';
import type { ChatMessage, Conversation, Device, Member } from '../../engine/client/types.js';
import {
  DayTracker,
  cleanText,
  conversationTitle,
  excerpt,
  formatDate,
  formatTime,
  formatWhen,
  notice,
  oneLine,
  previewOf,
  promptText,
  renderConversationLine,
  renderDeviceLine,
  renderMemberLine,
  renderMessage,
  sortedMembers,
} from '../chat/render.js';
import { colourIndex, colourWanted, createStyle } from '../chat/style.js';

const ESC = String.fromCharCode(27);
const plain = createStyle(false);
const colour = createStyle(true);
const ALICE = '0c8a4b8e-3f0e-4c55-9a51-4f3f8f1f6a2d';
const BOB = '7d1c2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
// Local time, so the expectations hold in any time zone.
const MONDAY_0907 = new Date(2026, 0, 5, 9, 7).getTime();

function message(overrides: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id: '01936f50-1234-7abc-9def-0123456789ab',
    conversationId: 'c1',
    senderId: BOB,
    senderUsername: 'bob',
    senderDeviceId: 'd1',
    createdAt: MONDAY_0907,
    own: false,
    text: 'hello there',
    payload: { v: 1, text: 'hello there' },
    deleted: false,
    undecryptable: false,
    status: 'sent',
    extra: {},
    ...overrides,
  };
}

const members: Member[] = [
  { userId: ALICE, username: 'alice', role: 'creator', joinedAt: 1 },
  { userId: BOB, username: 'bob', role: 'member', joinedAt: 2 },
];

function conversation(overrides: Partial<Conversation> = {}): Conversation {
  return {
    id: 'c1',
    kind: 'dm',
    name: 'bob',
    createdBy: ALICE,
    createdAt: MONDAY_0907 - 1000,
    lastMessageAt: MONDAY_0907,
    unreadCount: 0,
    members,
    peerId: BOB,
    extra: {},
    ...overrides,
  };
}

const context = (number: number) => ({
  style: plain,
  number,
  selfId: ALICE,
  nameOf: (userId: string) => members.find((member) => member.userId === userId)?.username,
});

describe('chat rendering', () => {
  describe('text safety', () => {
    it('removes escape sequences and other control characters but keeps newlines', () => {
      expect(cleanText('a\x1b[2J\x1b]0;pwned\x07b\r\nc\td')).to.equal('a[2J]0;pwnedb\nc    d');
      expect(cleanText('x\u202Egnp.exe')).to.equal('xgnp.exe');
      expect(cleanText('\u009b31m')).to.equal('31m');
    });

    it('puts text on one line and cuts excerpts with an ellipsis', () => {
      expect(oneLine('  two\n\nlines  ')).to.equal('two lines');
      expect(excerpt('short', 10)).to.equal('short');
      expect(excerpt('a rather long sentence indeed', 10)).to.equal('a rather…');
      expect(Array.from(excerpt('😀'.repeat(20), 5))).to.have.length(5);
    });
  });

  describe('times and dates', () => {
    it('formats HH:MM and a full date in local time', () => {
      expect(formatTime(MONDAY_0907)).to.equal('09:07');
      expect(formatTime(new Date(2026, 0, 5, 23, 59).getTime())).to.equal('23:59');
      expect(formatDate(MONDAY_0907)).to.equal('Monday 5 January 2026');
    });

    it('says when something happened as briefly as is clear', () => {
      const now = new Date(2026, 0, 9, 12, 0).getTime(); // Friday
      expect(formatWhen(new Date(2026, 0, 9, 8, 30).getTime(), now)).to.equal('08:30');
      expect(formatWhen(new Date(2026, 0, 8, 23, 0).getTime(), now)).to.equal('yesterday');
      expect(formatWhen(MONDAY_0907, now)).to.equal('Mon');
      expect(formatWhen(new Date(2026, 0, 1, 10, 0).getTime(), new Date(2026, 1, 20).getTime())).to.equal('1 Jan');
      expect(formatWhen(new Date(2025, 11, 24, 10, 0).getTime(), now)).to.equal('24 Dec 2025');
    });

    it('asks for a date line only when the day changes', () => {
      const days = new DayTracker();
      expect(days.next(MONDAY_0907, plain)).to.equal('── Monday 5 January 2026 ──');
      expect(days.next(MONDAY_0907 + 60_000, plain)).to.equal(undefined);
      expect(days.next(new Date(2026, 0, 6, 0, 1).getTime(), plain)).to.equal('── Tuesday 6 January 2026 ──');
      days.reset();
      expect(days.next(new Date(2026, 0, 6, 0, 2).getTime(), plain)).to.match(/Tuesday/);
    });
  });

  describe('messages', () => {
    it('prints time, number, sender and text', () => {
      expect(renderMessage(message(), context(12))).to.deep.equal(['09:07 #12 bob: hello there']);
    });

    it('marks own messages as "you"', () => {
      expect(renderMessage(message({ own: true, senderId: ALICE, senderUsername: 'alice' }), context(3))).to.deep.equal(['09:07 #3 you: hello there']);
    });

    it('indents continuation lines and quotes the replied message', () => {
      const reply = message({ text: 'sure\nsee you at 5', replyTo: { messageId: 'm0', senderId: ALICE, excerpt: 'coffee later?' } });
      const indent = ' '.repeat('09:07 #4 bob: '.length);
      expect(renderMessage(reply, context(4))).to.deep.equal(['09:07 #4 bob: sure', `${indent}see you at 5`, `${indent}↳ re you: coffee later?`]);
      const aboutBob = message({ own: true, replyTo: { messageId: 'm1', senderId: BOB, excerpt: 'a'.repeat(80) } });
      const quote = renderMessage(aboutBob, context(5))[1]!;
      expect(quote).to.match(/^\s+↳ re bob: a+…$/);
      const unknown = message({ replyTo: { messageId: 'm2', senderId: 'someone-else', excerpt: 'x' } });
      expect(renderMessage(unknown, context(6))[1]).to.match(/↳ re someone: x$/);
    });

    it('shows deleted, undecryptable, failed and pending messages for what they are', () => {
      expect(renderMessage(message({ deleted: true, text: '' }), context(1))).to.deep.equal(['09:07 #1 bob: [message deleted]']);
      expect(renderMessage(message({ undecryptable: true, text: '' }), context(2))).to.deep.equal(['09:07 #2 bob: [cannot decrypt on this device]']);
      expect(renderMessage(message({ own: true, status: 'failed' }), context(3))).to.deep.equal(['09:07 #3 you: hello there  ✗ not sent']);
      expect(renderMessage(message({ own: true, status: 'pending' }), context(4))[0]).to.match(/… sending$/);
    });

    it('never lets a message write escape sequences', () => {
      const hostile = message({ text: 'hi\x1b[1A\x1b[2Kfake line', senderUsername: 'bob\x1b[31m' });
      const lines = renderMessage(hostile, context(1));
      expect(lines.join('\n')).to.not.include('\x1b');
    });

    it('colours usernames stably and honours a colourless style', () => {
      const first = renderMessage(message(), { ...context(1), style: colour })[0]!;
      const again = renderMessage(message({ text: 'other' }), { ...context(2), style: colour })[0]!;
      expect(first).to.include('\x1b[');
      const nameOf = (line: string) => new RegExp(`${ESC}\\[1m(${ESC}\\[\\d+m)bob`).exec(line)?.[1];
      expect(nameOf(first)).to.be.a('string').and.equal(nameOf(again));
      expect(colourIndex(BOB)).to.equal(colourIndex(BOB));
      expect(new Set([ALICE, BOB, 'carol', 'dave', 'erin', 'frank'].map((key) => colourIndex(key))).size).to.be.greaterThan(1);
    });

    it('previews messages for lists and notices', () => {
      expect(previewOf(message())).to.equal('bob: hello there');
      expect(previewOf(message({ own: true }))).to.equal('you: hello there');
      expect(previewOf(message({ deleted: true }))).to.equal('bob: [message deleted]');
      expect(previewOf(message({ text: 'x'.repeat(100) }), 10)).to.equal('bob: xxxxxxxxx…');
    });
  });

  describe('lists', () => {
    it('renders a DM line with the online dot, unread count, time and preview', () => {
      const line = renderConversationLine(conversation({ lastMessage: message() }), 1, 1, {
        style: plain,
        now: MONDAY_0907 + 3_600_000,
        online: true,
        unread: 2,
        open: false,
      });
      expect(line).to.match(/^ 1\. ● bob\s+2 unread\s+09:07\s+bob: hello there$/);
      const offline = renderConversationLine(conversation(), 1, 1, { style: plain, now: MONDAY_0907, online: false, unread: 0, open: true });
      expect(offline).to.match(/^▸1\. ○ bob\s+09:07$/);
    });

    it('renders a group line with its size and a hint when it is empty', () => {
      const group = conversation({ kind: 'group', name: 'team-chat', peerId: undefined, lastMessageAt: null });
      const line = renderConversationLine(group, 10, 2, { style: plain, now: MONDAY_0907, online: undefined, unread: 0, open: false });
      expect(line).to.match(/^ 10\. # team-chat \(2\)\s+no messages yet$/);
      expect(conversationTitle(conversation({ name: '' }))).to.equal('direct message');
    });

    it('renders members and devices', () => {
      expect(renderMemberLine(members[0]!, 1, { style: plain, selfId: ALICE })).to.equal('  1. alice (creator, you)');
      expect(renderMemberLine(members[1]!, 2, { style: plain, selfId: ALICE, online: true })).to.equal('  2. bob (online)');
      const device: Device = { deviceId: 'd', name: 'laptop', createdAt: MONDAY_0907, lastSeenAt: MONDAY_0907, current: true, online: true };
      expect(renderDeviceLine(device, 1, { style: plain, now: MONDAY_0907 })).to.equal('  1. laptop — this device · online · added 5 Jan 2026');
      const old: Device = { ...device, name: null, current: false, online: false };
      expect(renderDeviceLine(old, 2, { style: plain, now: MONDAY_0907 + 60_000 })).to.equal('  2. unnamed device — last seen 09:07 · added 5 Jan 2026');
    });

    it('numbers members with the creator first, then by name', () => {
      const carol: Member = { userId: 'c', username: 'Carol', role: 'member', joinedAt: 3 };
      const dave: Member = { userId: 'd', username: 'dave', role: 'creator', joinedAt: 4 };
      expect(sortedMembers([members[1]!, carol, dave, members[0]!]).map((member) => member.username)).to.deep.equal(['alice', 'dave', 'bob', 'Carol']);
    });

    it('renders notices and the prompt', () => {
      expect(notice('connected', plain)).to.equal('[connected]');
      expect(promptText('alice', 'team-chat', plain)).to.equal('alice@team-chat> ');
      expect(promptText('alice', undefined, plain)).to.equal('alice> ');
      expect(promptText(undefined, undefined, plain)).to.equal('kecalek> ');
    });
  });

  describe('colour choice', () => {
    it('colours a terminal unless NO_COLOR or TERM=dumb, never a pipe', () => {
      expect(colourWanted({ isTTY: true }, {})).to.equal(true);
      expect(colourWanted({ isTTY: true }, { NO_COLOR: '1' })).to.equal(false);
      expect(colourWanted({ isTTY: true }, { NO_COLOR: '' })).to.equal(true);
      expect(colourWanted({ isTTY: true }, { TERM: 'dumb' })).to.equal(false);
      expect(colourWanted({ isTTY: false }, {})).to.equal(false);
      expect(colourWanted({}, {})).to.equal(false);
      expect(plain.red('x')).to.equal('x');
      expect(colour.red('x')).to.equal('\x1b[31mx\x1b[39m');
    });
  });
});
