/**
 * The messaging engine of a logged-in device: encrypting and sending (direct messages per device
 * with self copies, group messages with sender keys), receiving (pushes and synced pages, each
 * message decrypted once by id), sender-key distribution and rotation, history sync, self-copy
 * re-encryption and the recovery paths (device_mismatch, missing sender keys, broken sessions).
 */
import { randomBytes } from 'node:crypto';
import { ClientError, ClientErrorCode, CryptoError, CryptoErrorCode, KecalekError, WireErrorCode } from '../errors.js';
import { wipe } from '../crypto/index.js';
import { SELF_DEVICE_ID } from '../protocol/constants.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64.js';
import type { IncomingContext, MessagePayload, OutgoingContext } from '../plugin/client-api.js';
import { asError, hasCode, isRetryable, type DeviceContext } from './core.js';
import { memberIdsOf, type WireConversation } from './conversations.js';
import type { IdentityGate } from './directory.js';
import { deviceKey, type OwnChain } from './groups.js';
import type { CachedMessage, RawMessage } from './history.js';
import type { OutboxEntry } from './outbox.js';
import type { ClientPluginHost } from './plugins.js';
import { KeyedSerial, delay } from './serial.js';
import type { ChatMessage, ClientEvents } from './types.js';
import {
  BodyType,
  CONTROL_FIELD,
  assertWithinLimit,
  decodeBody,
  decodePayload,
  encodeGroupBody,
  encodePayload,
  openSelfCopy,
  sealSelfCopy,
} from './wire-format.js';

/** Re-encryption attempts after device_mismatch before a send fails. */
export const MAX_MISMATCH_RETRIES = 3;
/** Sends of one request that timed out before it is given up. */
export const MAX_TIMEOUT_RETRIES = 8;
/** Self copies are uploaded in batches, at most this many per request (the server's cap). */
export const SELF_COPY_BATCH = 500;
export const SELF_COPY_DEBOUNCE_MS = 500;
/** get_messages page size used for syncing. */
export const SYNC_PAGE = 200;
/** A membership view older than this is fetched again before a group send. */
export const MEMBERSHIP_MAX_AGE_MS = 60_000;
/** At most one automatic session reset per peer device in this period. */
export const AUTO_RESET_INTERVAL_MS = 10 * 60_000;
/** At most this many message ids in one sender-key request. */
export const MAX_REQUESTED_IDS = 50;
const EXCERPT_LENGTH = 100;

/** Engine control payloads (inside `kind: control` messages, through pairwise sessions). */
type ControlPayload =
  | { [CONTROL_FIELD]: 'sender_key'; conversation_id: string; distribution: string }
  | { [CONTROL_FIELD]: 'sender_key_request'; conversation_id: string; message_ids: string[] }
  | { [CONTROL_FIELD]: 'resend'; conversation_id: string; message_id: string; payload: MessagePayload };

export interface MessengerHost {
  readonly context: DeviceContext;
  readonly plugins: ClientPluginHost;
  readonly serial: KeyedSerial;
  request<T>(type: string, fields?: Record<string, unknown>): Promise<T>;
  /** Resolves once a logged-in connection is up; rejects when the client closes or logs out. */
  online(): Promise<void>;
  limits(): Readonly<Record<string, number>>;
  emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void;
  report(error: Error): void;
  /** The conversation as this user sees it, fetched when unknown or `refresh`; undefined when not a member. */
  conversation(conversationId: string, options?: { refresh?: boolean }): Promise<WireConversation | undefined>;
  readonly checkIdentity: IdentityGate;
  username(userId: string): string;
}

interface SendAnswer {
  message_id: string;
  created_at: number;
  duplicate: boolean;
}

interface DeviceRef {
  user_id: string;
  device_id: string;
}

interface Recipient {
  user_id: string;
  device_id: string;
  body: string;
}

/** A `get_messages` row or `new_message` push as a RawMessage. */
export function rawFromWire(row: Record<string, unknown>): RawMessage {
  const known = new Set(['id', 'message_id', 'conversation_id', 'sender_id', 'sender_device_id', 'kind', 'created_at', 'deleted_at', 'body', 'recipient_body', 'self_body']);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) if (!known.has(key)) extra[key] = value;
  return {
    id: String(row.id ?? row.message_id),
    conversation_id: String(row.conversation_id),
    sender_id: String(row.sender_id),
    sender_device_id: String(row.sender_device_id),
    kind: row.kind === 'control' ? 'control' : 'message',
    created_at: Number(row.created_at),
    deleted_at: typeof row.deleted_at === 'number' ? row.deleted_at : null,
    body: typeof row.body === 'string' ? row.body : null,
    recipient_body: typeof row.recipient_body === 'string' ? row.recipient_body : null,
    self_body: typeof row.self_body === 'string' ? row.self_body : null,
    extra,
  };
}

export function newClientMsgId(): string {
  return `c-${randomBytes(16).toString('hex')}`;
}

const pendingId = (clientMsgId: string) => `pending:${clientMsgId}`;

export class Messenger {
  private readonly inflight = new Map<string, Promise<ChatMessage | null>>();
  private readonly selfCopies = new Map<string, { message_id: string; body: string }>();
  private selfCopyTimer: NodeJS.Timeout | undefined;
  private selfCopyFlushing: Promise<void> | undefined;
  private readonly keyRequests = new Map<string, { conversationId: string; userId: string; deviceId: string; ids: Set<string> }>();
  private readonly requested = new Set<string>();
  private keyRequestTimer: NodeJS.Timeout | undefined;
  private readonly autoResets = new Map<string, number>();
  private readonly retriedAt = new Map<string, number>();
  private readonly jobs = new Map<string, Promise<ChatMessage>>();
  private stopped = false;

  constructor(private readonly host: MessengerHost) {}

  private get ctx(): DeviceContext {
    return this.host.context;
  }

  private get selfId(): string {
    return this.ctx.state.user_id;
  }

  private get deviceId(): string {
    return this.ctx.state.device_id ?? '';
  }

