/**
 * Pure formatting helpers of the renderer (no DOM, no Lit): initials and stable avatar colours,
 * times and day separators, previews, codes. Unit-tested in Node.
 */
import type { BridgeConversation, BridgeMessage } from '../../shared/bridge.js';

/** How many avatar colours the theme defines (`--kecalek-avatar-0` … `-7`). */
export const AVATAR_COLOURS = 8;

let segmenter: Intl.Segmenter | undefined;

/**
 * The user-perceived characters (grapheme clusters) of a text: a flag, a ZWJ family emoji or a
 * letter with combining accents is one character, never split.
 */
export function graphemes(text: string): string[] {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return Array.from(segmenter.segment(text), (part) => part.segment);
}

/** Up to two letters for an avatar: first letters of the first two words ("Anna Novak" -> "AN"). */
export function initials(name: string): string {
  const words = name
    .trim()
    .split(/[\s._-]+/u)
    .filter((word) => word.length > 0);
  if (words.length === 0) return '?';
  const first = (word: string): string => graphemes(word)[0] ?? '';
  const letters = words.length === 1 ? first(words[0]!) : first(words[0]!) + first(words[1]!);
  return letters.toLocaleUpperCase();
}

/** A stable colour index for a key (a user or conversation id): FNV-1a, so the same person keeps one colour. */
export function avatarColour(key: string, colours = AVATAR_COLOURS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % colours;
}

function startOfDay(ts: number): number {
  const date = new Date(ts);
  date.setHours(0, 0, 0, 0);
  return date.getTime();
}

/** Whole calendar days between two instants in local time (0 = the same day). */
export function daysBetween(earlier: number, later: number): number {
  return Math.round((startOfDay(later) - startOfDay(earlier)) / 86_400_000);
}

export function sameDay(a: number, b: number): boolean {
  return startOfDay(a) === startOfDay(b);
}

export interface FormatOptions {
  /** BCP 47 locale (default: the system's). */
  readonly locale?: string;
}

/** "14:05" */
export function formatClock(ts: number, options: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(options.locale, { hour: '2-digit', minute: '2-digit' }).format(ts);
}

/**
 * "Today" / "Yesterday" in the locale given (Intl.RelativeTimeFormat, numeric: 'auto'), with a
 * capital first letter as a label ("Dnes", "Gestern"). `daysAgo` is 0 or 1.
 */
function relativeDay(daysAgo: 0 | 1, options: FormatOptions): string {
  const text = new Intl.RelativeTimeFormat(options.locale, { numeric: 'auto' }).format(-daysAgo, 'day');
  const [first = '', ...rest] = graphemes(text);
  return first.toLocaleUpperCase(options.locale) + rest.join('');
}

/**
 * The conversation list's time: the clock today, "Yesterday", a weekday this week, else a date
 * (also for a later day than now, e.g. a clock skew).
 */
export function formatListTime(ts: number, now: number, options: FormatOptions = {}): string {
  const days = daysBetween(ts, now);
  if (days === 0) return formatClock(ts, options);
  if (days === 1) return relativeDay(1, options);
  if (days > 1 && days < 7) return new Intl.DateTimeFormat(options.locale, { weekday: 'short' }).format(ts);
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(options.locale, sameYear ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: 'numeric' }).format(ts);
}

/**
 * A day separator in the timeline: "Today", "Yesterday" (in the locale given), "Monday, 11 March"
 * (with the year when not this year; also for a later day than now).
 */
export function formatDayLabel(ts: number, now: number, options: FormatOptions = {}): string {
  const days = daysBetween(ts, now);
  if (days === 0 || days === 1) return relativeDay(days, options);
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(options.locale, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  }).format(ts);
}

/** Full date and time for a tooltip. */
export function formatFullTime(ts: number, options: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(options.locale, { dateStyle: 'medium', timeStyle: 'short' }).format(ts);
}

/** One line of text, at most `max` user-perceived characters (an ellipsis when cut). */
export function oneLine(text: string, max = 120): string {
  const line = text.replace(/\s+/gu, ' ').trim();
  const chars = graphemes(line);
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : line;
}

/** What a message shows where there is no room: list previews, reply quotes. */
export function messageSummary(message: Pick<BridgeMessage, 'deleted' | 'undecryptable' | 'text'>, max = 120): string {
  if (message.deleted) return 'Message deleted';
  if (message.undecryptable) return 'Message could not be decrypted';
  const text = oneLine(message.text, max);
  return text || 'Message';
}

/** The preview line of a conversation in the list ("You: …", "anna: …" in groups). */
export function conversationPreview(conversation: Pick<BridgeConversation, 'kind' | 'lastMessage'>): string {
  const last = conversation.lastMessage;
  if (!last) return conversation.kind === 'group' ? 'No messages yet' : 'Say hello';
  const summary = messageSummary(last, 80);
  if (last.deleted || last.undecryptable) return summary;
  if (last.own) return `You: ${summary}`;
  if (conversation.kind === 'group') return `${last.senderUsername}: ${summary}`;
  return summary;
}

/** The header's second line: "online" / "offline" for a DM, "4 members, 2 online" for a group. */
export function conversationStatus(
  conversation: Pick<BridgeConversation, 'kind' | 'members' | 'peerId'>,
  online: ReadonlySet<string>,
  selfId: string | undefined,
): string {
  if (conversation.kind === 'dm') {
    const peer = conversation.peerId ?? conversation.members.find((m) => m.userId !== selfId)?.userId;
    return peer !== undefined && online.has(peer) ? 'Online' : 'Offline';
  }
  const count = conversation.members.length;
  const others = conversation.members.filter((m) => m.userId !== selfId && online.has(m.userId)).length;
  const members = `${count} ${count === 1 ? 'member' : 'members'}`;
  return others > 0 ? `${members}, ${others} online` : members;
}

/** The 8-digit linking code in two groups ("1234 5678"). */
export function formatLinkCode(code: string): string {
  const digits = code.replace(/\D/gu, '');
  return digits.length === 8 ? `${digits.slice(0, 4)} ${digits.slice(4)}` : code;
}

/** A SAS in groups of three digits ("042 917"), other shapes unchanged. */
export function formatSas(sas: string): string {
  const digits = sas.replace(/\s/gu, '');
  return /^\d{6}$/u.test(digits) ? `${digits.slice(0, 3)} ${digits.slice(3)}` : sas;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u;

export function isEmail(text: string): boolean {
  return EMAIL.test(text.trim());
}

/** Addresses typed into one box, separated by commas, semicolons, spaces or lines; duplicates dropped. */
export function splitEmails(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const part of text.split(/[\s,;]+/u)) {
    const email = part.trim();
    if (!email || seen.has(email.toLowerCase())) continue;
    seen.add(email.toLowerCase());
    out.push(email);
  }
  return out;
}

/** An SVG document as a data: URL for an <img> (never parsed into the page). */
export function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** Accent- and case-insensitive text for filtering. */
export function foldText(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase();
}

/** The user-facing text of a failure (bridge errors are `{code, message}`). */
export function errorText(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message.trim()) return message.trim();
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return `Failed (${code})`;
  }
  if (typeof error === 'string' && error.trim()) return error.trim();
  return 'Something went wrong';
}

/** The stable code of a bridge error, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
