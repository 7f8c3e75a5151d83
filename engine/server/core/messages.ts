/**
 * core-messages: sending (per-device ciphertexts for DMs and control messages, one shared
 * sender-key body for groups), fetching pages of history, read receipts, deletion, deletion sync,
 * self copies for a user's other devices, and the messages service behind `api.core.messages`.
 *
 * The server never sees plaintext: bodies are base64 ciphertexts relayed as they came. What it
 * checks is who may send what to whom: the sender is a member, every recipient device is a current
 * device of a member, and a DM covers exactly the devices that must be able to read it (otherwise
 * `device_mismatch` tells the client which devices to add or drop, as Signal's mismatched-devices
 * answer does).
 *
 * Messages are persisted by the group-commit writer (./message-writer.ts); a sender is answered and
 * recipients are pushed `new_message` only after the message's batch committed.
 */
import { Type } from 'typebox';
import { WireError, WireErrorCode, errors } from '../../errors.js';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import { createToken } from '../../plugin/tokens.js';
import type { CoreServices, MessageMeta } from '../../plugin/core-services.js';
import type { DevicePush } from '../../plugin/server-api.js';
import type { AuthedRequestContext, StoredMessage, StoringMessage } from '../../plugin/server-types.js';
import { SELF_DEVICE_ID } from '../../protocol/constants.js';
import { Base64, TimestampMs, Uuid } from '../../protocol/validation.js';
import { isUniqueViolation } from '../db/dialect.js';
import { getMemberConversation, memberDevices, memberIds, sendContext, type MemberDevices } from '../db/conversations.js';
import {
  deletedSince,
  fetchPage,
  findByClientMsgId,
  getMessageMeta,
  hasRecipientRow,
  isInWindow,
  markRead,
  purgeOldReads,
  softDelete,
  upsertSelfCopies,
  visibleMessageMetas,
  type ClientMsgIdHit,
  type VisibilityWindow,
} from '../db/messages.js';
import { shortId } from '../logger.js';
import { SERVER_VERSION } from '../version.js';
import { CORE_TOKENS } from './tokens.js';
import { MessageWriter, type PendingRecipient, type WriterStats, type WrittenMessage } from './message-writer.js';
import type { EngineInternals } from './internals.js';

/** Default and largest page of get_messages. */
export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
/** Most ids in one mark_read (the original's M10: a longer list made a slow query). */
export const MAX_MARK_READ = 500;
/** Most entries in one get_deleted_since answer. */
export const MAX_DELETED_PAGE = 5000;
/** Most self copies in one reencrypt_messages. */
export const MAX_REENCRYPT = 500;
/** Read receipts removed per statement by the retention cleanup. */
export const READ_PURGE_BATCH = 10_000;
export const CLIENT_MSG_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const DAY_MS = 24 * 60 * 60 * 1000;

/** What the messages module shares about its writer: statistics, and its per-conversation clock. */
export interface MessageWriterHandle {
  /** Batches, messages, largest batch of this server's writer (the benchmark reads them). */
  stats(): WriterStats;
  /** See MessageWriter.fence: later messages of the conversation get created_at > ts. */
  fence(conversationId: string, ts: number): void;
  /** See MessageWriter.lastStamp. */
  lastStamp(conversationId: string): number | undefined;
}

/** `api.use(MESSAGE_WRITER_TOKEN)`: the handle of this server's message writer. */
export const MESSAGE_WRITER_TOKEN = createToken<MessageWriterHandle>('core-messages.writer');

interface DeviceRef {
  user_id: string;
  device_id: string;
}

