/**
 * Formatting of everything the chat client prints: message lines, date lines, the conversation
 * list, members, devices and notices. Pure functions of their inputs (the clock is a parameter),
 * so they are unit-tested as text. Text that came from other people is cleaned of terminal
 * control sequences before it is printed: a message must not be able to move the cursor, change
 * colours or hide text.
 */
import type { ChatMessage, Conversation, Device, Member } from '../../engine/client/types.js';
import type { Style } from './style.js';

// C0 controls except tab and newline, DEL, C1 controls, and the bidirectional overrides that can
// make text read differently from what it is.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Removes control characters (keeps newlines; tabs become spaces). */
export function cleanText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').replace(UNSAFE, '');
}

/** Clean text on one line (newlines become spaces, runs of white space collapse). */
export function oneLine(text: string): string {
  return cleanText(text).replace(/\s+/g, ' ').trim();
}

/** At most `max` characters of `text` on one line, with an ellipsis when cut. */
export function excerpt(text: string, max = 60): string {
  const line = oneLine(text);
  const chars = Array.from(line);
  return chars.length <= max ? line : `${chars.slice(0, Math.max(1, max - 1)).join('').trimEnd()}…`;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function two(value: number): string {
  return String(value).padStart(2, '0');
}

/** `HH:MM` in local time (24-hour clock). */
export function formatTime(timestamp: number): string {
  const date = new Date(timestamp);
  return `${two(date.getHours())}:${two(date.getMinutes())}`;
}

/** `Monday 5 January 2026` in local time. */
export function formatDate(timestamp: number): string {
  const date = new Date(timestamp);
  return `${WEEKDAYS[date.getDay()]} ${date.getDate()} ${MONTHS[date.getMonth()]} ${date.getFullYear()}`;
}

/** `5 Jan 2026` in local time. */
export function formatShortDate(timestamp: number): string {
  const date = new Date(timestamp);
  return `${date.getDate()} ${MONTHS[date.getMonth()]!.slice(0, 3)} ${date.getFullYear()}`;
}

/** A local calendar day, for noticing that the day changed between two messages. */
export function dayKey(timestamp: number): string {
  const date = new Date(timestamp);
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
}

/** When something happened, as short as is still clear: `09:07`, `yesterday`, `Mon`, `5 Jan`, `5 Jan 2025`. */
export function formatWhen(timestamp: number, now: number): string {
  const today = dayKey(now);
  if (dayKey(timestamp) === today) return formatTime(timestamp);
  const startOfToday = new Date(now);
  startOfToday.setHours(0, 0, 0, 0);
  const yesterday = new Date(startOfToday);
  yesterday.setDate(yesterday.getDate() - 1);
  if (timestamp >= yesterday.getTime() && timestamp < startOfToday.getTime()) return 'yesterday';
  const weekAgo = new Date(startOfToday);
  weekAgo.setDate(weekAgo.getDate() - 6);
  const date = new Date(timestamp);
  if (timestamp >= weekAgo.getTime() && timestamp < startOfToday.getTime()) return WEEKDAYS[date.getDay()]!.slice(0, 3);
  const short = `${date.getDate()} ${MONTHS[date.getMonth()]!.slice(0, 3)}`;
  return date.getFullYear() === new Date(now).getFullYear() ? short : `${short} ${date.getFullYear()}`;
}

/** The line printed before the first message of a day. */
export function dateLine(timestamp: number, style: Style): string {
  return style.dim(`── ${formatDate(timestamp)} ──`);
}

/** Remembers the day of the last printed message; says when a date line is due. */
export class DayTracker {
  private last: string | undefined;

  /** The date line to print before a message at `timestamp`, or undefined on the same day. */
  next(timestamp: number, style: Style): string | undefined {
    const key = dayKey(timestamp);
    if (key === this.last) return undefined;
    this.last = key;
    return dateLine(timestamp, style);
  }

  reset(): void {
    this.last = undefined;
  }
}

/** What renderMessage needs besides the message. */
export interface MessageRenderContext {
  readonly style: Style;
  /** The number the user refers to this message by (`#12`). */
  readonly number: number;
  /** The username of a user id (for reply quotes); undefined when unknown. */
  nameOf(userId: string): string | undefined;
  /** This account's user id (to say "you" in reply quotes). */
  readonly selfId: string | undefined;
  /** What plugins add (badges after the header, notes under the message, highlighted words). */
  readonly decoration?: {
    readonly badges: readonly string[];
    readonly notes: readonly string[];
    readonly highlights: ReadonlyArray<{ readonly text: string; readonly strong?: boolean }>;
  };
}

/** Emphasises plugin highlights (mentions) in one line of text; strong ones (mentions of you) stand out most. */
function highlight(line: string, highlights: NonNullable<MessageRenderContext['decoration']>['highlights'], style: Style): string {
  const wanted = highlights.filter((h) => h.text.length > 0);
  if (wanted.length === 0) return line;
  const strong = new Set(wanted.filter((h) => h.strong).map((h) => h.text));
  const escaped = [...new Set(wanted.map((h) => h.text))]
    .sort((a, b) => b.length - a.length)
    .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // Whole words only: highlighting `@bob` must not colour the start of `@bobby`.
  const pattern = new RegExp(`(?<![\\w.@-])(?:${escaped.join('|')})(?![\\w-]|\\.\\w)`, 'g');
  return line.replace(pattern, (match) => (strong.has(match) ? style.bold(style.yellow(match)) : style.cyan(match)));
}

export const DELETED_TEXT = '[message deleted]';
export const UNDECRYPTABLE_TEXT = '[cannot decrypt on this device]';

/** A message as printed lines: `09:07 #12 bob: text`, continuation lines and the reply quote indented. */
export function renderMessage(message: ChatMessage, context: MessageRenderContext): string[] {
  const { style } = context;
  const time = formatTime(message.createdAt);
  const number = `#${context.number}`;
  const author = message.own ? 'you' : oneLine(message.senderUsername) || 'someone';
  const name = message.own ? style.bold(author) : style.user(author, message.senderId);
  const head = `${style.dim(time)} ${style.dim(number)} ${name}: `;
  const indent = ' '.repeat(time.length + 1 + number.length + 1 + author.length + 2);

  let body: string[];
  let status = '';
  if (message.deleted) {
    body = [style.dim(DELETED_TEXT)];
  } else if (message.undecryptable) {
    body = [style.yellow(UNDECRYPTABLE_TEXT)];
  } else {
    const text = cleanText(message.text).replace(/\n+$/, '');
    const highlights = context.decoration?.highlights ?? [];
    body = text === '' ? [style.dim('(empty message)')] : text.split('\n').map((line) => highlight(line, highlights, style));
    if (message.status === 'failed') status = `  ${style.red('✗ not sent')}`;
    else if (message.status === 'pending') status = `  ${style.dim('… sending')}`;
  }
  const badges = !message.deleted && context.decoration?.badges.length ? ` ${style.dim(context.decoration.badges.map(oneLine).join(' '))}` : '';
  if (badges) status = `${badges}${status}`;
  const lines = [`${head}${body[0]}${body.length === 1 ? status : ''}`];
  body.slice(1).forEach((line, index) => lines.push(`${indent}${line}${index === body.length - 2 ? status : ''}`));
  if (message.replyTo && !message.deleted) {
    const quoted =
      message.replyTo.senderId === context.selfId ? 'you' : (context.nameOf(message.replyTo.senderId) ?? 'someone');
    lines.push(`${indent}${style.dim(`↳ re ${oneLine(quoted)}: ${excerpt(message.replyTo.excerpt, 50)}`)}`);
  }
  if (!message.deleted) for (const note of context.decoration?.notes ?? []) lines.push(`${indent}${style.dim(oneLine(note))}`);
  return lines;
}

/**
 * A shown message whose plugin decoration changed (a reaction arrived, a pin went away, a poll's
 * counts moved): `↻ #3 bob: see you at 6 📌` and the notes under it, as they are now.
 */
export function renderDecorationUpdate(message: ChatMessage, context: MessageRenderContext): string[] {
  const { style } = context;
  const author = message.own ? 'you' : oneLine(message.senderUsername) || 'someone';
  const name = message.own ? style.bold(author) : style.user(author, message.senderId);
  const decoration = context.decoration ?? { badges: [], notes: [], highlights: [] };
  const badges = decoration.badges.length > 0 ? ` ${style.dim(decoration.badges.map(oneLine).join(' '))}` : '';
  const empty = decoration.badges.length === 0 && decoration.notes.length === 0 ? ` ${style.dim('(nothing attached now)')}` : '';
  const lines = [`${style.dim('↻')} ${style.dim(`#${context.number}`)} ${name}: ${excerpt(message.text, 40)}${badges}${empty}`];
  for (const note of decoration.notes) lines.push(`    ${style.dim(oneLine(note))}`);
  return lines;
}

/** The short preview of a message in the conversation list and in notices. */
export function previewOf(message: ChatMessage, max = 40): string {
  const who = message.own ? 'you' : oneLine(message.senderUsername) || 'someone';
  if (message.deleted) return `${who}: ${DELETED_TEXT}`;
  if (message.undecryptable) return `${who}: ${UNDECRYPTABLE_TEXT}`;
  return `${who}: ${excerpt(message.text, max)}`;
}

/** How a conversation is named to the user (a DM by the other person's username). */
export function conversationTitle(conversation: Conversation): string {
  return oneLine(conversation.name) || (conversation.kind === 'dm' ? 'direct message' : 'unnamed group');
}

export interface ConversationLineContext {
  readonly style: Style;
  readonly now: number;
  /** Whether the DM's other person is online (undefined for a group or unknown). */
  readonly online: boolean | undefined;
  readonly unread: number;
  /** This is the conversation that is open. */
  readonly open: boolean;
}

/** One line of `/list`: ` 1. ● bob               2 unread  09:07  bob: hey`. */
export function renderConversationLine(conversation: Conversation, index: number, width: number, context: ConversationLineContext): string {
  const { style } = context;
  const number = `${String(index).padStart(width)}.`;
  const dot = conversation.kind === 'dm' ? (context.online ? style.green('●') : style.dim('○')) : style.dim('#');
  const title = conversationTitle(conversation);
  const label = conversation.kind === 'group' ? `${title} ${style.dim(`(${conversation.members.length})`)}` : title;
  const labelWidth = title.length + (conversation.kind === 'group' ? ` (${conversation.members.length})`.length : 0);
  const padded = label + ' '.repeat(Math.max(1, 24 - labelWidth));
  const unread = context.unread > 0 ? style.bold(style.yellow(`${context.unread} unread`)) : '';
  const unreadCell = unread + ' '.repeat(Math.max(0, 10 - (context.unread > 0 ? `${context.unread} unread`.length : 0)));
  const last = conversation.lastMessage;
  const lastAt = last?.createdAt ?? conversation.lastMessageAt;
  const when = lastAt !== null && lastAt !== undefined ? formatWhen(lastAt, context.now) : '';
  const preview = last ? previewOf(last) : conversation.lastMessageAt === null ? style.dim('no messages yet') : '';
  const marker = context.open ? style.bold('▸') : ' ';
  return `${marker}${number} ${dot} ${padded} ${unreadCell} ${style.dim(when.padEnd(9))} ${preview}`.trimEnd();
}

/** Members in the order `/members` numbers them: the creator first, then by username. */
export function sortedMembers(members: readonly Member[]): Member[] {
  return [...members].sort(
    (a, b) => (a.role === 'creator' ? 0 : 1) - (b.role === 'creator' ? 0 : 1) || a.username.localeCompare(b.username, 'en', { sensitivity: 'base' }) || a.userId.localeCompare(b.userId),
  );
}

/** One line of `/members`. */
export function renderMemberLine(member: Member, index: number, context: { style: Style; selfId?: string; online?: boolean }): string {
  const { style } = context;
  const name = style.user(oneLine(member.username), member.userId);
  const notes: string[] = [];
  if (member.role === 'creator') notes.push('creator');
  if (member.userId === context.selfId) notes.push('you');
  else if (context.online) notes.push(style.green('online'));
  return `  ${index}. ${name}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
}

/** One line of `/devices`. */
export function renderDeviceLine(device: Device, index: number, context: { style: Style; now: number }): string {
  const { style } = context;
  const name = device.name ? oneLine(device.name) : 'unnamed device';
  const notes = [device.current ? style.bold('this device') : undefined, device.online ? style.green('online') : `last seen ${formatWhen(device.lastSeenAt, context.now)}`, `added ${formatShortDate(device.createdAt)}`];
  return `  ${index}. ${name} — ${notes.filter((note) => note !== undefined).join(' · ')}`;
}

/** A status line between messages: `[connected]`, `[bob is online]`. */
export function notice(text: string, style: Style): string {
  return style.dim(`[${text}]`);
}

/** The prompt: `alice> ` or `alice@team-chat> `. */
export function promptText(username: string | undefined, conversation: string | undefined, style: Style): string {
  const who = username ? oneLine(username) : 'kecalek';
  const where = conversation === undefined ? '' : style.cyan(`@${oneLine(conversation)}`);
  return `${style.bold(who)}${where}> `;
}
