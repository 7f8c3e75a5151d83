/**
 * What a plugin's client part receives (in the terminal client and in Electron's main process).
 * It adds methods under `client.plugins.<name>`, taps the client hooks, listens to its push
 * events and contributes terminal commands. It is activated only when the server advertises the
 * plugin in its `hello` frame.
 */

/** The decrypted content of a message, before padding and encryption. Plugins add fields. */
export interface MessagePayload {
  /** Payload format version. */
  v?: number;
  text?: string;
  [field: string]: unknown;
}

export interface OutgoingContext {
  readonly conversationId: string;
  readonly conversationKind: 'dm' | 'group';
  /** user id -> username of the conversation's members. */
  readonly members: ReadonlyMap<string, string>;
}

export interface IncomingContext {
  readonly conversationId: string;
  readonly messageId: string;
  readonly senderId: string;
  readonly senderDeviceId: string;
  readonly createdAt: number;
  /** True for a message sent by this account (from this or another device). */
  readonly own: boolean;
}

export type IdentityKeyStatus = 'new' | 'trusted' | 'verified' | 'changed' | 'changed_verified';

export interface IdentityKeyContext {
  readonly userId: string;
  /** Base64 Ed25519 identity key as the server presented it. */
  readonly identityKey: string;
}

export interface ClientHookTaps {
  /** Decorate the plaintext payload before it is encrypted (reply, forward, mentions). Return the new payload. */
  outgoingPayload: { tap(fn: (payload: MessagePayload, context: OutgoingContext) => MessagePayload | void): void };
  /**
   * Consume a decrypted payload before it becomes a visible message. Return true to swallow it
   * (a control payload the plugin handled), or nothing to let it through.
   */
  incomingPayload: { tap(fn: (payload: MessagePayload, context: IncomingContext) => boolean | void): void };
  /** Decide the trust status of an identity key the client has just seen (verification's TOFU). */
  identityKeySeen: {
    tap(fn: (status: IdentityKeyStatus, context: IdentityKeyContext) => IdentityKeyStatus | void): void;
  };
}

/** What `api.onReady` listeners receive. */
export interface ReadyContext {
  /**
   * False for the first login of this client (login, registration, a linked device); true when it
   * logged in again after the connection was lost — pushes sent meanwhile were missed, so state a
   * plugin keeps from pushes should be fetched again.
   */
  readonly reconnected: boolean;
  /** The logged-in user and device. */
  readonly self: { readonly userId: string; readonly username: string; readonly deviceId: string };
}

/** A terminal-client command contributed by a plugin (`/react 3 heart`). */
export interface TerminalCommand {
  /** Command name without the slash. */
  readonly name: string;
  /** Argument synopsis shown in help, e.g. `<message#> <reaction>`. */
  readonly usage?: string;
  readonly help: string;
  /** Needs an open conversation. */
  readonly needsConversation?: boolean;
  run(args: string[], context: TerminalCommandContext): Promise<void> | void;
}

export interface TerminalCommandContext {
  /** The open conversation, if any. */
  readonly conversationId: string | undefined;
  /**
   * Resolves a message reference as the terminal shows it (`#3`, `3`, or an id) to a message id,
   * the same way for every command (see `parseMessageNumber` / `messageReferenceLabel`). Throws a
   * readable error for a number that does not exist or a message that has not reached the server.
   */
  resolveMessage(reference: string): string;
  print(line: string): void;
  /** Prints a user-facing error (no stack trace). */
  error(line: string): void;
}

/** The part of the chat client a plugin may call. */
export interface PluginClientFacade {
  /** Sends a request of a type this plugin registered on the server and returns its `data`. */
  request<T = unknown>(type: string, fields?: Record<string, unknown>): Promise<T>;
  /** The logged-in user's id and username. */
  readonly self: { readonly userId: string; readonly username: string; readonly deviceId: string } | undefined;
  /** Member user id -> username of a conversation the user belongs to (from the client's cache). */
  members(conversationId: string): Promise<ReadonlyMap<string, string>>;
  /** Sends a message in a conversation through the normal encrypted path, with extra payload fields. */
  sendPayload(conversationId: string, payload: MessagePayload): Promise<{ messageId: string; createdAt: number }>;
  /**
   * Merges `patch` into the `extra` fields of a cached message (the fields server plugins attach,
   * like `reactions`), persists it and emits `message_updated`. Keys set to undefined are removed.
   * Returns false when the message is not in this device's cache.
   */
  updateMessage(conversationId: string, messageId: string, patch: Record<string, unknown>): Promise<boolean>;
  /** This device's decrypted messages of a conversation, oldest first (the local cache; no network). */
  cachedMessages(conversationId: string): Promise<DecoratedMessage[]>;
  /** Kind, name and members of a conversation the user belongs to (cached; fetched when unknown), or undefined. */
  conversation(conversationId: string): Promise<{ readonly id: string; readonly kind: 'dm' | 'group'; readonly name: string; readonly members: ReadonlyMap<string, string> } | undefined>;
}

/** A message as a plugin's terminal decorator sees it. */
export interface DecoratedMessage {
  readonly id: string;
  readonly conversationId: string;
  readonly senderId: string;
  readonly senderUsername: string;
  readonly createdAt: number;
  readonly own: boolean;
  readonly text: string;
  readonly payload: MessagePayload;
  readonly deleted: boolean;
  /**
   * This device could not decrypt the message (yet): `text` is empty and `payload` is `{}`; it may
   * become readable later (a late sender key, a self copy). Decorators usually skip such messages.
   * Absent means false (messages built by older code).
   */
  readonly undecryptable?: boolean;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** What a plugin adds to a message in the terminal client (plain text; the terminal styles it). */
export interface TerminalDecoration {
  /** Short markers after the message's header, e.g. a pin. */
  readonly badges?: readonly string[];
  /** Extra lines under the message, e.g. reaction counts. */
  readonly notes?: readonly string[];
  /** Substrings of the text to emphasise (mentions); `strong` ones are for the user (mentions of me). */
  readonly highlights?: ReadonlyArray<{ readonly text: string; readonly strong?: boolean }>;
}

export interface ClientPluginApi<Config = unknown> {
  readonly name: string;
  /** The settings the server advertises for this plugin in `hello` (see `publicConfig`). */
  readonly config: Readonly<Partial<Config>>;
  readonly client: PluginClientFacade;
  readonly hooks: ClientHookTaps;
  /** Makes `methods` available as `client.plugins.<name>`. */
  expose(methods: Record<string, unknown>): void;
  /** Listens to this plugin's push events (`message_reacted`, ...). */
  on(eventType: string, listener: (data: unknown) => void): void;
  /** Emits a client event to the front ends (`client.on(type, ...)`). */
  emit(eventType: string, data: unknown): void;
  /** Adds a terminal-client command. */
  command(command: TerminalCommand): void;
  /**
   * Runs `listener` each time the client has logged in: after the first login, and after every
   * successful login again following a lost connection (`context.reconnected`). Pushes sent while
   * the client was offline are lost, so a plugin that keeps state from pushes (pinned lists,
   * invitations, counters) fetches it again here. Listeners run in the background after the login
   * (the catch-up sync runs at the same time); a rejection is reported as an `error` event naming
   * the plugin, unless it is a lost connection (the next login runs the listener again).
   */
  onReady(listener: (context: ReadyContext) => void | Promise<void>): void;
  /** Adds to how the terminal client shows messages (badges, notes under a message, highlights). */
  decorate(decorator: (message: DecoratedMessage, self: { readonly userId: string; readonly username: string } | undefined) => TerminalDecoration | void): void;
}
