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
  /** Listens to this plugin's client events (`api.emit` in its client part) and push events; returns an unsubscribe. */
  on(event: string, listener: (data: unknown) => void): () => void;
}

export interface UiPluginDefinition {
  readonly name: string;
  setup(api: UiPluginApi): void;
}

export function defineUiPlugin(definition: UiPluginDefinition): UiPluginDefinition {
  return Object.freeze({ ...definition });
}
