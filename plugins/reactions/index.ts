/**
 * reactions: emoji reactions on messages (the original's thumbsup, heart, laugh, surprised, sad,
 * thumbsdown by default). The server keeps one row per (message, user, reaction), attaches each
 * message's reactions to get_messages and pushes `message_reacted` to the members; the client keeps
 * the cached messages' `extra.reactions` current and adds /react and /reactions to the terminal.
 * Frames and settings: README.md.
 */
import { definePlugin } from '../../engine/plugin/index.js';
import { reactionsClient } from './client.js';
import { migration } from './migrations/0001_init.js';
import { reactionsServer } from './server.js';
import { ReactionsConfigSchema } from './shared.js';

export default definePlugin({
  name: 'reactions',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Emoji reactions on messages.',
  configSchema: ReactionsConfigSchema,
  publicConfig: ['allowed'],
  migrations: [migration],
  server: reactionsServer,
  client: reactionsClient,
});
