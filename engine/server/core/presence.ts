/**
 * core-presence: who is online, as the original showed it. A user's contacts are the users who
 * share at least one conversation with them.
 *
 * - On login a connection receives `online_users {user_ids}` (its online contacts); when it is the
 *   user's first connection, the online contacts receive `user_online {user_id}`.
 * - When a user's last connection closes (or logs out), the online contacts receive
 *   `user_offline {user_id}`.
 * - When someone becomes a member of a conversation (memberAdded: a new DM, a group creation or
 *   addition, an accepted invitation) and that makes new contacts of people who are both online,
 *   each side gets `user_online` for the other: the new member one per online member it did not
 *   share a conversation with before, those members one for the new member. `online_users` stays
 *   the login snapshot (clients replace their set with it); everything after it is incremental.
 * - `session_reset` relays "my session with you broke, start a new one" to a peer's device(s):
 *   `session_reset {from_user_id, from_device_id}`.
 *
 * The presence service (`api.core.presence.isOnline`) answers from the connection registry.
 */
import { Type } from 'typebox';
import { errors } from '../../errors.js';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { CoreServices } from '../../plugin/core-services.js';
import type { AuthedRequestContext } from '../../plugin/server-types.js';
import { Uuid } from '../../protocol/validation.js';
import { contactIds, contactsOutside, memberships, shareConversation, type MembershipRow } from '../db/conversations.js';
import { findDevice } from '../db/devices.js';
import { SERVER_VERSION } from '../version.js';
import { CORE_TOKENS } from './tokens.js';
import type { EngineInternals } from './internals.js';

/** session_reset requests per user per minute. */
export const SESSION_RESET_PER_MINUTE = 30;

export function createPresenceModule(internals: EngineInternals): AnyPluginDefinition {
  const { registry } = internals;

  const SessionResetRequest = Type.Object({ user_id: Uuid(), device_id: Type.Optional(Uuid()) });

  return definePlugin({
    name: 'core-presence',
    version: SERVER_VERSION,
    apiVersion: 1,
    description: 'Online status of contacts, and session-reset relays.',
    server(api) {
      const db = api.db;

      const presence: CoreServices['presence'] = {
        isOnline: (userId) => registry.isOnline(userId),
      };
      api.provide(CORE_TOKENS.presence, presence);

      const onlineContacts = async (userId: string): Promise<string[]> => (await contactIds(db, userId)).filter((id) => registry.isOnline(id));

      api.hooks.authenticated.tap(async ({ connection, session, firstConnection }) => {
        const online = await onlineContacts(session.userId);
        internals.connection(connection.id)?.push({ type: 'online_users', data: { user_ids: online } });
        // Announce only a user who came online and is still online after the look-up.
        if (firstConnection && registry.isOnline(session.userId) && online.length > 0) {
          api.notify(online, 'user_online', { user_id: session.userId });
        }
      });

      // At shutdown every connection closes: nobody needs a user_offline per user (the clients
      // see the connection drop), and the database is about to close.
      let stopping = false;
      api.onShutdown(() => {
        stopping = true;
      });

      api.hooks.memberAdded.tap(async ({ conversationId, userId, by, reason }) => {
        if (stopping || !registry.isOnline(userId)) return;
        const members = await memberships(db, conversationId);
        const joinedAt = members.find((m) => m.userId === userId)?.joinedAt;
        if (joinedAt === undefined) return;
        // A creation fires memberAdded for each person named, after all of them were added: a pair
        // of them is announced once, in the hook of the one with the greater id.
        const announcedByOther = (m: MembershipRow) => reason === 'create' && m.userId !== by && m.joinedAt === joinedAt && m.userId > userId;
        const online = members.filter((m) => m.userId !== userId && !announcedByOther(m) && registry.isOnline(m.userId)).map((m) => m.userId);
        if (online.length === 0) return;
        // Contacts from another conversation know each other's presence already.
        const known = await contactsOutside(db, userId, online, conversationId);
        const fresh = online.filter((id) => !known.has(id));
        if (fresh.length === 0) return;
        for (const id of fresh) api.notify([userId], 'user_online', { user_id: id });
        if (registry.isOnline(userId)) api.notify(fresh, 'user_online', { user_id: userId });
      });

      api.hooks.disconnect.tap(async ({ session, lastConnection }) => {
        if (!session || !lastConnection || stopping) return;
        const online = await onlineContacts(session.userId);
        // A reconnect during the look-up means the user never looked offline.
        if (online.length > 0 && !registry.isOnline(session.userId)) api.notify(online, 'user_offline', { user_id: session.userId });
      });

      api.handle(
        'session_reset',
        SessionResetRequest,
        async (request, ctx: AuthedRequestContext) => {
          const { userId, deviceId } = ctx.session;
          const own = request.user_id === userId;
          if (own && request.device_id === deviceId) throw errors.badRequest('device_id', 'This is the device you are using');
          // Only between people who share a conversation; to anyone else the peer does not exist.
          if (!own && !(await shareConversation(db, userId, request.user_id))) throw errors.notFound('No such user');
          const data = { from_user_id: userId, from_device_id: deviceId };
          if (request.device_id !== undefined) {
            if (!(await findDevice(db, request.user_id, request.device_id))) throw errors.notFound('No such device');
            api.notifyDevices([{ userId: request.user_id, deviceId: request.device_id, data }], 'session_reset', {
              exceptConnectionId: ctx.connection.id,
            });
          } else {
            api.notify([request.user_id], 'session_reset', data, { exceptConnectionId: ctx.connection.id });
          }
          return {};
        },
        { rateLimit: { key: 'user', points: SESSION_RESET_PER_MINUTE, durationSec: 60 } },
      );
    },
  });
}
