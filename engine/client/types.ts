/**
 * The client core's public shapes: what every front end (the terminal client, the desktop
 * bridge) sees of ChatClient. Front ends depend on these types only.
 */
import type { AnyPluginDefinition } from '../plugin/define.js';
import type { MessagePayload, TerminalCommand } from '../plugin/client-api.js';
import type { CryptoProvider, SealOptions } from '../crypto/index.js';
import type { IdentityKeyStatus } from '../plugin/client-api.js';

export type TransportChoice = 'tls' | 'ws';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly transport: TransportChoice;
  /** WebSocket path (default `/ws`). */
  readonly path?: string;
  /** Extra CA certificate(s) to trust (PEM), e.g. a private CA; the system's CAs stay trusted. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /**
   * The name the certificate must carry (TLS SNI and verification). Default: `host` when it is a
   * name, none for an IP address. (Extension.)
   */
  readonly servername?: string;
  /**
   * Speak TLS (`tls` transport) or `wss://` (`ws` transport). Default true; false gives plain TCP
   * or `ws://` for a development server running without TLS. (Extension.)
   */
  readonly tls?: boolean;
  /**
   * Accept the server's certificate without verification. Only for a development server
   * (ENVIRONMENT=dev); the terminal flag is `--insecure-dev`.
   */
  readonly insecureDev?: boolean;
}

export interface ChatClientOptions {
  readonly server: ServerAddress;
  /** Folder holding one sub-folder per account (default `~/.kecalek`). */
  readonly home?: string;
  /** Client parts of plugins this client knows; each activates only if the server advertises it. */
  readonly plugins?: readonly AnyPluginDefinition[];
  readonly provider?: CryptoProvider;
  readonly requestTimeoutMs?: number;
  /** Reconnect automatically after a dropped connection (default true). */
  readonly autoReconnect?: boolean;
  /** Name this device reports at login (default: the host name). */
  readonly deviceName?: string;
  /** How long to wait for the server's hello when connecting (default 15 s). (Extension.) */
  readonly helloTimeoutMs?: number;
  /**
   * Pre-key upkeep: signed pre-key rotation interval (default 7 days) and grace period for the
   * previous one (30 days), one-time pre-key target (50) and minimum (20). (Extension.)
   */
  readonly preKeyPolicy?: Partial<PreKeyPolicyOptions>;
  /** How keys.kenv is sealed (default Argon2id 256 MiB, 4 passes). (Extension.) */
  readonly keyEnvelope?: Omit<SealOptions, 'provider'>;
}

export interface PreKeyPolicyOptions {
  readonly signedPreKeyRotationMs: number;
  readonly signedPreKeyGraceMs: number;
  readonly oneTimePreKeyTarget: number;
  readonly oneTimePreKeyMinimum: number;
}

/** A local account found by `listAccounts(home)`. (Extension.) */
export interface AccountInfo {
  readonly email: string;
  /** The account's folder. */
  readonly folder: string;
}

/** What `getUser` answers. (Extension.) */
export interface UserInfo {
  readonly userId: string;
  readonly username: string;
  /** Base64 Ed25519 identity key as the server presented it. */
  readonly identityKey: string;
  /** The TOFU status after the identityKeySeen hook (a changed key also emits `identity_changed`). */
  readonly identityStatus: IdentityKeyStatus;
}

/** Options of `sendMessage`. (Extension: the contract's inline type, named.) */
export interface SendOptions {
  /** The id of the message this one answers (adds `reply_to` with an excerpt to the payload). */
  readonly replyTo?: string;
  /** Extra payload fields (plugins' data). */
  readonly payload?: MessagePayload;
}

/** What `maintainPreKeys` did. (Extension.) */
export interface PreKeyUpkeep {
  readonly oneTimePreKeys: number;
  readonly uploadedOneTimePreKeys: number;
  readonly rotatedSignedPreKey: boolean;
  readonly signedPreKeyId: number | null;
}

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

export interface SelfInfo {
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly deviceId: string;
}

export interface ServerInfo {
  readonly protocolVersion: number;
  readonly serverVersion: string;
  readonly plugins: ReadonlyArray<{ name: string; version: string }>;
  readonly pluginSettings: Readonly<Record<string, Record<string, unknown>>>;
  readonly limits: Readonly<Record<string, number>>;
}

