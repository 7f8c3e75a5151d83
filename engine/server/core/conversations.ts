/**
 * core-conversations: direct conversations (DMs) and groups — creating, finding, listing,
 * membership (add, remove, leave), renaming and deleting — and the conversations service behind
 * `api.core.conversations`.
 *
 * Existence is never revealed to outsiders: whoever is not a member of a conversation gets
 * `not_found` for it, exactly as for an id that does not exist. A member who may not do something
 * (not the creator) gets `forbidden`.
 *
 * Pushes (all `{type, data}` without request_id): `conversation_created`, `member_added`,
 * `member_removed`, `conversation_renamed`, `conversation_deleted`. Conversation views pass
 * through the `conversationsListed` waterfall per receiving user, so plugins decorate them the
 * same way in answers and in pushes (for a push, `context.deviceId` is SELF_DEVICE_ID: it goes to
 * all of that user's devices).
 */
import { Type } from 'typebox';
import { errors } from '../../errors.js';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { ConversationSummary, CoreServices } from '../../plugin/core-services.js';
import type { AuthedRequestContext, ConversationView, ListContext, MemberChange } from '../../plugin/server-types.js';
import { SELF_DEVICE_ID } from '../../protocol/constants.js';
import { Email, Uuid } from '../../protocol/validation.js';
import { isUniqueViolation } from '../db/dialect.js';
import {
  countMembers,
  deleteConversation,
  deleteIfEmpty,
  deleteMember,
  dmKey,
  earliestMember,
  findDm,
  getConversation,
  getMemberConversation,
  getMembership,
  hideForMember,
  insertConversation,
  insertMembers,
  listForUser,
  memberIds,
  membersOf,
  memberships,
  rename,
  setCreator,
  unhide,
  unreadCounts,
  usernames,
  visibleMemberCount,
  type ConversationRow,
  type MemberConversation,
} from '../db/conversations.js';
import { deleteUserCopies, latestCreatedAt } from '../db/messages.js';
import { uuidv7 } from '../ids.js';
import { shortId } from '../logger.js';
import { SERVER_VERSION } from '../version.js';
import { CORE_TOKENS } from './tokens.js';
import { MESSAGE_WRITER_TOKEN } from './messages.js';
import type { EngineInternals } from './internals.js';

/** Longest conversation name, in characters, after trimming. */
export const CONVERSATION_NAME_MAX = 100;
const DAY_MS = 24 * 60 * 60 * 1000;
// Generous on the wire; the real rule (1-100 characters after trimming) is checked in the handler.
const RAW_NAME_MAX = 400;
/** C0 and C1 control characters and the Unicode line/paragraph separators. */
function hasControlCharacters(text: string): boolean {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) return true;
  }
  return false;
}

