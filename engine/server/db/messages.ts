/**
 * Messages and their per-device ciphertexts (tables `messages`, `message_recipients`,
 * `message_reads`). Paging walks the (conversation_id, created_at) index with LIMIT: a page costs
 * the same in a conversation of ten messages as in one of a million.
 */
import type { Knex } from 'knex';
import { SELF_DEVICE_ID } from '../../protocol/constants.js';
import type { MessageMeta } from '../../plugin/core-services.js';
import type { MessageView } from '../../plugin/server-types.js';
import { databaseKind } from './connect.js';
import { MAX_BOUND_VARIABLES, toMillis, toMillisOrNull } from './dialect.js';

export type MessageKind = 'message' | 'control';

/** A `messages` row as inserted. */
export interface MessageRow {
  readonly id: string;
  readonly conversation_id: string;
  readonly sender_id: string;
  readonly sender_device_id: string;
  readonly client_msg_id: string | null;
  readonly kind: MessageKind;
  readonly body: string | null;
  readonly created_at: number;
}

/** A `message_recipients` row: one device's ciphertext (or a user's self copy). */
export interface RecipientRow {
  readonly message_id: string;
  readonly user_id: string;
  readonly device_id: string;
  readonly body: string;
}

/** The indexes of migrations/0001_core.ts that paging walks (knex's default names). */
const BY_CREATED_AT = 'messages_conversation_id_created_at_index';
const BY_DELETED_AT = 'messages_conversation_id_deleted_at_index';

/**
 * `messages as m`, on MySQL/MariaDB with the index named. MariaDB 10.11 otherwise answers a
 * descending `ORDER BY created_at ... LIMIT` inside one conversation with a `ref` scan on
 * conversation_id alone, reading every newer message of the conversation before the page
 * (80,000 rows for a page deep in a 100,000-message conversation); with the index forced it is a
 * range scan that reads the page. SQLite plans these queries right by itself.
 */
function messagesTable(db: Knex, index: string): Knex.QueryBuilder {
  return databaseKind(db) === 'mysql' ? db(db.raw('?? as ?? force index (??)', ['messages', 'm', index])) : db('messages as m');
}

const MESSAGE_COLUMNS = ['id', 'conversation_id', 'sender_id', 'sender_device_id', 'client_msg_id', 'kind', 'body', 'created_at'] as const;
const RECIPIENT_COLUMNS = ['message_id', 'user_id', 'device_id', 'body'] as const;

/** Ids per IN (...) list: far below both backends' bound-variable limits. */
export const IN_CHUNK = 500;

/** Splits an id list for IN (...) clauses. */
export function idChunks<T>(ids: readonly T[], size = IN_CHUNK): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < ids.length; i += size) chunks.push(ids.slice(i, i + size));
  return chunks;
}

/**
 * Multi-row `INSERT ... VALUES (...), (...)`, as many rows per statement as the bound-variable
 * limit allows. Written by hand because knex compiles a multi-row insert on SQLite into
 * `INSERT ... SELECT ... UNION ALL SELECT ...`, which SQLite refuses beyond 500 rows ("too many
 * terms in compound SELECT") and parses more slowly; VALUES lists work on SQLite and MySQL alike.
 */
export async function insertValues(db: Knex, table: string, columns: readonly string[], rows: ReadonlyArray<Readonly<Record<string, unknown>>>): Promise<void> {
  if (rows.length === 0) return;
  const perStatement = Math.max(1, Math.floor((MAX_BOUND_VARIABLES - columns.length - 1) / columns.length));
  const head = `insert into ?? (${columns.map(() => '??').join(', ')}) values `;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const bindings: unknown[] = [table, ...columns];
    for (const row of chunk) for (const column of columns) bindings.push(row[column] ?? null);
    await db.raw(head + new Array<string>(chunk.length).fill(tuple).join(', '), bindings as Knex.RawBinding[]);
  }
}

/** Multi-row inserts of messages, then their recipients. Run inside the writer's transaction. */
export async function insertMessages(trx: Knex, messages: readonly MessageRow[], recipients: readonly RecipientRow[]): Promise<void> {
  await insertValues(trx, 'messages', MESSAGE_COLUMNS, messages as unknown as ReadonlyArray<Record<string, unknown>>);
  await insertValues(trx, 'message_recipients', RECIPIENT_COLUMNS, recipients as unknown as ReadonlyArray<Record<string, unknown>>);
}