export function createMessagesModule(internals: EngineInternals): AnyPluginDefinition {
  const { config, hooks } = internals;
  // A base64 text of at most maxMessageBytes characters carries at most this many bytes.
  const maxCiphertextBytes = Math.floor(config.limits.maxMessageBytes / 4) * 3;

  const Recipient = Type.Object({ user_id: Uuid(), device_id: Uuid(), body: Base64(maxCiphertextBytes) });
  const SendMessageRequest = Type.Object({
    conversation_id: Uuid(),
    client_msg_id: Type.Optional(
      Type.String({ pattern: CLIENT_MSG_ID_PATTERN, errorMessage: { pattern: 'must be 1-64 characters of A-Z a-z 0-9 _ -' } }),
    ),
    kind: Type.Optional(Type.Union([Type.Literal('message'), Type.Literal('control')])),
    body: Type.Optional(Type.Union([Base64(maxCiphertextBytes), Type.Null()])),
    recipients: Type.Optional(Type.Array(Recipient, { maxItems: config.limits.maxRecipients })),
  });
  const GetMessagesRequest = Type.Object({
    conversation_id: Uuid(),
    after_ts: Type.Optional(TimestampMs()),
    before_ts: Type.Optional(TimestampMs()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE })),
  });
  const MarkReadRequest = Type.Object({
    conversation_id: Uuid(),
    message_ids: Type.Array(Uuid(), { minItems: 1, maxItems: MAX_MARK_READ }),
  });
  const DeleteMessageRequest = Type.Object({ message_id: Uuid() });
  const DeletedSinceRequest = Type.Object({ conversation_id: Uuid(), since_ts: TimestampMs() });
  const ReencryptRequest = Type.Object({
    items: Type.Array(Type.Object({ message_id: Uuid(), body: Base64(maxCiphertextBytes) }), { minItems: 1, maxItems: MAX_REENCRYPT }),
  });

  return definePlugin({
    name: 'core-messages',
    version: SERVER_VERSION,
    apiVersion: 1,
    dependsOn: ['core-accounts', 'core-conversations'],
    description: 'Sending, fetching, read receipts, deletion and self copies of messages.',
    server(api) {
      const db = api.db;
      const writer = new MessageWriter(db, { log: api.log });
      /** messageStored runs after the answer; shutdown waits for what is still running. */
      const runningHooks = new Set<Promise<unknown>>();

      api.provide(MESSAGE_WRITER_TOKEN, {
        stats: () => writer.stats(),
        fence: (conversationId, ts) => writer.fence(conversationId, ts),
        lastStamp: (conversationId) => writer.lastStamp(conversationId),
      });
      api.onShutdown(async () => {
        await writer.close();
        await Promise.allSettled([...runningHooks]);
      });

      // ---- helpers ---------------------------------------------------------------------------

      async function requireMembership(conversationId: string, userId: string) {
        const found = await getMemberConversation(db, conversationId, userId);
        if (!found) throw errors.notFound('No such conversation');
        return found;
      }

      const windowOf = (m: { joinedAt: number; clearedAt: number | null }): VisibilityWindow => ({ joinedAt: m.joinedAt, clearedAt: m.clearedAt });

      function duplicateAnswer(hit: ClientMsgIdHit, conversationId: string) {
        if (hit.conversationId !== conversationId) throw errors.conflict('client_msg_id was already used for a message in another conversation');
        return { message_id: hit.id, created_at: hit.createdAt, duplicate: true };
      }

      function fireInBackground(promise: Promise<unknown>): void {
        const tracked = promise.catch((error) => api.log.error({ err: error }, 'after-store hook failed'));
        runningHooks.add(tracked);
        void tracked.finally(() => runningHooks.delete(tracked));
      }

      // ---- the service ------------------------------------------------------------------------

      const service: CoreServices['messages'] = {
        get: (messageId) => getMessageMeta(db, messageId),
        async requireVisible(messageId, userId) {
          const meta = await getMessageMeta(db, messageId);
          if (!meta || meta.deletedAt !== null) throw errors.notFound('No such message');
          const found = await getMemberConversation(db, meta.conversationId, userId);
          if (!found || !(await visibleTo(meta, userId, windowOf(found.membership)))) throw errors.notFound('No such message');
          return meta;
        },
        async visible(conversationId, userId, messageIds) {
          if (messageIds.length === 0) return [];
          const byId = new Map((await visibleMessageMetas(db, conversationId, userId, messageIds)).map((meta) => [meta.id, meta]));
          const seen = new Set<string>();
          const ordered: MessageMeta[] = [];
          for (const id of messageIds) {
            const meta = byId.get(id);
            if (meta && !seen.has(id)) {
              seen.add(id);
              ordered.push(meta);
            }
          }
          return ordered;
        },
        async visibleIds(conversationId, userId, messageIds) {
          return new Set((await service.visible(conversationId, userId, messageIds)).map((meta) => meta.id));
        },
      };
      api.provide(CORE_TOKENS.messages, service);

      /** Whether a member sees a message: own messages always; others' within the window, control ones only when addressed. */
      async function visibleTo(meta: MessageMeta, userId: string, window: VisibilityWindow): Promise<boolean> {
        if (meta.senderId === userId) return true;
        if (!isInWindow(meta.createdAt, window)) return false;
        return meta.kind === 'message' || (await hasRecipientRow(db, meta.id, userId));
      }

      // ---- send_message ----------------------------------------------------------------------

      api.handle(
        'send_message',
        SendMessageRequest,
        async (request, ctx: AuthedRequestContext) => {
          const { userId, deviceId } = ctx.session;
          const kind = request.kind ?? 'message';
          const body = request.body ?? null;
          const recipients = request.recipients ?? [];
          const clientMsgId = request.client_msg_id ?? null;

          // One query: membership, kind, members (phantoms), a DM's devices, an earlier duplicate.
          const found = await sendContext(db, request.conversation_id, userId, clientMsgId);
          if (!found) throw errors.notFound('No such conversation');
          const conversation = { id: request.conversation_id, kind: found.kind };
          if (found.duplicate) return duplicateAnswer(found.duplicate, conversation.id);

          const groupMessage = conversation.kind === 'group' && kind === 'message';
          if (groupMessage && body === null) throw errors.badRequest('body', 'A group message carries its shared (sender-key) body in body');
          if (!groupMessage && body !== null) {
            throw errors.badRequest('body', 'Only group messages carry a shared body; direct and control messages carry one ciphertext per device in recipients');
          }
          if (kind === 'control' && recipients.length === 0) throw errors.badRequest('recipients', 'A control message needs at least one recipient device');
          const listed = new Set<string>();
          recipients.forEach((r, i) => {
            const key = `${r.user_id}/${r.device_id}`;
            if (listed.has(key)) throw errors.badRequest(`recipients[${i}]`, 'The same device is listed twice');
            listed.add(key);
          });
          const isSelfCopy = (r: DeviceRef) => r.user_id === userId && r.device_id === SELF_DEVICE_ID;
          if (groupMessage) {
            const index = recipients.findIndex((r) => !isSelfCopy(r));
            if (index >= 0) {
              throw errors.badRequest(`recipients[${index}]`, 'A group message goes to every member through its shared body; recipients may hold only your self copy');
            }
          }

          // Who is in the conversation, which accounts are phantoms, and their current devices
          // (a DM's came with the context; a group control message looks up the listed users').
          const roster: Map<string, MemberDevices> =
            conversation.kind === 'group' && kind === 'control' ? await memberDevices(db, conversation.id, recipients.map((r) => r.user_id)) : found.members;

          if (!groupMessage) {
            const extra: DeviceRef[] = [];
            for (const r of recipients) {
              if (isSelfCopy(r)) continue;
              const member = roster.get(r.user_id);
              const known = member !== undefined && member.devices.includes(r.device_id);
              const sendingDevice = r.user_id === userId && r.device_id === deviceId;
              if (!known || sendingDevice) extra.push({ user_id: r.user_id, device_id: r.device_id });
            }
            const missing: DeviceRef[] = [];
            if (conversation.kind === 'dm' && kind === 'message') {
              // Every device of the peer and every other device of the sender must get a copy
              // (every device that can be encrypted to: one that has published its pre-keys).
              for (const member of roster.values()) {
                for (const device of member.ready) {
                  if (member.userId === userId && device === deviceId) continue;
                  if (!listed.has(`${member.userId}/${device}`)) missing.push({ user_id: member.userId, device_id: device });
                }
              }
            }
            if (extra.length > 0 || missing.length > 0) {
              throw new WireError(
                WireErrorCode.DEVICE_MISMATCH,
                'The recipients do not match the current devices: fetch the key bundles again, re-encrypt and retry',
                { missing, extra },
              );
            }
          }

          // Guard hook: a plugin may refuse (its WireError goes back) or replace body and recipients.
          let storing: StoringMessage = {
            conversationId: conversation.id,
            conversationKind: conversation.kind,
            senderId: userId,
            senderDeviceId: deviceId,
            kind,
            clientMsgId: clientMsgId ?? undefined,
            body,
            recipients: recipients.map((r) => ({ userId: r.user_id, deviceId: r.device_id, body: r.body })),
          };
          if (hooks.messageStoring.isUsed()) storing = (await hooks.messageStoring.promise(storing)) ?? storing;

          // Phantom accounts count as devices above (the client encrypted for them) but nothing
          // addressed to them is stored or pushed: nobody can ever read it.
          const isPhantom = (id: string) => found.members.get(id)?.phantom === true;
          const rows: PendingRecipient[] = storing.recipients.filter((r) => !isPhantom(r.userId));

          const ticket = writer.write({
            conversationId: conversation.id,
            senderId: userId,
            senderDeviceId: deviceId,
            clientMsgId,
            kind,
            body: storing.body,
            recipients: rows,
          });
          let written: WrittenMessage;
          try {
            written = await ticket.promise;
          } catch (error) {
            // Stored meanwhile by another connection or server process under the same client_msg_id.
            if (clientMsgId !== null && isUniqueViolation(error)) {
              const hit = await findByClientMsgId(db, userId, clientMsgId);
              if (hit) return duplicateAnswer(hit, conversation.id);
            }
            throw error;
          }
          if (ticket.duplicate) {
            return duplicateAnswer({ id: written.id, conversationId: ticket.conversationId, createdAt: written.createdAt }, conversation.id);
          }

          // Committed: push to every target device except the sending connection.
          const base = {
            message_id: written.id,
            conversation_id: conversation.id,
            sender_id: userId,
            sender_device_id: deviceId,
            kind,
            created_at: written.createdAt,
          };
          const exceptConnectionId = ctx.connection.id;
          let recipientUserIds: string[];
          if (groupMessage) {
            const targets = [...found.members.values()].filter((member) => !member.phantom).map((member) => member.userId);
            api.notify(targets, 'new_message', { ...base, body: storing.body, recipient_body: null }, { exceptConnectionId });
            recipientUserIds = targets.filter((id) => id !== userId);
          } else {
            const pushes: DevicePush[] = [];
            for (const r of rows) {
              if (r.deviceId === SELF_DEVICE_ID) continue; // the self copy is history, never pushed
              pushes.push({ userId: r.userId, deviceId: r.deviceId, data: { ...base, body: null, recipient_body: r.body } });
            }
            api.notifyDevices(pushes, 'new_message', { exceptConnectionId });
            recipientUserIds = [...new Set(rows.map((r) => r.userId))].filter((id) => id !== userId);
          }

          const stored: StoredMessage = {
            id: written.id,
            conversationId: conversation.id,
            conversationKind: conversation.kind,
            senderId: userId,
            senderDeviceId: deviceId,
            kind,
            createdAt: written.createdAt,
            recipientUserIds,
          };
          if (hooks.messageStored.isUsed()) fireInBackground(hooks.messageStored.promise(stored));
          return { message_id: written.id, created_at: written.createdAt, duplicate: false };
        },
        { rateLimit: { key: 'ip+email', points: config.rateLimits.sendPerMinute, durationSec: 60 } },
      );

      // ---- get_messages ----------------------------------------------------------------------

      api.handle('get_messages', GetMessagesRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId, deviceId } = ctx.session;
        const { membership } = await requireMembership(request.conversation_id, userId);
        const page = await fetchPage(db, {
          conversationId: request.conversation_id,
          userId,
          deviceId,
          window: windowOf(membership),
          afterTs: request.after_ts,
          beforeTs: request.before_ts,
          limit: request.limit ?? DEFAULT_PAGE,
        });
        let messages = page.messages;
        if (messages.length > 0 && hooks.messagesFetched.isUsed()) {
          messages = await hooks.messagesFetched.promise(messages, { userId, deviceId, conversationId: request.conversation_id });
        }
        return { messages, has_more: page.hasMore };
      });

      // ---- mark_read -------------------------------------------------------------------------

      api.handle('mark_read', MarkReadRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const { membership } = await requireMembership(request.conversation_id, userId);
        const fresh = await markRead(db, {
          conversationId: request.conversation_id,
          userId,
          messageIds: request.message_ids,
          window: windowOf(membership),
          now: Date.now(),
        });
        if (fresh.length > 0) {
          api.notify(
            await memberIds(db, request.conversation_id),
            'messages_read',
            { conversation_id: request.conversation_id, user_id: userId, message_ids: fresh },
            { exceptConnectionId: ctx.connection.id },
          );
        }
        return { marked: fresh.length };
      });

      // ---- delete_message --------------------------------------------------------------------

      api.handle('delete_message', DeleteMessageRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const meta = await getMessageMeta(db, request.message_id);
        if (!meta) throw errors.notFound('No such message');
        const found = await getMemberConversation(db, meta.conversationId, userId);
        if (!found) throw errors.notFound('No such message');
        if (meta.senderId !== userId) {
          if (!(await visibleTo(meta, userId, windowOf(found.membership)))) throw errors.notFound('No such message');
          throw errors.forbidden('Only the sender can delete a message');
        }
        if (meta.deletedAt !== null) return { message_id: meta.id, deleted_at: meta.deletedAt };
        const now = Date.now();
        if (!(await softDelete(db, meta.id, now))) {
          const again = await getMessageMeta(db, meta.id);
          return { message_id: meta.id, deleted_at: again?.deletedAt ?? now };
        }
        ctx.log.info({ message: shortId(meta.id) }, 'message deleted');
        api.notify(
          await memberIds(db, meta.conversationId),
          'message_deleted',
          { message_id: meta.id, conversation_id: meta.conversationId, deleted_by: userId },
          { exceptConnectionId: ctx.connection.id },
        );
        await hooks.messageDeleted.promise({ id: meta.id, conversationId: meta.conversationId, senderId: meta.senderId, deletedAt: now, deletedBy: userId });
        return { message_id: meta.id, deleted_at: now };
      });

      // ---- get_deleted_since -----------------------------------------------------------------

      api.handle('get_deleted_since', DeletedSinceRequest, async (request, ctx: AuthedRequestContext) => {
        const { membership } = await requireMembership(request.conversation_id, ctx.session.userId);
        const { deleted, hasMore } = await deletedSince(db, request.conversation_id, request.since_ts, windowOf(membership), MAX_DELETED_PAGE);
        return { deleted, has_more: hasMore };
      });

      // ---- reencrypt_messages ----------------------------------------------------------------

      api.handle('reencrypt_messages', ReencryptRequest, async (request, ctx: AuthedRequestContext) => {
        // In the writer's next batch: one shared commit instead of a synchronous fsync per upload.
        const { stored, skipped } = await writer.transact((trx) => upsertSelfCopies(trx, ctx.session.userId, request.items));
        return { stored: stored.length, skipped };
      });

      // ---- maintenance: metadata retention ---------------------------------------------------

      api.hooks.maintenance.tap(async ({ now }) => {
        const removed = await purgeOldReads(db, now - config.metadataRetentionDays * DAY_MS, READ_PURGE_BATCH);
        if (removed > 0) api.log.info({ read_receipts: removed }, 'old read receipts removed');
      });
    },
  });
}
