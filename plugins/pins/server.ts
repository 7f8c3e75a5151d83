/**
 * The pins plugin's server part: `pin_message` (pin or unpin), `get_pinned_messages`, the
 * `message_pinned` / `message_unpinned` pushes, `pinned_at` / `pinned_by` on every fetched message,
 * and unpinning deleted messages.
 *
 * Who may see and pin: exactly the members who can see the message (api.core.messages
 * requireVisible); everyone else gets `not_found`, as for a message that does not exist. Any such
 * member may pin and unpin, as in the original.
 */
import { Type } from 'typebox';
import { errors, isForeignKeyViolation, isUniqueViolation, toMillis, type AuthedRequestContext, type MessageMeta, type ServerPluginApi } from '../../engine/plugin/index.js';
import { Uuid } from '../../engine/protocol/index.js';
import { PINS_TABLE } from './migrations/0001_init.js';
import type { MessagePinnedPush, MessageUnpinnedPush, PinAnswer, PinEntry, PinsConfig } from './shared.js';

/** Ids per IN (...) list, far below both backends' bound-variable limits. */
const IN_CHUNK = 500;

const PinRequest = Type.Object({
  message_id: Uuid(),
  pinned: Type.Boolean(),
});

const GetPinnedRequest = Type.Object({ conversation_id: Uuid() });

interface PinRow {
  message_id: string;
  conversation_id: string;
  pinned_by: string;
  pinned_at: number | string;
}

export function pinsServer(api: ServerPluginApi<PinsConfig>): void {
  const db = api.db;
  const config = api.config;

  /** The message if the user can see it and it is an ordinary (not control) message; else not_found. */
  async function visibleMessage(messageId: string, userId: string): Promise<MessageMeta> {
    const meta = await api.core.messages.requireVisible(messageId, userId);
    if (meta.kind !== 'message') throw errors.notFound('No such message');
    return meta;
  }

  async function pinOf(messageId: string): Promise<PinRow | undefined> {
    return (await db(PINS_TABLE).where('message_id', messageId).first('message_id', 'conversation_id', 'pinned_by', 'pinned_at')) as PinRow | undefined;
  }

  const unchanged = (row: PinRow): PinAnswer => ({
    message_id: row.message_id,
    pinned: true,
    changed: false,
    pinned_at: toMillis(row.pinned_at),
    pinned_by: row.pinned_by,
  });

  // ---- pin_message ---------------------------------------------------------------------------

  api.handle(
    'pin_message',
    PinRequest,
    async (request, ctx: AuthedRequestContext): Promise<PinAnswer> => {
      const { userId, username } = ctx.session;
      const meta = await visibleMessage(request.message_id, userId);
      const conversationId = meta.conversationId;

      if (!request.pinned) {
        const removed = (await db(PINS_TABLE).where('message_id', meta.id).delete()) > 0;
        if (removed) {
          const push: MessageUnpinnedPush = { message_id: meta.id, conversation_id: conversationId, user_id: userId, username };
          api.notify(await api.core.conversations.memberIds(conversationId), 'message_unpinned', push, { exceptConnectionId: ctx.connection.id });
        }
        return { message_id: meta.id, pinned: false, changed: removed, pinned_at: null, pinned_by: null };
      }

      const existing = await pinOf(meta.id);
      if (existing) return unchanged(existing);
      const [{ n }] = (await db(PINS_TABLE).where('conversation_id', conversationId).count({ n: '*' })) as Array<{ n: number | string }>;
      if (Number(n) >= config.maxPinsPerConversation) {
        throw errors.conflict(`A conversation can have at most ${config.maxPinsPerConversation} pinned messages: unpin one first`);
      }
      const now = Date.now();
      try {
        await db(PINS_TABLE).insert({ message_id: meta.id, conversation_id: conversationId, pinned_by: userId, pinned_at: now });
      } catch (error) {
        if (isForeignKeyViolation(error)) throw errors.notFound('No such message');
        if (!isUniqueViolation(error)) throw error;
        // Pinned by someone else at the same moment.
        const raced = await pinOf(meta.id);
        if (!raced) throw error;
        return unchanged(raced);
      }
      const push: MessagePinnedPush = { message_id: meta.id, conversation_id: conversationId, user_id: userId, username, pinned_at: now };
      api.notify(await api.core.conversations.memberIds(conversationId), 'message_pinned', push, { exceptConnectionId: ctx.connection.id });
      return { message_id: meta.id, pinned: true, changed: true, pinned_at: now, pinned_by: userId };
    },
    { rateLimit: { key: 'user', points: config.ratePerMinute, durationSec: 60 } },
  );

  // ---- get_pinned_messages -------------------------------------------------------------------

  api.handle(
    'get_pinned_messages',
    GetPinnedRequest,
    async (request, ctx: AuthedRequestContext) => {
      const { userId } = ctx.session;
      await api.core.conversations.requireMember(request.conversation_id, userId);
      const rows: PinRow[] = await db(PINS_TABLE)
        .where('conversation_id', request.conversation_id)
        .orderBy([
          { column: 'pinned_at', order: 'desc' },
          { column: 'message_id', order: 'desc' },
        ])
        .select('message_id', 'conversation_id', 'pinned_by', 'pinned_at');
      // Only messages the caller can see (a member who joined later, or cleared a DM, does not):
      // one query for all of them.
      const metas = new Map((await api.core.messages.visible(request.conversation_id, userId, rows.map((row) => row.message_id))).map((meta) => [meta.id, meta]));
      const visible: Array<{ row: PinRow; meta: MessageMeta }> = [];
      for (const row of rows) {
        const meta = metas.get(row.message_id);
        if (meta && meta.kind === 'message') visible.push({ row, meta });
      }
      const names = await api.core.users.getMany(new Set(visible.map(({ row }) => row.pinned_by)));
      const pins: PinEntry[] = visible.map(({ row, meta }) => ({
        message_id: row.message_id,
        pinned_by: row.pinned_by,
        pinned_by_username: names.get(row.pinned_by)?.username ?? null,
        pinned_at: toMillis(row.pinned_at),
        sender_id: meta.senderId,
        message_created_at: meta.createdAt,
      }));
      return { pins };
    },
    { rateLimit: { key: 'user', points: 600, durationSec: 60 } },
  );

  // ---- hooks ---------------------------------------------------------------------------------

  // Every page of get_messages says which messages are pinned (one query per page).
  api.hooks.messagesFetched.tap(async (messages) => {
    const ids = messages.filter((m) => m.deleted_at === null && m.kind === 'message').map((m) => m.id);
    const pins = new Map<string, PinRow>();
    for (let i = 0; i < ids.length; i += IN_CHUNK) {
      const rows: PinRow[] = await db(PINS_TABLE)
        .whereIn('message_id', ids.slice(i, i + IN_CHUNK))
        .select('message_id', 'conversation_id', 'pinned_by', 'pinned_at');
      for (const row of rows) pins.set(row.message_id, row);
    }
    return messages.map((message) => {
      const pin = pins.get(message.id);
      return { ...message, pinned_at: pin ? toMillis(pin.pinned_at) : null, pinned_by: pin ? pin.pinned_by : null };
    });
  });

  // A deleted message keeps its row (soft delete), so the cascade does not fire: unpin it here.
  api.hooks.messageDeleted.tap(async (message) => {
    await db(PINS_TABLE).where('message_id', message.id).delete();
  });
}
