/**
 * The client part of mentions (all of it: the server never learns who is mentioned).
 *
 * - outgoingPayload: `@username` in the text of a message -> `payload.mentions` (member user ids)
 *   and, in groups, `@all` / `@here` -> `payload.mentions_all`. The payload is encrypted after this
 *   tap, so the list travels end to end like the text.
 * - incomingPayload: never swallows; a message from someone else that mentions this user emits a
 *   plugin event `mention` with a `notice` line.
 * - `client.plugins.mentions`: extract, mentionsMe, candidates (autocomplete), recent.
 * - Terminal: mentions are highlighted (strongly when they mention you); `/mentions` lists the
 *   recent messages of the open conversation that mention you.
 */
import type {
  ClientPluginApi,
  DecoratedMessage,
  MessagePayload,
  TerminalCommandContext,
  TerminalDecoration,
} from '../../engine/plugin/index.js';
import { extract, findMentions, mentionFields, mentionTokens, payloadMentions, timeOfMessageId, type Extracted } from './extract.js';

/** Mentions of the user remembered per conversation for `/mentions` (newest kept). */
export const RECENT_PER_CONVERSATION = 50;
/** How many `/mentions` prints. */
export const MENTIONS_SHOWN = 10;
const EXCERPT_LENGTH = 80;

export interface MentionEvent {
  readonly conversationId: string;
  readonly messageId: string;
  readonly senderId: string;
  readonly senderUsername: string;
  /** The group's name; null for a direct conversation (or when it could not be read). */
  readonly conversationName: string | null;
  readonly notice: string;
}

export interface RecentMention {
  readonly conversationId: string;
  readonly messageId: string;
  readonly senderId: string;
  readonly text: string;
  /** Epoch ms, from the time-ordered message id. */
  readonly createdAt: number | undefined;
}

export interface Candidate {
  readonly userId: string;
  readonly username: string;
}

/** What `client.plugins.mentions` offers. */
export interface MentionsMethods {
  /** The members a text mentions (`members`: user id -> username) and whether it says @all/@here. */
  extract(text: string, members: ReadonlyMap<string, string> | Record<string, string>): Extracted;
  /** True when a message from someone else mentions the logged-in user (by id, or everyone). */
  mentionsMe(message: { readonly payload?: MessagePayload; readonly own?: boolean; readonly senderId?: string }): boolean;
  /** Members of a conversation whose username starts with `prefix` (an `@` in front is ignored), yourself left out. */
  candidates(conversationId: string, prefix: string): Promise<Candidate[]>;
  /** The recent messages seen on this device that mention the user in a conversation, oldest first. */
  recent(conversationId: string): RecentMention[];
}

