/**
 * The group-commit message writer. One fsync per message caps SQLite near 4,000 rows/s; one per
 * batch reaches 15,000-30,000 (PERFORMANCE.md). So sends are queued, and a flush takes up to
 * `maxBatch` queued messages and writes them — messages, their recipient rows and the
 * conversations they touch — with multi-row inserts in ONE transaction. Each sender's promise
 * resolves after its batch committed, in queue order.
 *
 * Ordering: one flush runs at a time, and ids (UUIDv7) and created_at are assigned at flush time,
 * so within this process they follow commit order. created_at comes from a per-conversation
 * monotonic millisecond clock (max(now, previous + 1) for that conversation): a device syncing
 * with `after_ts` never misses a message committed after its last fetch, and two messages of one
 * conversation never share a millisecond. The clock is per conversation rather than global so
 * that a busy server does not drift ahead of wall time (a global +1 per message would run seconds
 * into the future at thousands of messages per second); only one conversation receiving more
 * than 1,000 messages per second moves ahead, and only its own timestamps.
 *
 * Failure: if a batch fails (a unique violation on client_msg_id raced in by another process, a
 * foreign key that vanished), its messages are retried one by one so that one bad message fails
 * alone and the others are stored.
 *
 * Other frequent small writes can ride along (`transact`): a task runs inside the next batch's
 * transaction, after its messages, and shares its commit. Receiving devices upload self copies
 * (reencrypt_messages) about twice a second each; as transactions of their own they cost a
 * synchronous fsync each (two, before: upsert and clean-up), which under relay load blocked the
 * SQLite server's event loop longer than the messages themselves did (bench/README.md).
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { WireError, WireErrorCode } from '../../errors.js';
import { uuidv7 } from '../ids.js';
import { insertMessages, touchConversations, type MessageKind, type MessageRow, type RecipientRow } from '../db/messages.js';

export interface PendingRecipient {
  readonly userId: string;
  readonly deviceId: string;
  readonly body: string;
}

/** A message to persist. Recipients are the rows to store (phantoms already left out). */
export interface PendingMessage {
  readonly conversationId: string;
  readonly senderId: string;
  readonly senderDeviceId: string;
  readonly clientMsgId: string | null;
  readonly kind: MessageKind;
  readonly body: string | null;
  readonly recipients: readonly PendingRecipient[];
}

export interface WrittenMessage {
  readonly id: string;
  readonly createdAt: number;
}

export interface WriteTicket {
  readonly promise: Promise<WrittenMessage>;
  /** True when the same (sender, client_msg_id) was already queued or being written: nothing new was queued. */
  readonly duplicate: boolean;
  /** The conversation of the message the promise is for (the first one's, for a duplicate). */
  readonly conversationId: string;
}

export interface WriterStats {
  /** Transactions committed (retries of single messages included). */
  readonly batches: number;
  /** Messages persisted. */
  readonly messages: number;
  /** Tasks (transact) committed. */
  readonly tasks: number;
  /** Most messages committed in one transaction. */
  readonly largestBatch: number;
  /** Batches that failed and were retried message by message. */
  readonly failedBatches: number;
  /** Messages that could not be stored. */
  readonly failedMessages: number;
  /** Messages waiting for the next flush right now. */
  readonly queued: number;
}

export interface MessageWriterOptions {
  /** Most messages per transaction (default 500). */
  readonly maxBatch?: number;
  readonly log?: Logger;
  /** The wall clock (tests may pin it). */
  readonly now?: () => number;
}

/** Work run inside a batch's transaction (see MessageWriter.transact). */
export type WriterTask<T> = (trx: Knex.Transaction) => Promise<T>;

interface MessageEntry {
  readonly message: PendingMessage;
  readonly task?: undefined;
  readonly key: string | undefined;
  readonly resolve: (written: WrittenMessage) => void;
  readonly reject: (error: unknown) => void;
  readonly promise: Promise<WrittenMessage>;
  id?: string;
  createdAt?: number;
}

interface TaskEntry {
  readonly message?: undefined;
  readonly task: WriterTask<unknown>;
  readonly key?: undefined;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
  result?: unknown;
}

type Entry = MessageEntry | TaskEntry;

const DEFAULT_MAX_BATCH = 500;
/** Clock entries are pruned once there are this many (only entries ahead of now matter). */
const CLOCK_PRUNE_SIZE = 10_000;

export class MessageWriter {
  private readonly maxBatch: number;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private queue: Entry[] = [];
  /** (sender, client_msg_id) of messages queued or being written. */
  private readonly inFlight = new Map<string, MessageEntry>();
  /** Last created_at given per conversation. */
  private readonly clock = new Map<string, number>();
  private scheduled = false;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private counters = { batches: 0, messages: 0, tasks: 0, largestBatch: 0, failedBatches: 0, failedMessages: 0 };

  constructor(
    private readonly db: Knex,
    options: MessageWriterOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
    this.log = options.log;
    this.now = options.now ?? Date.now;
  }

  /**
   * Queues a message. The ticket's promise resolves with its id and created_at once its batch has
   * committed, or rejects with the database error if it could not be stored. A second write with
   * the same (sender, client_msg_id) while the first is still queued or being written gets the
   * first one's promise with `duplicate: true`.
   */
  write(message: PendingMessage): WriteTicket {
    if (this.closed) {
      const refused = Promise.reject(new WireError(WireErrorCode.SHUTTING_DOWN, 'The server is shutting down'));
      return { promise: refused, duplicate: false, conversationId: message.conversationId };
    }
    const key = message.clientMsgId === null ? undefined : `${message.senderId}\n${message.clientMsgId}`;
    if (key !== undefined) {
      const existing = this.inFlight.get(key);
      if (existing) return { promise: existing.promise, duplicate: true, conversationId: existing.message.conversationId };
    }
    let resolve!: (written: WrittenMessage) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<WrittenMessage>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: MessageEntry = { message, key, resolve, reject, promise };
    if (key !== undefined) this.inFlight.set(key, entry);
    this.queue.push(entry);
    this.schedule();
    return { promise, duplicate: false, conversationId: message.conversationId };
  }