  /** Stops timers (logout/close); pending self copies are flushed first when still possible. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.keyRequestTimer);
    await this.flushSelfCopies().catch(() => undefined);
    this.stopped = true;
    clearTimeout(this.selfCopyTimer);
  }

  // ---- message views -----------------------------------------------------------------------------

  toChatMessage(message: CachedMessage): ChatMessage {
    const payload = message.payload;
    const reply = payload.reply_to as { message_id?: unknown; sender_id?: unknown; excerpt?: unknown } | undefined;
    return {
      id: message.id,
      conversationId: message.conversationId,
      senderId: message.senderId,
      senderUsername: this.host.username(message.senderId),
      senderDeviceId: message.senderDeviceId,
      createdAt: message.createdAt,
      own: message.own,
      text: typeof payload.text === 'string' ? payload.text : '',
      payload,
      ...(reply && typeof reply.message_id === 'string'
        ? {
            replyTo: {
              messageId: reply.message_id,
              senderId: typeof reply.sender_id === 'string' ? reply.sender_id : '',
              excerpt: typeof reply.excerpt === 'string' ? reply.excerpt : '',
            },
          }
        : {}),
      deleted: message.deleted,
      undecryptable: message.undecryptable,
      status: message.status,
      ...(message.clientMsgId !== undefined ? { clientMsgId: message.clientMsgId } : {}),
      extra: message.extra,
    };
  }

  // ---- writes of one cached message ---------------------------------------------------------------

  /**
   * Runs `task` when no other write of this cached message is under way: the messenger's own
   * (decrypting, confirming, deleting) and plugins' `updateMessage`, so that neither overwrites the
   * other's fields. Not re-entrant: a task must not wait for another write of the same message.
   */
  withMessage<T>(conversationId: string, messageId: string, task: () => Promise<T>): Promise<T> {
    return this.host.serial.run(`message:${conversationId}:${messageId}`, task);
  }

  /**
   * Merges `patch` into a cached message's `extra` (keys set to undefined are removed), in turn
   * with the other writes of the message. Resolves with the updated message, or undefined when it
   * is not cached.
   */
  updateExtra(conversationId: string, messageId: string, patch: Readonly<Record<string, unknown>>): Promise<CachedMessage | undefined> {
    return this.withMessage(conversationId, messageId, async () => {
      const cached = await this.ctx.cache.get(conversationId, messageId);
      if (!cached) return undefined;
      const extra: Record<string, unknown> = { ...cached.extra };
      for (const [key, value] of Object.entries(patch)) {
        if (value === undefined) delete extra[key];
        else extra[key] = value;
      }
      const updated: CachedMessage = { ...cached, extra };
      await this.ctx.cache.put(updated);
      return updated;
    });
  }

  /** Undoes markDeleted after the server refused the deletion (fields written meanwhile stay). */
  restoreDeleted(before: CachedMessage): Promise<CachedMessage> {
    return this.withMessage(before.conversationId, before.id, async () => {
      const now = await this.ctx.cache.get(before.conversationId, before.id);
      const restored: CachedMessage = now ? { ...before, extra: { ...before.extra, ...now.extra } } : before;
      await this.ctx.cache.put(restored);
      return restored;
    });
  }

  // ---- sending -----------------------------------------------------------------------------------

  /** The payload of a new message: text, reply, extra fields, then the plugins' outgoingPayload taps. */
  async buildPayload(conversationId: string, text: string | undefined, options: { replyTo?: string; payload?: MessagePayload }): Promise<MessagePayload> {
    const wire = await this.requireConversation(conversationId);
    let payload: MessagePayload = { v: 1, ...(options.payload ?? {}) };
    if (text !== undefined) payload.text = text;
    if (options.replyTo !== undefined) {
      const original = await this.ctx.cache.get(conversationId, options.replyTo);
      const excerpt = typeof original?.payload.text === 'string' ? original.payload.text.slice(0, EXCERPT_LENGTH) : '';
      payload.reply_to = { message_id: options.replyTo, sender_id: original?.senderId ?? '', excerpt };
    }
    const context: OutgoingContext = {
      conversationId,
      conversationKind: wire.kind,
      members: new Map(wire.members.map((m) => [m.user_id, m.username])),
    };
    payload = this.host.plugins.outgoing(payload, context);
    return payload;
  }

  /**
   * Sends a visible message: stored in the outbox first, encrypted, sent, re-sent unchanged after
   * reconnects until the server answers. Resolves with the confirmed message.
   */
  async send(conversationId: string, payload: MessagePayload, clientMsgId = newClientMsgId()): Promise<ChatMessage> {
    const entry: OutboxEntry = { client_msg_id: clientMsgId, conversation_id: conversationId, payload, created_at: Date.now(), fields: null, attempts: 0 };
    await this.ctx.outbox.put(entry);
    await this.ctx.cache.put({
      id: pendingId(clientMsgId),
      conversationId,
      senderId: this.selfId,
      senderDeviceId: this.deviceId,
      createdAt: entry.created_at,
      own: true,
      payload,
      deleted: false,
      undecryptable: false,
      status: 'pending',
      clientMsgId,
      extra: {},
    });
    return this.startJob(entry);
  }

  /** Drives every outbox entry left from before (after a login or reconnect). */
  resumeOutbox(): void {
    for (const entry of this.ctx.outbox.list()) {
      if (this.jobs.has(entry.client_msg_id)) continue;
      this.startJob(entry).catch(() => undefined);
    }
  }

  /** Sends a failed message again (a new attempt with the same client_msg_id). */
  async retry(conversationId: string, clientMsgId: string): Promise<ChatMessage> {
    const running = this.jobs.get(clientMsgId);
    if (running) return running;
    const pending = await this.ctx.cache.get(conversationId, pendingId(clientMsgId));
    if (!pending || pending.status !== 'failed') throw new ClientError(WireErrorCode.NOT_FOUND, 'No failed message with this id');
    await this.withMessage(conversationId, pending.id, async () => {
      const current = (await this.ctx.cache.get(conversationId, pending.id)) ?? pending;
      await this.ctx.cache.put({ ...current, status: 'pending' });
    });
    const entry: OutboxEntry = { client_msg_id: clientMsgId, conversation_id: conversationId, payload: pending.payload, created_at: pending.createdAt, fields: null, attempts: 0 };
    await this.ctx.outbox.put(entry);
    return this.startJob(entry);
  }

  private startJob(entry: OutboxEntry): Promise<ChatMessage> {
    // One conversation's sends go out in order.
    const job = this.host.serial.run(`send:${entry.conversation_id}`, () => this.runJob(entry));
    this.jobs.set(entry.client_msg_id, job);
    void job.then(
      () => this.jobs.delete(entry.client_msg_id),
      () => this.jobs.delete(entry.client_msg_id),
    );
    return job;
  }

