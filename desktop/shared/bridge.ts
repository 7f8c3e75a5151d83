/**
 * The one bridge between the renderer and the client core (which runs in Electron's main process,
 * or in the web host's Node process). The renderer calls `invoke(method, args)` and subscribes with
 * `on(event, listener)`; nothing else crosses. Every value is plain JSON (structured-clone safe).
 * Browser-safe: no Node imports.
 */
import type { UiConversation, UiMessage, UiSelf } from '../../engine/plugin/ui.js';

export type ConnectionStateName = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

export interface BridgeServerInfo {
  readonly serverVersion: string;
  readonly plugins: ReadonlyArray<{ name: string; version: string }>;
  readonly pluginSettings: Readonly<Record<string, Record<string, unknown>>>;
  /**
   * Plugins whose definition this app loaded in the main process (built-in, or given with
   * --plugin / KECALEK_PLUGINS). A UI part activates only for a plugin the server advertises AND
   * this app has: its actions call the client part, which must be there.
   */
  readonly localPlugins: readonly string[];
}

export interface BridgeState {
  /**
   * Grows with every snapshot the bridge takes. A getState answer can be overtaken by a newer
   * `state` event; the renderer applies a snapshot only if it is not older than the last one applied.
   */
  readonly revision: number;
  readonly connection: ConnectionStateName;
  readonly self: (UiSelf & { readonly email: string }) | undefined;
  readonly server: BridgeServerInfo | undefined;
  /**
   * Accounts with a key store on this computer (email + username). The key store seals the
   * username: it is the one remembered at this app's last sign-in to the account, '' if none.
   */
  readonly accounts: ReadonlyArray<{ email: string; username: string }>;
  /** Where this client connects (for the sign-in screen). */
  readonly serverAddress: string;
  /** False when the server's certificate is not checked (a development server, --insecure-dev): the UI must not show it as secure. */
  readonly serverVerified: boolean;
  readonly settings: BridgeSettings;
}

export interface BridgeSettings {
  readonly theme: 'system' | 'dark' | 'light';
}

export interface BridgeConversation extends UiConversation {
  readonly createdAt: number;
  readonly lastMessageAt: number | null;
  readonly peerId?: string;
  readonly lastMessage?: BridgeMessage;
  readonly members: ReadonlyArray<{ userId: string; username: string; role: 'creator' | 'member'; joinedAt: number }>;
}

export interface BridgeMessage extends UiMessage {
  readonly senderDeviceId: string;
  readonly clientMsgId?: string;
  readonly replyTo?: { readonly messageId: string; readonly senderId: string; readonly excerpt: string };
}

export interface BridgeDevice {
  readonly deviceId: string;
  readonly name: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly current: boolean;
  readonly online: boolean;
}

export interface BridgeError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Every method the renderer may call: arguments and result. */
export interface BridgeMethods {
  getState: { args: Record<string, never>; result: BridgeState };
  setSettings: { args: Partial<BridgeSettings>; result: BridgeSettings };

  register: { args: { username: string; email: string; password: string }; result: { email: string } };
  confirmRegistration: { args: { code: string }; result: UiSelf & { email: string } };
  login: { args: { email: string; password: string }; result: UiSelf & { email: string } };
  logout: { args: Record<string, never>; result: null };

  /** New device: starts linking; the QR comes as an SVG document string (rendered in the main process). */
  startLinking: { args: Record<string, never>; result: { code: string; qrText: string; qrSvg: string; expiresAt: number } };
  /** New device: waits for the existing device's answer; resolves to the SAS to compare. */
  linkingSas: { args: Record<string, never>; result: { sas: string } };
  acceptLinking: { args: { password: string }; result: UiSelf & { email: string } };
  cancelLinking: { args: Record<string, never>; result: null };
  /** Existing device: enter the code (or QR text) shown by the new device. */
  approveLinking: { args: { input: string }; result: { sas: string } };
  confirmApproval: { args: Record<string, never>; result: null };
  cancelApproval: { args: Record<string, never>; result: null };

  listConversations: { args: { refresh?: boolean }; result: BridgeConversation[] };
  getConversation: { args: { conversationId: string; refresh?: boolean }; result: BridgeConversation };
  createDm: { args: { email: string }; result: BridgeConversation };
  createGroup: { args: { name: string; emails: string[] }; result: BridgeConversation };
  addMember: { args: { conversationId: string; email: string }; result: { userId: string; outcome: string } };
  removeMember: { args: { conversationId: string; userId: string }; result: null };
  leaveGroup: { args: { conversationId: string }; result: null };
  renameConversation: { args: { conversationId: string; name: string }; result: null };
  deleteConversation: { args: { conversationId: string }; result: null };

  getCachedMessages: { args: { conversationId: string }; result: BridgeMessage[] };
  syncConversation: { args: { conversationId: string }; result: BridgeMessage[] };
  loadOlder: { args: { conversationId: string; beforeTs: number; limit?: number }; result: BridgeMessage[] };
  /**
   * `clientMsgId` is the renderer's idempotency key for this send: a second sendMessage with the
   * same key (e.g. repeated after the web host's WebSocket reconnected) answers with the first
   * send's outcome instead of sending again. The core assigns the message's own `clientMsgId`.
   */
  sendMessage: {
    args: { conversationId: string; text: string; replyTo?: string; payload?: Record<string, unknown>; clientMsgId?: string };
    result: BridgeMessage;
  };
  retryMessage: { args: { conversationId: string; clientMsgId: string }; result: BridgeMessage };
  deleteMessage: { args: { conversationId: string; messageId: string }; result: null };
  markRead: { args: { conversationId: string; messageIds?: string[] }; result: { marked: number } };