/**
 * After new messages: moves each conversation's last_message_at forward (never back) and shows a
 * hidden DM again to whoever deleted it "for me". One statement each for the whole batch.
 */
export async function touchConversations(trx: Knex, latest: ReadonlyMap<string, number>): Promise<void> {
  if (latest.size === 0) return;
  const greatest = databaseKind(trx) === 'mysql' ? 'greatest' : 'max';
  for (const chunk of idChunks([...latest.entries()])) {
    const cases = chunk.map(() => 'when ? then ?').join(' ');
    const bindings = chunk.flatMap(([id, at]) => [id, at]);
    await trx('conversations')
      .whereIn(
        'id',
        chunk.map(([id]) => id),
      )
      .update({
        last_message_at: trx.raw(`${greatest}(coalesce(last_message_at, 0), case id ${cases} end)`, bindings),
      });
    await trx('conversation_members')
      .whereIn(
        'conversation_id',
        chunk.map(([id]) => id),
      )
      .andWhere('hidden', true)
      .update({ hidden: false });
  }
}

export interface ClientMsgIdHit {
  readonly id: string;
  readonly conversationId: string;
  readonly createdAt: number;
}

/** The message a sender already stored under this client_msg_id, if any. */
export async function findByClientMsgId(db: Knex, senderId: string, clientMsgId: string): Promise<ClientMsgIdHit | undefined> {
  const row = (await db('messages').where({ sender_id: senderId, client_msg_id: clientMsgId }).first('id', 'conversation_id', 'created_at')) as
    | { id: string; conversation_id: string; created_at: unknown }
    | undefined;
  return row ? { id: row.id, conversationId: row.conversation_id, createdAt: toMillis(row.created_at) } : undefined;
}

export async function getMessageMeta(db: Knex, messageId: string): Promise<MessageMeta | undefined> {
  const row = (await db('messages')
    .where('id', messageId)
    .first('id', 'conversation_id', 'sender_id', 'sender_device_id', 'kind', 'created_at', 'deleted_at')) as Record<string, unknown> | undefined;
  return row ? metaFrom(row) : undefined;
}

function metaFrom(row: Record<string, unknown>): MessageMeta {
  return {
    id: row.id as string,
    conversationId: row.conversation_id as string,
    senderId: row.sender_id as string,
    senderDeviceId: row.sender_device_id as string,
    kind: row.kind as MessageKind,
    createdAt: toMillis(row.created_at),
    deletedAt: toMillisOrNull(row.deleted_at),
  };
}

/**
 * Of these message ids, the messages of one conversation a user sees, by the rule of
 * `api.core.messages.requireVisible`: a member, the message not deleted, and the user's own or
 * within the member's window (joined, not cleared by "delete for me"), a control message only
 * where the user has a ciphertext row. Nothing for a non-member. One query per IN_CHUNK ids.
 */
export async function visibleMessageMetas(db: Knex, conversationId: string, userId: string, messageIds: readonly string[]): Promise<MessageMeta[]> {
  const found: MessageMeta[] = [];
  for (const chunk of idChunks([...new Set(messageIds)])) {
    const rows = (await db('messages as m')
      .join('conversation_members as cm', 'cm.conversation_id', 'm.conversation_id')
      .where('m.conversation_id', conversationId)
      .andWhere('cm.user_id', userId)
      .whereIn('m.id', chunk)
      .whereNull('m.deleted_at')
      .andWhere((visible) => {
        visible.where('m.sender_id', userId).orWhere((others) => {
          others
            .whereRaw('?? >= ??', ['m.created_at', 'cm.joined_at'])
            .andWhere((window) => window.whereNull('cm.cleared_at').orWhereRaw('?? > ??', ['m.created_at', 'cm.cleared_at']))
            .andWhere((kind) =>
              kind.where('m.kind', 'message').orWhereExists(
                db('message_recipients as r').whereRaw('?? = ??', ['r.message_id', 'm.id']).andWhere('r.user_id', userId).select(db.raw('1')),
              ),
            );
        });
      })
      .select('m.id', 'm.conversation_id', 'm.sender_id', 'm.sender_device_id', 'm.kind', 'm.created_at', 'm.deleted_at')) as Array<Record<string, unknown>>;
    for (const row of rows) found.push(metaFrom(row));
  }
  return found;
}

