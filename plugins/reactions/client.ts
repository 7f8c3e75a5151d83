/**
 * The reactions plugin's client part: `client.plugins.reactions.{react, unreact, toggle, allowed,
 * summary, refresh, emoji}`, the terminal commands `/react` and `/reactions`, the note under a
 * message (`👍 2  ❤ 1 (you)`), and a notice when someone reacts to one of your messages.
 *
 * Keeping the cache right. The original lost reactions when a conversation was re-opened: it never
 * updated its cached messages, and incremental sync does not fetch old messages again. Here every
 * change ends up in the cached message's `extra.reactions` (api.client.updateMessage), which is
 * persisted:
 *   - the user's own requests write the complete list the server answers;
 *   - a `message_reacted` push is applied to the cached list (pushes that arrive together are
 *     applied with one read of the conversation's cache);
 *   - a message shown that may have missed pushes (cached before this client started, or before
 *     the connection was last lost, and not fetched since) is refreshed once from `get_reactions`
 *     (one request per conversation), as is a message whose change arrived before this device had
 *     decrypted it;
 *   - after the client logged in again following a lost connection (api.onReady), the messages
 *     shown most recently are refreshed at once, so reactions given meanwhile appear without
 *     waiting for the messages to be shown again.
 * Requests and cache writes run one at a time, in the order answers and pushes arrived, so a later
 * server state is never overwritten by an earlier one.
 */
import { messageReferenceLabel, type ClientPluginApi, type DecoratedMessage, type TerminalCommandContext } from '../../engine/plugin/index.js';
import {
  DEFAULT_REACTIONS,
  MAX_REACTION_IDS,
  parseReactionInput,
  reactionEmoji,
  readReactions,
  type GetReactionsAnswer,
  type MessageReactedPush,
  type ReactAnswer,
  type ReactionAction,
  type ReactionEntry,
  type ReactionsConfig,
} from './shared.js';

/** One kind of reaction on a message, as front ends show it. */
export interface ReactionSummary {
  readonly reaction: string;
  readonly emoji: string;
  readonly count: number;
  /** The user is among those who reacted with it. */
  readonly mine: boolean;
}

export interface ReactResult {
  readonly conversationId: string;
  readonly messageId: string;
  readonly reaction: string;
  /** What was done (for toggle: what it turned out to be). */
  readonly action: ReactionAction;
  /** False when nothing changed (already there / not there). */
  readonly changed: boolean;
  /** The message's reactions afterwards (also written to the cached message's extra.reactions). */
  readonly reactions: readonly ReactionEntry[];
}

/** `client.plugins.reactions`. */
export interface ReactionsMethods {
  react(conversationId: string, messageId: string, reaction: string): Promise<ReactResult>;
  unreact(conversationId: string, messageId: string, reaction: string): Promise<ReactResult>;
  /** Adds the reaction if the user has not reacted with it, removes it otherwise. */
  toggle(conversationId: string, messageId: string, reaction: string): Promise<ReactResult>;
  /** The reactions this server allows, in the order to offer them. */
  allowed(): string[];
  /** Counts per reaction of a message (anything with `extra.reactions`), in the order of allowed(). */
  summary(message: { readonly extra?: Readonly<Record<string, unknown>> }): ReactionSummary[];
  /** Fetches the current reactions of messages (e.g. after being offline) and stores them in the cache. */
  refresh(conversationId: string, messageIds: readonly string[]): Promise<Record<string, ReactionEntry[]>>;
  /** The emoji of a reaction name (`:name:` for names without one). */
  emoji(reaction: string): string;
}

/** Error codes after which asking again cannot help (the others are retried with the next refresh). */
const PERMANENT_FAILURES = new Set(['not_found', 'bad_request', 'unknown_type', 'forbidden', 'not_authenticated', 'not_logged_in']);
/** How many message ids the plugin remembers as current, or as waiting for decryption. */
const REMEMBERED_IDS = 20_000;
/** How many of the messages shown last are refreshed at once after a reconnect (the others when shown again). */
export const REFRESH_AFTER_RECONNECT = 400;
const EXCERPT_LENGTH = 40;

