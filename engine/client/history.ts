/**
 * The local message cache, one sealed record per conversation (the original's message_cache,
 * encrypted as its C3 fix asks): decrypted messages for cache-first display, undecryptable
 * placeholders with the ciphertext needed to retry them, the ids of processed control messages
 * (so a re-synced page never runs a ratchet twice), and the sync cursors.
 *
 * The cache can always be rebuilt from the server (self copies), so a record that does not open
 * is reported and replaced by an empty one rather than failing the client.
 */
import type { MessagePayload } from '../plugin/client-api.js';
import type { AccountStore } from './store/account-store.js';
import type { MessageStatus } from './types.js';

/** What is kept of a message. ChatMessage adds derived fields (username, text, replyTo). */
export interface CachedMessage {
  id: string;
  conversationId: string;
  senderId: string;
  senderDeviceId: string;
  createdAt: number;
  own: boolean;
  payload: MessagePayload;
  deleted: boolean;
  undecryptable: boolean;
  status: MessageStatus;
  clientMsgId?: string;
  extra: Record<string, unknown>;
  /** For an undecryptable message: what the server sent, to try again later. */
  raw?: RawMessage;
}

/** A message row as the server delivers it (get_messages row or new_message push). */
export interface RawMessage {
  id: string;
  conversation_id: string;
  sender_id: string;
  sender_device_id: string;
  kind: 'message' | 'control';
  created_at: number;
  deleted_at: number | null;
  /** The group's shared (sender-key) ciphertext. */
  body: string | null;
  /** This device's own pairwise ciphertext. */
  recipient_body: string | null;
  /** The account's self copy (get_messages only; never pushed). */
  self_body: string | null;
  extra: Record<string, unknown>;
}

interface CacheFile {
  v: 1;
  conversation_id: string;
  messages: CachedMessage[];
  /** Newest created_at up to which the history was synced without gaps. */
  synced_until: number;
  /** Newest deleted_at seen through get_deleted_since. */
  deletions_until: number;
  /** Control and swallowed messages already handled: id -> created_at. */
  processed: Record<string, number>;
  /** Newest created_at of others' messages marked read. */
  read_up_to: number;
}

interface Entry {
  file: CacheFile;
  byId: Map<string, CachedMessage>;
}

export class MessageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();

  constructor(
    private readonly store: AccountStore,
    private readonly report: (error: Error) => void,
  ) {}

  private recordName(conversationId: string): string {
    return `cache/${this.store.hashedName('cache', conversationId)}.bin`;
  }

  private async entry(conversationId: string): Promise<Entry> {
    const ready = this.entries.get(conversationId);
    if (ready) return ready;
    let loading = this.loading.get(conversationId);
    if (!loading) {
      loading = this.read(conversationId).finally(() => this.loading.delete(conversationId));
      this.loading.set(conversationId, loading);
    }
    return loading;
  }

  private async read(conversationId: string): Promise<Entry> {
    let file: CacheFile | undefined;
    try {
      file = await this.store.readJson<CacheFile>(this.recordName(conversationId));
    } catch (error) {
      this.report(error as Error);
    }
    file ??= { v: 1, conversation_id: conversationId, messages: [], synced_until: 0, deletions_until: 0, processed: {}, read_up_to: 0 };
    const entry: Entry = { file, byId: new Map(file.messages.map((m) => [m.id, m])) };
    this.entries.set(conversationId, entry);
    return entry;
  }

  private persist(conversationId: string, entry: Entry): Promise<void> {
    // Serialised when the record's writer gets to it (writeJsonLazy): the record holds the whole
    // conversation, and building it on every put made each message cost O(messages cached).
    const written = this.store.writeJsonLazy(this.recordName(conversationId), () => {
      entry.file.messages = [...entry.byId.values()].sort((a, b) => a.createdAt - b.createdAt);
      return entry.file;
    });
    written.catch((error: unknown) => this.report(error as Error));
    return written;
  }

  async messages(conversationId: string): Promise<CachedMessage[]> {
    const entry = await this.entry(conversationId);
    return [...entry.byId.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  async get(conversationId: string, messageId: string): Promise<CachedMessage | undefined> {
    return (await this.entry(conversationId)).byId.get(messageId);
  }

  /** Whether a message id was already handled (cached, or a processed control/swallowed message). */
  async known(conversationId: string, messageId: string): Promise<boolean> {
    const entry = await this.entry(conversationId);
    const cached = entry.byId.get(messageId);
    return (cached !== undefined && !cached.undecryptable) || messageId in entry.file.processed;
  }

  async put(message: CachedMessage): Promise<void> {
    const entry = await this.entry(message.conversationId);
    entry.byId.set(message.id, message);
    await this.persist(message.conversationId, entry);
  }

  async remove(conversationId: string, messageId: string): Promise<void> {
    const entry = await this.entry(conversationId);
    if (entry.byId.delete(messageId)) await this.persist(conversationId, entry);
  }

  async markProcessed(conversationId: string, messageId: string, createdAt: number): Promise<void> {
    const entry = await this.entry(conversationId);
    entry.file.processed[messageId] = createdAt;
    await this.persist(conversationId, entry);
  }

  async syncedUntil(conversationId: string): Promise<number> {
    return (await this.entry(conversationId)).file.synced_until;
  }

  /** Moves the gap-free sync cursor forward and forgets processed ids it has passed. */
  async setSyncedUntil(conversationId: string, createdAt: number): Promise<void> {
    const entry = await this.entry(conversationId);
    if (createdAt <= entry.file.synced_until) return;
    entry.file.synced_until = createdAt;
    for (const [id, at] of Object.entries(entry.file.processed)) if (at <= createdAt) delete entry.file.processed[id];
    await this.persist(conversationId, entry);
  }

  async deletionsUntil(conversationId: string): Promise<number> {
    return (await this.entry(conversationId)).file.deletions_until;
  }

  async setDeletionsUntil(conversationId: string, deletedAt: number): Promise<void> {
    const entry = await this.entry(conversationId);
    if (deletedAt <= entry.file.deletions_until) return;
    entry.file.deletions_until = deletedAt;
    await this.persist(conversationId, entry);
  }

  async readUpTo(conversationId: string): Promise<number> {
    return (await this.entry(conversationId)).file.read_up_to;
  }

  async setReadUpTo(conversationId: string, createdAt: number): Promise<void> {
    const entry = await this.entry(conversationId);
    if (createdAt <= entry.file.read_up_to) return;
    entry.file.read_up_to = createdAt;
    await this.persist(conversationId, entry);
  }

  /** The newest visible message (for previews). */
  async latest(conversationId: string): Promise<CachedMessage | undefined> {
    const list = await this.messages(conversationId);
    for (let i = list.length - 1; i >= 0; i--) if (!list[i]!.deleted) return list[i];
    return undefined;
  }

  /** Undecryptable placeholders still waiting to be read. */
  async undecryptable(conversationId: string): Promise<CachedMessage[]> {
    return (await this.messages(conversationId)).filter((m) => m.undecryptable && m.raw !== undefined);
  }

  /** Forgets a conversation's cache (left, removed, deleted). */
  async drop(conversationId: string): Promise<void> {
    this.entries.delete(conversationId);
    await this.store.remove(this.recordName(conversationId));
  }

  /** Conversations loaded in memory. */
  loadedConversations(): string[] {
    return [...this.entries.keys()];
  }
}