/** Whether a user has a ciphertext row (any device, or the self copy) for a message. */
export async function hasRecipientRow(db: Knex, messageId: string, userId: string): Promise<boolean> {
  return (await db('message_recipients').where({ message_id: messageId, user_id: userId }).first(db.raw('1 as one'))) !== undefined;
}

/** What one member may see of a conversation: nothing before joining, nothing up to a "delete for me". */
export interface VisibilityWindow {
  readonly joinedAt: number;
  readonly clearedAt: number | null;
}

export function isInWindow(createdAt: number, window: VisibilityWindow): boolean {
  return createdAt >= window.joinedAt && (window.clearedAt === null || createdAt > window.clearedAt);
}

function applyWindow(query: Knex.QueryBuilder, column: string, window: VisibilityWindow): Knex.QueryBuilder {
  query.andWhere(column, '>=', window.joinedAt);
  if (window.clearedAt !== null) query.andWhere(column, '>', window.clearedAt);
  return query;
}

export interface PageQuery {
  readonly conversationId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly window: VisibilityWindow;
  readonly afterTs?: number;
  readonly beforeTs?: number;
  readonly limit: number;
}

export interface Page {
  /** Ascending by created_at. */
  readonly messages: MessageView[];
  readonly hasMore: boolean;
}

/**
 * One page of a conversation as a device sees it: `afterTs` alone -> the oldest `limit` newer
 * than it; otherwise the newest `limit` older than `beforeTs` (or the newest of all). Both -> the
 * oldest `limit` between them. Control messages appear only where this device has a row.
 */
export async function fetchPage(db: Knex, q: PageQuery): Promise<Page> {
  const ascending = q.afterTs !== undefined;
  const order = ascending ? 'asc' : 'desc';
  // First the page itself, from the messages table alone: an index range scan in created_at
  // order that stops after limit + 1 rows (a join here lets MySQL fall back to a join buffer and a
  // sort of the whole conversation). Control messages count only where this device has a row.
  const query = messagesTable(db, BY_CREATED_AT)
    .where('m.conversation_id', q.conversationId)
    .andWhere((w) =>
      w.where('m.kind', 'message').orWhereExists(
        db('message_recipients as r')
          .whereRaw('?? = ??', ['r.message_id', 'm.id'])
          .andWhere('r.user_id', q.userId)
          .andWhere('r.device_id', q.deviceId)
          .select(db.raw('1')),
      ),
    );
  applyWindow(query, 'm.created_at', q.window);
  if (q.afterTs !== undefined) query.andWhere('m.created_at', '>', q.afterTs);
  if (q.beforeTs !== undefined) query.andWhere('m.created_at', '<', q.beforeTs);
  const rows = (await query
    .orderBy([
      { column: 'm.created_at', order },
      { column: 'm.seq', order },
    ])
    .limit(q.limit + 1)
    .select('m.id', 'm.conversation_id', 'm.sender_id', 'm.sender_device_id', 'm.kind', 'm.body', 'm.created_at', 'm.deleted_at')) as Array<
    Record<string, unknown>
  >;
  const { rows: page, hasMore } = cutAtTimestamp(rows, q.limit, (row) => toMillis(row.created_at));

  // Then this device's ciphertexts and the user's self copies of those messages, by primary key.
  const deviceBodies = new Map<string, string>();
  const selfBodies = new Map<string, string>();
  const live = page.filter((row) => row.deleted_at === null || row.deleted_at === undefined).map((row) => row.id as string);
  if (live.length > 0) {
    const devices = q.deviceId === SELF_DEVICE_ID ? [SELF_DEVICE_ID] : [q.deviceId, SELF_DEVICE_ID];
    const bodies: Array<{ message_id: string; device_id: string; body: string }> = await db('message_recipients')
      .whereIn('message_id', live)
      .andWhere('user_id', q.userId)
      .whereIn('device_id', devices)
      .select('message_id', 'device_id', 'body');
    for (const row of bodies) {
      if (row.device_id === q.deviceId) deviceBodies.set(row.message_id, row.body);
      if (row.device_id === SELF_DEVICE_ID) selfBodies.set(row.message_id, row.body);
    }
  }
  const messages = page.map((row) => viewFrom(row, deviceBodies.get(row.id as string) ?? null, selfBodies.get(row.id as string) ?? null));
  if (!ascending) messages.reverse();
  return { messages, hasMore };
}