  listDevices: { args: Record<string, never>; result: BridgeDevice[] };
  removeDevice: { args: { deviceId: string }; result: null };
  onlineUsers: { args: Record<string, never>; result: string[] };

  /** Calls a method a plugin's client part exposed (`client.plugins.<plugin>.<method>(...args)`). */
  pluginCall: { args: { plugin: string; method: string; args: unknown[] }; result: unknown };
}

export type BridgeMethod = keyof BridgeMethods;

/** Every event the main process forwards to the renderer. */
export interface BridgeEvents {
  connection: { state: ConnectionStateName };
  message: BridgeMessage;
  message_updated: BridgeMessage;
  message_deleted: { messageId: string; conversationId: string };
  messages_read: { conversationId: string; userId: string; messageIds: string[] };
  conversation_updated: { conversationId: string; reason: string };
  conversation_removed: { conversationId: string; reason: string };
  presence: { userId: string; online: boolean };
  identity_changed: { userId: string; username: string; wasVerified: boolean };
  session_reset: { userId: string; deviceId: string };
  devices_changed: Record<string, never>;
  device_removed: { email: string; deviceId: string };
  /** A background failure, for a non-blocking notice. */
  error: BridgeError;
  /** A plugin client part's event (`api.emit`). */
  plugin: { plugin: string; type: string; data: unknown };
  /** The signed-in state changed (login, logout, linking finished), the server's hello became known, or the settings changed. */
  state: BridgeState;
}

export type BridgeEvent = keyof BridgeEvents;

export const BRIDGE_METHODS: readonly BridgeMethod[] = [
  'getState', 'setSettings', 'register', 'confirmRegistration', 'login', 'logout',
  'startLinking', 'linkingSas', 'acceptLinking', 'cancelLinking', 'approveLinking', 'confirmApproval', 'cancelApproval',
  'listConversations', 'getConversation', 'createDm', 'createGroup', 'addMember', 'removeMember', 'leaveGroup',
  'renameConversation', 'deleteConversation', 'getCachedMessages', 'syncConversation', 'loadOlder', 'sendMessage',
  'retryMessage', 'deleteMessage', 'markRead', 'listDevices', 'removeDevice', 'onlineUsers', 'pluginCall',
];

export const BRIDGE_EVENTS: readonly BridgeEvent[] = [
  'connection', 'message', 'message_updated', 'message_deleted', 'messages_read', 'conversation_updated',
  'conversation_removed', 'presence', 'identity_changed', 'session_reset', 'devices_changed', 'device_removed',
  'error', 'plugin', 'state',
];

/** The API the preload exposes as `window.kecalek` (and the web host's WebSocket client mirrors). */
export interface KecalekBridge {
  invoke<M extends BridgeMethod>(method: M, args: BridgeMethods[M]['args']): Promise<BridgeMethods[M]['result']>;
  on<E extends BridgeEvent>(event: E, listener: (data: BridgeEvents[E]) => void): () => void;
}

/** Wire messages of the web host's WebSocket bridge (same semantics as Electron IPC). */
export type BridgeWireRequest = { readonly id: number; readonly method: string; readonly args: unknown };
export type BridgeWireReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: BridgeError };
export type BridgeWireEvent = { readonly event: string; readonly data: unknown };

export const IPC_INVOKE_CHANNEL = 'kecalek:invoke';
export const IPC_EVENT_CHANNEL = 'kecalek:event';

/**
 * Codes the bridge itself reports (beside the engine's codes from engine/errors.ts, which pass
 * through unchanged): a method that does not exist (or a plugin method that no active plugin
 * exposed), a caller that may not use the bridge, and the renderer side's transport failures.
 */
export const BridgeErrorCode = {
  UNKNOWN_METHOD: 'unknown_method',
  /** The caller is not the app's own page (IPC from another origin, a foreign WebSocket). */
  FORBIDDEN_SENDER: 'forbidden_sender',
  /** The renderer gave up waiting for an answer. */
  BRIDGE_TIMEOUT: 'bridge_timeout',
  /** The transport to the main process (the web host's WebSocket) is down; the call may or may not have run. */
  BRIDGE_UNAVAILABLE: 'bridge_unavailable',
} as const;
export type BridgeErrorCode = (typeof BridgeErrorCode)[keyof typeof BridgeErrorCode];

/** What the main process answers on IPC_INVOKE_CHANNEL (the preload turns `ok: false` into a rejection with `error`). */
export type BridgeReply = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: BridgeError };

const methodSet: ReadonlySet<string> = new Set(BRIDGE_METHODS);
const eventSet: ReadonlySet<string> = new Set(BRIDGE_EVENTS);

export function isBridgeMethod(value: unknown): value is BridgeMethod {
  return typeof value === 'string' && methodSet.has(value);
}

export function isBridgeEvent(value: unknown): value is BridgeEvent {
  return typeof value === 'string' && eventSet.has(value);
}
