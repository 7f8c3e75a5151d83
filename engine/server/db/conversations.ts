/**
 * Conversations and their members (tables `conversations`, `conversation_members`). Queries that
 * serve lists are batched: members and unread counts of many conversations come from one query
 * each, never one per conversation.
 */
import type { Knex } from 'knex';
import type { ConversationMemberView } from '../../plugin/server-types.js';
import { toBool, toMillis, toMillisOrNull } from './dialect.js';
import { idChunks, insertValues } from './messages.js';

export type ConversationKind = 'dm' | 'group';
export type MemberRole = 'creator' | 'member';

export interface ConversationRow {
  readonly id: string;
  readonly kind: ConversationKind;
  readonly name: string | null;
  readonly createdBy: string | null;
  readonly dmKey: string | null;
  readonly createdAt: number;
  readonly lastMessageAt: number | null;
}

export interface MembershipRow {
  readonly conversationId: string;
  readonly userId: string;
  readonly role: MemberRole;
  readonly joinedAt: number;
  readonly clearedAt: number | null;
  readonly hidden: boolean;
}

/** A conversation together with one user's membership of it. */
export interface MemberConversation {
  readonly conversation: ConversationRow;
  readonly membership: MembershipRow;
}

const CONVERSATION_COLUMNS = [
  'c.id as c_id',
  'c.kind as c_kind',
  'c.name as c_name',
  'c.created_by as c_created_by',
  'c.dm_key as c_dm_key',
  'c.created_at as c_created_at',
  'c.last_message_at as c_last_message_at',
];
const MEMBERSHIP_COLUMNS = [
  'cm.conversation_id as cm_conversation_id',
  'cm.user_id as cm_user_id',
  'cm.role as cm_role',
  'cm.joined_at as cm_joined_at',
  'cm.cleared_at as cm_cleared_at',
  'cm.hidden as cm_hidden',
];

type Row = Record<string, unknown>;

function conversationFrom(row: Row, prefix = 'c_'): ConversationRow {
  return {
    id: row[`${prefix}id`] as string,
    kind: row[`${prefix}kind`] as ConversationKind,
    name: (row[`${prefix}name`] as string | null) ?? null,
    createdBy: (row[`${prefix}created_by`] as string | null) ?? null,
    dmKey: (row[`${prefix}dm_key`] as string | null) ?? null,
    createdAt: toMillis(row[`${prefix}created_at`]),
    lastMessageAt: toMillisOrNull(row[`${prefix}last_message_at`]),
  };
}

function membershipFrom(row: Row, prefix = 'cm_'): MembershipRow {
  return {
    conversationId: row[`${prefix}conversation_id`] as string,
    userId: row[`${prefix}user_id`] as string,
    role: row[`${prefix}role`] as MemberRole,
    joinedAt: toMillis(row[`${prefix}joined_at`]),
    clearedAt: toMillisOrNull(row[`${prefix}cleared_at`]),
    hidden: toBool(row[`${prefix}hidden`]),
  };
}

