/**
 * The server part of invitations: adding someone to a group (create_conversation with members,
 * add_member) stores an invitation instead of a membership, through the `memberAdding` hook; the
 * invitee accepts (and joins through the engine's addMember), declines, or the inviter withdraws it.
 *
 * Pushes: `group_invitation` to the invitee, `invitation_declined` to the inviter (and the invitee's
 * other devices), `invitation_cancelled` to the invitee (and the inviter when someone else withdrew
 * it). Unregistered (phantom) accounts have no devices: their invitations are stored without a
 * push and are there when the account is registered (it keeps its id).
 */
import { Type } from 'typebox';
import { WireErrorCode, errors, isUniqueViolation, toMillis, type AuthedRequestContext, type Knex, type ServerPluginApi } from '../../engine/plugin/index.js';
import { Uuid } from '../../engine/protocol/index.js';
import { INVITATIONS_TABLE } from './migrations/0001_init.js';

export interface InvitationsConfig {
  /** Days after which a pending invitation lapses (maintenance deletes it). */
  readonly expireDays: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

interface InvitationRow {
  readonly conversationId: string;
  readonly userId: string;
  readonly invitedBy: string;
  readonly createdAt: number;
}

const ConversationRequest = Type.Object({ conversation_id: Uuid() });
const CancelRequest = Type.Object({ conversation_id: Uuid(), user_id: Uuid() });

function toRow(raw: Record<string, unknown>): InvitationRow {
  return {
    conversationId: String(raw.conversation_id),
    userId: String(raw.user_id),
    invitedBy: String(raw.invited_by),
    createdAt: toMillis(raw.created_at),
  };
}

function hasCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | undefined)?.code === code;
}

/** The table's queries. `cutoff`: invitations created before it have lapsed. */
function invitationStore(db: Knex) {
  const table = () => db(INVITATIONS_TABLE);
  return {
    async find(conversationId: string, userId: string): Promise<InvitationRow | undefined> {
      const raw = (await table().where({ conversation_id: conversationId, user_id: userId }).first()) as Record<string, unknown> | undefined;
      return raw ? toRow(raw) : undefined;
    },
    async insert(row: InvitationRow): Promise<void> {
      await table().insert({ conversation_id: row.conversationId, user_id: row.userId, invited_by: row.invitedBy, created_at: row.createdAt });
    },
    async renew(row: InvitationRow): Promise<void> {
      await table().where({ conversation_id: row.conversationId, user_id: row.userId }).update({ invited_by: row.invitedBy, created_at: row.createdAt });
    },
    async remove(conversationId: string, userId: string): Promise<boolean> {
      return (await table().where({ conversation_id: conversationId, user_id: userId }).delete()) > 0;
    },
    async forUser(userId: string, cutoff: number): Promise<InvitationRow[]> {
      const rows = (await table().where({ user_id: userId }).andWhere('created_at', '>=', cutoff).orderBy('created_at').orderBy('conversation_id')) as Array<
        Record<string, unknown>
      >;
      return rows.map(toRow);
    },
    async forConversation(conversationId: string, cutoff: number): Promise<InvitationRow[]> {
      const rows = (await table().where({ conversation_id: conversationId }).andWhere('created_at', '>=', cutoff).orderBy('created_at').orderBy('user_id')) as Array<
        Record<string, unknown>
      >;
      return rows.map(toRow);
    },
    async removeLapsed(cutoff: number): Promise<number> {
      return table().where('created_at', '<', cutoff).delete();
    },
    async removeConversation(conversationId: string): Promise<void> {
      await table().where({ conversation_id: conversationId }).delete();
    },
    async removeUser(userId: string): Promise<void> {
      await table().where({ user_id: userId }).orWhere({ invited_by: userId }).delete();
    },
  };
}

