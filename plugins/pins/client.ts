/**
 * The pins plugin's client part: `client.plugins.pins.{pin, unpin, list, isPinned}`, the terminal
 * commands `/pin`, `/unpin` and `/pins`, a 📌 badge on pinned messages, and a notice when someone
 * else pins a message in one of your conversations.
 *
 * Keeping the cache right. The original lost pins when a conversation was re-opened: it never
 * updated its cached messages, and incremental sync does not fetch old messages again. Here every
 * pin change ends up in the cached message's `extra.pinned_at` / `extra.pinned_by`
 * (api.client.updateMessage), which is persisted: the user's own requests (from the answer), the
 * `message_pinned` / `message_unpinned` pushes (each carries the whole state of its message's pin),
 * and `list()`, which also clears pins the server no longer has. A conversation shown with messages
 * cached before this client started (which may have missed pushes) is listed once in the
 * background for that; after the client logged in again following a lost connection
 * (api.onReady), every conversation listed so far is listed again at once, and the others when
 * they are shown. Writes run one at a time, in the order answers and pushes arrived.
 */
import { messageReferenceLabel, type ClientPluginApi, type DecoratedMessage, type TerminalCommandContext } from '../../engine/plugin/index.js';
import { PIN_BADGE, type GetPinnedAnswer, type MessagePinnedPush, type PinAnswer, type PinsConfig } from './shared.js';

export interface PinResult {
  readonly conversationId: string;
  readonly messageId: string;
  readonly pinned: boolean;
  /** False when it was pinned (unpinned) already. */
  readonly changed: boolean;
  readonly pinnedAt: number | null;
  readonly pinnedBy: string | null;
}

export interface PinnedMessage {
  readonly conversationId: string;
  readonly messageId: string;
  readonly pinnedBy: string;
  readonly pinnedByUsername: string | null;
  readonly pinnedAt: number;
  readonly senderId: string;
  readonly createdAt: number;
  /** The message's decrypted text, when this device has the message in its cache. */
  readonly text?: string;
}

/** `client.plugins.pins`. */
export interface PinsMethods {
  pin(conversationId: string, messageId: string): Promise<PinResult>;
  unpin(conversationId: string, messageId: string): Promise<PinResult>;
  /** The conversation's pinned messages, newest pin first (also brings the cached messages' pins up to date). */
  list(conversationId: string): Promise<PinnedMessage[]>;
  /** Whether a message (anything with `extra`) is pinned, as the cache knows it. */
  isPinned(message: { readonly extra?: Readonly<Record<string, unknown>> }): boolean;
}

interface PinState {
  readonly pinnedAt: number | null;
  readonly pinnedBy: string | null;
}

/** How many pin states of messages not decrypted yet the plugin remembers. */
const REMEMBERED_IDS = 2000;
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

function readPush(data: unknown): { message_id: string; conversation_id: string; user_id: string; username: string; pinned_at: number | null } | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (typeof d.message_id !== 'string' || typeof d.conversation_id !== 'string' || typeof d.user_id !== 'string') return undefined;
  return {
    message_id: d.message_id,
    conversation_id: d.conversation_id,
    user_id: d.user_id,
    username: typeof d.username === 'string' && d.username ? d.username : 'someone',
    pinned_at: typeof d.pinned_at === 'number' ? d.pinned_at : null,
  };
}

