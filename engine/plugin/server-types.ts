/**
 * The shapes that the server engine hands to plugins: connections, sessions, request contexts,
 * and the rows that hooks decorate. Wire-facing objects keep the protocol's snake_case names.
 */
import type { Logger } from 'pino';

export type TransportKind = 'tls' | 'tcp' | 'ws';

export interface Session {
  readonly userId: string;
  readonly deviceId: string;
  readonly username: string;
}

/** A live connection as plugins see it. */
export interface ConnectionInfo {
  readonly id: string;
  readonly ip: string;
  readonly transport: TransportKind;
  readonly connectedAt: number;
  /** Set once the connection has logged in. */
  readonly session: Session | undefined;
}

export interface RequestContext {
  readonly type: string;
  readonly requestId: string;
  readonly connection: ConnectionInfo;
  readonly session: Session | undefined;
  readonly ip: string;
  /** The raw binary body that followed the frame, if the frame announced one. */
  readonly body: Uint8Array | undefined;
  readonly log: Logger;
  /** Sends an extra frame on this connection (for example streamed chunks sharing this request_id). */
  send(frame: Record<string, unknown>, body?: Uint8Array): Promise<void>;
}

export interface AuthedRequestContext extends RequestContext {
  readonly session: Session;
}

export type RateLimitKey = 'ip' | 'user' | 'connection' | 'ip+email';

export interface RateLimitRule {
  /** Shared bucket name; defaults to the message type. */
  readonly name?: string;
  readonly points: number;
  readonly durationSec: number;
  readonly key: RateLimitKey;
}

export interface HandlerOptions {
  /** Require a logged-in connection (default true). */
  readonly auth?: boolean;
  readonly rateLimit?: RateLimitRule | readonly RateLimitRule[];
  /** Largest binary body this type accepts (default: none accepted). */
  readonly maxBodyBytes?: number;
  /** Exempt from the per-connection request rate (bulk chunk uploads). */
  readonly exemptFromConnectionRate?: boolean;
}

/** The request as `beforeRequest` sees it (already validated). */
export interface RequestInfo {
  readonly type: string;
  readonly plugin: string;
  readonly request: Readonly<Record<string, unknown>>;
  readonly context: RequestContext;
}

export interface MemberAddingContext {
  readonly conversationId: string;
  readonly userId: string;
  readonly addedBy: string;
  /** `create` when members are named in create_conversation, `add` for add_member. */
  readonly reason: 'create' | 'add';
}

/** A `memberAdding` tap that takes over the addition returns this (bails). */
export interface MemberAddingOutcome {
  /** What happened instead, reported back to the caller, e.g. `invited`. */
  readonly outcome: string;
  readonly data?: Record<string, unknown>;
}

export interface MemberChange {
  readonly conversationId: string;
  readonly userId: string;
  readonly by: string;
  readonly reason: 'create' | 'add' | 'accept' | 'remove' | 'leave' | 'delete' | string;
}

export interface RecipientCiphertext {
  readonly userId: string;
  readonly deviceId: string;
  /** Base64 ciphertext for this device. */
  readonly body: string;
}

/** A message about to be stored; guard taps may refuse it by throwing. */
export interface StoringMessage {
  readonly conversationId: string;
  readonly conversationKind: 'dm' | 'group';
  readonly senderId: string;
  readonly senderDeviceId: string;
  readonly kind: 'message' | 'control';
  readonly clientMsgId: string | undefined;
  /** Shared base64 ciphertext (group sender-key messages); null for per-device messages. */
  readonly body: string | null;
  readonly recipients: readonly RecipientCiphertext[];
}

export interface StoredMessage {
  readonly id: string;
  readonly conversationId: string;
  readonly conversationKind: 'dm' | 'group';
  readonly senderId: string;
  readonly senderDeviceId: string;
  readonly kind: 'message' | 'control';
  readonly createdAt: number;
  readonly recipientUserIds: readonly string[];
}

export interface DeletedMessage {
  readonly id: string;
  readonly conversationId: string;
  readonly senderId: string;
  readonly deletedAt: number;
  readonly deletedBy: string;
}

/** A message as `get_messages` returns it; plugins add their own fields (reactions, pins). */
export interface MessageView {
  id: string;
  conversation_id: string;
  sender_id: string;
  sender_device_id: string;
  kind: 'message' | 'control';
  created_at: number;
  deleted_at: number | null;
  /** Shared ciphertext (groups), base64. */
  body: string | null;
  /** This device's own ciphertext (DMs and control messages addressed to it), base64, or null. */
  recipient_body: string | null;
  /** The user's self copy (the row for SELF_DEVICE_ID, readable by every device of the user), base64, or null. */
  self_body: string | null;
  [pluginField: string]: unknown;
}

export interface FetchContext {
  readonly userId: string;
  readonly deviceId: string;
  readonly conversationId: string;
}

export interface ConversationMemberView {
  user_id: string;
  username: string;
  role: 'creator' | 'member';
  joined_at: number;
}

/** A conversation as `list_conversations` returns it; plugins add their own fields. */
export interface ConversationView {
  id: string;
  kind: 'dm' | 'group';
  name: string | null;
  created_by: string | null;
  created_at: number;
  last_message_at: number | null;
  unread_count: number;
  members: ConversationMemberView[];
  [pluginField: string]: unknown;
}

export interface ListContext {
  readonly userId: string;
  readonly deviceId: string;
}

export interface ConversationDeleting {
  readonly conversationId: string;
  readonly kind: 'dm' | 'group';
  readonly by: string;
  readonly memberIds: readonly string[];
}

export interface UserDeleting {
  readonly userId: string;
}

export interface AuthenticatedEvent {
  readonly connection: ConnectionInfo;
  readonly session: Session;
  /** True when this is the user's only open connection (the user just came online). */
  readonly firstConnection: boolean;
}

export interface DisconnectEvent {
  readonly connection: ConnectionInfo;
  readonly session: Session | undefined;
  /** True when the user has no other open connection left (the user just went offline). */
  readonly lastConnection: boolean;
}

export interface PluginSummary {
  readonly name: string;
  readonly version: string;
}

/** What the `hello` frame advertises. */
export interface Capabilities {
  protocol_version: number;
  server_version: string;
  plugins: PluginSummary[];
  limits: Record<string, number>;
  [extra: string]: unknown;
}

export interface MaintenanceContext {
  readonly now: number;
}