  private async runJob(entry: OutboxEntry): Promise<ChatMessage> {
    let mismatches = 0;
    let timeouts = 0;
    for (;;) {
      await this.host.online();
      try {
        if (entry.fields === null) {
          entry.fields = await this.encrypt(entry);
          entry.attempts = 0;
          await this.ctx.outbox.put(entry);
        }
        entry.attempts++;
        const answer = await this.host.request<SendAnswer>('send_message', entry.fields);
        return await this.confirmed(entry, answer);
      } catch (error) {
        if (hasCode(error, WireErrorCode.DEVICE_MISMATCH) && mismatches < MAX_MISMATCH_RETRIES && entry.fields !== null) {
          mismatches++;
          entry.fields = await this.afterMismatch(entry, error).catch(async (cause: unknown) => {
            await this.failed(entry, cause);
            throw cause;
          });
          await this.ctx.outbox.put(entry);
          continue;
        }
        if (hasCode(error, ClientErrorCode.REQUEST_TIMEOUT) && ++timeouts > MAX_TIMEOUT_RETRIES) {
          await this.failed(entry, error);
          throw error;
        }
        if (isRetryable(error)) {
          const retryAfter = (error as KecalekError).details?.retry_after_ms;
          if (typeof retryAfter === 'number' && retryAfter > 0) await delay(Math.min(retryAfter, 60_000));
          continue;
        }
        if (hasCode(error, ClientErrorCode.NOT_LOGGED_IN)) throw error; // logged out: the entry stays for the next login
        await this.failed(entry, error);
        throw error;
      }
    }
  }

  private async confirmed(entry: OutboxEntry, answer: SendAnswer): Promise<ChatMessage> {
    await this.ctx.outbox.remove(entry.client_msg_id);
    // The pending copy goes; what plugins stored on it meanwhile moves to the confirmed message.
    const pendingExtra = await this.withMessage(entry.conversation_id, pendingId(entry.client_msg_id), async () => {
      const pending = await this.ctx.cache.get(entry.conversation_id, pendingId(entry.client_msg_id));
      await this.ctx.cache.remove(entry.conversation_id, pendingId(entry.client_msg_id));
      return pending?.extra ?? {};
    });
    const message: CachedMessage = {
      id: answer.message_id,
      conversationId: entry.conversation_id,
      senderId: this.selfId,
      senderDeviceId: this.deviceId,
      createdAt: answer.created_at,
      own: true,
      payload: entry.payload,
      deleted: false,
      undecryptable: false,
      status: 'sent',
      clientMsgId: entry.client_msg_id,
      extra: { ...pendingExtra },
    };
    const [existing, stored] = await this.withMessage(entry.conversation_id, answer.message_id, async () => {
      const found = await this.ctx.cache.get(entry.conversation_id, answer.message_id);
      const confirmed: CachedMessage =
        found && !found.undecryptable
          ? { ...found, clientMsgId: entry.client_msg_id, status: 'sent', extra: { ...pendingExtra, ...found.extra } }
          : { ...message, extra: { ...pendingExtra, ...(found?.extra ?? {}) } };
      await this.ctx.cache.put(confirmed);
      return [found, confirmed] as const;
    });
    this.ctx.conversations.update(entry.conversation_id, (wire) => {
      wire.last_message_at = Math.max(wire.last_message_at ?? 0, answer.created_at);
    });
    const chat = this.toChatMessage(stored);
    if (!existing || existing.undecryptable) this.host.emit('message', chat);
    return chat;
  }

  private async failed(entry: OutboxEntry, error: unknown): Promise<void> {
    await this.ctx.outbox.remove(entry.client_msg_id);
    const message = await this.withMessage(entry.conversation_id, pendingId(entry.client_msg_id), async () => {
      const pending = await this.ctx.cache.get(entry.conversation_id, pendingId(entry.client_msg_id));
      const failedMessage: CachedMessage = pending
        ? { ...pending, status: 'failed' }
        : {
            id: pendingId(entry.client_msg_id),
            conversationId: entry.conversation_id,
            senderId: this.selfId,
            senderDeviceId: this.deviceId,
            createdAt: entry.created_at,
            own: true,
            payload: entry.payload,
            deleted: false,
            undecryptable: false,
            status: 'failed',
            clientMsgId: entry.client_msg_id,
            extra: {},
          };
      await this.ctx.cache.put(failedMessage);
      return failedMessage;
    });
    this.host.emit('message_updated', this.toChatMessage(message));
    const cause = asError(error);
    this.host.report(
      cause instanceof KecalekError
        ? cause
        : new ClientError(WireErrorCode.INTERNAL_ERROR, `A message could not be sent: ${cause.message}`, { conversationId: entry.conversation_id }, { cause }),
    );
  }

  private async requireConversation(conversationId: string): Promise<WireConversation> {
    const wire = await this.host.conversation(conversationId);
    if (!wire) throw new ClientError(WireErrorCode.NOT_FOUND, 'No such conversation');
    return wire;
  }

  /** Encrypts an outbox entry: the `send_message` fields. */
  private async encrypt(entry: OutboxEntry): Promise<Record<string, unknown>> {
    const wire = await this.requireConversation(entry.conversation_id);
    return wire.kind === 'group' ? this.encryptGroup(wire, entry) : this.encryptDirect(wire, entry, new Map());
  }

  private selfCopyRecipient(conversationId: string, payload: MessagePayload): Recipient {
    const sealed = sealSelfCopy(this.ctx.selfCopyKey, payload, { conversationId, senderId: this.selfId, senderDeviceId: this.deviceId }, this.ctx.provider);
    return { user_id: this.selfId, device_id: SELF_DEVICE_ID, body: encodeBase64(sealed) };
  }

  /** The devices a message in this conversation goes to, this device excluded. */
  private async targetDevices(members: readonly string[]): Promise<DeviceRef[]> {
    const targets: DeviceRef[] = [];
    const users = new Set([...members, this.selfId]);
    for (const userId of users) {
      const devices = await this.ctx.directory.devices(userId);
      for (const deviceId of devices.deviceIds) {
        if (userId === this.selfId && deviceId === this.deviceId) continue;
        targets.push({ user_id: userId, device_id: deviceId });
      }
    }
    return targets;
  }

  /** Encrypts a padded plaintext for one device (X3DH with a fresh bundle when there is no session). */
  private async encryptFor(target: DeviceRef, conversationId: string, padded: Uint8Array): Promise<string> {
    const body = await this.ctx.sessions.encrypt(target.user_id, target.device_id, conversationId, padded, () =>
      this.ctx.directory.bundleFor(target.user_id, target.device_id),
    );
    const encoded = encodeBase64(body);
    assertWithinLimit(encoded.length, this.host.limits().max_message_bytes);
    return encoded;
  }