export function invitationsServer(api: ServerPluginApi<InvitationsConfig>): void {
  const store = invitationStore(api.db);
  const { core, log } = api;
  const lifetimeMs = api.config.expireDays * DAY_MS;
  const cutoff = (now = Date.now()) => now - lifetimeMs;
  const live = (row: InvitationRow | undefined, now = Date.now()): row is InvitationRow => row !== undefined && row.createdAt >= cutoff(now);

  async function usernameOf(userId: string): Promise<string> {
    return (await core.users.get(userId))?.username ?? '';
  }

  /** The pending invitation of `userId` to this group, or not_found. */
  async function requireInvitation(conversationId: string, userId: string): Promise<InvitationRow> {
    const row = await store.find(conversationId, userId);
    if (!live(row)) throw errors.notFound('No pending invitation to this conversation');
    return row;
  }

  // ---- taking additions over ---------------------------------------------------------------------

  api.hooks.memberAdding.tap(async ({ conversationId, userId, addedBy }) => {
    const conversation = await core.conversations.get(conversationId);
    if (!conversation || conversation.kind !== 'group') return undefined;
    const now = Date.now();
    const existing = await store.find(conversationId, userId);
    // Inviting again while an invitation is pending changes nothing (no second push).
    if (live(existing, now)) return { outcome: 'invited' };
    const row: InvitationRow = { conversationId, userId, invitedBy: addedBy, createdAt: now };
    if (existing) {
      await store.renew(row);
    } else {
      try {
        await store.insert(row);
      } catch (error) {
        // The same person invited at the same moment by someone else: that invitation stands.
        if (isUniqueViolation(error)) return { outcome: 'invited' };
        throw error;
      }
    }
    api.notify([userId], 'group_invitation', {
      conversation_id: conversationId,
      conversation_name: conversation.name,
      invited_by: addedBy,
      invited_by_username: await usernameOf(addedBy),
      created_at: now,
    });
    return { outcome: 'invited' };
  });

  // Whoever becomes a member (by accepting, or added while this plugin was off) has no invitation left.
  api.hooks.memberAdded.tap(async ({ conversationId, userId }) => {
    await store.remove(conversationId, userId);
  });
  api.hooks.conversationDeleting.tap(async ({ conversationId }) => {
    await store.removeConversation(conversationId);
  });
  api.hooks.userDeleting.tap(async ({ userId }) => {
    await store.removeUser(userId);
  });
  api.hooks.maintenance.tap(async ({ now }) => {
    const removed = await store.removeLapsed(cutoff(now));
    if (removed > 0) log.info({ lapsed: removed }, 'lapsed invitations removed');
  });

  // ---- the invitee's side --------------------------------------------------------------------------

  api.handle(
    'list_invitations',
    Type.Object({}),
    async (_request, ctx: AuthedRequestContext) => {
      const { userId } = ctx.session;
      const rows = await store.forUser(userId, cutoff());
      const inviters = await core.users.getMany(rows.map((row) => row.invitedBy));
      const invitations = [];
      for (const row of rows) {
        const conversation = await core.conversations.get(row.conversationId);
        if (!conversation) continue;
        const memberIds = await core.conversations.memberIds(row.conversationId);
        // Already in the group (added while this plugin was off): nothing to accept.
        if (memberIds.includes(userId)) continue;
        invitations.push({
          conversation_id: row.conversationId,
          conversation_name: conversation.name,
          invited_by: row.invitedBy,
          invited_by_username: inviters.get(row.invitedBy)?.username ?? '',
          created_at: row.createdAt,
          member_count: memberIds.length,
        });
      }
      return { invitations };
    },
    { rateLimit: { key: 'user', points: 120, durationSec: 60 } },
  );

  api.handle(
    'accept_invitation',
    ConversationRequest,
    async (request, ctx: AuthedRequestContext) => {
      const { userId } = ctx.session;
      const conversationId = request.conversation_id;
      const invitation = await requireInvitation(conversationId, userId);
      if (!(await core.conversations.isMember(conversationId, userId))) {
        // Joining first: if it fails (the group is full), the invitation is still there to try again.
        try {
          await core.conversations.addMember(conversationId, userId, invitation.invitedBy, 'accept');
        } catch (error) {
          // Another device of the invitee accepted at the same moment: the user is in, as wanted.
          if (!(hasCode(error, WireErrorCode.CONFLICT) && (await core.conversations.isMember(conversationId, userId)))) throw error;
        }
      }
      await store.remove(conversationId, userId);
      return { conversation_id: conversationId };
    },
    { rateLimit: { key: 'user', points: 60, durationSec: 60 } },
  );

  api.handle(
    'decline_invitation',
    ConversationRequest,
    async (request, ctx: AuthedRequestContext) => {
      const { userId } = ctx.session;
      const conversationId = request.conversation_id;
      const invitation = await requireInvitation(conversationId, userId);
      if (!(await store.remove(conversationId, userId))) throw errors.notFound('No pending invitation to this conversation');
      const conversation = await core.conversations.get(conversationId);
      api.notify(
        [invitation.invitedBy, userId],
        'invitation_declined',
        { conversation_id: conversationId, user_id: userId, username: ctx.session.username, conversation_name: conversation?.name ?? null },
        { exceptConnectionId: ctx.connection.id },
      );
      return {};
    },
    { rateLimit: { key: 'user', points: 60, durationSec: 60 } },
  );

  // ---- the group's side ----------------------------------------------------------------------------

  api.handle(
    'list_conversation_invitations',
    ConversationRequest,
    async (request, ctx: AuthedRequestContext) => {
      await core.conversations.requireMember(request.conversation_id, ctx.session.userId);
      const rows = await store.forConversation(request.conversation_id, cutoff());
      const memberIds = new Set(await core.conversations.memberIds(request.conversation_id));
      const pending = rows.filter((row) => !memberIds.has(row.userId));
      const names = await core.users.getMany(pending.flatMap((row) => [row.userId, row.invitedBy]));
      return {
        invitations: pending.map((row) => ({
          user_id: row.userId,
          username: names.get(row.userId)?.username ?? '',
          invited_by: row.invitedBy,
          invited_by_username: names.get(row.invitedBy)?.username ?? '',
          created_at: row.createdAt,
        })),
      };
    },
    { rateLimit: { key: 'user', points: 120, durationSec: 60 } },
  );

  api.handle(
    'cancel_invitation',
    CancelRequest,
    async (request, ctx: AuthedRequestContext) => {
      const { userId } = ctx.session;
      const conversationId = request.conversation_id;
      const invitation = await store.find(conversationId, request.user_id);
      const isInviter = live(invitation) && invitation.invitedBy === userId;
      if (!isInviter) {
        // Only members learn anything about the group's invitations.
        const conversation = await core.conversations.requireMember(conversationId, userId);
        if (!live(invitation)) throw errors.notFound('No pending invitation for this person');
        if (conversation.createdBy !== userId) throw errors.forbidden('Only who invited this person or the group creator can withdraw the invitation');
      }
      if (!(await store.remove(conversationId, request.user_id))) throw errors.notFound('No pending invitation for this person');
      const conversation = await core.conversations.get(conversationId);
      const inviter = invitation!.invitedBy;
      api.notify(
        inviter === userId ? [request.user_id] : [request.user_id, inviter],
        'invitation_cancelled',
        {
          conversation_id: conversationId,
          conversation_name: conversation?.name ?? null,
          user_id: request.user_id,
          username: await usernameOf(request.user_id),
          cancelled_by: userId,
        },
        { exceptConnectionId: ctx.connection.id },
      );
      return {};
    },
    { rateLimit: { key: 'user', points: 60, durationSec: 60 } },
  );
}