/** "<smaller id>:<larger id>": one DM per pair of users. */
export function dmKey(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

export async function getConversation(db: Knex, conversationId: string): Promise<ConversationRow | undefined> {
  const row = (await db('conversations as c').where('c.id', conversationId).first(CONVERSATION_COLUMNS)) as Row | undefined;
  return row ? conversationFrom(row) : undefined;
}

export async function findDm(db: Knex, key: string): Promise<ConversationRow | undefined> {
  const row = (await db('conversations as c').where('c.dm_key', key).first(CONVERSATION_COLUMNS)) as Row | undefined;
  return row ? conversationFrom(row) : undefined;
}

/** The conversation and `userId`'s membership, or undefined when it does not exist or the user is not a member. */
export async function getMemberConversation(db: Knex, conversationId: string, userId: string): Promise<MemberConversation | undefined> {
  const row = (await db('conversation_members as cm')
    .join('conversations as c', 'c.id', 'cm.conversation_id')
    .where('cm.conversation_id', conversationId)
    .andWhere('cm.user_id', userId)
    .first([...CONVERSATION_COLUMNS, ...MEMBERSHIP_COLUMNS])) as Row | undefined;
  return row ? { conversation: conversationFrom(row), membership: membershipFrom(row) } : undefined;
}

export async function getMembership(db: Knex, conversationId: string, userId: string): Promise<MembershipRow | undefined> {
  const row = (await db('conversation_members as cm')
    .where({ 'cm.conversation_id': conversationId, 'cm.user_id': userId })
    .first(MEMBERSHIP_COLUMNS)) as Row | undefined;
  return row ? membershipFrom(row) : undefined;
}

export async function memberIds(db: Knex, conversationId: string): Promise<string[]> {
  const rows: Array<{ user_id: string }> = await db('conversation_members').where('conversation_id', conversationId).select('user_id');
  return rows.map((r) => r.user_id);
}

export async function memberships(db: Knex, conversationId: string): Promise<MembershipRow[]> {
  const rows = (await db('conversation_members as cm')
    .where('cm.conversation_id', conversationId)
    .orderBy([{ column: 'cm.joined_at' }, { column: 'cm.user_id' }])
    .select(MEMBERSHIP_COLUMNS)) as Row[];
  return rows.map((row) => membershipFrom(row));
}

export async function countMembers(db: Knex, conversationId: string): Promise<number> {
  const row = (await db('conversation_members').where('conversation_id', conversationId).count({ n: '*' }).first()) as { n: unknown } | undefined;
  return row ? Number(row.n) : 0;
}

/** Members (with usernames) of many conversations in one query per 500 conversations, in join order. */
export async function membersOf(db: Knex, conversationIds: readonly string[]): Promise<Map<string, ConversationMemberView[]>> {
  const result = new Map<string, ConversationMemberView[]>();
  for (const id of conversationIds) result.set(id, []);
  for (const chunk of idChunks(conversationIds)) {
    const rows: Array<{ conversation_id: string; user_id: string; role: MemberRole; joined_at: unknown; username: string }> = await db(
      'conversation_members as cm',
    )
      .join('users as u', 'u.id', 'cm.user_id')
      .whereIn('cm.conversation_id', chunk)
      .orderBy([{ column: 'cm.conversation_id' }, { column: 'cm.joined_at' }, { column: 'cm.user_id' }])
      .select('cm.conversation_id', 'cm.user_id', 'cm.role', 'cm.joined_at', 'u.username');
    for (const row of rows) {
      result.get(row.conversation_id)?.push({ user_id: row.user_id, username: row.username, role: row.role, joined_at: toMillis(row.joined_at) });
    }
  }
  return result;
}

/**
 * The user's conversations for the list: every membership except DMs the user hid, newest
 * activity (last message, else creation) first.
 */
export async function listForUser(db: Knex, userId: string): Promise<MemberConversation[]> {
  const rows = (await db('conversation_members as cm')
    .join('conversations as c', 'c.id', 'cm.conversation_id')
    .where('cm.user_id', userId)
    .andWhere((q) => q.where('c.kind', '<>', 'dm').orWhere('cm.hidden', false))
    .orderByRaw('coalesce(??, ??) desc, ?? desc', ['c.last_message_at', 'c.created_at', 'c.id'])
    .select([...CONVERSATION_COLUMNS, ...MEMBERSHIP_COLUMNS])) as Row[];
  return rows.map((row) => ({ conversation: conversationFrom(row), membership: membershipFrom(row) }));
}

/**
 * Unread messages per conversation for one user, in one grouped query per 500 conversations:
 * kind 'message', not deleted, not sent by the user, since the user joined (and after the user
 * cleared the DM), not older than `since` (reads are purged after the metadata retention period,
 * so older messages would come back as unread), and with no read receipt from the user.
 */
export async function unreadCounts(db: Knex, userId: string, conversationIds: readonly string[], since: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const chunk of idChunks(conversationIds)) {
    const rows: Array<{ conversation_id: string; n: unknown }> = await db('conversation_members as cm')
      .join('messages as m', function () {
        this.on('m.conversation_id', '=', 'cm.conversation_id').andOn('m.created_at', '>=', 'cm.joined_at');
      })
      .leftJoin('message_reads as r', function () {
        this.on('r.message_id', '=', 'm.id').andOnVal('r.user_id', '=', userId);
      })
      .where('cm.user_id', userId)
      .whereIn('cm.conversation_id', chunk)
      .andWhere((q) => q.whereNull('cm.cleared_at').orWhere('m.created_at', '>', db.ref('cm.cleared_at')))
      .andWhere('m.created_at', '>=', since)
      .andWhere('m.kind', 'message')
      .whereNull('m.deleted_at')
      .andWhere('m.sender_id', '<>', userId)
      .whereNull('r.message_id')
      .groupBy('m.conversation_id')
      .select('m.conversation_id')
      .count({ n: '*' });
    for (const row of rows) counts.set(row.conversation_id, Number(row.n));
  }
  return counts;
}

