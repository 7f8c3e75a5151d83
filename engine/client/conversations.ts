/**
 * The client's view of its conversations and their members: kept up to date from answers and
 * pushes, and stored sealed (`conversations.bin`) so the list shows at once, offline too.
 */
import type { AccountStore } from './store/account-store.js';
import type { Conversation, Member } from './types.js';

export const CONVERSATIONS_RECORD = 'conversations.bin';

/** A conversation as the server describes it (list_conversations, get_conversation, pushes). */
export interface WireConversation {
  id: string;
  kind: 'dm' | 'group';
  name: string | null;
  created_by: string | null;
  created_at: number;
  last_message_at: number | null;
  unread_count: number;
  members: Array<{ user_id: string; username: string; role: 'creator' | 'member'; joined_at: number }>;
  [extra: string]: unknown;
}

interface Record_ {
  wire: WireConversation;
  /** When this view was last fetched from the server (ms, local clock). */
  fetchedAt: number;
}

interface ConversationsFile {
  v: 1;
  conversations: Array<{ wire: WireConversation; fetched_at: number }>;
}

const CORE_FIELDS = new Set(['id', 'kind', 'name', 'created_by', 'created_at', 'last_message_at', 'unread_count', 'members']);

export class ConversationStore {
  private readonly byId = new Map<string, Record_>();

  constructor(
    private readonly store: AccountStore,
    private readonly report: (error: Error) => void,
  ) {}

  async load(): Promise<void> {
    try {
      const file = await this.store.readJson<ConversationsFile>(CONVERSATIONS_RECORD);
      for (const entry of file?.conversations ?? []) this.byId.set(entry.wire.id, { wire: entry.wire, fetchedAt: 0 });
    } catch (error) {
      this.report(error as Error);
    }
  }

  private persist(): void {
    // Built when the write starts (writeJsonLazy): every received message updates a conversation
    // (unread count, last message), and the record holds all of them.
    this.store
      .writeJsonLazy(
        CONVERSATIONS_RECORD,
        (): ConversationsFile => ({
          v: 1,
          conversations: [...this.byId.values()].map((r) => ({ wire: r.wire, fetched_at: r.fetchedAt })),
        }),
      )
      .catch((error: unknown) => this.report(error as Error));
  }

  get(id: string): WireConversation | undefined {
    return this.byId.get(id)?.wire;
  }

  fetchedAt(id: string): number {
    return this.byId.get(id)?.fetchedAt ?? 0;
  }

  all(): WireConversation[] {
    return [...this.byId.values()].map((r) => r.wire);
  }

  /** Replaces the whole list (list_conversations); returns the ids that disappeared. */
  replaceAll(list: WireConversation[]): string[] {
    const now = Date.now();
    const gone = [...this.byId.keys()].filter((id) => !list.some((c) => c.id === id));
    this.byId.clear();
    for (const wire of list) this.byId.set(wire.id, { wire, fetchedAt: now });
    this.persist();
    return gone;
  }

  put(wire: WireConversation, fresh = true): void {
    const previous = this.byId.get(wire.id);
    this.byId.set(wire.id, { wire, fetchedAt: fresh ? Date.now() : (previous?.fetchedAt ?? 0) });
    this.persist();
  }

  update(id: string, change: (wire: WireConversation) => void): WireConversation | undefined {
    const record = this.byId.get(id);
    if (!record) return undefined;
    change(record.wire);
    this.persist();
    return record.wire;
  }

  remove(id: string): boolean {
    const removed = this.byId.delete(id);
    if (removed) this.persist();
    return removed;
  }

  /** Marks every view stale (after a reconnect: pushes may have been missed). */
  markStale(): void {
    for (const record of this.byId.values()) record.fetchedAt = 0;
  }
}

export function memberIdsOf(wire: WireConversation): string[] {
  return wire.members.map((m) => m.user_id);
}

/** The client's Conversation for a wire view. */
export function toConversation(wire: WireConversation, selfId: string, extras: { lastMessage?: Conversation['lastMessage'] } = {}): Conversation {
  const members: Member[] = wire.members.map((m) => ({ userId: m.user_id, username: m.username, role: m.role, joinedAt: m.joined_at }));
  const peer = wire.kind === 'dm' ? wire.members.find((m) => m.user_id !== selfId) : undefined;
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(wire)) if (!CORE_FIELDS.has(key)) extra[key] = value;
  return {
    id: wire.id,
    kind: wire.kind,
    name: wire.kind === 'dm' ? (peer?.username ?? wire.name ?? '') : (wire.name ?? ''),
    createdBy: wire.created_by,
    createdAt: wire.created_at,
    lastMessageAt: wire.last_message_at,
    unreadCount: wire.unread_count,
    members,
    ...(peer ? { peerId: peer.user_id } : {}),
    ...(extras.lastMessage ? { lastMessage: extras.lastMessage } : {}),
    extra,
  };
}
