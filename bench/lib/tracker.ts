/**
 * Completion of Kecalek messages in the benchmarks: a message is complete once its sender's
 * `sendMessage` resolved (the server acknowledged it after its batch committed) AND every expected
 * recipient emitted it as a decrypted `message` event. Its latency runs from the `sendMessage`
 * call to the last recipient's event. Texts carry a key (see messageText) to match them up.
 */
import type { ChatClient } from '../../engine/client/client.js';
import { keyOf, messageText } from './clients.js';

interface Entry {
  readonly start: number;
  readonly expected: number;
  delivered: number;
  acked: boolean;
  lastAt: number;
  readonly done: (latencyMs: number) => void;
  readonly fail: (error: unknown) => void;
}

export class DeliveryTracker {
  private readonly pending = new Map<string, Entry>();
  private sequence = 0;
  /** Events for keys this tracker does not know (should stay 0). */
  unexpected = 0;
  /** Client `error` events. */
  readonly errors: Error[] = [];

  constructor(
    private readonly prefix: string,
    private readonly bytes: number,
  ) {}

  /** Listens to a receiving client's decrypted messages (and its errors). */
  watch(client: ChatClient): void {
    client.on('message', (message) => {
      if (message.own) return;
      const entry = this.pending.get(keyOf(message));
      if (!entry) {
        this.unexpected++;
        return;
      }
      entry.delivered++;
      entry.lastAt = performance.now();
      this.check(keyOf(message), entry);
    });
    client.on('error', (error) => {
      if (this.errors.length < 20) this.errors.push(error);
    });
  }

  /** Sends one tracked message. */
  send(client: ChatClient, conversationId: string, expected: number, done: (latencyMs: number) => void, fail: (error: unknown) => void): void {
    const key = `${this.prefix}${this.sequence++}`;
    const entry: Entry = { start: performance.now(), expected, delivered: 0, acked: false, lastAt: 0, done, fail };
    this.pending.set(key, entry);
    client.sendMessage(conversationId, messageText(key, this.bytes)).then(
      () => {
        entry.acked = true;
        this.check(key, entry);
      },
      (error: unknown) => {
        this.pending.delete(key);
        fail(error);
      },
    );
  }

  /** Sends one tracked message and waits for it. */
  sendAndWait(client: ChatClient, conversationId: string, expected: number): Promise<number> {
    return new Promise((resolve, reject) => this.send(client, conversationId, expected, resolve, reject));
  }

  get outstanding(): number {
    return this.pending.size;
  }

  private check(key: string, entry: Entry): void {
    if (!entry.acked || entry.delivered < entry.expected) return;
    this.pending.delete(key);
    entry.done(entry.lastAt - entry.start);
  }
}