  private async encryptDirect(wire: WireConversation, entry: OutboxEntry, previous: Map<string, string>): Promise<Record<string, unknown>> {
    const targets = await this.targetDevices(memberIdsOf(wire));
    const padded = encodePayload(entry.payload);
    const recipients: Recipient[] = [];
    try {
      for (const target of targets) {
        const key = deviceKey(target.user_id, target.device_id);
        const body = previous.get(key) ?? (await this.encryptFor(target, wire.id, padded));
        recipients.push({ ...target, body });
      }
    } finally {
      wipe(padded);
    }
    recipients.push(this.selfCopyRecipient(wire.id, entry.payload));
    return { conversation_id: wire.id, client_msg_id: entry.client_msg_id, kind: 'message', recipients };
  }

  /** device_mismatch: forget devices that are gone, learn the new ones, encrypt for exactly the current set. */
  private async afterMismatch(entry: OutboxEntry, error: KecalekError): Promise<Record<string, unknown>> {
    const missing = (error.details?.missing ?? []) as DeviceRef[];
    const extra = (error.details?.extra ?? []) as DeviceRef[];
    for (const device of extra) {
      if (device.device_id === SELF_DEVICE_ID) continue;
      await this.ctx.sessions.forget(device.user_id, device.device_id);
      this.ctx.directory.dropDevice(device.user_id, device.device_id);
      this.ctx.directory.invalidate(device.user_id);
    }
    for (const device of missing) this.ctx.directory.invalidate(device.user_id);
    const wire = await this.requireConversation(entry.conversation_id);
    if (wire.kind === 'group') return this.encryptGroup(wire, entry);
    const previous = new Map<string, string>();
    const gone = new Set(extra.map((d) => deviceKey(d.user_id, d.device_id)));
    for (const r of (entry.fields?.recipients ?? []) as Recipient[]) {
      const key = deviceKey(r.user_id, r.device_id);
      if (r.device_id !== SELF_DEVICE_ID && !gone.has(key)) previous.set(key, r.body);
    }
    return this.encryptDirect(wire, entry, previous);
  }

  // ---- groups ------------------------------------------------------------------------------------

  /** A membership view recent enough to send a group message with. */
  private async currentMembership(conversationId: string): Promise<WireConversation> {
    const fresh = Date.now() - this.ctx.conversations.fetchedAt(conversationId) < MEMBERSHIP_MAX_AGE_MS;
    const wire = await this.host.conversation(conversationId, { refresh: !fresh });
    if (!wire) throw new ClientError(WireErrorCode.NOT_FOUND, 'No such conversation');
    return wire;
  }

  private async encryptGroup(_cached: WireConversation, entry: OutboxEntry): Promise<Record<string, unknown>> {
    const wire = await this.currentMembership(entry.conversation_id);
    return this.ctx.groups.withLock(wire.id, async () => {
      const own = await this.ensureOwnChain(wire);
      await this.distribute(wire, own);
      const padded = encodePayload(entry.payload);
      let message: Uint8Array;
      try {
        message = await this.ctx.groups.encrypt(wire.id, padded);
      } finally {
        wipe(padded);
      }
      const body = encodeBase64(encodeGroupBody(message));
      assertWithinLimit(body.length, this.host.limits().max_message_bytes);
      return {
        conversation_id: wire.id,
        client_msg_id: entry.client_msg_id,
        kind: 'message',
        body,
        recipients: [this.selfCopyRecipient(wire.id, entry.payload)],
      };
    });
  }

  /** The own chain for the current members: a new one when someone it was made for has left. Lock held. */
  private async ensureOwnChain(wire: WireConversation): Promise<OwnChain> {
    const members = memberIdsOf(wire);
    const own = await this.ctx.groups.own(wire.id);
    if (!own || [...own.members].some((userId) => !members.includes(userId))) return this.ctx.groups.newOwnChain(wire.id, members);
    for (const userId of members) own.members.add(userId);
    return own;
  }

  /**
   * Gives the own chain to every current member device that does not have it yet (or only to
   * `onlyUsers`), through the pairwise sessions as one control message. Lock held.
   */
  private async distribute(wire: WireConversation, own: OwnChain, onlyUsers?: ReadonlySet<string>): Promise<void> {
    const members = memberIdsOf(wire).filter((userId) => onlyUsers === undefined || onlyUsers.has(userId));
    let targets = (await this.targetDevices(members)).filter((t) => !own.sentTo.has(deviceKey(t.user_id, t.device_id)));
    if (onlyUsers !== undefined && !onlyUsers.has(this.selfId)) targets = targets.filter((t) => t.user_id !== this.selfId);
    if (targets.length === 0) return;
    const payload: ControlPayload = { [CONTROL_FIELD]: 'sender_key', conversation_id: wire.id, distribution: encodeBase64(own.state.distribution()) };
    const delivered = await this.sendControl(wire.id, targets, payload as unknown as Record<string, unknown>);
    await this.ctx.groups.markDistributed(wire.id, delivered.map((t) => deviceKey(t.user_id, t.device_id)));
  }

  /**
   * Sends an engine control payload to these devices (pairwise, `kind: control`). Devices the
   * server says are no longer current are dropped; returns the devices it went to.
   */
  async sendControl(conversationId: string, targets: DeviceRef[], payload: Record<string, unknown>): Promise<DeviceRef[]> {
    let remaining = targets;
    const padded = encodePayload(payload);
    try {
      for (let attempt = 0; attempt <= MAX_MISMATCH_RETRIES && remaining.length > 0; attempt++) {
        const recipients: Recipient[] = [];
        for (const target of remaining) recipients.push({ ...target, body: await this.encryptFor(target, conversationId, padded) });
        try {
          await this.host.request<SendAnswer>('send_message', { conversation_id: conversationId, client_msg_id: newClientMsgId(), kind: 'control', recipients });
          return remaining;
        } catch (error) {
          if (!hasCode(error, WireErrorCode.DEVICE_MISMATCH)) throw error;
          const extra = new Set(((error.details?.extra ?? []) as DeviceRef[]).map((d) => deviceKey(d.user_id, d.device_id)));
          for (const key of extra) {
            const [userId, deviceId] = key.split(':') as [string, string];
            await this.ctx.sessions.forget(userId, deviceId);
            this.ctx.directory.dropDevice(userId, deviceId);
          }
          remaining = remaining.filter((t) => !extra.has(deviceKey(t.user_id, t.device_id)));
        }
      }
      return remaining;
    } finally {
      wipe(padded);
    }
  }

