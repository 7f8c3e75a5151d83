/**
 * The UI part of a plugin: what it contributes to the desktop renderer. It lives in the plugin's
 * own `ui.ts` (imported only by the renderer bundle, never by Node code) and is activated only when
 * the server advertises the plugin in `hello`.
 *
 * No tapable here: the renderer runs under a CSP without `unsafe-eval`, and tapable compiles hooks
 * with `new Function`. UI slots are a small registry instead; each contributed element renders
 * inside its own error boundary.
 */

/** Where plugin elements render (DESIGN.md §2). */
export type SlotName =
  | 'message.actions'
  | 'message.footer'
  | 'message.header'
  | 'conversation.header'
  | 'conversation.list-item'
  | 'composer'
  | 'overlay'
  | 'settings';

export const SLOT_NAMES: readonly SlotName[] = [
  'message.actions',
  'message.footer',
  'message.header',
  'conversation.header',
  'conversation.list-item',
  'composer',
  'overlay',
  'settings',
];

/** A serialisable view of a message as the renderer holds it (ChatMessage over the bridge). */
export interface UiMessage {
  readonly id: string;
  readonly conversationId: string;
  readonly senderId: string;
  readonly senderUsername: string;
  readonly createdAt: number;
  readonly own: boolean;
  readonly text: string;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly deleted: boolean;
  readonly undecryptable: boolean;
  readonly status: 'pending' | 'sent' | 'failed';
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface UiMember {
  readonly userId: string;
  readonly username: string;
  readonly role: 'creator' | 'member';
}

export interface UiConversation {
  readonly id: string;
  readonly kind: 'dm' | 'group';
  readonly name: string;
  readonly createdBy: string | null;
  readonly members: readonly UiMember[];
  readonly unreadCount: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface UiSelf {
  readonly userId: string;
  readonly username: string;
  readonly deviceId: string;
}

/**
 * What a slot element receives as its `context` property. Message slots get `message`;
 * conversation slots get `conversation`; the composer gets `composer`.
 */
export interface SlotContext {
  readonly self: UiSelf | undefined;
  readonly conversation?: UiConversation;
  readonly message?: UiMessage;
  /** The composer's text box, for composer contributions (autocomplete): read and replace text. */
  readonly composer?: ComposerHandle;
  /** The plugin's public settings from hello. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Calls this plugin's client-part methods (`client.plugins.<name>.<method>(...args)`) in the main process. */
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  /** Shows a short non-blocking message (errors of plugin actions). */
  toast(text: string, kind?: 'info' | 'error'): void;
  /**
   * Scrolls the open conversation to a message and highlights it, loading older history when
   * needed. Works from the slots inside the conversation view (`conversation.header`, `composer`,
   * the message slots); elsewhere it does nothing.
   */
  jumpTo(messageId: string): void;
  /**
   * Opens a conversation in the main window. Resolves once it is open; a conversation this client
   * does not list yet (a group just joined) is waited for a few seconds first.
   */
  openConversation(conversationId: string): Promise<void>;
}

export interface ComposerHandle {
  readonly element: HTMLTextAreaElement;
  /** Replaces the text between `start` and `end` and puts the caret after it. */
  replaceRange(start: number, end: number, text: string): void;
}

export interface SlotItem {
  /** Unique within the plugin. */
  readonly id: string;
  /** A custom element tag; must start with the plugin's name and a dash (`reactions-picker`). */
  readonly tag: string;
  /** Lower renders first (default 100). */
  readonly order?: number;
  /** Show the item only when this returns true for the context (default always). */
  readonly when?: (context: SlotContext) => boolean;
}

/** A message-level action shown in the message's action menu. */
export interface MessageAction {
  readonly id: string;
  readonly label: string;
  /** Show only for some messages (e.g. own, not deleted). */
  readonly when?: (message: UiMessage, context: SlotContext) => boolean;
  run(message: UiMessage, context: SlotContext): void | Promise<void>;
}

/**
 * A stretch of a message's text to emphasise (`@mentions`, search hits): `start` and `end` are
 * UTF-16 offsets into `message.text` (end exclusive). The renderer draws them itself, so that the
 * message text keeps its own styles: `accent` is emphasised in the accent colour, `strong` is
 * marked with the highlight background (for "this concerns you"). Overlapping marks are dropped.
 */
export interface TextMark {
  readonly start: number;
  readonly end: number;
  readonly kind?: 'accent' | 'strong';
  /** A tooltip and accessible description of the mark. */
  readonly title?: string;
}

/**
 * Returns the marks for a message's text (called on every render of the message: keep it quick
 * and synchronous); a decorator that throws is logged and skipped.
 */
export type TextDecorator = (message: UiMessage, context: SlotContext) => readonly TextMark[] | undefined | void;

export interface UiPluginApi {
  readonly name: string;
  /** The plugin's public settings from hello. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Contributes an element to a slot; returns a function that removes it again. */
  slot(name: SlotName, item: SlotItem): () => void;
  /** Contributes an entry to every message's action menu; returns its remover. */
  messageAction(action: MessageAction): () => void;
  /** Registers a custom element under this plugin's prefix (no-op if already defined). */
  define(tag: string, element: CustomElementConstructor): void;
  /** Adds marks to the text of messages (e.g. highlighted `@mentions`); returns its remover. */
  decorateText(decorator: TextDecorator): () => void;
  /**
   * Listens to this plugin's client events (what its client part passes to `api.emit`, e.g. a
   * client part that turns its server pushes into events); returns an unsubscribe. Changes a client
   * part stores with `api.client.updateMessage` need no listener: the message re-renders with the
   * new `extra`.
   */
  on(event: string, listener: (data: unknown) => void): () => void;
}

export interface UiPluginDefinition {
  readonly name: string;
  setup(api: UiPluginApi): void;
}

export function defineUiPlugin(definition: UiPluginDefinition): UiPluginDefinition {
  return Object.freeze({ ...definition });
}