export function createConversationsModule(internals: EngineInternals): AnyPluginDefinition {
  const { config, hooks } = internals;
  const maxMembers = config.limits.maxGroupMembers;

  const ConversationIdRequest = Type.Object({ conversation_id: Uuid() });
  const CreateConversationRequest = Type.Object({
    kind: Type.Union([Type.Literal('dm'), Type.Literal('group')]),
    name: Type.Optional(Type.String({ maxLength: RAW_NAME_MAX })),
    user_ids: Type.Optional(Type.Array(Uuid(), { maxItems: maxMembers })),
    emails: Type.Optional(Type.Array(Email(), { maxItems: maxMembers })),
  });
  const FindConversationRequest = Type.Object({ email: Email() });
  const AddMemberRequest = Type.Object({
    conversation_id: Uuid(),
    user_id: Type.Optional(Uuid()),
    email: Type.Optional(Email()),
  });
  const RemoveMemberRequest = Type.Object({ conversation_id: Uuid(), user_id: Uuid() });
  const RenameRequest = Type.Object({ conversation_id: Uuid(), name: Type.String({ maxLength: RAW_NAME_MAX }) });

  return definePlugin({
    name: 'core-conversations',
    version: SERVER_VERSION,
    apiVersion: 1,
    dependsOn: ['core-accounts'],
    description: 'Direct conversations and groups: create, find, list, members, rename, delete.',
    server(api) {
      const db = api.db;
      const log = api.log;

      // ---- helpers ---------------------------------------------------------------------------

      async function requireMembership(conversationId: string, userId: string): Promise<MemberConversation> {
        const found = await getMemberConversation(db, conversationId, userId);
        if (!found) throw errors.notFound('No such conversation');
        return found;
      }

      /** Reads unread counts only for messages younger than the read-receipt retention. */
      const unreadSince = () => Date.now() - config.metadataRetentionDays * DAY_MS;

      /** Undecorated views of conversations as `viewerId` sees them (members batched, unread counts batched). */
      async function baseViews(rows: readonly ConversationRow[], viewerId: string, withUnread: boolean): Promise<ConversationView[]> {
        const ids = rows.map((row) => row.id);
        const members = await membersOf(db, ids);
        const unread = withUnread ? await unreadCounts(db, viewerId, ids, unreadSince()) : new Map<string, number>();
        return rows.map((row) => ({
          id: row.id,
          kind: row.kind,
          name: row.name,
          created_by: row.createdBy,
          created_at: row.createdAt,
          last_message_at: row.lastMessageAt,
          unread_count: unread.get(row.id) ?? 0,
          members: members.get(row.id) ?? [],
        }));
      }

      /** Plugins decorate views (avatars, pins, favourites) through the conversationsListed waterfall. */
      async function decorate(views: ConversationView[], context: ListContext): Promise<ConversationView[]> {
        if (views.length === 0) return views;
        return hooks.conversationsListed.promise(views, context);
      }

      async function viewFor(row: ConversationRow, viewerId: string, deviceId: string, withUnread: boolean): Promise<ConversationView> {
        const [view] = await decorate(await baseViews([row], viewerId, withUnread), { userId: viewerId, deviceId });
        return view!;
      }

      /**
       * Pushes `conversation_created` to every device of these users, each with the view as that
       * user sees it (a new member has nothing unread yet).
       */
      async function pushCreated(row: ConversationRow, userIds: Iterable<string>): Promise<void> {
        const targets = [...new Set(userIds)];
        if (targets.length === 0) return;
        const [base] = await baseViews([row], targets[0]!, false);
        for (const userId of targets) {
          const [view] = await decorate([structuredClone(base!)], { userId, deviceId: SELF_DEVICE_ID });
          api.notify([userId], 'conversation_created', { conversation: view });
        }
      }

      async function fireMemberAdded(change: MemberChange): Promise<void> {
        await hooks.memberAdded.promise(change);
      }

      async function fireMemberRemoved(change: MemberChange): Promise<void> {
        await hooks.memberRemoved.promise(change);
      }

      /** Fires conversationDeleting (plugins clean up their data and files), then deletes. */
      async function purge(row: ConversationRow, by: string, members: readonly string[], onlyIfEmpty: boolean): Promise<boolean> {
        await hooks.conversationDeleting.promise({ conversationId: row.id, kind: row.kind, by, memberIds: members });
        const deleted = onlyIfEmpty ? await deleteIfEmpty(db, row.id) : await deleteConversation(db, row.id);
        if (deleted) log.info({ conversation: shortId(row.id), kind: row.kind }, 'conversation deleted');
        return deleted;
      }

      /** The people named by user_ids and emails (emails resolve, creating phantoms: no enumeration). */
      async function resolvePeople(userIds: readonly string[] | undefined, emails: readonly string[] | undefined): Promise<string[]> {
        const ids = [...new Set(userIds ?? [])];
        if (ids.length > 0) {
          const known = await usernames(db, ids);
          if (ids.some((id) => !known.has(id))) throw errors.notFound('No such user');
        }
        const people = new Set(ids);
        for (const email of new Set(emails ?? [])) people.add((await api.core.users.resolveEmail(email)).id);
        return [...people];
      }

      function requireName(raw: string | undefined, field = 'name'): string {
        const name = (raw ?? '').trim();
        if (name.length === 0) throw errors.badRequest(field, `${field} must not be empty`);
        if ([...name].length > CONVERSATION_NAME_MAX) throw errors.badRequest(field, `${field} must be at most ${CONVERSATION_NAME_MAX} characters`);
        if (hasControlCharacters(name)) throw errors.badRequest(field, `${field} must not contain control characters`);
        return name;
      }

      /**
       * When someone joins now: after every message already given a time in this conversation,
       * and every later message at or after it (the writer is fenced), even within one millisecond.
       */
      function joinTime(conversationId: string): number {
        const writer = api.use(MESSAGE_WRITER_TOKEN);
        const last = writer.lastStamp(conversationId);
        const joinedAt = Math.max(Date.now(), last === undefined ? 0 : last + 1);
        writer.fence(conversationId, joinedAt - 1);
        return joinedAt;
      }

      function requireGroup(row: ConversationRow, message: string): void {
        if (row.kind !== 'group') throw errors.badRequest('conversation_id', message);
      }

      /**
       * Adds a member directly (no memberAdding guard): inserts the membership, pushes
       * `member_added` to the other members and `conversation_created` to the new member, fires
       * memberAdded.
       */
      async function addDirect(row: ConversationRow, userId: string, by: string, reason: string, exceptConnectionId?: string): Promise<void> {
        if ((await countMembers(db, row.id)) >= maxMembers) throw errors.conflict(`A group has at most ${maxMembers} members`);
        try {
          await insertMembers(db, row.id, [{ userId, role: 'member' }], joinTime(row.id));
        } catch (error) {
          if (isUniqueViolation(error)) throw errors.conflict('Already a member');
          throw error;
        }
        const names = await usernames(db, [userId]);
        const others = (await memberIds(db, row.id)).filter((id) => id !== userId);
        api.notify(
          others,
          'member_added',
          { conversation_id: row.id, user_id: userId, username: names.get(userId) ?? '', added_by: by },
          { exceptConnectionId },
        );
        await pushCreated(row, [userId]);
        await fireMemberAdded({ conversationId: row.id, userId, by, reason });
      }

      // ---- the service ------------------------------------------------------------------------

      const summary = (row: ConversationRow): ConversationSummary => ({
        id: row.id,
        kind: row.kind,
        name: row.name,
        createdBy: row.createdBy,
        createdAt: row.createdAt,
      });

      const service: CoreServices['conversations'] = {
        async get(conversationId) {
          const row = await getConversation(db, conversationId);
          return row ? summary(row) : undefined;
        },
        memberIds: (conversationId) => memberIds(db, conversationId),
        async isMember(conversationId, userId) {
          return (await getMembership(db, conversationId, userId)) !== undefined;
        },
        async requireMember(conversationId, userId) {
          return summary((await requireMembership(conversationId, userId)).conversation);
        },
        async addMember(conversationId, userId, by, reason) {
          const row = await getConversation(db, conversationId);
          if (!row) throw errors.notFound('No such conversation');
          requireGroup(row, 'Only groups take new members');
          if ((await usernames(db, [userId])).size === 0) throw errors.notFound('No such user');
          await addDirect(row, userId, by, reason);
        },
      };
      api.provide(CORE_TOKENS.conversations, service);

      // ---- create_conversation ---------------------------------------------------------------

      api.handle(
        'create_conversation',
        CreateConversationRequest,
        async (request, ctx: AuthedRequestContext) => {
          const { userId, deviceId } = ctx.session;
          const exceptConnectionId = ctx.connection.id;

          if (request.kind === 'dm') {
            const people = await resolvePeople(request.user_ids, request.emails);
            const field = request.emails?.length ? 'emails' : 'user_ids';
            if (people.includes(userId)) throw errors.badRequest(field, 'A direct conversation needs another person, not yourself');
            if (people.length !== 1) throw errors.badRequest(field, 'A direct conversation needs exactly one other person');
            const peerId = people[0]!;
            const key = dmKey(userId, peerId);

            const existing = await findDm(db, key);
            if (existing) {
              const membership = await getMembership(db, existing.id, userId);
              if (membership) {
                if (membership.hidden) await unhide(db, existing.id, userId);
                const view = await viewFor(existing, userId, deviceId, true);
                // The caller's other devices dropped it when it was deleted "for me": show it again there.
                if (membership.hidden) api.notify([userId], 'conversation_created', { conversation: view }, { exceptConnectionId });
                return { conversation: view, created: false };
              }
              // A DM of this pair without the caller cannot be used any more: replace it.
              await purge(existing, userId, await memberIds(db, existing.id), false);
            }

            const now = Date.now();
            const row: ConversationRow = {
              id: uuidv7(now),
              kind: 'dm',
              name: null,
              createdBy: userId,
              dmKey: key,
              createdAt: now,
              lastMessageAt: null,
            };
            try {
              await db.transaction(async (trx) =>
                insertConversation(trx, row, [
                  { userId, role: 'member' },
                  { userId: peerId, role: 'member' },
                ]),
              );
            } catch (error) {
              if (!isUniqueViolation(error)) throw error;
              // The same pair started a DM at the same moment: use that one.
              const raced = await findDm(db, key);
              if (!raced || !(await getMembership(db, raced.id, userId))) throw error;
              return { conversation: await viewFor(raced, userId, deviceId, true), created: false };
            }
            log.info({ conversation: shortId(row.id) }, 'direct conversation created');
            const view = await viewFor(row, userId, deviceId, false);
            api.notify([userId], 'conversation_created', { conversation: view }, { exceptConnectionId });
            await pushCreated(row, [peerId]);
            await fireMemberAdded({ conversationId: row.id, userId: peerId, by: userId, reason: 'create' });
            return { conversation: view, created: true };
          }

          // A group.
          const name = requireName(request.name);
          const people = (await resolvePeople(request.user_ids, request.emails)).filter((id) => id !== userId);
          if (people.length + 1 > maxMembers) {
            throw errors.badRequest(request.user_ids?.length ? 'user_ids' : 'emails', `A group has at most ${maxMembers} members`);
          }
          const now = Date.now();
          const row: ConversationRow = {
            id: uuidv7(now),
            kind: 'group',
            name,
            createdBy: userId,
            dmKey: null,
            createdAt: now,
            lastMessageAt: null,
          };
          await db.transaction(async (trx) => insertConversation(trx, row, [{ userId, role: 'creator' }]));

          // Each person goes through the memberAdding guard: a plugin may take the addition over
          // (invitations turn it into an invitation). A refusal undoes the whole creation.
          const outcomes: Array<{ user_id: string; outcome: string; data?: Record<string, unknown> }> = [];
          const direct: string[] = [];
          try {
            for (const person of people) {
              const taken = await hooks.memberAdding.promise({ conversationId: row.id, userId: person, addedBy: userId, reason: 'create' });
              if (taken) {
                outcomes.push(taken.data ? { user_id: person, outcome: taken.outcome, data: taken.data } : { user_id: person, outcome: taken.outcome });
              } else {
                direct.push(person);
                outcomes.push({ user_id: person, outcome: 'added' });
              }
            }
            if (direct.length > 0) await insertMembers(db, row.id, direct.map((id) => ({ userId: id, role: 'member' as const })), now);
          } catch (error) {
            await purge(row, userId, [userId], false);
            throw error;
          }
          log.info({ conversation: shortId(row.id), members: direct.length + 1 }, 'group created');

          const view = await viewFor(row, userId, deviceId, false);
          api.notify([userId], 'conversation_created', { conversation: view }, { exceptConnectionId });
          await pushCreated(row, direct);
          for (const person of direct) await fireMemberAdded({ conversationId: row.id, userId: person, by: userId, reason: 'create' });
          return { conversation: view, created: true, outcomes };
        },
        { rateLimit: { key: 'user', points: 60, durationSec: 60 } },
      );

      // ---- find_conversation -----------------------------------------------------------------

      api.handle(
        'find_conversation',
        FindConversationRequest,
        async (request, ctx: AuthedRequestContext) => {
          const { userId } = ctx.session;
          const user = await api.core.users.resolveEmail(request.email);
          let conversationId: string | null = null;
          if (user.id !== userId) {
            const dm = await findDm(db, dmKey(userId, user.id));
            if (dm && (await getMembership(db, dm.id, userId))) conversationId = dm.id;
          }
          return { user_id: user.id, username: user.username, conversation_id: conversationId };
        },
        { rateLimit: { key: 'user', points: 120, durationSec: 60 } },
      );

      // ---- get_conversation / list_conversations ---------------------------------------------

      api.handle('get_conversation', ConversationIdRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId, deviceId } = ctx.session;
        const { conversation } = await requireMembership(request.conversation_id, userId);
        return { conversation: await viewFor(conversation, userId, deviceId, true) };
      });

      api.handle('list_conversations', Type.Object({}), async (_request, ctx: AuthedRequestContext) => {
        const { userId, deviceId } = ctx.session;
        const rows = await listForUser(db, userId);
        const views = await baseViews(
          rows.map((r) => r.conversation),
          userId,
          true,
        );
        return { conversations: await decorate(views, { userId, deviceId }) };
      });

      // ---- add_member ------------------------------------------------------------------------

      api.handle(
        'add_member',
        AddMemberRequest,
        async (request, ctx: AuthedRequestContext) => {
          const { userId } = ctx.session;
          if ((request.user_id === undefined) === (request.email === undefined)) {
            throw errors.badRequest(request.user_id === undefined ? 'user_id' : 'email', 'Give exactly one of user_id or email');
          }
          const { conversation } = await requireMembership(request.conversation_id, userId);
          requireGroup(conversation, 'Only groups take new members');
          const [target] = await resolvePeople(request.user_id === undefined ? [] : [request.user_id], request.email === undefined ? [] : [request.email]);
          if (await getMembership(db, conversation.id, target!)) throw errors.conflict('Already a member');
          if ((await countMembers(db, conversation.id)) >= maxMembers) throw errors.conflict(`A group has at most ${maxMembers} members`);
          const taken = await hooks.memberAdding.promise({ conversationId: conversation.id, userId: target!, addedBy: userId, reason: 'add' });
          if (taken) return taken.data ? { user_id: target, outcome: taken.outcome, data: taken.data } : { user_id: target, outcome: taken.outcome };
          await addDirect(conversation, target!, userId, 'add', ctx.connection.id);
          return { user_id: target, outcome: 'added' };
        },
        { rateLimit: { key: 'user', points: 120, durationSec: 60 } },
      );

      // ---- remove_member ---------------------------------------------------------------------

      api.handle('remove_member', RemoveMemberRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const { conversation, membership } = await requireMembership(request.conversation_id, userId);
        requireGroup(conversation, 'Direct conversations have no members to remove; use delete_conversation');
        if (request.user_id === userId) throw errors.badRequest('user_id', 'To remove yourself, use leave_group');
        if (membership.role !== 'creator') throw errors.forbidden('Only the group creator can remove members');
        // Atomic: of two concurrent removals of the same member, one succeeds and the other is not_found (M6).
        if (!(await deleteMember(db, conversation.id, request.user_id))) throw errors.notFound('Not a member');
        const remaining = await memberIds(db, conversation.id);
        api.notify(
          [...remaining, request.user_id],
          'member_removed',
          { conversation_id: conversation.id, user_id: request.user_id, removed_by: userId, reason: 'removed' },
          { exceptConnectionId: ctx.connection.id },
        );
        await fireMemberRemoved({ conversationId: conversation.id, userId: request.user_id, by: userId, reason: 'remove' });
        return { conversation_id: conversation.id, user_id: request.user_id };
      });

      // ---- leave_group -----------------------------------------------------------------------

      api.handle('leave_group', ConversationIdRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const { conversation, membership } = await requireMembership(request.conversation_id, userId);
        requireGroup(conversation, 'You cannot leave a direct conversation; use delete_conversation');
        if (!(await deleteMember(db, conversation.id, userId))) throw errors.notFound('No such conversation');

        let newCreatorId: string | undefined;
        if (membership.role === 'creator') {
          newCreatorId = await earliestMember(db, conversation.id);
          if (newCreatorId) await setCreator(db, conversation.id, newCreatorId);
        }
        const remaining = await memberIds(db, conversation.id);
        const data: Record<string, unknown> = { conversation_id: conversation.id, user_id: userId, removed_by: userId, reason: 'left' };
        if (newCreatorId) data.new_creator_id = newCreatorId;
        api.notify([...remaining, userId], 'member_removed', data, { exceptConnectionId: ctx.connection.id });
        await fireMemberRemoved({ conversationId: conversation.id, userId, by: userId, reason: 'leave' });
        let deleted = false;
        if (remaining.length === 0) deleted = await purge(conversation, userId, [userId], true);
        return { conversation_id: conversation.id, new_creator_id: newCreatorId ?? null, deleted };
      });

      // ---- rename_conversation ---------------------------------------------------------------

      api.handle('rename_conversation', RenameRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const { conversation, membership } = await requireMembership(request.conversation_id, userId);
        requireGroup(conversation, 'Direct conversations have no name');
        if (membership.role !== 'creator') throw errors.forbidden('Only the group creator can rename it');
        const name = requireName(request.name);
        await rename(db, conversation.id, name);
        api.notify(
          await memberIds(db, conversation.id),
          'conversation_renamed',
          { conversation_id: conversation.id, name, renamed_by: userId },
          { exceptConnectionId: ctx.connection.id },
        );
        return { conversation_id: conversation.id, name };
      });

      // ---- delete_conversation ---------------------------------------------------------------

      api.handle('delete_conversation', ConversationIdRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const { conversation, membership } = await requireMembership(request.conversation_id, userId);
        const exceptConnectionId = ctx.connection.id;

        if (conversation.kind === 'dm') {
          // "Delete for me": the history up to now disappears for this user, and so do the
          // user's ciphertexts of it; the DM comes back when a new message arrives.
          const writer = api.use(MESSAGE_WRITER_TOKEN);
          const latest = await latestCreatedAt(db, conversation.id);
          const clearedAt = Math.max(Date.now(), latest ?? 0, writer.lastStamp(conversation.id) ?? 0);
          // Every message stored from now on comes after clearedAt, so the user sees it.
          writer.fence(conversation.id, clearedAt);
          await hideForMember(db, conversation.id, userId, clearedAt);
          await deleteUserCopies(db, conversation.id, userId);
          api.notify([userId], 'conversation_deleted', { conversation_id: conversation.id, deleted_by: userId, scope: 'self' }, { exceptConnectionId });
          let purged = false;
          // Both members deleted it (or the other one is gone): nothing is left to keep.
          if ((await visibleMemberCount(db, conversation.id)) === 0) {
            purged = await purge(conversation, userId, await memberIds(db, conversation.id), false);
          }
          return { conversation_id: conversation.id, scope: 'self', purged };
        }

        if (membership.role !== 'creator') throw errors.forbidden('Only the group creator can delete the group');
        const members = (await memberships(db, conversation.id)).map((m) => m.userId);
        await purge(conversation, userId, members, false);
        api.notify(members, 'conversation_deleted', { conversation_id: conversation.id, deleted_by: userId, scope: 'all' }, { exceptConnectionId });
        for (const member of members) await fireMemberRemoved({ conversationId: conversation.id, userId: member, by: userId, reason: 'delete' });
        return { conversation_id: conversation.id, scope: 'all', purged: true };
      });
    },
  });
}