  /**
   * Runs `task` inside the transaction of the next batch (after its messages), so that it shares
   * the batch's commit. Resolves with the task's result once that transaction committed; rejects
   * with the task's error (a failing task fails alone: the batch is retried entry by entry).
   * Only for small writes that must not wait on anything outside the transaction.
   */
  transact<T>(task: WriterTask<T>): Promise<T> {
    if (this.closed) return Promise.reject(new WireError(WireErrorCode.SHUTTING_DOWN, 'The server is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task, resolve: resolve as (result: unknown) => void, reject });
      this.schedule();
    });
  }

  /**
   * Makes every created_at this process gives the conversation from now on greater than `ts`.
   * A DM deleted "for me" at T hides messages up to T and must show every later one, and a member
   * who joined at J sees messages from J on: even within the same millisecond.
   */
  fence(conversationId: string, ts: number): void {
    const last = this.clock.get(conversationId);
    if (last === undefined || last < ts) this.clock.set(conversationId, ts);
  }

  /** The newest created_at this process gave (or fenced) the conversation, if it still matters. */
  lastStamp(conversationId: string): number | undefined {
    return this.clock.get(conversationId);
  }

  /** Counters for the benchmark and tests. */
  stats(): WriterStats {
    return { ...this.counters, queued: this.queue.length };
  }

  /** Flushes everything queued, then refuses new writes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.runFlushes();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // Next turn of the event loop: every send that arrives in the meantime joins this batch.
    setImmediate(() => {
      this.scheduled = false;
      if (!this.flushing) void this.runFlushes();
    });
  }

  /** Flushes batch after batch until the queue is empty; only one of these runs at a time. */
  private runFlushes(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.queue.length > 0) {
          const batch = this.queue.slice(0, this.maxBatch);
          this.queue = this.queue.slice(batch.length);
          await this.flush(batch);
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private async flush(batch: Entry[]): Promise<void> {
    this.stamp(batch);
    try {
      await this.commit(batch);
    } catch (error) {
      if (batch.length === 1) {
        this.fail(batch[0], error);
        return;
      }
      this.counters.failedBatches++;
      this.log?.warn({ err: error, messages: batch.length }, 'message batch failed; retrying its messages one by one');
      for (const entry of batch) {
        try {
          await this.commit([entry]);
        } catch (single) {
          this.fail(entry, single);
        }
      }
    }
  }

  /** Assigns ids and created_at in queue order. */
  private stamp(batch: Entry[]): void {
    const now = this.now();
    if (this.clock.size > CLOCK_PRUNE_SIZE) {
      // An entry at or behind now no longer constrains anything: max(now, last + 1) = now.
      for (const [conversationId, last] of this.clock) if (last < now) this.clock.delete(conversationId);
    }
    for (const entry of batch) {
      if (entry.message === undefined) continue;
      const conversationId = entry.message.conversationId;
      const last = this.clock.get(conversationId);
      const createdAt = last === undefined || last < now ? now : last + 1;
      this.clock.set(conversationId, createdAt);
      entry.id = uuidv7(now);
      entry.createdAt = createdAt;
    }
  }

  private async commit(batch: Entry[]): Promise<void> {
    const messages: MessageRow[] = [];
    const recipients: RecipientRow[] = [];
    const latest = new Map<string, number>();
    const tasks: TaskEntry[] = [];
    for (const entry of batch) {
      if (entry.message === undefined) {
        tasks.push(entry);
        continue;
      }
      const m = entry.message;
      const id = entry.id!;
      const createdAt = entry.createdAt!;
      messages.push({
        id,
        conversation_id: m.conversationId,
        sender_id: m.senderId,
        sender_device_id: m.senderDeviceId,
        client_msg_id: m.clientMsgId,
        kind: m.kind,
        body: m.body,
        created_at: createdAt,
      });
      for (const r of m.recipients) recipients.push({ message_id: id, user_id: r.userId, device_id: r.deviceId, body: r.body });
      // Control messages (sender keys, receipts) are not activity: they do not move the list.
      if (m.kind === 'message') latest.set(m.conversationId, Math.max(latest.get(m.conversationId) ?? 0, createdAt));
    }
    await this.db.transaction(async (trx) => {
      await insertMessages(trx, messages, recipients);
      await touchConversations(trx, latest);
      for (const entry of tasks) entry.result = await entry.task(trx);
    });
    this.counters.batches++;
    this.counters.messages += messages.length;
    this.counters.tasks += tasks.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, messages.length);
    for (const entry of batch) {
      if (entry.message === undefined) {
        entry.resolve(entry.result);
        continue;
      }
      if (entry.key !== undefined) this.inFlight.delete(entry.key);
      entry.resolve({ id: entry.id!, createdAt: entry.createdAt! });
    }
  }

  private fail(entry: Entry, error: unknown): void {
    if (entry.message !== undefined) this.counters.failedMessages++;
    if (entry.key !== undefined) this.inFlight.delete(entry.key);
    entry.reject(error);
  }
}