/**
 * Trims a page fetched with LIMIT n+1 so that it never ends in the middle of rows sharing one
 * timestamp: the next page starts strictly after (or before) the last timestamp returned, and
 * rows written at the same millisecond by another server process must not fall between pages.
 */
export function cutAtTimestamp<T>(rows: T[], limit: number, ts: (row: T) => number): { rows: T[]; hasMore: boolean } {
  if (rows.length <= limit) return { rows, hasMore: false };
  const page = rows.slice(0, limit);
  const boundary = ts(rows[limit]);
  let end = page.length;
  while (end > 0 && ts(page[end - 1]) === boundary) end--;
  // A page made entirely of one millisecond cannot be split further; return it whole.
  return { rows: end > 0 ? page.slice(0, end) : page, hasMore: true };
}

/**
 * A row as get_messages shows it: this device's own ciphertext and the user's self copy side by
 * side. A device that already used the ratchet key of its own ciphertext (it read the message
 * before and lost its cache) can only read the message again through the self copy.
 */
function viewFrom(row: Record<string, unknown>, deviceBody: string | null, selfBody: string | null): MessageView {
  const deletedAt = toMillisOrNull(row.deleted_at);
  const live = deletedAt === null;
  return {
    id: row.id as string,
    conversation_id: row.conversation_id as string,
    sender_id: row.sender_id as string,
    sender_device_id: row.sender_device_id as string,
    kind: row.kind as MessageKind,
    created_at: toMillis(row.created_at),
    deleted_at: deletedAt,
    body: live ? ((row.body as string | null) ?? null) : null,
    recipient_body: live ? deviceBody : null,
    self_body: live ? selfBody : null,
  };
}

export interface ReadRequest {
  readonly conversationId: string;
  readonly userId: string;
  readonly messageIds: readonly string[];
  readonly window: VisibilityWindow;
  readonly now: number;
}

/**
 * Records read receipts for the messages of this conversation that others sent and the user can
 * see (other ids are ignored). Returns the ids newly marked, in the order they were given.
 */
export async function markRead(db: Knex, r: ReadRequest): Promise<string[]> {
  const unique = [...new Set(r.messageIds)];
  if (unique.length === 0) return [];
  const validQuery = db('messages')
    .whereIn('id', unique)
    .andWhere('conversation_id', r.conversationId)
    .andWhere('kind', 'message')
    .andWhere('sender_id', '<>', r.userId)
    .whereNull('deleted_at');
  applyWindow(validQuery, 'created_at', r.window);
  const valid: Array<{ id: string }> = await validQuery.select('id');
  if (valid.length === 0) return [];
  const already: Array<{ message_id: string }> = await db('message_reads')
    .where('user_id', r.userId)
    .whereIn(
      'message_id',
      valid.map((v) => v.id),
    )
    .select('message_id');
  const seen = new Set(already.map((a) => a.message_id));
  const validSet = new Set(valid.map((v) => v.id));
  const fresh = unique.filter((id) => validSet.has(id) && !seen.has(id));
  if (fresh.length === 0) return [];
  const rows = fresh.map((id) => ({ message_id: id, user_id: r.userId, read_at: r.now }));
  // At most 500 rows per statement: within what knex's SQLite multi-row insert accepts.
  for (const chunk of idChunks(rows)) await db('message_reads').insert(chunk).onConflict(['message_id', 'user_id']).ignore();
  return fresh;
}

/**
 * Deletes a message's content: deleted_at set, shared body and every per-device ciphertext wiped,
 * the row kept as a tombstone (so devices can sync the deletion). True when this call deleted it.
 */
export async function softDelete(db: Knex, messageId: string, now: number): Promise<boolean> {
  return db.transaction(async (trx) => {
    const updated = await trx('messages').where('id', messageId).whereNull('deleted_at').update({ deleted_at: now, body: null });
    if (updated === 0) return false;
    await trx('message_recipients').where('message_id', messageId).delete();
    return true;
  });
}

export interface DeletedEntry {
  readonly message_id: string;
  readonly deleted_at: number;
}