  /** A member joined: give it the own chain now (if there is one), so it reads everything from now on. */
  async welcomeMember(conversationId: string, userId: string): Promise<void> {
    const wire = await this.host.conversation(conversationId, { refresh: true });
    if (!wire || wire.kind !== 'group' || !memberIdsOf(wire).includes(userId)) return;
    await this.ctx.groups.withLock(conversationId, async () => {
      const own = await this.ctx.groups.own(conversationId);
      if (!own) return;
      own.members.add(userId);
      await this.distribute(wire, own, new Set([userId]));
    });
  }

  /**
   * A member left or was removed: replace the own chain and give the new one only to the remaining
   * members, so the one who left cannot read anything sent from now on.
   */
  async rotateAfterRemoval(conversationId: string): Promise<void> {
    const wire = await this.host.conversation(conversationId, { refresh: true });
    if (!wire || wire.kind !== 'group') return;
    await this.ctx.groups.withLock(conversationId, async () => {
      const own = await this.ctx.groups.own(conversationId);
      if (!own) return; // nothing sent yet: the first send makes a chain for the current members
      const members = memberIdsOf(wire);
      const fresh = await this.ctx.groups.newOwnChain(conversationId, members);
      await this.distribute(wire, fresh);
    });
  }

  /**
   * A device of this account was removed: its sessions are gone (the caller forgot them), its
   * chains are forgotten, and in every group whose own chain it holds this device starts a new
   * chain at its next message, given only to the devices there are now.
   */
  async forgetRemovedDevice(userId: string, deviceId: string): Promise<void> {
    const key = deviceKey(userId, deviceId);
    for (const wire of this.ctx.conversations.all()) {
      if (wire.kind !== 'group') continue;
      await this.ctx.groups.dropDevice(wire.id, userId, deviceId);
      await this.ctx.groups.withLock(wire.id, async () => {
        const own = await this.ctx.groups.own(wire.id);
        if (own?.sentTo.has(key)) await this.ctx.groups.newOwnChain(wire.id, own.members);
      });
    }
  }

  /** A peer device reset its session with us: it may have lost our sender keys too. */
  async forgetDistributionTo(userId: string, deviceId: string): Promise<void> {
    for (const wire of this.ctx.conversations.all()) {
      if (wire.kind !== 'group' || !memberIdsOf(wire).includes(userId)) continue;
      await this.ctx.groups.withLock(wire.id, async () => {
        const own = await this.ctx.groups.own(wire.id);
        if (own?.sentTo.delete(deviceKey(userId, deviceId))) await this.ctx.groups.markDistributed(wire.id, []);
      });
    }
  }

  // ---- receiving ---------------------------------------------------------------------------------

  /**
   * Handles one message row (push or sync) once per id: decrypts it, consumes control payloads,
   * caches and announces visible messages. Resolves with the message when it became visible (or
   * readable) now, null otherwise. Never throws for a bad message: it becomes a placeholder or a
   * reported refusal.
   */
  ingest(raw: RawMessage, live = false): Promise<ChatMessage | null> {
    const running = this.inflight.get(raw.id);
    if (running) return running;
    const task = this.host.serial
      .run(`ingest:${raw.conversation_id}`, () => this.process(raw, live))
      .catch((error: unknown) => {
        if (!this.stopped) this.host.report(asError(error));
        return null;
      })
      .finally(() => this.inflight.delete(raw.id));
    this.inflight.set(raw.id, task);
    return task;
  }

  private process(raw: RawMessage, live: boolean): Promise<ChatMessage | null> {
    if (!(raw.sender_id === this.selfId && raw.sender_device_id === this.deviceId)) this.ctx.directory.noteDevice(raw.sender_id, raw.sender_device_id);
    return this.withMessage(raw.conversation_id, raw.id, () => this.processLocked(raw, live));
  }

  /** process() with the message's write lock held. */
  private async processLocked(raw: RawMessage, live: boolean): Promise<ChatMessage | null> {
    const cache = this.ctx.cache;
    const existing = await cache.get(raw.conversation_id, raw.id);
    if (raw.deleted_at !== null) return this.applyDeletion(raw, existing);
    if (existing && !existing.undecryptable) {
      if (existing.status !== 'sent' || Object.keys(raw.extra).length > 0) {
        await cache.put({ ...existing, status: 'sent', extra: { ...existing.extra, ...raw.extra } });
      }
      return null;
    }
    if (!existing && (await cache.known(raw.conversation_id, raw.id))) return null;

    let payload: Record<string, unknown>;
    let viaSelfCopy = false;
    try {
      ({ payload, viaSelfCopy } = await this.decrypt(raw));
    } catch (error) {
      return this.undecryptable(raw, existing, error);
    }

    if (typeof payload[CONTROL_FIELD] === 'string') {
      await cache.markProcessed(raw.conversation_id, raw.id, raw.created_at);
      await this.handleControl(raw, payload as unknown as ControlPayload);
      return null;
    }
    const own = raw.sender_id === this.selfId;
    const context: IncomingContext = {
      conversationId: raw.conversation_id,
      messageId: raw.id,
      senderId: raw.sender_id,
      senderDeviceId: raw.sender_device_id,
      createdAt: raw.created_at,
      own,
    };
    if (this.host.plugins.incoming(payload as MessagePayload, context) || raw.kind === 'control') {
      await cache.markProcessed(raw.conversation_id, raw.id, raw.created_at);
      return null;
    }
    const message: CachedMessage = {
      id: raw.id,
      conversationId: raw.conversation_id,
      senderId: raw.sender_id,
      senderDeviceId: raw.sender_device_id,
      createdAt: raw.created_at,
      own,
      payload: payload as MessagePayload,
      deleted: false,
      undecryptable: false,
      status: 'sent',
      // A placeholder decrypted late keeps what plugins stored on it meanwhile; the row's fields
      // (the server's current state when it was fetched again) win.
      extra: existing ? { ...existing.extra, ...raw.extra } : raw.extra,
    };
    await cache.put(message);
    if (!own && !viaSelfCopy) this.queueSelfCopy(message);
    if (!own && !existing && live) {
      // Synced messages are already counted in the server's unread_count; live ones are new.
      this.ctx.conversations.update(raw.conversation_id, (wire) => {
        wire.unread_count += 1;
        wire.last_message_at = Math.max(wire.last_message_at ?? 0, raw.created_at);
      });
    }
    const chat = this.toChatMessage(message);
    this.host.emit(existing ? 'message_updated' : 'message', chat);
    return chat;
  }