const MEMBER_COLUMNS = ['conversation_id', 'user_id', 'role', 'joined_at', 'cleared_at', 'hidden'] as const;

export interface NewMember {
  readonly userId: string;
  readonly role: MemberRole;
}

/** Inserts a conversation and its first members. Run inside a transaction. */
export async function insertConversation(trx: Knex, conversation: ConversationRow, members: readonly NewMember[]): Promise<void> {
  await trx('conversations').insert({
    id: conversation.id,
    kind: conversation.kind,
    name: conversation.name,
    created_by: conversation.createdBy,
    dm_key: conversation.dmKey,
    created_at: conversation.createdAt,
    last_message_at: conversation.lastMessageAt,
  });
  await insertMembers(trx, conversation.id, members, conversation.createdAt);
}

/** Adds members (a unique violation means one of them already is). */
export async function insertMembers(db: Knex, conversationId: string, members: readonly NewMember[], joinedAt: number): Promise<void> {
  const rows = members.map((m) => ({
    conversation_id: conversationId,
    user_id: m.userId,
    role: m.role,
    joined_at: joinedAt,
    cleared_at: null,
    hidden: false,
  }));
  await insertValues(db, 'conversation_members', MEMBER_COLUMNS, rows);
}

/** Deletes one membership; true when this call removed it (a concurrent second removal gets false). */
export async function deleteMember(db: Knex, conversationId: string, userId: string): Promise<boolean> {
  return (await db('conversation_members').where({ conversation_id: conversationId, user_id: userId }).delete()) > 0;
}

/** The member who joined first (ties by id), who inherits the creator role when the creator leaves. */
export async function earliestMember(db: Knex, conversationId: string): Promise<string | undefined> {
  const row = (await db('conversation_members')
    .where('conversation_id', conversationId)
    .orderBy([{ column: 'joined_at' }, { column: 'user_id' }])
    .first('user_id')) as { user_id: string } | undefined;
  return row?.user_id;
}

export async function setCreator(db: Knex, conversationId: string, userId: string): Promise<void> {
  await db('conversation_members').where({ conversation_id: conversationId, user_id: userId }).update({ role: 'creator' });
  await db('conversations').where('id', conversationId).update({ created_by: userId });
}

export async function rename(db: Knex, conversationId: string, name: string): Promise<void> {
  await db('conversations').where('id', conversationId).update({ name });
}

export async function unhide(db: Knex, conversationId: string, userId: string): Promise<void> {
  await db('conversation_members').where({ conversation_id: conversationId, user_id: userId, hidden: true }).update({ hidden: false });
}

/** DM "delete for me": hides the DM for the user and hides its history up to `clearedAt`. */
export async function hideForMember(db: Knex, conversationId: string, userId: string, clearedAt: number): Promise<boolean> {
  const updated = await db('conversation_members')
    .where({ conversation_id: conversationId, user_id: userId })
    .update({ hidden: true, cleared_at: clearedAt });
  return updated > 0;
}

