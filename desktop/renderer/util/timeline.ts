/**
 * How the timeline groups messages: day separators, and runs of messages from one sender (no
 * repeated name or avatar inside a run). Pure (unit-tested in Node).
 */
import type { BridgeMessage } from '../../shared/bridge.js';
import { formatDayLabel, sameDay, type FormatOptions } from './format.js';

/** Messages of one sender closer than this form a run. */
export const RUN_GAP_MS = 5 * 60_000;

export type TimelineRow =
  | { readonly kind: 'day'; readonly key: string; readonly label: string }
  | { readonly kind: 'message'; readonly key: string; readonly message: BridgeMessage; readonly first: boolean; readonly last: boolean };

function joins(a: BridgeMessage, b: BridgeMessage): boolean {
  return a.senderId === b.senderId && sameDay(a.createdAt, b.createdAt) && Math.abs(b.createdAt - a.createdAt) < RUN_GAP_MS;
}

/** Rows for a list of messages (oldest first): a separator before each new day, run boundaries. */
export function timelineRows(
  items: readonly BridgeMessage[],
  now: number,
  options: FormatOptions & { readonly key?: (message: BridgeMessage) => string } = {},
): TimelineRow[] {
  const key = options.key ?? ((m: BridgeMessage) => m.id);
  const rows: TimelineRow[] = [];
  for (let i = 0; i < items.length; i++) {
    const m = items[i]!;
    const prev = items[i - 1];
    const next = items[i + 1];
    if (!prev || !sameDay(prev.createdAt, m.createdAt)) rows.push({ kind: 'day', key: `day-${key(m)}`, label: formatDayLabel(m.createdAt, now, options) });
    rows.push({ kind: 'message', key: key(m), message: m, first: !prev || !joins(prev, m), last: !next || !joins(m, next) });
  }
  return rows;
}

/** The newest `size` messages (what the timeline renders of a long history). */
export function windowOf<T>(items: readonly T[], size: number): readonly T[] {
  return items.length > size ? items.slice(items.length - size) : items;
}

/**
 * Whether an item looks like a message still on its way (the renderer's optimistic copy or the
 * core's pending copy, not failed) — the default of arrivedAtEnd; the timeline passes the
 * reducers' own test (stillSending), which decides the order.
 */
function looksStillSending(item: unknown): boolean {
  if (typeof item !== 'object' || item === null) return false;
  const { id, status } = item as { readonly id?: unknown; readonly status?: unknown };
  return typeof id === 'string' && (id.startsWith('local:') || id.startsWith('pending:')) && (status === undefined || status === 'pending');
}

/**
 * What changed at the end of the rendered list since the last render: the messages that are new
 * at the end (not merely older history prepended, nor a pending copy replaced by its confirmed
 * one, which keeps its render key). `before` is undefined on the first render of a conversation.
 * Messages still being sent (`sending`) stay last, so what arrived in the meantime is found just
 * before them: a message from someone else inserted before an own message still sending counts.
 */
export function arrivedAtEnd<T>(
  before: ReadonlySet<string> | undefined,
  items: readonly T[],
  key: (item: T) => string,
  sending: (item: T) => boolean = looksStillSending,
): T[] {
  if (!before || items.length === 0) return [];
  // The trailing copies still being sent: the new ones among them arrived (just sent here).
  let end = items.length;
  let keptSending = false;
  const sent: T[] = [];
  while (end > 0 && sending(items[end - 1]!)) {
    end--;
    if (before.has(key(items[end]!))) keptSending = true;
    else sent.unshift(items[end]!);
  }
  // Before them: everything after the newest already-rendered message.
  const arrived: T[] = [];
  let i = end - 1;
  for (; i >= 0 && !before.has(key(items[i]!)); i--) arrived.unshift(items[i]!);
  // Nothing rendered before a copy still being sent: history loaded under it, not an arrival.
  if (i < 0 && keptSending) return sent;
  return [...arrived, ...sent];
}