/** Whether `extra` says the message is pinned. */
export function isPinnedExtra(extra: Readonly<Record<string, unknown>> | undefined): boolean {
  return typeof extra?.pinned_at === 'number';
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

export function pinsClient(api: ClientPluginApi<PinsConfig>): void {
  /** Messages created before this may have missed pushes (this client was not running, or offline). */
  let staleBefore = Date.now();
  const writes = new Serial();
  const notices = new Serial();
  /** Pin states to write once this device has decrypted the message (id -> conversation and state). */
  const afterDecryption = new BoundedMap<string, PinState & { conversationId: string }>(REMEMBERED_IDS);
  /** Conversations whose pins were listed (or are being listed) since the last login. */
  const listed = new Set<string>();

  async function cachedById(conversationId: string): Promise<Map<string, DecoratedMessage>> {
    try {
      return new Map((await api.client.cachedMessages(conversationId)).map((message) => [message.id, message]));
    } catch {
      return new Map(); // not logged in (any more)
    }
  }

  /** Writes pin states into the cache; call inside `writes`. */
  async function write(conversationId: string, cached: ReadonlyMap<string, DecoratedMessage>, states: ReadonlyMap<string, PinState>): Promise<void> {
    for (const [messageId, state] of states) {
      const message = cached.get(messageId);
      // Not cached yet, or not decrypted yet (decrypting replaces its extra): again afterwards.
      if (!message || isPlaceholder(message)) afterDecryption.set(messageId, { conversationId, ...state });
      else afterDecryption.delete(messageId);
      if (message) await api.client.updateMessage(conversationId, messageId, { pinned_at: state.pinnedAt, pinned_by: state.pinnedBy });
    }
  }

  /** Queues the write of one message's pin state (at once, so that writes keep the order of arrival). */
  const storeOne = (conversationId: string, messageId: string, state: PinState) =>
    writes.run(async () => write(conversationId, await cachedById(conversationId), new Map([[messageId, state]])));

  async function change(conversationId: string, messageId: string, pinned: boolean): Promise<PinResult> {
    const answer = await api.client.request<PinAnswer>('pin_message', { message_id: messageId, pinned });
    const pinnedAt = typeof answer.pinned_at === 'number' ? answer.pinned_at : null;
    const pinnedBy = pinnedAt !== null && typeof answer.pinned_by === 'string' ? answer.pinned_by : null;
    await storeOne(conversationId, messageId, { pinnedAt, pinnedBy });
    return { conversationId, messageId, pinned: answer.pinned === true, changed: answer.changed === true, pinnedAt, pinnedBy };
  }

  async function list(conversationId: string): Promise<PinnedMessage[]> {
    listed.add(conversationId);
    const answer = await api.client.request<GetPinnedAnswer>('get_pinned_messages', { conversation_id: conversationId });
    // Queued at once: a push that arrives after this answer is written after it.
    return writes.run(() => adopt(conversationId, answer));
  }

  /** The pins of a get_pinned_messages answer, written into the cache where it differs; call inside `writes`. */
  async function adopt(conversationId: string, answer: GetPinnedAnswer): Promise<PinnedMessage[]> {
    const cached = await cachedById(conversationId);
    const pins: PinnedMessage[] = [];
    for (const entry of Array.isArray(answer.pins) ? answer.pins : []) {
      if (typeof entry?.message_id !== 'string' || typeof entry.pinned_at !== 'number' || typeof entry.pinned_by !== 'string') continue;
      const message = cached.get(entry.message_id);
      const text = message && !message.deleted && !isPlaceholder(message) ? message.text : undefined;
      pins.push({
        conversationId,
        messageId: entry.message_id,
        pinnedBy: entry.pinned_by,
        pinnedByUsername: typeof entry.pinned_by_username === 'string' ? entry.pinned_by_username : null,
        pinnedAt: entry.pinned_at,
        senderId: typeof entry.sender_id === 'string' ? entry.sender_id : '',
        createdAt: typeof entry.message_created_at === 'number' ? entry.message_created_at : 0,
        ...(text !== undefined ? { text } : {}),
      });
    }
    // What the server says now is what the cache should say: write what differs.
    const states = new Map<string, PinState>();
    for (const message of cached.values()) {
      if (isPinnedExtra(message.extra) && !pins.some((pin) => pin.messageId === message.id)) states.set(message.id, { pinnedAt: null, pinnedBy: null });
    }
    for (const pin of pins) {
      const message = cached.get(pin.messageId);
      if (!message || message.extra.pinned_at !== pin.pinnedAt || message.extra.pinned_by !== pin.pinnedBy) {
        states.set(pin.messageId, { pinnedAt: pin.pinnedAt, pinnedBy: pin.pinnedBy });
      }
    }
    await write(conversationId, cached, states);
    return pins;
  }

  /** `bob pinned "the plan for saturday" in Hiking`. */
  async function announce(push: MessagePinnedPush): Promise<void> {
    const message = (await cachedById(push.conversation_id)).get(push.message_id);
    const excerpt = message && !isPlaceholder(message) ? excerptOf(message.text) : undefined;
    const conversation = await api.client.conversation(push.conversation_id).catch(() => undefined);
    const where = conversation?.kind === 'group' ? ` in ${conversation.name}` : '';
    api.emit('pinned', {
      notice: `${push.username} pinned ${excerpt !== undefined ? `"${excerpt}"` : 'a message'}${where}`,
      conversation_id: push.conversation_id,
      message_id: push.message_id,
      user_id: push.user_id,
      username: push.username,
      pinned_at: push.pinned_at,
    });
  }

  api.on('message_pinned', (data) => {
    const push = readPush(data);
    if (!push || push.pinned_at === null) return;
    const pinned: MessagePinnedPush = { ...push, pinned_at: push.pinned_at };
    void storeOne(pinned.conversation_id, pinned.message_id, { pinnedAt: pinned.pinned_at, pinnedBy: pinned.user_id }).catch(() => undefined);
    // Someone else pinned a message in one of my conversations: worth a line. Unpins and my own
    // pins (from my other devices) only update the cache and the badge.
    if (pinned.user_id !== api.client.self?.userId) void notices.run(() => announce(pinned)).catch(() => undefined);
  });

  api.on('message_unpinned', (data) => {
    const push = readPush(data);
    if (push) void storeOne(push.conversation_id, push.message_id, { pinnedAt: null, pinnedBy: null }).catch(() => undefined);
  });

  api.hooks.incomingPayload.tap((_payload, context) => {
    // A message whose pin changed before this device could store or decrypt it: the client stores
    // it right after this tap (within this turn of the event loop), so write the pin on the next.
    const waiting = afterDecryption.get(context.messageId);
    if (waiting === undefined) return;
    afterDecryption.delete(context.messageId);
    setImmediate(() => void storeOne(waiting.conversationId, context.messageId, waiting).catch(() => undefined));
  });

  // Logged in again after a lost connection: pins and unpins of that time never came as pushes.
  // The conversations listed so far are listed again now; the others when they are shown.
  api.onReady(async ({ reconnected }) => {
    if (!reconnected) return;
    staleBefore = Date.now();
    const again = [...listed];
    listed.clear();
    for (const conversationId of again) {
      try {
        await list(conversationId);
      } catch (error) {
        listed.delete(conversationId);
        // Not a member any more, or the plugin is off now: nothing to catch up on there.
        const code = (error as { code?: unknown } | undefined)?.code;
        if (code !== 'not_found' && code !== 'unknown_type') throw error;
      }
    }
  });

  api.decorate((message: DecoratedMessage) => {
    if (message.deleted) return undefined;
    // Shown from the cache of an earlier run, or from before the connection was lost: the
    // conversation may have missed pushes. List its pins once, in the background.
    if (message.createdAt < staleBefore && !listed.has(message.conversationId)) void list(message.conversationId).catch(() => listed.delete(message.conversationId));
    // A message this device cannot read (yet) shows no badge.
    if (isPlaceholder(message)) return undefined;
    return isPinnedExtra(message.extra) ? { badges: [PIN_BADGE] } : undefined;
  });

  // ---- terminal commands ---------------------------------------------------------------------

  const requireConversation = (context: TerminalCommandContext): string | undefined => {
    if (context.conversationId === undefined) context.error('Open a conversation first (/open <n>).');
    return context.conversationId;
  };

  api.command({
    name: 'pin',
    usage: '<#n>',
    help: 'Pins a message in this conversation',
    needsConversation: true,
    async run(args: string[], context: TerminalCommandContext) {
      const conversationId = requireConversation(context);
      if (conversationId === undefined) return;
      if (args.length === 0) {
        context.error('Usage: /pin <#n>');
        return;
      }
      const result = await change(conversationId, context.resolveMessage(args[0]!), true);
      const label = referenceLabel(args[0]!);
      context.print(result.changed ? `${PIN_BADGE} Pinned ${label}.` : `${label} is pinned already.`);
    },
  });

  api.command({
    name: 'unpin',
    usage: '<#n>',
    help: 'Unpins a message',
    needsConversation: true,
    async run(args: string[], context: TerminalCommandContext) {
      const conversationId = requireConversation(context);
      if (conversationId === undefined) return;
      if (args.length === 0) {
        context.error('Usage: /unpin <#n>');
        return;
      }
      const result = await change(conversationId, context.resolveMessage(args[0]!), false);
      const label = referenceLabel(args[0]!);
      context.print(result.changed ? `Unpinned ${label}.` : `${label} was not pinned.`);
    },
  });

  api.command({
    name: 'pins',
    usage: '',
    help: 'Lists the pinned messages of this conversation',
    needsConversation: true,
    async run(_args: string[], context: TerminalCommandContext) {
      const conversationId = requireConversation(context);
      if (conversationId === undefined) return;
      const pins = await list(conversationId);
      if (pins.length === 0) {
        context.print('No pinned messages in this conversation.');
        return;
      }
      const names = (await api.client.conversation(conversationId).catch(() => undefined))?.members ?? new Map<string, string>();
      const selfId = api.client.self?.userId;
      const nameOf = (userId: string, fallback?: string | null) =>
        userId === selfId ? 'you' : (names.get(userId) ?? fallback ?? `someone (${userId.slice(0, 8)})`);
      context.print(`Pinned messages (${pins.length}):`);
      for (const pin of pins) {
        const excerpt = pin.text !== undefined ? excerptOf(pin.text) : undefined;
        const what = excerpt !== undefined ? `"${excerpt}"` : '(not on this device)';
        context.print(`  ${PIN_BADGE} ${nameOf(pin.senderId)}: ${what} — pinned by ${nameOf(pin.pinnedBy, pin.pinnedByUsername)}`);
      }
    },
  });

  const methods: PinsMethods = {
    pin: (conversationId, messageId) => change(conversationId, messageId, true),
    unpin: (conversationId, messageId) => change(conversationId, messageId, false),
    list,
    isPinned: (message) => isPinnedExtra(message.extra),
  };
  api.expose({ ...methods });
}
