/**
 * The shape of a terminal chat command and what a command may use of the running session.
 * Core commands live in this folder; plugins contribute theirs through `client.commands()`.
 */
import type { ChatMessage, Conversation, SelfInfo } from '../../../engine/client/types.js';
import type { ChatClient } from '../../../engine/client/client.js';
import type { Terminal } from '../prompt.js';
import type { Style } from '../style.js';

export interface CommandInput {
  /** The name the user typed (without the slash, lower case). */
  readonly name: string;
  /** Arguments split on white space (quotes keep spaces together). */
  readonly args: readonly string[];
  /** The raw text after the command name. */
  readonly rest: string;
}

export interface ChatCommand {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** Argument synopsis for help: `<n|name>`. */
  readonly usage?: string;
  /** One line for the command list. */
  readonly summary: string;
  /** More lines for `/help <command>`. */
  readonly details?: readonly string[];
  /** Needs an open conversation. */
  readonly needsConversation?: boolean;
  run(input: CommandInput, session: ChatSession): Promise<void> | void;
}

/** The open conversation. */
export interface OpenConversation {
  readonly conversation: Conversation;
}

/** What commands use of the running chat session (implemented by ChatApp). */
export interface ChatSession {
  readonly client: ChatClient;
  readonly terminal: Terminal;
  readonly style: Style;
  /** The logged-in account. */
  readonly self: SelfInfo;
  /** `host:port` of the server, for messages. */
  readonly serverLabel: string;

  print(text: string): void;
  /** A status line (`[bob is online]`). */
  notice(text: string): void;

  /** The open conversation or undefined. */
  readonly current: Conversation | undefined;
  /** The open conversation; ChatInputError when none is open. */
  requireOpen(): Conversation;
  /** Opens a conversation: prints recent history (cache first, then synced) and marks it read. */
  open(conversation: Conversation): Promise<void>;
  close(): void;
  /** Fetches the conversation list again (and remembers it for numbers and names). */
  refreshConversations(): Promise<readonly Conversation[]>;
  /** The conversations as last listed (numbered from 1 in this order). */
  readonly conversations: readonly Conversation[];
  /** Finds a conversation by list number or name; ChatInputError when none or several match. */
  findConversation(reference: string): Promise<Conversation>;
  /** Prints the conversation list. */
  printConversationList(): Promise<void>;
  unreadOf(conversationId: string): number;
  /** Whether a user is online (undefined when not known). */
  isOnline(userId: string): boolean | undefined;

  /** The message the user refers to as `#12` in the open conversation; ChatInputError when unknown. */
  resolveMessage(reference: string): ChatMessage;
  /** Prints the page of history before the oldest message shown (from the cache, else from the server). */
  showOlder(): Promise<void>;
  /** Prints messages of the open conversation (skipping ones already printed). */
  printMessages(messages: readonly ChatMessage[]): void;
  /** Sends text to the open conversation (queued in order; the result is printed when it is known). */
  send(text: string, replyTo?: ChatMessage): void;

  /** Runs a change of this account's devices made here, without the generic "your devices changed" notice. */
  changeDevices<T>(task: () => Promise<T>): Promise<T>;
  /** Sends a failed message of the open conversation again. */
  retry(message: ChatMessage): void;
  /** Every command available now (core and enabled plugins), for help. */
  commandList(): readonly HelpEntry[];
  /** Ends the session and the program. */
  quit(): void;
  /** Logs out and goes back to the start screen. */
  logout(): Promise<void>;
}

export interface HelpEntry {
  readonly name: string;
  readonly usage?: string;
  readonly summary: string;
  readonly details?: readonly string[];
  /** The plugin that contributes it (undefined for core commands). */
  readonly plugin?: string;
  readonly aliases?: readonly string[];
}