  /**
   * Decrypts a row: through the account's self copy when there is one — it opens with a key every
   * device of the account holds and uses up no ratchet or sender-key state, so history this device
   * read before (and lost from its cache) reads again — else through this device's own ciphertext
   * or the group's shared body. A self copy that does not open falls back to those.
   */
  private async decrypt(raw: RawMessage): Promise<{ payload: Record<string, unknown>; viaSelfCopy: boolean }> {
    const context = { conversationId: raw.conversation_id, senderId: raw.sender_id, senderDeviceId: raw.sender_device_id };
    // Absent in placeholders cached before the field existed.
    const selfBody = raw.self_body ?? null;
    if (selfBody === null) return this.decryptOwn(raw, context);
    let selfCopyError: unknown;
    try {
      return { payload: this.openSelfCopyBody(selfBody, 'self_body', context), viaSelfCopy: true };
    } catch (error) {
      selfCopyError = error;
    }
    if (raw.recipient_body === null && raw.body === null) throw selfCopyError;
    return this.decryptOwn(raw, context);
  }

  /** Only a self copy of this account opens under its key; anything else fails authentication. */
  private openSelfCopyBody(encoded: string, field: string, context: { conversationId: string; senderId: string; senderDeviceId: string }): Record<string, unknown> {
    const decoded = decodeBody(decodeBase64(encoded, field));
    if (decoded.type !== BodyType.SELF_COPY) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Not a self copy');
    return openSelfCopy(this.ctx.selfCopyKey, decoded.sealed, context, this.ctx.provider);
  }

