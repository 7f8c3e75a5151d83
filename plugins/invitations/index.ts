/**
 * invitations: adding someone to a group invites them instead (create_conversation with members,
 * add_member); they accept (and join), decline, or the inviter withdraws the invitation. Invitations
 * lapse after `expireDays`. Without this plugin a deployment adds members directly.
 */
import { Type } from 'typebox';
import { definePlugin } from '../../engine/plugin/index.js';
import { invitationsClient } from './client.js';
import { init } from './migrations/0001_init.js';
import { invitationsServer } from './server.js';

export const configSchema = Type.Object(
  {
    /** Days after which a pending invitation lapses. */
    expireDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: 'invitations',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Group additions become invitations the invitee accepts or declines.',
  configSchema,
  publicConfig: ['expireDays'],
  migrations: [init],
  server: invitationsServer,
  client: invitationsClient,
});
