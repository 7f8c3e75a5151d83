/**
 * mentions: `@username` in a message becomes an end-to-end encrypted list of mentioned members
 * (`payload.mentions`, and `payload.mentions_all` for `@all` / `@here` in groups); a mentioned user
 * is told (`mention` plugin event). Client-only: no handlers, no tables, and the server learns
 * nothing about who is mentioned. Listing it in a deployment's plugins is what makes clients
 * activate it.
 */
import { definePlugin } from '../../engine/plugin/index.js';
import { mentionsClient } from './client.js';

export default definePlugin({
  name: 'mentions',
  version: '1.0.0',
  apiVersion: 1,
  description: '@username mentions, carried inside the encrypted payload; the mentioned user is notified.',
  client: mentionsClient,
});