  /** This device's own ciphertext of a row, or the group's shared body. */
  private async decryptOwn(
    raw: RawMessage,
    context: { conversationId: string; senderId: string; senderDeviceId: string },
  ): Promise<{ payload: Record<string, unknown>; viaSelfCopy: boolean }> {
    if (raw.recipient_body !== null) {
      const bytes = decodeBase64(raw.recipient_body, 'recipient_body');
      const decoded = decodeBody(bytes);
      if (decoded.type === BodyType.SELF_COPY) {
        // A server that puts the self copy where this device's ciphertext goes (older servers did).
        return { payload: openSelfCopy(this.ctx.selfCopyKey, decoded.sealed, context, this.ctx.provider), viaSelfCopy: true };
      }
      if (raw.body === null) {
        const padded = await this.ctx.sessions.decrypt(raw.sender_id, raw.sender_device_id, raw.conversation_id, bytes, (userId, key) =>
          this.checkSenderIdentity(userId, key),
        );
        try {
          return { payload: decodePayload(padded), viaSelfCopy: false };
        } finally {
          wipe(padded);
        }
      }
    }
    if (raw.body !== null) {
      const decoded = decodeBody(decodeBase64(raw.body, 'body'));
      if (decoded.type !== BodyType.GROUP) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Not a group message');
      if (raw.sender_id === this.selfId && raw.sender_device_id === this.deviceId) {
        throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'A message of this device without its self copy', { reason: 'own_message' });
      }
      const padded = await this.ctx.groups.decrypt(raw.conversation_id, raw.sender_id, raw.sender_device_id, decoded.message);
      try {
        return { payload: decodePayload(padded), viaSelfCopy: false };
      } finally {
        wipe(padded);
      }
    }
    throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'There is no ciphertext for this device', { reason: 'no_ciphertext' });
  }

  /** The identity key a prekey message claims: our own for our devices, else the TOFU check. */
  private async checkSenderIdentity(userId: string, identityKey: Uint8Array): Promise<void> {
    const encoded = encodeBase64(identityKey);
    if (userId === this.selfId) {
      if (encoded !== this.ctx.identityPublicBase64) {
        throw new ClientError(ClientErrorCode.IDENTITY_CHANGED, 'A message claims to come from another device of this account with a foreign identity key');
      }
      return;
    }
    await this.host.checkIdentity(userId, this.host.username(userId), encoded);
  }

  private async undecryptable(raw: RawMessage, existing: CachedMessage | undefined, error: unknown): Promise<ChatMessage | null> {
    const cache = this.ctx.cache;
    const code = error instanceof KecalekError ? error.code : undefined;
    const reason = error instanceof KecalekError ? error.details?.reason : undefined;
    if (code === CryptoErrorCode.BAD_SIGNATURE) {
      // A forged group message: refused and reported, never shown.
      await cache.markProcessed(raw.conversation_id, raw.id, raw.created_at);
      if (existing) await cache.remove(raw.conversation_id, raw.id);
      this.host.report(
        new CryptoError(CryptoErrorCode.BAD_SIGNATURE, `A forged group message was refused (${(error as Error).message})`, {
          conversationId: raw.conversation_id,
          messageId: raw.id,
          senderId: raw.sender_id,
        }),
      );
      return null;
    }
    // A normal message from a device we have no session with: it must start over with X3DH.
    if (reason === 'no_session') this.autoReset(raw.sender_id, raw.sender_device_id);
    if (code === CryptoErrorCode.UNKNOWN_CHAIN) this.requestSenderKey(raw);
    if (raw.kind === 'control') {
      await cache.markProcessed(raw.conversation_id, raw.id, raw.created_at);
      return null;
    }
    if (existing) {
      // Still unreadable: keep the newest row to try again, and the fields it brings.
      const stored: RawMessage = { ...raw, extra: {} };
      const extra = { ...existing.extra, ...raw.extra };
      if (JSON.stringify(existing.raw) !== JSON.stringify(stored) || JSON.stringify(extra) !== JSON.stringify(existing.extra)) {
        await cache.put({ ...existing, raw: stored, extra });
      }
      return null;
    }
    const placeholder: CachedMessage = {
      id: raw.id,
      conversationId: raw.conversation_id,
      senderId: raw.sender_id,
      senderDeviceId: raw.sender_device_id,
      createdAt: raw.created_at,
      own: raw.sender_id === this.selfId,
      payload: {},
      deleted: false,
      undecryptable: true,
      status: 'sent',
      extra: raw.extra,
      // The row's extra fields live in `extra` (where plugins update them), not in the copy kept to retry.
      raw: { ...raw, extra: {} },
    };
    await cache.put(placeholder);
    const chat = this.toChatMessage(placeholder);
    this.host.emit('message', chat);
    return chat;
  }

  private async applyDeletion(raw: RawMessage, existing: CachedMessage | undefined): Promise<ChatMessage | null> {
    if (existing?.deleted) return null;
    const tombstone: CachedMessage = existing
      ? { ...existing, deleted: true, payload: {}, raw: undefined }
      : {
          id: raw.id,
          conversationId: raw.conversation_id,
          senderId: raw.sender_id,
          senderDeviceId: raw.sender_device_id,
          createdAt: raw.created_at,
          own: raw.sender_id === this.selfId,
          payload: {},
          deleted: true,
          undecryptable: false,
          status: 'sent',
          extra: raw.extra,
        };
    if (raw.kind === 'control') {
      await this.ctx.cache.markProcessed(raw.conversation_id, raw.id, raw.created_at);
      return null;
    }
    await this.ctx.cache.put(tombstone);
    if (existing) this.host.emit('message_deleted', { messageId: raw.id, conversationId: raw.conversation_id });
    return null;
  }

  /** Marks a cached message deleted (a message_deleted push, deletion sync, or our own delete). */
  markDeleted(conversationId: string, messageId: string): Promise<CachedMessage | undefined> {
    return this.withMessage(conversationId, messageId, async () => {
      const existing = await this.ctx.cache.get(conversationId, messageId);
      if (!existing || existing.deleted) return existing;
      const tombstone: CachedMessage = { ...existing, deleted: true, payload: {}, raw: undefined };
      await this.ctx.cache.put(tombstone);
      return existing;
    });
  }

  // ---- control payloads --------------------------------------------------------------------------

  private async handleControl(raw: RawMessage, control: ControlPayload): Promise<void> {
    // A control payload is bound to the conversation it was sent in: a server replaying it into
    // another conversation is ignored.
    if (control.conversation_id !== raw.conversation_id) return;
    switch (control[CONTROL_FIELD]) {
      case 'sender_key': {
        const distribution = decodeBase64(control.distribution, 'distribution');
        await this.ctx.groups.addReceived(raw.conversation_id, raw.sender_id, raw.sender_device_id, distribution);
        this.retryPendingFrom(raw.conversation_id, raw.sender_id, raw.sender_device_id);
        return;
      }
      case 'sender_key_request':
        this.background(() => this.answerKeyRequest(raw, control.message_ids));
        return;
      case 'resend':
        await this.applyResend(raw, control);
        return;
      default:
        return;
    }
  }

  /** Group messages from this device waiting for its sender key: try them again now. */
  private retryPendingFrom(conversationId: string, userId: string, deviceId: string): void {
    this.background(async () => {
      const waiting = (await this.ctx.cache.undecryptable(conversationId)).filter(
        (m) => m.senderId === userId && m.senderDeviceId === deviceId && m.raw?.body !== null,
      );
      // The cached message holds the stored row's extra fields already (and any written since).
      for (const message of waiting) await this.ingest({ ...message.raw!, extra: {} });
    });
  }

  /** Asks the sending device for its sender key (and a pairwise copy of the messages that need it). */
  private requestSenderKey(raw: RawMessage): void {
    if (raw.kind !== 'message' || this.requested.has(raw.id)) return;
    if (this.requested.size > 10_000) this.requested.clear();
    this.requested.add(raw.id);
    const key = `${raw.conversation_id}|${raw.sender_id}:${raw.sender_device_id}`;
    let entry = this.keyRequests.get(key);
    if (!entry) {
      entry = { conversationId: raw.conversation_id, userId: raw.sender_id, deviceId: raw.sender_device_id, ids: new Set() };
      this.keyRequests.set(key, entry);
    }
    entry.ids.add(raw.id);
    if (!this.keyRequestTimer) {
      this.keyRequestTimer = setTimeout(() => {
        this.keyRequestTimer = undefined;
        const batch = [...this.keyRequests.values()];
        this.keyRequests.clear();
        for (const request of batch) {
          this.background(async () => {
            const ids = [...request.ids].slice(0, MAX_REQUESTED_IDS);
            const payload: ControlPayload = { [CONTROL_FIELD]: 'sender_key_request', conversation_id: request.conversationId, message_ids: ids };
            await this.sendControl(request.conversationId, [{ user_id: request.userId, device_id: request.deviceId }], payload as unknown as Record<string, unknown>);
          });
        }
      }, 200);
      this.keyRequestTimer.unref?.();
    }
  }

  /**
   * A member device lacks our sender key: if it is a member now, and was one when the messages
   * were sent, it gets our chain and pairwise copies of those messages. Nobody else gets anything.
   */
  private async answerKeyRequest(raw: RawMessage, messageIds: unknown): Promise<void> {
    if (!Array.isArray(messageIds)) return;
    const wire = await this.host.conversation(raw.conversation_id, { refresh: true });
    if (!wire || wire.kind !== 'group') return;
    const member = wire.members.find((m) => m.user_id === raw.sender_id);
    if (!member) return;
    const target = { user_id: raw.sender_id, device_id: raw.sender_device_id };
    await this.ctx.groups.withLock(wire.id, async () => {
      const own = await this.ctx.groups.own(wire.id);
      if (own && !own.sentTo.has(deviceKey(target.user_id, target.device_id))) {
        // A member now (just checked with the server), so the current chain is theirs to have.
        own.members.add(raw.sender_id);
        await this.distribute(wire, own, new Set([raw.sender_id]));
      }
    });
    for (const id of messageIds.slice(0, MAX_REQUESTED_IDS)) {
      if (typeof id !== 'string') continue;
      const message = await this.ctx.cache.get(wire.id, id);
      if (!message || !message.own || message.deleted || message.undecryptable || message.createdAt < member.joined_at) continue;
      if (message.senderDeviceId !== this.deviceId) continue;
      const payload: ControlPayload = { [CONTROL_FIELD]: 'resend', conversation_id: wire.id, message_id: id, payload: message.payload };
      await this.sendControl(wire.id, [target], payload as unknown as Record<string, unknown>);
    }
  }

  /** A pairwise copy of a group message we could not read: accepted only from its original sender device. */
  private async applyResend(raw: RawMessage, control: Extract<ControlPayload, { kecalek_control: 'resend' }>): Promise<void> {
    // The control message itself is being written (its lock is held): never a copy of itself.
    if (typeof control.message_id !== 'string' || control.message_id === raw.id) return;
    if (typeof control.payload !== 'object' || control.payload === null) return;
    const message = await this.withMessage(raw.conversation_id, control.message_id, async () => {
      const existing = await this.ctx.cache.get(raw.conversation_id, control.message_id);
      if (!existing || !existing.undecryptable) return undefined;
      if (existing.senderId !== raw.sender_id || existing.senderDeviceId !== raw.sender_device_id) return undefined;
      const readable: CachedMessage = { ...existing, payload: control.payload, undecryptable: false, raw: undefined };
      await this.ctx.cache.put(readable);
      return readable;
    });
    if (!message) return;
    this.queueSelfCopy(message);
    this.host.emit('message_updated', this.toChatMessage(message));
  }

  /** No session with a device that sent us something: ask it to start over (throttled). */
  private autoReset(userId: string, deviceId: string): void {
    if (deviceId === SELF_DEVICE_ID) return;
    const key = deviceKey(userId, deviceId);
    const last = this.autoResets.get(key) ?? 0;
    if (Date.now() - last < AUTO_RESET_INTERVAL_MS) return;
    this.autoResets.set(key, Date.now());
    this.background(async () => {
      await this.ctx.sessions.forget(userId, deviceId);
      await this.host.request('session_reset', { user_id: userId, device_id: deviceId });
    });
  }

  // ---- self copies ---------------------------------------------------------------------------------

  /** Queues a self copy of a received message, so the account's other devices can read it too. */
  private queueSelfCopy(message: CachedMessage): void {
    if (this.stopped || message.id.startsWith('pending:')) return;
    const sealed = sealSelfCopy(
      this.ctx.selfCopyKey,
      message.payload,
      { conversationId: message.conversationId, senderId: message.senderId, senderDeviceId: message.senderDeviceId },
      this.ctx.provider,
    );
    this.selfCopies.set(message.id, { message_id: message.id, body: encodeBase64(sealed) });
    if (this.selfCopies.size >= SELF_COPY_BATCH) {
      void this.flushSelfCopies().catch((error: unknown) => this.host.report(asError(error)));
      return;
    }
    if (!this.selfCopyTimer) {
      this.selfCopyTimer = setTimeout(() => {
        this.selfCopyTimer = undefined;
        this.flushSelfCopies().catch((error: unknown) => {
          if (!isRetryable(error)) this.host.report(asError(error));
        });
      }, SELF_COPY_DEBOUNCE_MS);
      this.selfCopyTimer.unref?.();
    }
  }

  /** Uploads queued self copies (reencrypt_messages, in batches). Kept for later when offline. */
  flushSelfCopies(): Promise<void> {
    if (this.selfCopyFlushing) return this.selfCopyFlushing;
    if (this.selfCopies.size === 0) return Promise.resolve();
    const run = (async () => {
      while (this.selfCopies.size > 0) {
        const batch = [...this.selfCopies.values()].slice(0, SELF_COPY_BATCH);
        await this.host.request('reencrypt_messages', { items: batch });
        for (const item of batch) if (this.selfCopies.get(item.message_id) === item) this.selfCopies.delete(item.message_id);
      }
    })();
    const tracked: Promise<void> = run.finally(() => {
      if (this.selfCopyFlushing === tracked) this.selfCopyFlushing = undefined;
    });
    this.selfCopyFlushing = tracked;
    return tracked;
  }

  // ---- history -----------------------------------------------------------------------------------

  /** Incremental sync of one conversation: new messages (as events and as the result) and deletions. */
  sync(conversationId: string): Promise<ChatMessage[]> {
    return this.host.serial.run(`sync:${conversationId}`, async () => {
      const cache = this.ctx.cache;
      const fresh: ChatMessage[] = [];
      let after = await cache.syncedUntil(conversationId);
      for (;;) {
        const page = await this.host.request<{ messages: Array<Record<string, unknown>>; has_more: boolean }>('get_messages', {
          conversation_id: conversationId,
          after_ts: after,
          limit: SYNC_PAGE,
        });
        for (const row of page.messages) {
          const message = await this.ingest(rawFromWire(row));
          if (message && !message.undecryptable) fresh.push(message);
        }
        if (page.messages.length > 0) {
          after = Number(page.messages[page.messages.length - 1]!.created_at);
          await cache.setSyncedUntil(conversationId, after);
        }
        if (!page.has_more || page.messages.length === 0) break;
      }
      await this.syncDeletions(conversationId);
      await this.retryUndecryptable(conversationId);
      return fresh;
    });
  }

  private async syncDeletions(conversationId: string): Promise<void> {
    const cache = this.ctx.cache;
    let since = await cache.deletionsUntil(conversationId);
    for (;;) {
      const page = await this.host.request<{ deleted: Array<{ message_id: string; deleted_at: number }>; has_more: boolean }>('get_deleted_since', {
        conversation_id: conversationId,
        since_ts: since,
      });
      for (const entry of page.deleted) {
        const before = await this.markDeleted(conversationId, entry.message_id);
        if (before && !before.deleted) this.host.emit('message_deleted', { messageId: entry.message_id, conversationId });
        since = Math.max(since, entry.deleted_at);
      }
      await cache.setDeletionsUntil(conversationId, since);
      if (!page.has_more || page.deleted.length === 0) break;
    }
  }

  /**
   * Placeholders get another chance: the server may hold a self copy now (another device of the
   * account read the message), or the sender key may have arrived. At most every 30 s per message.
   */
  private async retryUndecryptable(conversationId: string): Promise<void> {
    for (const message of await this.ctx.cache.undecryptable(conversationId)) {
      const last = this.retriedAt.get(message.id) ?? 0;
      if (Date.now() - last < 30_000) continue;
      if (this.retriedAt.size > 10_000) this.retriedAt.clear();
      this.retriedAt.set(message.id, Date.now());
      const page = await this.host.request<{ messages: Array<Record<string, unknown>> }>('get_messages', {
        conversation_id: conversationId,
        after_ts: message.createdAt - 1,
        before_ts: message.createdAt + 1,
        limit: 5,
      });
      const row = page.messages.find((m) => m.id === message.id);
      if (row) await this.ingest(rawFromWire(row));
    }
  }

  /** One page of older history before `beforeTs` (decrypted as needed), oldest first. */
  async older(conversationId: string, beforeTs: number, limit = 50): Promise<ChatMessage[]> {
    const page = await this.host.request<{ messages: Array<Record<string, unknown>> }>('get_messages', {
      conversation_id: conversationId,
      before_ts: beforeTs,
      limit,
    });
    for (const row of page.messages) await this.ingest(rawFromWire(row));
    const ids = new Set(page.messages.map((row) => String(row.id)));
    return (await this.ctx.cache.messages(conversationId)).filter((m) => ids.has(m.id)).map((m) => this.toChatMessage(m));
  }

  private background(task: () => Promise<void>): void {
    task().catch((error: unknown) => {
      if (!this.stopped && !isRetryable(error)) this.host.report(asError(error));
    });
  }
}

