/**
 * Sends that the server has not acknowledged yet, stored sealed (`outbox.bin`) before anything
 * leaves. An entry first holds the plaintext payload; once encrypted it also holds the exact
 * `send_message` fields, which are re-sent unchanged after a reconnect or a restart until the
 * server answers (it de-duplicates by `client_msg_id`). Only a final failure removes an entry
 * without an answer, and it is reported.
 */
import type { MessagePayload } from '../plugin/client-api.js';
import type { AccountStore } from './store/account-store.js';

export const OUTBOX_RECORD = 'outbox.bin';

export interface OutboxEntry {
  client_msg_id: string;
  conversation_id: string;
  payload: MessagePayload;
  /** Local time the user sent it (the pending message's time). */
  created_at: number;
  /** The exact request fields once encrypted (null: not encrypted yet). */
  fields: Record<string, unknown> | null;
  /** Sends of these fields so far. */
  attempts: number;
}

interface OutboxFile {
  v: 1;
  entries: OutboxEntry[];
}

export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();

  constructor(
    private readonly store: AccountStore,
    private readonly report: (error: Error) => void,
  ) {}

  async load(): Promise<void> {
    try {
      const file = await this.store.readJson<OutboxFile>(OUTBOX_RECORD);
      for (const entry of file?.entries ?? []) this.entries.set(entry.client_msg_id, entry);
    } catch (error) {
      this.report(error as Error);
    }
  }

  private save(): Promise<void> {
    return this.store.writeJson(OUTBOX_RECORD, { v: 1, entries: [...this.entries.values()] } satisfies OutboxFile);
  }

  list(): OutboxEntry[] {
    return [...this.entries.values()].sort((a, b) => a.created_at - b.created_at);
  }

  get(clientMsgId: string): OutboxEntry | undefined {
    return this.entries.get(clientMsgId);
  }

  /** Stores (or updates) an entry durably. */
  async put(entry: OutboxEntry): Promise<void> {
    this.entries.set(entry.client_msg_id, entry);
    await this.save();
  }

  async remove(clientMsgId: string): Promise<void> {
    if (this.entries.delete(clientMsgId)) await this.save();
  }

  /**
   * Drops the ciphertexts of every entry (they were made by sessions this device no longer has):
   * each is encrypted again before it is next sent.
   */
  async forgetCiphertexts(): Promise<void> {
    let changed = false;
    for (const entry of this.entries.values()) {
      if (entry.fields === null) continue;
      entry.fields = null;
      entry.attempts = 0;
      changed = true;
    }
    if (changed) await this.save();
  }
}
