/**
 * The reactions plugin's server part: `react_message` (add or remove one reaction), `get_reactions`
 * (refresh the reactions of messages a client already has), the `message_reacted` push, the
 * `reactions` field of every fetched message, and clean-up (deleted messages, retention).
 *
 * Who may see and react: exactly the members who can see the message (api.core.messages
 * requireVisible); everyone else gets `not_found`, as for a message that does not exist.
 */
import { Type } from 'typebox';
import { errors, isForeignKeyViolation, isUniqueViolation, toMillis, type AuthedRequestContext, type MessageMeta, type ServerPluginApi } from '../../engine/plugin/index.js';
import { Uuid } from '../../engine/protocol/index.js';
import { REACTIONS_TABLE } from './migrations/0001_init.js';
import {
  MAX_REACTION_IDS,
  REACTION_NAME_PATTERN,
  type MessageReactedPush,
  type ReactAnswer,
  type ReactionEntry,
  type ReactionsConfig,
} from './shared.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Rows the retention clean-up looks at per round. */
export const PURGE_BATCH = 10_000;
/** Ids per IN (...) list, far below both backends' bound-variable limits. */
const IN_CHUNK = 500;

const ReactRequest = Type.Object({
  message_id: Uuid(),
  reaction: Type.String({ pattern: REACTION_NAME_PATTERN, errorMessage: { pattern: 'must be 1-32 characters of a-z 0-9 _ -' } }),
  action: Type.Union([Type.Literal('add'), Type.Literal('remove')], { errorMessage: 'must be "add" or "remove"' }),
});

const GetReactionsRequest = Type.Object({
  conversation_id: Uuid(),
  message_ids: Type.Array(Uuid(), { minItems: 1, maxItems: MAX_REACTION_IDS }),
});

interface ReactionRow {
  message_id: string;
  user_id: string;
  reaction: string;
  created_at: number | string;
}