/** Messages of a conversation deleted after `since` that the user could see, oldest deletion first. */
export async function deletedSince(
  db: Knex,
  conversationId: string,
  since: number,
  window: VisibilityWindow,
  limit: number,
): Promise<{ deleted: DeletedEntry[]; hasMore: boolean }> {
  const query = messagesTable(db, BY_DELETED_AT).where('m.conversation_id', conversationId).andWhere('m.deleted_at', '>', since);
  applyWindow(query, 'm.created_at', window);
  const rows: Array<{ id: string; deleted_at: unknown }> = await query
    .orderBy([{ column: 'm.deleted_at' }, { column: 'm.seq' }])
    .limit(limit + 1)
    .select('m.id', 'm.deleted_at');
  const { rows: page, hasMore } = cutAtTimestamp(rows, limit, (row) => toMillis(row.deleted_at));
  return { deleted: page.map((row) => ({ message_id: row.id, deleted_at: toMillis(row.deleted_at) })), hasMore };
}

/** The newest created_at in a conversation (null when it has no message). */
export async function latestCreatedAt(db: Knex, conversationId: string): Promise<number | null> {
  const row = (await db('messages').where('conversation_id', conversationId).orderBy('created_at', 'desc').first('created_at')) as
    | { created_at: unknown }
    | undefined;
  return row ? toMillis(row.created_at) : null;
}

/** Removes a user's ciphertext rows for every message of a conversation ("delete for me"). */
export async function deleteUserCopies(db: Knex, conversationId: string, userId: string): Promise<number> {
  return db('message_recipients')
    .where('user_id', userId)
    .whereIn('message_id', db('messages').where('conversation_id', conversationId).select('id'))
    .delete();
}

export interface SelfCopy {
  readonly message_id: string;
  readonly body: string;
}

/**
 * Stores the user's self copies (SELF_DEVICE_ID rows) for the messages the user can see: a
 * member of the conversation, within the user's window, kind 'message', not deleted. Others are
 * skipped. The last copy given for a message wins.
 */
export async function upsertSelfCopies(db: Knex, userId: string, items: readonly SelfCopy[]): Promise<{ stored: string[]; skipped: string[] }> {
  const bodies = new Map<string, string>();
  for (const item of items) bodies.set(item.message_id, item.body);
  const ids = [...bodies.keys()];
  const visible = new Set<string>();
  for (const chunk of idChunks(ids)) {
    const rows: Array<{ id: string }> = await db('messages as m')
      .join('conversation_members as cm', function () {
        this.on('cm.conversation_id', '=', 'm.conversation_id').andOnVal('cm.user_id', '=', userId);
      })
      .whereIn('m.id', chunk)
      .whereNull('m.deleted_at')
      .andWhere('m.kind', 'message')
      .andWhere('m.created_at', '>=', db.ref('cm.joined_at'))
      .andWhere((w) => w.whereNull('cm.cleared_at').orWhere('m.created_at', '>', db.ref('cm.cleared_at')))
      .select('m.id');
    for (const row of rows) visible.add(row.id);
  }
  const stored = ids.filter((id) => visible.has(id));
  const rows = stored.map((id) => ({ message_id: id, user_id: userId, device_id: SELF_DEVICE_ID, body: bodies.get(id)! }));
  // At most 500 rows per statement: within what knex's SQLite multi-row insert accepts.
  for (const chunk of idChunks(rows)) {
    await db('message_recipients').insert(chunk).onConflict(['message_id', 'user_id', 'device_id']).merge(['body']);
  }
  if (stored.length > 0) {
    // A message deleted between the check and the upsert must not keep the copy just written
    // (the deletion may already have wiped its ciphertexts).
    for (const chunk of idChunks(stored)) {
      await db('message_recipients')
        .where({ user_id: userId, device_id: SELF_DEVICE_ID })
        .whereIn('message_id', db('messages').whereIn('id', chunk).whereNotNull('deleted_at').select('id'))
        .delete();
    }
  }
  return { stored, skipped: ids.filter((id) => !visible.has(id)) };
}

/**
 * Metadata retention: deletes read receipts older than `olderThan`, at most `batch` messages'
 * receipts per statement, until none are left. Returns how many rows went.
 */
export async function purgeOldReads(db: Knex, olderThan: number, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const rows: Array<{ message_id: string }> = await db('message_reads').where('read_at', '<', olderThan).limit(batch).select('message_id');
    if (rows.length === 0) return total;
    const ids = [...new Set(rows.map((r) => r.message_id))];
    for (const chunk of idChunks(ids)) {
      total += await db('message_reads').where('read_at', '<', olderThan).whereIn('message_id', chunk).delete();
    }
    if (rows.length < batch) return total;
  }
}