export interface Member {
  readonly userId: string;
  readonly username: string;
  readonly role: 'creator' | 'member';
  readonly joinedAt: number;
}

export interface Conversation {
  readonly id: string;
  readonly kind: 'dm' | 'group';
  /** Group name; for a DM the peer's username. */
  readonly name: string;
  readonly createdBy: string | null;
  readonly createdAt: number;
  readonly lastMessageAt: number | null;
  readonly unreadCount: number;
  readonly members: readonly Member[];
  /** For a DM: the other person's user id. */
  readonly peerId?: string;
  /** The newest visible message from the local cache, for previews. */
  readonly lastMessage?: ChatMessage;
  /** Fields added by server plugins (conversationsListed). */
  readonly extra: Readonly<Record<string, unknown>>;
}

export type MessageStatus = 'pending' | 'sent' | 'failed';

export interface ChatMessage {
  readonly id: string;
  readonly conversationId: string;
  readonly senderId: string;
  readonly senderUsername: string;
  readonly senderDeviceId: string;
  readonly createdAt: number;
  /** Sent by this account (from any of its devices). */
  readonly own: boolean;
  readonly text: string;
  /** The whole decrypted payload, including plugin fields (mentions, reply_to, ...). */
  readonly payload: MessagePayload;
  readonly replyTo?: { readonly messageId: string; readonly senderId: string; readonly excerpt: string };
  readonly deleted: boolean;
  /** Could not be decrypted on this device (e.g. sent before it was linked and no self copy yet). */
  readonly undecryptable: boolean;
  readonly status: MessageStatus;
  /** The client_msg_id this message was sent with (own messages). */
  readonly clientMsgId?: string;
  /** Fields added by server plugins (messagesFetched), e.g. reactions, pinned_at. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface Device {
  readonly deviceId: string;
  readonly name: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly current: boolean;
  readonly online: boolean;
}

/** New-device side of linking: show `code`/`qr`, compare `sas` with the other device, then `accept()`. */
export interface LinkingRequest {
  readonly code: string;
  /** Text to render as a QR code (carries this device's ephemeral public key). */
  readonly qrText: string;
  readonly expiresAt: number;
  /** Resolves once the existing device answered: the short authentication string to compare. */
  readonly sas: Promise<string>;
  /** After the user confirmed the SAS matches: imports the keys, logs in as a new device. */
  accept(password: string): Promise<SelfInfo>;
  cancel(): Promise<void>;
}

/** Existing-device side of linking, after entering the code or scanning the QR. */
export interface LinkingApproval {
  readonly sas: string;
  /** Sends the keys, end-to-end encrypted to the new device. Only after the user confirmed the SAS. */
  confirm(): Promise<void>;
  cancel(): Promise<void>;
}

export interface ClientEvents {
  connection: [state: ConnectionState];
  message: [message: ChatMessage];
  message_updated: [message: ChatMessage];
  message_deleted: [info: { messageId: string; conversationId: string }];
  messages_read: [info: { conversationId: string; userId: string; messageIds: string[] }];
  conversation_updated: [info: { conversationId: string; reason: string }];
  conversation_removed: [info: { conversationId: string; reason: string }];
  presence: [info: { userId: string; online: boolean }];
  identity_changed: [info: { userId: string; username: string; wasVerified: boolean }];
  session_reset: [info: { userId: string; deviceId: string }];
  devices_changed: [];
  /**
   * This device was removed from the account (`remove_device` on another device): the server
   * refuses its login (`device_removed`), so it is logged out and does not reconnect. Its local
   * folder stays: linking this computer again (`startLinking`, approved from another device)
   * reuses it, as a new device of the account. Emitted after the logout, at login or on reconnect.
   */
  device_removed: [info: { email: string; deviceId: string }];
  /** A failure that happened in the background (sync, upkeep); shown to the user, never thrown. */
  error: [error: Error];
  /** Events emitted by plugins' client parts (`api.emit`). */
  plugin: [info: { plugin: string; type: string; data: unknown }];
}

export interface PluginCommands {
  readonly plugin: string;
  readonly command: TerminalCommand;
}