function chunks<T>(items: readonly T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Rows grouped by message, each list in the rows' order. */
function byMessage(rows: readonly ReactionRow[], into = new Map<string, ReactionEntry[]>()): Map<string, ReactionEntry[]> {
  for (const row of rows) {
    let list = into.get(row.message_id);
    if (!list) into.set(row.message_id, (list = []));
    list.push({ user_id: row.user_id, reaction: row.reaction, created_at: toMillis(row.created_at) });
  }
  return into;
}

export function reactionsServer(api: ServerPluginApi<ReactionsConfig>): void {
  const db = api.db;
  const config = api.config;
  const allowed = new Set(config.allowed);

  /** The reactions of these messages, each list oldest first (one query per 500 ids). */
  async function reactionsOf(messageIds: readonly string[]): Promise<Map<string, ReactionEntry[]>> {
    const found = new Map<string, ReactionEntry[]>();
    for (const chunk of chunks(messageIds)) {
      const rows: ReactionRow[] = await db(REACTIONS_TABLE)
        .whereIn('message_id', chunk)
        .orderBy([{ column: 'created_at' }, { column: 'user_id' }, { column: 'reaction' }])
        .select('message_id', 'user_id', 'reaction', 'created_at');
      byMessage(rows, found);
    }
    return found;
  }

  /** The message if the user can see it and it is an ordinary (not control) message; else not_found. */
  async function visibleMessage(messageId: string, userId: string): Promise<MessageMeta> {
    const meta = await api.core.messages.requireVisible(messageId, userId);
    if (meta.kind !== 'message') throw errors.notFound('No such message');
    return meta;
  }

  // ---- react_message -------------------------------------------------------------------------

  api.handle(
    'react_message',
    ReactRequest,
    async (request, ctx: AuthedRequestContext): Promise<ReactAnswer> => {
      const { userId, username } = ctx.session;
      const { reaction, action } = request;
      // Removing stays possible for a name the operator no longer allows (old reactions).
      if (action === 'add' && !allowed.has(reaction)) {
        throw errors.badRequest('reaction', `must be one of the allowed reactions: ${config.allowed.join(', ')}`);
      }
      const meta = await visibleMessage(request.message_id, userId);

      let changed: boolean;
      let createdAt: number | null = null;
      if (action === 'add') {
        const now = Date.now();
        try {
          await db(REACTIONS_TABLE).insert({ message_id: meta.id, conversation_id: meta.conversationId, user_id: userId, reaction, created_at: now });
          changed = true;
          createdAt = now;
        } catch (error) {
          if (isUniqueViolation(error)) changed = false;
          else if (isForeignKeyViolation(error)) throw errors.notFound('No such message');
          else throw error;
        }
      } else {
        changed = (await db(REACTIONS_TABLE).where({ message_id: meta.id, user_id: userId, reaction }).delete()) > 0;
      }

      if (changed) {
        const push: MessageReactedPush = {
          message_id: meta.id,
          conversation_id: meta.conversationId,
          user_id: userId,
          username,
          reaction,
          action,
          message_sender_id: meta.senderId,
          created_at: createdAt,
        };
        api.notify(await api.core.conversations.memberIds(meta.conversationId), 'message_reacted', push, { exceptConnectionId: ctx.connection.id });
      }
      const reactions = (await reactionsOf([meta.id])).get(meta.id) ?? [];
      return { message_id: meta.id, reaction, action, changed, reactions };
    },
    { rateLimit: { key: 'user', points: config.ratePerMinute, durationSec: 60 } },
  );

  // ---- get_reactions -------------------------------------------------------------------------

  api.handle(
    'get_reactions',
    GetReactionsRequest,
    async (request, ctx: AuthedRequestContext) => {
      const { userId } = ctx.session;
      const conversationId = request.conversation_id;
      await api.core.conversations.requireMember(conversationId, userId);
      const ids = [...new Set(request.message_ids)];
      const rows: ReactionRow[] = await db(REACTIONS_TABLE)
        .where('conversation_id', conversationId)
        .whereIn('message_id', ids)
        .orderBy([{ column: 'created_at' }, { column: 'user_id' }, { column: 'reaction' }])
        .select('message_id', 'user_id', 'reaction', 'created_at');
      const found = byMessage(rows);
      // Only messages the caller can see (joined later, cleared a DM, deleted): the others answer
      // an empty list, exactly like a message without reactions or an id that does not exist.
      // One query for all of them (reactions exist only on ordinary messages).
      const visible = found.size > 0 ? await api.core.messages.visibleIds(conversationId, userId, [...found.keys()]) : new Set<string>();
      for (const messageId of [...found.keys()]) if (!visible.has(messageId)) found.delete(messageId);
      return { reactions: Object.fromEntries(ids.map((id) => [id, found.get(id) ?? []])) };
    },
    { rateLimit: { key: 'user', points: 600, durationSec: 60 } },
  );

  // ---- hooks ---------------------------------------------------------------------------------

  // Every page of get_messages carries each message's reactions (one query per page).
  api.hooks.messagesFetched.tap(async (messages) => {
    const ids = messages.filter((m) => m.deleted_at === null && m.kind === 'message').map((m) => m.id);
    const found = ids.length > 0 ? await reactionsOf(ids) : new Map<string, ReactionEntry[]>();
    return messages.map((message) => ({ ...message, reactions: found.get(message.id) ?? [] }));
  });

  // A deleted message keeps its row (soft delete), so the cascade does not fire: remove them here.
  api.hooks.messageDeleted.tap(async (message) => {
    await db(REACTIONS_TABLE).where('message_id', message.id).delete();
  });

  // Metadata retention (the original's METADATA_RETENTION_DAYS for reactions), when configured.
  if (config.retentionDays > 0) {
    api.hooks.maintenance.tap(async ({ now }) => {
      const removed = await purgeOlderThan(now - config.retentionDays * DAY_MS);
      if (removed > 0) api.log.info({ reactions: removed }, 'old reactions removed');
    });
  }

  /** Deletes reactions created before `cutoff`, a batch of messages at a time. */
  async function purgeOlderThan(cutoff: number): Promise<number> {
    let total = 0;
    for (;;) {
      const rows: Array<{ message_id: string }> = await db(REACTIONS_TABLE).where('created_at', '<', cutoff).limit(PURGE_BATCH).select('message_id');
      if (rows.length === 0) return total;
      for (const chunk of chunks([...new Set(rows.map((row) => row.message_id))])) {
        total += await db(REACTIONS_TABLE).where('created_at', '<', cutoff).whereIn('message_id', chunk).delete();
      }
      if (rows.length < PURGE_BATCH) return total;
    }
  }
}
