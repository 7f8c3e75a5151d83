/**
 * What the terminal shows of one conversation: which messages were printed, the numbers (`#12`)
 * the user refers to them by, and the day of the last printed message (for date lines).
 *
 * A message keeps its number for the whole session, also after the conversation was closed and
 * opened again. Numbers are handed out in the order messages are first printed, so a number never
 * changes meaning while the user may still see it on screen (older history loaded later gets the
 * next free numbers rather than renumbering what is already shown).
 */
import type { ChatMessage } from '../../engine/client/types.js';
import { DayTracker } from './render.js';

export class ConversationView {
  readonly days = new DayTracker();
  private readonly numbers = new Map<string, number>();
  private readonly byNumber = new Map<number, ChatMessage>();
  /** Ids printed since the conversation was (re)opened: a message is never printed twice. */
  private readonly printed = new Set<string>();
  /** What plugins added to each printed message when it was last shown (see decorationChanged). */
  private readonly decorations = new Map<string, string>();
  private nextNumber = 1;
  /** `createdAt` of the message printed last (older history printed later starts a new date run). */
  lastPrintedAt: number | undefined;
  /** The oldest `createdAt` printed since the conversation was (re)opened (where /older continues). */
  oldestPrintedAt: number | undefined;

  constructor(readonly conversationId: string) {}

  /** The message's number, assigning the next one if it has none yet. */
  numberOf(message: ChatMessage): number {
    let number = this.numbers.get(message.id);
    if (number === undefined) {
      number = this.nextNumber;
      this.nextNumber += 1;
      this.numbers.set(message.id, number);
    }
    this.byNumber.set(number, message);
    return number;
  }

  /** The number already given to a message id, if any. */
  existingNumber(messageId: string): number | undefined {
    return this.numbers.get(messageId);
  }

  /** The message the user calls `#number`. */
  messageByNumber(number: number): ChatMessage | undefined {
    return this.byNumber.get(number);
  }

  /** A message printed in this session, by id. */
  messageById(messageId: string): ChatMessage | undefined {
    const number = this.numbers.get(messageId);
    return number === undefined ? undefined : this.byNumber.get(number);
  }

  /** The number of the newest own message with this text that failed to send, if shown. */
  lastFailed(text: string): number | undefined {
    let found: number | undefined;
    for (const [number, message] of this.byNumber) {
      if (message.own && message.status === 'failed' && message.text === text && (found === undefined || number > found)) found = number;
    }
    return found;
  }

  /** Keeps the newest state of a message (deleted, sent) under its number. */
  update(message: ChatMessage): void {
    const number = this.numbers.get(message.id);
    if (number !== undefined) this.byNumber.set(number, message);
  }

  wasPrinted(messageId: string): boolean {
    return this.printed.has(messageId);
  }

  markPrinted(message: ChatMessage): void {
    this.printed.add(message.id);
    this.lastPrintedAt = message.createdAt;
    if (this.oldestPrintedAt === undefined || message.createdAt < this.oldestPrintedAt) this.oldestPrintedAt = message.createdAt;
  }

  /** Remembers the plugin decoration a message was shown with. */
  noteDecoration(messageId: string, decoration: unknown): void {
    this.decorations.set(messageId, JSON.stringify(decoration));
  }

  /**
   * Whether a printed message's decoration differs from the one it was last shown with (a reaction
   * arrived, a pin went away); remembers the new one.
   */
  decorationChanged(messageId: string, decoration: unknown): boolean {
    const before = this.decorations.get(messageId);
    const now = JSON.stringify(decoration);
    this.decorations.set(messageId, now);
    return before !== undefined && before !== now;
  }

  /** Called when the conversation is opened again: everything is printed anew, numbers stay. */
  reopen(): void {
    this.printed.clear();
    this.decorations.clear();
    this.days.reset();
    this.lastPrintedAt = undefined;
    this.oldestPrintedAt = undefined;
  }
}