/** Runs tasks one after another. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** A Map that forgets its oldest entries beyond `limit`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.limit) this.delete(this.keys().next().value!);
    return this;
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

function readPush(data: unknown): MessageReactedPush | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  const strings = ['message_id', 'conversation_id', 'user_id', 'reaction'] as const;
  if (!strings.every((key) => typeof d[key] === 'string') || (d.action !== 'add' && d.action !== 'remove')) return undefined;
  return {
    message_id: d.message_id as string,
    conversation_id: d.conversation_id as string,
    user_id: d.user_id as string,
    username: typeof d.username === 'string' && d.username ? d.username : 'someone',
    reaction: d.reaction as string,
    action: d.action,
    message_sender_id: typeof d.message_sender_id === 'string' ? d.message_sender_id : '',
    created_at: typeof d.created_at === 'number' ? d.created_at : null,
  };
}

/** The list after one pushed change; the same array when the change was there already. */
export function applyChange(list: readonly ReactionEntry[], push: MessageReactedPush): readonly ReactionEntry[] {
  const present = list.some((entry) => entry.user_id === push.user_id && entry.reaction === push.reaction);
  if (push.action === 'add') {
    return present ? list : [...list, { user_id: push.user_id, reaction: push.reaction, created_at: push.created_at ?? Date.now() }];
  }
  return present ? list.filter((entry) => !(entry.user_id === push.user_id && entry.reaction === push.reaction)) : list;
}