/** Members who still see the conversation (have not hidden it). */
export async function visibleMemberCount(db: Knex, conversationId: string): Promise<number> {
  const row = (await db('conversation_members')
    .where({ conversation_id: conversationId, hidden: false })
    .count({ n: '*' })
    .first()) as { n: unknown } | undefined;
  return row ? Number(row.n) : 0;
}

/** Deletes a conversation; cascades take members, messages, recipients and reads. */
export async function deleteConversation(db: Knex, conversationId: string): Promise<boolean> {
  return (await db('conversations').where('id', conversationId).delete()) > 0;
}

/** Deletes a conversation only if nobody is a member any more (the last member left). */
export async function deleteIfEmpty(db: Knex, conversationId: string): Promise<boolean> {
  const deleted = await db('conversations')
    .where('id', conversationId)
    .whereNotExists(db('conversation_members').where('conversation_id', conversationId).select(db.raw('1')))
    .delete();
  return deleted > 0;
}

/** Users who share at least one conversation with `userId` (the original's get_user_contacts). */
export async function contactIds(db: Knex, userId: string): Promise<string[]> {
  const rows: Array<{ user_id: string }> = await db('conversation_members as mine')
    .join('conversation_members as other', 'other.conversation_id', 'mine.conversation_id')
    .where('mine.user_id', userId)
    .andWhere('other.user_id', '<>', userId)
    .distinct('other.user_id');
  return rows.map((r) => r.user_id);
}

/** True when the two users are members of at least one common conversation. */
export async function shareConversation(db: Knex, a: string, b: string): Promise<boolean> {
  const row = await db('conversation_members as x')
    .join('conversation_members as y', 'y.conversation_id', 'x.conversation_id')
    .where('x.user_id', a)
    .andWhere('y.user_id', b)
    .first(db.raw('1 as one'));
  return row !== undefined;
}

/** Which of `userIds` exist, with their usernames. */
export async function usernames(db: Knex, userIds: readonly string[]): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const chunk of idChunks(userIds)) {
    const rows: Array<{ id: string; username: string }> = await db('users').whereIn('id', chunk).select('id', 'username');
    for (const row of rows) result.set(row.id, row.username);
  }
  return result;
}

/** A member as a send sees it: whether the account is a phantom, and its current devices. */
export interface MemberDevices {
  readonly userId: string;
  readonly phantom: boolean;
  /** Every current device. */
  readonly devices: string[];
  /** The devices that can be encrypted to: they have a signed pre-key (get_key_bundle lists only these). */
  readonly ready: string[];
}

/**
 * Members of a conversation (all, or only those among `userIds`) with their phantom flag and
 * current devices, in one query.
 */
export async function memberDevices(db: Knex, conversationId: string, userIds?: readonly string[]): Promise<Map<string, MemberDevices>> {
  const result = new Map<string, MemberDevices>();
  const query = db('conversation_members as cm')
    .join('users as u', 'u.id', 'cm.user_id')
    .leftJoin('devices as d', 'd.user_id', 'cm.user_id')
    .leftJoin('signed_prekeys as sp', 'sp.device_id', 'd.id')
    .where('cm.conversation_id', conversationId)
    .select('cm.user_id', 'u.phantom', 'd.id as device_id', 'sp.device_id as ready_id');
  if (userIds !== undefined) {
    if (userIds.length === 0) return result;
    query.whereIn('cm.user_id', [...new Set(userIds)]);
  }
  const rows: Array<{ user_id: string; phantom: unknown; device_id: string | null; ready_id: string | null }> = await query;
  for (const row of rows) {
    let member = result.get(row.user_id);
    if (!member) result.set(row.user_id, (member = { userId: row.user_id, phantom: toBool(row.phantom), devices: [], ready: [] }));
    if (row.device_id !== null) member.devices.push(row.device_id);
    if (row.ready_id !== null) member.ready.push(row.ready_id);
  }
  return result;
}

