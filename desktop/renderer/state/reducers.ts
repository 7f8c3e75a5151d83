/**
 * Pure state transitions: every bridge event and every optimistic step is one function from the
 * old state to the new one (unit-tested in Node). Unchanged parts keep their identity, so Lit only
 * re-renders what changed.
 */
import type { BridgeConversation, BridgeMessage, BridgeState, ConnectionStateName } from '../../shared/bridge.js';
import { foldText } from '../util/format.js';
import { EMPTY_LIST, initialState, isLocal, isUnconfirmed, localId, pendingId, type AppState, type MessageList } from './model.js';

// ---- messages ---------------------------------------------------------------------------------

/**
 * A message still on its way (the renderer's optimistic copy or the core's pending copy, not
 * failed): it sorts after everything confirmed (the server's clock decides those), so it stays
 * last in the timeline while messages from others arrive before it.
 */
export function stillSending(message: Pick<BridgeMessage, 'id' | 'status'>): boolean {
  return isUnconfirmed(message) && message.status === 'pending';
}

function sortGroup(message: BridgeMessage): number {
  return stillSending(message) ? 1 : 0;
}

/** The timeline's order (oldest first); the conversation preview is the last message in it. */
export function compareMessages(a: BridgeMessage, b: BridgeMessage): number {
  return sortGroup(a) - sortGroup(b) || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * A stable key per message for rendering: a message keeps the key of the copy it replaced (the
 * optimistic copy, the core's pending copy, an older version), so its element — with an open menu
 * or focus — survives the confirmation. A side table, so the bridge's message shape stays as is.
 */
const renderKeys = new WeakMap<BridgeMessage, string>();

export function renderKey(message: BridgeMessage): string {
  return renderKeys.get(message) ?? message.id;
}

function inherit(next: BridgeMessage, from: BridgeMessage | undefined): void {
  if (from && next !== from) renderKeys.set(next, renderKey(from));
}

/** How far the server's time of a sent message may lie before its optimistic copy's (clock skew). */
export const ADOPT_SKEW_MS = 2 * 60_000;

/**
 * How long after its optimistic copy a core copy with the same text may still be taken for it.
 * A send that took longer (offline for a while) is still matched by the renderer's own id when
 * the send resolves (confirmPending).
 */
export const ADOPT_WINDOW_MS = 10 * 60_000;

/** Whether `message` may be the core's copy of the renderer's optimistic `local` copy (by its content). */
function adopts(message: BridgeMessage, local: BridgeMessage): boolean {
  return (
    message.own &&
    !isLocal(message) &&
    isLocal(local) &&
    message.senderDeviceId === local.senderDeviceId &&
    message.text === local.text &&
    (message.replyTo?.messageId ?? '') === (local.replyTo?.messageId ?? '') &&
    message.createdAt >= local.createdAt - ADOPT_SKEW_MS &&
    message.createdAt <= local.createdAt + ADOPT_WINDOW_MS
  );
}

/**
 * Whether `message` is a later copy of the unconfirmed `copy` by its client message id: the
 * confirmation of the core's pending copy, or any copy of the core under the renderer's id.
 */
function confirms(message: BridgeMessage, copy: BridgeMessage): boolean {
  return (
    copy.clientMsgId !== undefined &&
    message.clientMsgId === copy.clientMsgId &&
    message.own &&
    message.id !== copy.id &&
    !isLocal(message) &&
    isUnconfirmed(copy) &&
    (isLocal(copy) || !isUnconfirmed(message))
  );
}

/**
 * Which optimistic copy the core's copy `message` replaces: the one with its client message id if
 * there is one, else one with the same content (see adopts) that no other incoming message claims
 * by id — a copy still being sent before a failed one, then the closest in time, then the oldest.
 */
function optimisticCopyOf(message: BridgeMessage, byId: ReadonlyMap<string, BridgeMessage>, claimed: ReadonlySet<string>): BridgeMessage | undefined {
  if (message.clientMsgId !== undefined) {
    const byCmid = byId.get(localId(message.clientMsgId));
    if (byCmid) return byCmid;
  }
  const rank = (local: BridgeMessage): number => (local.status === 'failed' ? 1 : 0);
  const distance = (local: BridgeMessage): number => Math.abs(message.createdAt - local.createdAt);
  const before = (a: BridgeMessage, b: BridgeMessage): boolean => (rank(a) - rank(b) || distance(a) - distance(b) || compareMessages(a, b)) < 0;
  let best: BridgeMessage | undefined;
  for (const local of byId.values()) {
    if (claimed.has(local.id) || !adopts(message, local)) continue;
    if (!best || before(local, best)) best = local;
  }
  return best;
}

/** A merge's result: the list, and which messages replaced which (by the replaced one's id). */
interface Merged {
  readonly items: readonly BridgeMessage[];
  readonly replaced: ReadonlyMap<string, BridgeMessage>;
}

function noteReplaced(replaced: Map<string, BridgeMessage>, old: BridgeMessage, next: BridgeMessage): void {
  for (const [id, m] of replaced) if (m === old) replaced.set(id, next);
  replaced.set(old.id, next);
}

function merge(items: readonly BridgeMessage[], incoming: readonly BridgeMessage[]): Merged {
  const replaced = new Map<string, BridgeMessage>();
  if (incoming.length === 0) return { items, replaced };
  const byId = new Map(items.map((m) => [m.id, m] as const));
  const confirmedCmids = new Set<string>();
  for (const m of items) if (m.clientMsgId !== undefined && !isUnconfirmed(m)) confirmedCmids.add(m.clientMsgId);
  // Optimistic copies that an incoming message claims by id: not adopted by content by another one.
  const claimed = new Set<string>();
  for (const m of incoming) if (m.clientMsgId !== undefined && !isLocal(m)) claimed.add(localId(m.clientMsgId));
  let changed = false;
  for (const message of incoming) {
    let confirmedPending = false;
    if (message.clientMsgId !== undefined && !isLocal(message)) {
      if (isUnconfirmed(message)) {
        if (confirmedCmids.has(message.clientMsgId)) continue;
      } else {
        confirmedCmids.add(message.clientMsgId);
        const pending = byId.get(pendingId(message.clientMsgId));
        if (pending) {
          byId.delete(pending.id);
          if (!byId.has(message.id)) inherit(message, pending);
          noteReplaced(replaced, pending, message);
          confirmedPending = true;
          changed = true;
        }
      }
    }
    const existing = byId.get(message.id);
    if (existing === message) continue;
    if (existing) {
      inherit(message, existing);
      noteReplaced(replaced, existing, message);
    } else if (message.own && !isLocal(message) && !confirmedPending) {
      // (A confirmed pending copy of the core already took its optimistic copy.)
      const local = optimisticCopyOf(message, byId, claimed);
      if (local) {
        byId.delete(local.id);
        inherit(message, local);
        noteReplaced(replaced, local, message);
      }
    }
    byId.set(message.id, message);
    changed = true;
  }
  if (!changed) return { items, replaced };
  return { items: [...byId.values()].sort(compareMessages), replaced };
}

/**
 * Merges messages into a conversation's list (oldest first): the same id replaces the older copy;
 * a confirmed own message replaces the core's pending copy (same clientMsgId), and a pending copy
 * that arrives after its confirmation is dropped; the first of the core's copies (pending, failed
 * or confirmed) of a message being sent replaces the renderer's optimistic copy — the one with its
 * clientMsgId, else the best match by content (see optimisticCopyOf).
 */
export function mergeMessages(items: readonly BridgeMessage[], incoming: readonly BridgeMessage[]): readonly BridgeMessage[] {
  return merge(items, incoming).items;
}

function replaceTracked(items: readonly BridgeMessage[], clientMsgId: string, confirmed: BridgeMessage): Merged {
  const local = items.find((m) => m.id === localId(clientMsgId));
  if (!local) return merge(items, [confirmed]);
  if (!items.some((m) => m.id === confirmed.id)) inherit(confirmed, local);
  const merged = merge(
    items.filter((m) => m !== local),
    [confirmed],
  );
  const replaced = new Map(merged.replaced);
  noteReplaced(replaced, local, confirmed);
  return { items: merged.items, replaced };
}

/** Replaces the optimistic copy (by the renderer's clientMsgId) with the confirmed message. */
export function replacePending(items: readonly BridgeMessage[], clientMsgId: string, confirmed: BridgeMessage): readonly BridgeMessage[] {
  return replaceTracked(items, clientMsgId, confirmed).items;
}

export function markDeletedIn(items: readonly BridgeMessage[], messageId: string): readonly BridgeMessage[] {
  const index = items.findIndex((m) => m.id === messageId);
  if (index < 0 || items[index]!.deleted) return items;
  const next = [...items];
  next[index] = deletedCopy(items[index]!);
  inherit(next[index]!, items[index]);
  return next;
}

function deletedCopy(message: BridgeMessage): BridgeMessage {
  const { replyTo: _replyTo, ...rest } = message;
  return { ...rest, deleted: true, text: '', payload: {} };
}

// ---- conversations ----------------------------------------------------------------------------

/** When the conversation last saw activity (its newest message, else its creation). */
export function activityTime(conversation: BridgeConversation): number {
  return Math.max(conversation.lastMessageAt ?? 0, conversation.lastMessage?.createdAt ?? 0, conversation.createdAt);
}

export function sortConversations(list: readonly BridgeConversation[]): BridgeConversation[] {
  return [...list].sort((a, b) => activityTime(b) - activityTime(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Conversations whose name or members match the query (case- and accent-insensitive). */
export function filterConversations(list: readonly BridgeConversation[], query: string): readonly BridgeConversation[] {
  const wanted = foldText(query.trim());
  if (!wanted) return list;
  return list.filter((c) => foldText(c.name).includes(wanted) || c.members.some((m) => foldText(m.username).includes(wanted)));
}

export function totalUnread(list: readonly BridgeConversation[]): number {
  return list.reduce((sum, c) => sum + c.unreadCount, 0);
}

/**
 * The newer of two previews in the timeline's order; the same message's later version, and a
 * confirmation over the pending copy it confirms (which sorts after it while still sending).
 */
function newer(a: BridgeMessage | undefined, b: BridgeMessage | undefined): BridgeMessage | undefined {
  if (!a) return b;
  if (!b) return a;
  if (a.id === b.id) return b;
  if (confirms(b, a)) return b;
  if (confirms(a, b)) return a;
  return compareMessages(a, b) > 0 ? a : b;
}

function replaceConversation(state: AppState, id: string, recipe: (c: BridgeConversation) => BridgeConversation): AppState {
  const index = state.conversations.findIndex((c) => c.id === id);
  if (index < 0) return state;
  const before = state.conversations[index]!;
  const after = recipe(before);
  if (after === before) return state;
  const list = [...state.conversations];
  list[index] = after;
  return { ...state, conversations: activityTime(after) === activityTime(before) ? list : sortConversations(list) };
}

// ---- bridge state -----------------------------------------------------------------------------

/**
 * Applies getState / a `state` event; a different (or no) account starts from a clean slate. A
 * snapshot older than the one applied last (a getState answer overtaken by an event) changes nothing.
 */
export function applyBridgeState(state: AppState, bridge: BridgeState): AppState {
  if (bridge.revision < state.stateRevision) return state;
  const sameAccount = state.self !== undefined && bridge.self !== undefined && state.self.userId === bridge.self.userId;
  const base = sameAccount ? state : initialState();
  return {
    ...base,
    ready: true,
    stateRevision: bridge.revision,
    connection: bridge.connection,
    self: bridge.self,
    server: bridge.server,
    accounts: bridge.accounts,
    serverAddress: bridge.serverAddress,
    serverVerified: bridge.serverVerified,
    settings: bridge.settings,
  };
}

export function applyConnection(state: AppState, connection: ConnectionStateName): AppState {
  return state.connection === connection ? state : { ...state, connection };
}

export function applySettings(state: AppState, settings: AppState['settings']): AppState {
  return { ...state, settings };
}

/** The whole conversation list (listConversations). */
export function applyConversations(state: AppState, list: readonly BridgeConversation[]): AppState {
  const previous = new Map(state.conversations.map((c) => [c.id, c] as const));
  const merged = list.map((c) => keepLocalKnowledge(previous.get(c.id), c));
  const ids = new Set(merged.map((c) => c.id));
  return {
    ...state,
    conversations: sortConversations(merged),
    conversationsLoaded: true,
    activeId: state.activeId !== undefined && ids.has(state.activeId) ? state.activeId : undefined,
  };
}

/**
 * A live preview may be newer than the core's answer (a message event overtook it); a preview the
 * core's answer confirms (its pending copy → the confirmed message) gives way.
 */
function keepLocalKnowledge(before: BridgeConversation | undefined, after: BridgeConversation): BridgeConversation {
  if (!before) return after;
  const last = newer(before.lastMessage, after.lastMessage);
  if (last === after.lastMessage) return after;
  return { ...after, lastMessage: last, lastMessageAt: Math.max(after.lastMessageAt ?? 0, last?.createdAt ?? 0) };
}

/** One conversation (new, renamed, members changed, read elsewhere). */
export function upsertConversation(state: AppState, conversation: BridgeConversation): AppState {
  const exists = state.conversations.some((c) => c.id === conversation.id);
  if (!exists) return { ...state, conversations: sortConversations([...state.conversations, conversation]) };
  return replaceConversation(state, conversation.id, (before) => keepLocalKnowledge(before, conversation));
}

export function removeConversation(state: AppState, conversationId: string): AppState {
  if (!state.conversations.some((c) => c.id === conversationId) && !state.messages.has(conversationId)) return state;
  const messages = new Map(state.messages);
  messages.delete(conversationId);
  const reads = new Map(state.reads);
  reads.delete(conversationId);
  return {
    ...state,
    conversations: state.conversations.filter((c) => c.id !== conversationId),
    messages,
    reads,
    activeId: state.activeId === conversationId ? undefined : state.activeId,
  };
}

export function setActive(state: AppState, conversationId: string | undefined): AppState {
  return state.activeId === conversationId ? state : { ...state, activeId: conversationId };
}

/** The conversation was marked read here: no unread badge. */
export function markedRead(state: AppState, conversationId: string): AppState {
  return replaceConversation(state, conversationId, (c) => (c.unreadCount === 0 ? c : { ...c, unreadCount: 0 }));
}

// ---- message lists ----------------------------------------------------------------------------

export function messageList(state: AppState, conversationId: string): MessageList {
  return state.messages.get(conversationId) ?? EMPTY_LIST;
}

function withList(state: AppState, conversationId: string, recipe: (list: MessageList) => MessageList): AppState {
  const before = messageList(state, conversationId);
  const after = recipe(before);
  if (after === before) return state;
  const messages = new Map(state.messages);
  messages.set(conversationId, after);
  return { ...state, messages };
}

/** The cached history arrived (getCachedMessages). */
export function applyCached(state: AppState, conversationId: string, messages: readonly BridgeMessage[]): AppState {
  return withList(state, conversationId, (list) => ({ ...list, loaded: true, items: mergeMessages(list.items, messages) }));
}

/** What syncConversation brought. */
export function applySynced(state: AppState, conversationId: string, messages: readonly BridgeMessage[]): AppState {
  const merged = merge(messageList(state, conversationId).items, messages);
  const next = withList(state, conversationId, (list) => ({ ...list, loaded: true, synced: true, items: merged.items }));
  return messages.length > 0 ? replaceConversation(next, conversationId, (c) => withPreview(c, messages, merged)) : next;
}

export function olderLoading(state: AppState, conversationId: string, loading: boolean): AppState {
  return withList(state, conversationId, (list) => (list.loadingOlder === loading ? list : { ...list, loadingOlder: loading }));
}

/** A page of older history; fewer than `limit` means the beginning was reached. */
export function applyOlder(state: AppState, conversationId: string, messages: readonly BridgeMessage[], limit: number): AppState {
  return withList(state, conversationId, (list) => ({
    ...list,
    loadingOlder: false,
    hasOlder: messages.length >= limit,
    items: mergeMessages(list.items, messages),
  }));
}

/**
 * What replaces the preview `current` among `incoming`: its later version, the confirmation of a
 * pending copy, the core's copy of an optimistic one. With the conversation's list merged, the
 * list decides (the preview follows the same replacements as the timeline); else, or when the
 * preview is not in the list, the same rules by id and content.
 */
function successor(current: BridgeMessage, incoming: readonly BridgeMessage[], merged: Merged | undefined): BridgeMessage | undefined {
  if (merged) {
    const next = merged.replaced.get(current.id);
    if (next) return next;
    if (merged.items.some((m) => m.id === current.id)) return undefined;
  }
  return incoming.find((m) => m.id === current.id || confirms(m, current) || adopts(m, current));
}

/**
 * The conversation's preview after `incoming` arrived: the newest message in the timeline's order
 * (a copy the preview showed is replaced by what replaced it; with the list merged, never older
 * than the list's last message), and the activity time advanced.
 */
function withPreview(conversation: BridgeConversation, incoming: readonly BridgeMessage[], merged?: Merged): BridgeConversation {
  const current = conversation.lastMessage;
  // What the list dropped (a pending copy arriving after its confirmation) is no preview either.
  const listed = merged ? new Set(merged.items.map((m) => m.id)) : undefined;
  const arrived = listed ? incoming.filter((m) => listed.has(m.id)) : incoming;
  let last = current ? (successor(current, arrived, merged) ?? current) : undefined;
  for (const message of arrived) last = newer(last, message);
  if (merged) last = newer(last, merged.items[merged.items.length - 1]);
  const newest = arrived.reduce((at, m) => Math.max(at, m.createdAt), last === current ? 0 : (last?.createdAt ?? 0));
  const lastMessageAt = newest > (conversation.lastMessageAt ?? 0) ? newest : conversation.lastMessageAt;
  if (last === current && lastMessageAt === conversation.lastMessageAt) return conversation;
  return { ...conversation, ...(last ? { lastMessage: last } : {}), lastMessageAt };
}

/** Merges `incoming` into the conversation's list if it has one (else leaves messages alone). */
function mergeOpen(state: AppState, conversationId: string, incoming: readonly BridgeMessage[]): [AppState, Merged | undefined] {
  const list = state.messages.get(conversationId);
  if (!list) return [state, undefined];
  const merged = merge(list.items, incoming);
  return [merged.items === list.items ? state : withList(state, conversationId, (l) => ({ ...l, items: merged.items })), merged];
}

/**
 * A `message` event. `viewing`: the conversation is open and visible (no unread count then).
 * An unknown conversation is left alone (the controller fetches it).
 */
export function receiveMessage(state: AppState, message: BridgeMessage, viewing: boolean): AppState {
  const conversationId = message.conversationId;
  const list = state.messages.get(conversationId);
  const known = list?.items.some((m) => m.id === message.id) ?? false;
  const conversation = state.conversations.find((c) => c.id === conversationId);
  const alreadyPreviewed = conversation?.lastMessage?.id === message.id;
  const [merged, mergeInfo] = mergeOpen(state, conversationId, [message]);
  const next = replaceConversation(merged, conversationId, (c) => {
    const withLast = withPreview(c, [message], mergeInfo);
    const counts = !message.own && !viewing && !known && !alreadyPreviewed && !message.deleted;
    return counts ? { ...withLast, unreadCount: withLast.unreadCount + 1 } : withLast;
  });
  return next;
}

/** A `message_updated` event (status, plugin fields, a failed send, a restored deletion). */
export function updateMessage(state: AppState, message: BridgeMessage): AppState {
  const conversationId = message.conversationId;
  const [next, merged] = mergeOpen(state, conversationId, [message]);
  // The copy the preview showed may have changed (a new version, a status, its confirmation), and
  // a status change moves a message in the timeline's order (a failed copy no longer sorts last).
  return replaceConversation(next, conversationId, (c) => withPreview(c, [message], merged));
}

export function deleteMessage(state: AppState, conversationId: string, messageId: string): AppState {
  let next = state.messages.has(conversationId)
    ? withList(state, conversationId, (l) => {
        const items = markDeletedIn(l.items, messageId);
        return items === l.items ? l : { ...l, items };
      })
    : state;
  next = replaceConversation(next, conversationId, (c) =>
    c.lastMessage?.id === messageId && !c.lastMessage.deleted ? { ...c, lastMessage: deletedCopy(c.lastMessage) } : c,
  );
  return next;
}

/** Our optimistic copy of a message being sent. */
export function addPending(state: AppState, message: BridgeMessage): AppState {
  const merged = merge(messageList(state, message.conversationId).items, [message]);
  const next = withList(state, message.conversationId, (l) => ({ ...l, items: merged.items }));
  return replaceConversation(next, message.conversationId, (c) => withPreview(c, [message], merged));
}

/**
 * The send (or a retry, `clientMsgId` then being the core's) was confirmed: the optimistic copy
 * with the renderer's id, or the core's pending copy with the core's, becomes the real message —
 * in the list and in the preview.
 */
export function confirmPending(state: AppState, clientMsgId: string, confirmed: BridgeMessage): AppState {
  const conversationId = confirmed.conversationId;
  const list = state.messages.get(conversationId);
  const merged = list ? replaceTracked(list.items, clientMsgId, confirmed) : undefined;
  const next = list && merged && merged.items !== list.items ? withList(state, conversationId, (l) => ({ ...l, items: merged.items })) : state;
  return replaceConversation(next, conversationId, (c) => {
    if (c.lastMessage?.id === localId(clientMsgId)) return withPreview({ ...c, lastMessage: confirmed }, [confirmed], merged);
    return withPreview(c, [confirmed], merged);
  });
}

/** The send failed before any copy of the core showed up: the optimistic copy stays, marked failed. */
export function failPending(state: AppState, conversationId: string, clientMsgId: string): AppState {
  return setStatus(state, conversationId, localId(clientMsgId), 'failed');
}

/** Sets the status of an unconfirmed message (a retry starts: pending; it failed again: failed). */
export function setStatus(state: AppState, conversationId: string, messageId: string, status: BridgeMessage['status']): AppState {
  const list = state.messages.get(conversationId);
  const message = list?.items.find((m) => m.id === messageId);
  if (!message || message.status === status || !isUnconfirmed(message)) return state;
  return updateMessage(state, { ...message, status });
}

/** Drops an optimistic copy (it is sent again under a new id). */
export function dropLocal(state: AppState, conversationId: string, messageId: string): AppState {
  if (!messageId.startsWith('local:')) return state;
  const next = withList(state, conversationId, (l) => {
    const items = l.items.filter((m) => m.id !== messageId);
    return items.length === l.items.length ? l : { ...l, items };
  });
  return replaceConversation(next, conversationId, (c) => {
    if (c.lastMessage?.id !== messageId) return c;
    const { lastMessage: _dropped, ...rest } = c;
    const items = messageList(next, conversationId).items;
    const last = items[items.length - 1];
    return last ? { ...rest, lastMessage: last } : rest;
  });
}

// ---- presence and receipts --------------------------------------------------------------------

export function setOnlineUsers(state: AppState, userIds: readonly string[]): AppState {
  return { ...state, online: new Set(userIds) };
}

export function setPresence(state: AppState, userId: string, online: boolean): AppState {
  if (state.online.has(userId) === online) return state;
  const next = new Set(state.online);
  if (online) next.add(userId);
  else next.delete(userId);
  return { ...state, online: next };
}

/**
 * A `messages_read` event: another member read our messages (a receipt), or we read them on
 * another device (fewer unread here, as the core counts).
 */
export function messagesRead(state: AppState, info: { conversationId: string; userId: string; messageIds: readonly string[] }): AppState {
  if (state.self !== undefined && info.userId === state.self.userId) {
    return replaceConversation(state, info.conversationId, (c) =>
      c.unreadCount === 0 ? c : { ...c, unreadCount: Math.max(0, c.unreadCount - info.messageIds.length) },
    );
  }
  const items = state.messages.get(info.conversationId)?.items ?? [];
  const wanted = new Set(info.messageIds);
  let newest = 0;
  for (const m of items) if (m.own && wanted.has(m.id)) newest = Math.max(newest, m.createdAt);
  if (newest === 0) return state;
  const perUser = state.reads.get(info.conversationId);
  if ((perUser?.get(info.userId) ?? 0) >= newest) return state;
  const updated = new Map(perUser);
  updated.set(info.userId, newest);
  const reads = new Map(state.reads);
  reads.set(info.conversationId, updated);
  return { ...state, reads };
}

/** Whether someone else in the conversation read this own message (live receipts only). */
export function readByOthers(state: AppState, message: BridgeMessage): boolean {
  const perUser = state.reads.get(message.conversationId);
  if (!perUser) return false;
  for (const at of perUser.values()) if (at >= message.createdAt) return true;
  return false;
}