/** Counts per reaction, in `order` first, then other names alphabetically. */
export function summarize(entries: readonly ReactionEntry[], selfId: string | undefined, order: readonly string[]): ReactionSummary[] {
  const counts = new Map<string, { count: number; mine: boolean }>();
  const seen = new Set<string>();
  for (const entry of entries) {
    const key = `${entry.user_id}\n${entry.reaction}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const current = counts.get(entry.reaction) ?? { count: 0, mine: false };
    counts.set(entry.reaction, { count: current.count + 1, mine: current.mine || entry.user_id === selfId });
  }
  const rank = (name: string) => {
    const at = order.indexOf(name);
    return at < 0 ? order.length : at;
  };
  return [...counts.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))
    .map(([reaction, { count, mine }]) => ({ reaction, emoji: reactionEmoji(reaction), count, mine }));
}

/** The note under a message: `👍 2  ❤ 1 (you)`. */
export function reactionNote(summary: readonly ReactionSummary[]): string {
  return summary.map((s) => `${s.emoji} ${s.count}${s.mine ? ' (you)' : ''}`).join('  ');
}

/** One line of a message's text, cut to EXCERPT_LENGTH characters. */
function excerptOf(text: string): string | undefined {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  if (chars.length === 0) return undefined;
  return chars.length > EXCERPT_LENGTH ? `${chars.slice(0, EXCERPT_LENGTH - 1).join('')}…` : chars.join('');
}

/** A cached message the client could not decrypt yet. */
function isPlaceholder(message: DecoratedMessage): boolean {
  return !message.deleted && (message.undecryptable ?? Object.keys(message.payload).length === 0);
}

/** How a message reference typed in the terminal is echoed back (`3` -> `#3`). */
const referenceLabel = messageReferenceLabel;

function formatAllowed(names: readonly string[]): string {
  return names.map((name) => `${reactionEmoji(name)} ${name}`).join('  ');
}

export function reactionsClient(api: ClientPluginApi<ReactionsConfig>): void {
  /** Messages created before this may have missed pushes (this client was not running, or offline). */
  let staleBefore = Date.now();
  const queue = new Serial();
  const notices = new Serial();
  /** Pushes not applied yet, by conversation, in arrival order. */
  const pending = new Map<string, MessageReactedPush[]>();
  let applyQueued = false;
  /** Messages to refresh from the server, by conversation. */
  const stale = new Map<string, Set<string>>();
  let refreshQueued = false;
  /** Messages whose cached reactions are current since the last login (decrypted, refreshed or answered): id -> conversation. */
  const current = new BoundedMap<string, string>(REMEMBERED_IDS);
  /** Messages to refresh once this device has decrypted them (id -> conversation). */
  const afterDecryption = new BoundedMap<string, string>(REMEMBERED_IDS);

  const allowed = (): string[] => {
    const advertised = api.config.allowed;
    return Array.isArray(advertised) && advertised.length > 0 && advertised.every((name) => typeof name === 'string') ? [...advertised] : [...DEFAULT_REACTIONS];
  };

  async function cachedById(conversationId: string): Promise<Map<string, DecoratedMessage>> {
    try {
      return new Map((await api.client.cachedMessages(conversationId)).map((message) => [message.id, message]));
    } catch {
      return new Map(); // not logged in (any more)
    }
  }

  /** Writes a message's complete reaction list as the server answered it. */
  async function storeAnswer(conversationId: string, messageId: string, message: DecoratedMessage | undefined, reactions: readonly ReactionEntry[]): Promise<void> {
    if (!message || isPlaceholder(message)) afterDecryption.set(messageId, conversationId);
    if (!message) return;
    current.set(messageId, conversationId);
    await api.client.updateMessage(conversationId, messageId, { reactions: [...reactions] });
  }

  // ---- requests ------------------------------------------------------------------------------

  /** get_reactions for these messages (200 per request), each list stored in the cache. */
  async function fetchAndStore(conversationId: string, messageIds: readonly string[]): Promise<Record<string, ReactionEntry[]>> {
    const result: Record<string, ReactionEntry[]> = {};
    const ids = [...new Set(messageIds)];
    for (let i = 0; i < ids.length; i += MAX_REACTION_IDS) {
      const chunk = ids.slice(i, i + MAX_REACTION_IDS);
      const answer = await api.client.request<GetReactionsAnswer>('get_reactions', { conversation_id: conversationId, message_ids: chunk });
      const cached = await cachedById(conversationId);
      for (const id of chunk) {
        result[id] = readReactions(answer.reactions?.[id]);
        await storeAnswer(conversationId, id, cached.get(id), result[id]);
      }
    }
    return result;
  }

  async function exchange(conversationId: string, messageId: string, reaction: string, action: ReactionAction): Promise<ReactResult> {
    const answer = await api.client.request<ReactAnswer>('react_message', { message_id: messageId, reaction, action });
    const reactions = readReactions(answer.reactions);
    await storeAnswer(conversationId, messageId, (await cachedById(conversationId)).get(messageId), reactions);
    return { conversationId, messageId, reaction, action, changed: answer.changed === true, reactions };
  }

  const react = (conversationId: string, messageId: string, reaction: string) => queue.run(() => exchange(conversationId, messageId, reaction, 'add'));
  const unreact = (conversationId: string, messageId: string, reaction: string) => queue.run(() => exchange(conversationId, messageId, reaction, 'remove'));
  // Adding answers changed=false exactly when the user had reacted with it already: then remove.
  const toggle = (conversationId: string, messageId: string, reaction: string) =>
    queue.run(async () => {
      const added = await exchange(conversationId, messageId, reaction, 'add');
      return added.changed ? added : exchange(conversationId, messageId, reaction, 'remove');
    });
  const refresh = (conversationId: string, messageIds: readonly string[]) => queue.run(() => fetchAndStore(conversationId, messageIds));
  const summary = (message: { readonly extra?: Readonly<Record<string, unknown>> }) =>
    summarize(readReactions(message.extra?.reactions), api.client.self?.userId, allowed());

  // ---- background refreshes ------------------------------------------------------------------

  function markStale(conversationId: string, messageId: string): void {
    let ids = stale.get(conversationId);
    if (!ids) stale.set(conversationId, (ids = new Set()));
    ids.add(messageId);
  }

  async function refreshStale(): Promise<void> {
    refreshQueued = false;
    const batch = [...stale.entries()];
    stale.clear();
    for (const [conversationId, ids] of batch) {
      try {
        await fetchAndStore(conversationId, [...ids]);
      } catch (error) {
        // Not connected, timed out, rate limited: try these again with the next refresh.
        if (!PERMANENT_FAILURES.has(errorCode(error))) for (const id of ids) markStale(conversationId, id);
      }
    }
  }

  function scheduleRefresh(): void {
    if (refreshQueued) return;
    refreshQueued = true;
    void queue.run(refreshStale);
  }

  // ---- pushes --------------------------------------------------------------------------------

  async function applyPending(): Promise<void> {
    applyQueued = false;
    const batch = [...pending.entries()];
    pending.clear();
    for (const [conversationId, pushes] of batch) {
      const cached = await cachedById(conversationId);
      const changed = new Map<string, readonly ReactionEntry[]>();
      for (const push of pushes) {
        const message = cached.get(push.message_id);
        if (!message || isPlaceholder(message)) afterDecryption.set(push.message_id, conversationId);
        if (!message) continue;
        const before = changed.get(push.message_id) ?? readReactions(message.extra.reactions);
        const after = applyChange(before, push);
        if (after !== before) changed.set(push.message_id, after);
      }
      for (const [messageId, reactions] of changed) await api.client.updateMessage(conversationId, messageId, { reactions: [...reactions] });
    }
  }

  function scheduleApply(): void {
    if (applyQueued) return;
    applyQueued = true;
    void queue.run(applyPending);
  }

  /** `bob reacted ❤ to your message "see you at 6" in Hiking`. */
  async function announce(push: MessageReactedPush): Promise<void> {
    const message = (await cachedById(push.conversation_id)).get(push.message_id);
    const excerpt = message ? excerptOf(message.text) : undefined;
    const conversation = await api.client.conversation(push.conversation_id).catch(() => undefined);
    const where = conversation?.kind === 'group' ? ` in ${conversation.name}` : '';
    const what = excerpt !== undefined ? `your message "${excerpt}"` : 'one of your messages';
    api.emit('reacted', {
      notice: `${push.username} reacted ${reactionEmoji(push.reaction)} to ${what}${where}`,
      conversation_id: push.conversation_id,
      message_id: push.message_id,
      user_id: push.user_id,
      username: push.username,
      reaction: push.reaction,
    });
  }

  api.on('message_reacted', (data) => {
    const push = readPush(data);
    if (!push) return;
    let list = pending.get(push.conversation_id);
    if (!list) pending.set(push.conversation_id, (list = []));
    list.push(push);
    scheduleApply();
    // Someone else added a reaction to one of my messages: worth a line. Removals, reactions to
    // other people's messages and my own (from my other devices) only update the cache.
    const self = api.client.self;
    if (self && push.action === 'add' && push.user_id !== self.userId && push.message_sender_id === self.userId) {
      void notices.run(() => announce(push)).catch(() => undefined);
    }
  });

  api.hooks.incomingPayload.tap((_payload, context) => {
    // Decrypted now: it came with the server's current reactions (a fetched page) or has none yet
    // (a new message). One whose change arrived before it could be stored is asked for again; the
    // client stores it right after this tap, well before that answer comes back.
    const waiting = afterDecryption.get(context.messageId);
    if (waiting !== undefined) {
      afterDecryption.delete(context.messageId);
      markStale(waiting, context.messageId);
      scheduleRefresh();
      return;
    }
    current.set(context.messageId, context.conversationId);
  });

  // Logged in again after a lost connection: reactions given or taken back meanwhile never came
  // as pushes. The messages shown most recently are refreshed now (one request per conversation);
  // the others, from before the reconnect, when they are shown again.
  api.onReady(({ reconnected }) => {
    if (!reconnected) return;
    staleBefore = Date.now();
    const recent = [...current.entries()].slice(-REFRESH_AFTER_RECONNECT);
    current.clear();
    for (const [messageId, conversationId] of recent) markStale(conversationId, messageId);
    if (recent.length > 0) scheduleRefresh();
  });

  // ---- terminal ------------------------------------------------------------------------------

  api.decorate((message: DecoratedMessage, self) => {
    // Nothing to show under a message this device cannot read (yet); decrypting it brings its reactions.
    if (message.deleted || isPlaceholder(message)) return undefined;
    // Shown from the cache of an earlier run, or from before the connection was lost: it may have
    // missed pushes. Refresh it once (with the other messages shown now, in one request).
    if (!current.has(message.id) && message.createdAt < staleBefore) {
      current.set(message.id, message.conversationId);
      markStale(message.conversationId, message.id);
      scheduleRefresh();
    }
    const counts = summarize(readReactions(message.extra.reactions), self?.userId, allowed());
    return counts.length > 0 ? { notes: [reactionNote(counts)] } : undefined;
  });

  api.command({
    name: 'react',
    usage: '<#n> <reaction>',
    help: 'Reacts to a message, or takes your reaction back if you gave it already; without a reaction, lists them',
    needsConversation: true,
    async run(args: string[], context: TerminalCommandContext) {
      const names = allowed();
      if (args.length < 2) {
        context.print(`Reactions: ${formatAllowed(names)}${args.length === 0 ? '  (/react <#n> <reaction>)' : ''}`);
        return;
      }
      const conversationId = context.conversationId;
      if (conversationId === undefined) {
        context.error('Open a conversation first (/open <n>).');
        return;
      }
      const messageId = context.resolveMessage(args[0]!);
      const typed = args.slice(1).join(' ');
      const reaction = parseReactionInput(typed);
      if (reaction === undefined || !names.includes(reaction)) {
        context.error(`Unknown reaction "${typed}": use one of ${formatAllowed(names)}`);
        return;
      }
      const result = await toggle(conversationId, messageId, reaction);
      const label = referenceLabel(args[0]!);
      const emoji = reactionEmoji(reaction);
      context.print(result.action === 'add' ? `You reacted ${emoji} to ${label}` : `You took back your ${emoji} from ${label}`);
    },
  });

  api.command({
    name: 'reactions',
    usage: '<#n>',
    help: 'Shows who reacted to a message, and with what',
    needsConversation: true,
    async run(args: string[], context: TerminalCommandContext) {
      const conversationId = context.conversationId;
      if (args.length === 0 || conversationId === undefined) {
        context.error('Usage: /reactions <#n>');
        return;
      }
      const messageId = context.resolveMessage(args[0]!);
      const label = referenceLabel(args[0]!);
      // Ask the server: what this device has may be older.
      const entries = (await refresh(conversationId, [messageId]))[messageId] ?? [];
      if (entries.length === 0) {
        context.print(`No reactions on ${label}.`);
        return;
      }
      const names = (await api.client.conversation(conversationId).catch(() => undefined))?.members ?? new Map<string, string>();
      const selfId = api.client.self?.userId;
      const nameOf = (userId: string) => (userId === selfId ? 'you' : (names.get(userId) ?? `someone (${userId.slice(0, 8)})`));
      context.print(`Reactions on ${label}:`);
      for (const { reaction, emoji } of summarize(entries, selfId, allowed())) {
        const who = entries.filter((entry) => entry.reaction === reaction).map((entry) => nameOf(entry.user_id));
        context.print(`  ${emoji} ${reaction}: ${[...new Set(who)].join(', ')}`);
      }
    },
  });

  const methods: ReactionsMethods = {
    react,
    unreact,
    toggle,
    allowed,
    summary,
    refresh,
    emoji: reactionEmoji,
  };
  api.expose({ ...methods });
}
