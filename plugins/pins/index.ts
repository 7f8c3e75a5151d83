/**
 * pins: pinned messages. The server keeps at most one pin per message (and a capped number per
 * conversation), says on every fetched message whether and by whom it is pinned, lists a
 * conversation's pins and pushes `message_pinned` / `message_unpinned` to the members; the client
 * keeps the cached messages' `extra.pinned_at` / `extra.pinned_by` current and adds /pin, /unpin
 * and /pins to the terminal. Frames and settings: README.md.
 */
import { definePlugin } from '../../engine/plugin/index.js';
import { pinsClient } from './client.js';
import { migration } from './migrations/0001_init.js';
import { pinsServer } from './server.js';
import { PinsConfigSchema } from './shared.js';

export default definePlugin({
  name: 'pins',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Pinned messages.',
  configSchema: PinsConfigSchema,
  publicConfig: ['maxPinsPerConversation'],
  migrations: [migration],
  server: pinsServer,
  client: pinsClient,
});