/** What a send needs to know, read in one query. */
export interface SendContext {
  readonly kind: ConversationKind;
  /** Every member with its phantom flag; for a DM also each member's current devices. */
  readonly members: Map<string, MemberDevices>;
  /** The message the sender already stored under the given client_msg_id, if any. */
  readonly duplicate: { readonly id: string; readonly conversationId: string; readonly createdAt: number } | undefined;
}

/**
 * Everything send_message checks before storing, in ONE query (on SQLite every query takes a turn
 * on the single connection, so queries per message bound the message rate): the conversation's
 * kind, whether the sender is a member (no rows: not a member, or no such conversation), every
 * member with its phantom flag, the devices (and their readiness) of a DM's members, and the
 * sender's earlier message with this client_msg_id.
 */
export async function sendContext(db: Knex, conversationId: string, senderId: string, clientMsgId: string | null): Promise<SendContext | undefined> {
  const query = db('conversations as c')
    .join('conversation_members as me', function () {
      this.on('me.conversation_id', '=', 'c.id').andOnVal('me.user_id', '=', senderId);
    })
    .join('conversation_members as cm', 'cm.conversation_id', 'c.id')
    .join('users as u', 'u.id', 'cm.user_id')
    // Devices only matter for a DM's completeness check: a group's rows stay one per member.
    .leftJoin('devices as d', function () {
      this.on('d.user_id', '=', 'cm.user_id').andOnVal('c.kind', '=', 'dm');
    })
    .leftJoin('signed_prekeys as sp', 'sp.device_id', 'd.id')
    .where('c.id', conversationId)
    .select('c.kind', 'cm.user_id', 'u.phantom', 'd.id as device_id', 'sp.device_id as ready_id');
  if (clientMsgId !== null) {
    query
      .leftJoin('messages as dup', function () {
        this.onVal('dup.sender_id', '=', senderId).andOnVal('dup.client_msg_id', '=', clientMsgId);
      })
      .select('dup.id as dup_id', 'dup.conversation_id as dup_conversation_id', 'dup.created_at as dup_created_at');
  }
  const rows: Array<{
    kind: ConversationKind;
    user_id: string;
    phantom: unknown;
    device_id: string | null;
    ready_id: string | null;
    dup_id?: string | null;
    dup_conversation_id?: string | null;
    dup_created_at?: unknown;
  }> = await query;
  if (rows.length === 0) return undefined;
  const members = new Map<string, MemberDevices>();
  for (const row of rows) {
    let member = members.get(row.user_id);
    if (!member) members.set(row.user_id, (member = { userId: row.user_id, phantom: toBool(row.phantom), devices: [], ready: [] }));
    if (row.device_id !== null) member.devices.push(row.device_id);
    if (row.ready_id !== null) member.ready.push(row.ready_id);
  }
  const first = rows[0]!;
  const duplicate =
    first.dup_id !== undefined && first.dup_id !== null
      ? { id: first.dup_id, conversationId: first.dup_conversation_id!, createdAt: toMillis(first.dup_created_at) }
      : undefined;
  return { kind: first.kind, members, duplicate };
}

/**
 * Which of `candidates` share a conversation with `userId` other than `exceptConversationId`:
 * who already counted as a contact before that conversation.
 */
export async function contactsOutside(db: Knex, userId: string, candidates: readonly string[], exceptConversationId: string): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of idChunks(candidates)) {
    const rows: Array<{ user_id: string }> = await db('conversation_members as mine')
      .join('conversation_members as other', 'other.conversation_id', 'mine.conversation_id')
      .where('mine.user_id', userId)
      .andWhere('mine.conversation_id', '<>', exceptConversationId)
      .whereIn('other.user_id', chunk)
      .distinct('other.user_id');
    for (const row of rows) found.add(row.user_id);
  }
  return found;
}