interface ConversationInfo {
  readonly kind: 'dm' | 'group';
  readonly name: string | null;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function excerpt(text: string): string {
  const flat = oneLine(text);
  return flat.length > EXCERPT_LENGTH ? `${flat.slice(0, EXCERPT_LENGTH - 1)}…` : flat;
}

function asMap(members: ReadonlyMap<string, string> | Record<string, string>): ReadonlyMap<string, string> {
  return members instanceof Map ? members : new Map(Object.entries(members));
}

function clock(ms: number): string {
  const date = new Date(ms);
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
}

export function mentionsClient(api: ClientPluginApi): void {
  /** Members per conversation (user id -> username), for highlighting and names. */
  const members = new Map<string, ReadonlyMap<string, string>>();
  const loadingMembers = new Map<string, Promise<ReadonlyMap<string, string> | undefined>>();
  const conversations = new Map<string, ConversationInfo>();
  const recentByConversation = new Map<string, Map<string, RecentMention>>();

  function selfId(): string | undefined {
    return api.client.self?.userId;
  }

  function membersOf(conversationId: string): Promise<ReadonlyMap<string, string> | undefined> {
    const known = members.get(conversationId);
    if (known) return Promise.resolve(known);
    let loading = loadingMembers.get(conversationId);
    if (!loading) {
      loading = api.client
        .members(conversationId)
        .then((found) => {
          if (found.size > 0) members.set(conversationId, found);
          return found.size > 0 ? found : undefined;
        })
        .catch(() => undefined)
        .finally(() => loadingMembers.delete(conversationId));
      loadingMembers.set(conversationId, loading);
    }
    return loading;
  }

  async function conversationInfo(conversationId: string): Promise<ConversationInfo | undefined> {
    const known = conversations.get(conversationId);
    if (known) return known;
    try {
      const { conversation } = await api.client.request<{ conversation: { kind: 'dm' | 'group'; name: string | null } }>('get_conversation', {
        conversation_id: conversationId,
      });
      const info: ConversationInfo = { kind: conversation.kind, name: conversation.name };
      conversations.set(conversationId, info);
      return info;
    } catch {
      return undefined;
    }
  }

  function remember(entry: RecentMention): void {
    let recent = recentByConversation.get(entry.conversationId);
    if (!recent) {
      recent = new Map();
      recentByConversation.set(entry.conversationId, recent);
    }
    recent.set(entry.messageId, entry);
    if (recent.size > RECENT_PER_CONVERSATION) {
      const oldest = [...recent.keys()].sort()[0]!;
      recent.delete(oldest);
    }
  }

  function forget(conversationId: string, messageId: string): void {
    recentByConversation.get(conversationId)?.delete(messageId);
  }

  function recent(conversationId: string): RecentMention[] {
    // Message ids are time-ordered (UUIDv7): sorting them sorts by time.
    return [...(recentByConversation.get(conversationId)?.values() ?? [])].sort((a, b) => (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0));
  }

  function mentionsMe(message: { readonly payload?: MessagePayload; readonly own?: boolean; readonly senderId?: string }): boolean {
    const me = selfId();
    if (!me || message.own === true || message.senderId === me) return false;
    return payloadMentions(message.payload, me);
  }

  async function announce(conversationId: string, messageId: string, senderId: string): Promise<void> {
    const [found, info] = await Promise.all([membersOf(conversationId), conversationInfo(conversationId)]);
    const senderUsername = found?.get(senderId) ?? 'someone';
    const where = info === undefined ? '' : info.kind === 'group' ? ` in ${oneLine(info.name ?? 'a group')}` : ' in a direct message';
    const event: MentionEvent = {
      conversationId,
      messageId,
      senderId,
      senderUsername,
      conversationName: info?.kind === 'group' ? info.name : null,
      notice: `${oneLine(senderUsername)} mentioned you${where}`,
    };
    api.emit('mention', event);
  }

  // ---- sending: the text's mentions become member ids, inside the encrypted payload ------------

  api.hooks.outgoingPayload.tap((payload, context) => {
    members.set(context.conversationId, context.members);
    const text = typeof payload.text === 'string' ? payload.text : '';
    const found = extract(text, context.members);
    // Ids a front end chose itself (autocomplete) stay when they are members.
    const given = mentionFields(payload);
    const userIds = [...new Set([...given.userIds.filter((id) => context.members.has(id)), ...found.userIds])];
    const everyone = context.conversationKind === 'group' && (found.everyone || given.everyone);
    const next: MessagePayload = { ...payload };
    delete next.mentions;
    delete next.mentions_all;
    if (userIds.length > 0) next.mentions = userIds;
    if (everyone) next.mentions_all = true;
    return next;
  });

  // ---- receiving: tell the user when someone mentions them (never swallows) --------------------

  api.hooks.incomingPayload.tap((payload, context) => {
    const me = selfId();
    // Someone named whom we do not know yet (joined lately): read the members again for highlighting.
    const known = members.get(context.conversationId);
    if (known && mentionFields(payload).userIds.some((id) => !known.has(id))) members.delete(context.conversationId);
    if (!me || context.own || context.senderId === me || !payloadMentions(payload, me)) return undefined;
    remember({
      conversationId: context.conversationId,
      messageId: context.messageId,
      senderId: context.senderId,
      text: typeof payload.text === 'string' ? payload.text : '',
      createdAt: context.createdAt,
    });
    void announce(context.conversationId, context.messageId, context.senderId);
    return undefined;
  });

  // Membership and names change: read them again when next needed.
  for (const type of ['member_added', 'member_removed', 'conversation_created']) {
    api.on(type, (data) => {
      const record = (data ?? {}) as { conversation_id?: unknown; conversation?: { id?: unknown } };
      const id = typeof record.conversation_id === 'string' ? record.conversation_id : record.conversation?.id;
      if (typeof id === 'string') members.delete(id);
    });
  }
  api.on('conversation_renamed', (data) => {
    const id = (data as { conversation_id?: unknown } | null)?.conversation_id;
    if (typeof id === 'string') conversations.delete(id);
  });
  api.on('message_deleted', (data) => {
    const record = (data ?? {}) as { conversation_id?: unknown; message_id?: unknown };
    if (typeof record.conversation_id === 'string' && typeof record.message_id === 'string') forget(record.conversation_id, record.message_id);
  });

  // ---- terminal ------------------------------------------------------------------------------

  api.decorate((message, self) => decorateMessage(message, self, members.get(message.conversationId), (entry) => remember(entry), () => void membersOf(message.conversationId)));

  api.command({
    name: 'mentions',
    usage: '',
    help: 'Recent messages in this conversation that mention you',
    needsConversation: true,
    run: async (_args, context) => showMentions(context, recent, membersOf),
  });

  const methods: MentionsMethods = {
    extract: (text, memberList) => extract(text, asMap(memberList)),
    mentionsMe,
    async candidates(conversationId, prefix) {
      const wanted = prefix.replace(/^@/, '').toLowerCase();
      const me = selfId();
      const found = (await membersOf(conversationId)) ?? new Map<string, string>();
      return [...found]
        .filter(([userId, username]) => userId !== me && username.toLowerCase().startsWith(wanted))
        .map(([userId, username]) => ({ userId, username }))
        .sort((a, b) => a.username.localeCompare(b.username) || (a.userId < b.userId ? -1 : 1));
    },
    recent,
  };
  api.expose(methods as unknown as Record<string, unknown>);
}

/**
 * What mentions add to a message in the terminal: the mentions it carries, highlighted (strong
 * when they mention the user). `knownMembers` are the conversation's members when known; without
 * them the user's own name is still recognised. A message that mentions the user is also handed to
 * `remember` (for `/mentions`), and `wantMembers` asks for the members to be loaded.
 */
export function decorateMessage(
  message: DecoratedMessage,
  self: { readonly userId: string; readonly username: string } | undefined,
  knownMembers: ReadonlyMap<string, string> | undefined,
  remember: (entry: RecentMention) => void,
  wantMembers: () => void,
): TerminalDecoration | undefined {
  if (message.deleted) return undefined;
  const fields = mentionFields(message.payload);
  if (fields.userIds.length === 0 && !fields.everyone) return undefined;
  const forMe = self !== undefined && !message.own && message.senderId !== self.userId && (fields.everyone || fields.userIds.includes(self.userId));
  if (forMe) {
    remember({ conversationId: message.conversationId, messageId: message.id, senderId: message.senderId, text: message.text, createdAt: timeOfMessageId(message.id) });
  }
  if (!knownMembers) wantMembers();
  // Without the member list, the user's own name and everyone are the names we can be sure of.
  const members = knownMembers ?? new Map(self ? [[self.userId, self.username]] : []);
  const mentioned = new Set(fields.userIds);
  const highlights: Array<{ text: string; strong?: boolean }> = [];
  for (const mention of findMentions(message.text, members)) {
    const isMe = self !== undefined && mention.userIds.includes(self.userId) && mentioned.has(self.userId);
    const real = mention.everyone ? fields.everyone : mention.userIds.some((id) => mentioned.has(id));
    if (!real) continue;
    const strong = !message.own && (isMe || mention.everyone);
    highlights.push(strong ? { text: mention.text, strong: true } : { text: mention.text });
  }
  if (!knownMembers && fields.userIds.some((id) => id !== self?.userId)) {
    // Others were mentioned but their names are not loaded yet: highlight every @name that looks like one.
    const seen = new Set(highlights.map((h) => h.text));
    for (const token of mentionTokens(message.text)) {
      if (!seen.has(token.text)) {
        seen.add(token.text);
        highlights.push({ text: token.text });
      }
    }
  }
  return highlights.length > 0 ? { highlights } : undefined;
}

/** `/mentions`: the recent messages of the open conversation that mention the user. */
export async function showMentions(
  context: TerminalCommandContext,
  recent: (conversationId: string) => RecentMention[],
  membersOf: (conversationId: string) => Promise<ReadonlyMap<string, string> | undefined>,
): Promise<void> {
  const conversationId = context.conversationId;
  if (!conversationId) {
    context.error('Open a conversation first (/open <n>).');
    return;
  }
  const entries = recent(conversationId).slice(-MENTIONS_SHOWN);
  if (entries.length === 0) {
    context.print('No recent messages here mention you.');
    return;
  }
  const names = (await membersOf(conversationId)) ?? new Map<string, string>();
  context.print(`Messages that mention you (${entries.length}):`);
  for (const entry of entries) {
    const when = entry.createdAt !== undefined ? `${clock(entry.createdAt)} ` : '';
    context.print(`  ${when}${oneLine(names.get(entry.senderId) ?? 'someone')}: ${excerpt(entry.text)}`);
  }
}
