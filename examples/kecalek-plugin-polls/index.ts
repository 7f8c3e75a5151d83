/**
 * kecalek-plugin-polls: end-to-end encrypted polls for Kecalek, written against the public plugin
 * API (`kecalek/plugin`) exactly as a third-party plugin is. Enable it with
 * `PLUGINS=...,kecalek-plugin-polls` or in kecalek.config.json; see README.md.
 */
import { definePlugin } from 'kecalek/plugin';
import { pollsClient } from './client.js';
import { init } from './migrations/0001_init.js';
import { pollsServer } from './server.js';
import { PLUGIN_NAME, pollsConfigSchema } from './shared.js';

export const plugin = definePlugin({
  name: PLUGIN_NAME,
  version: '1.0.0',
  apiVersion: 1,
  description: 'Polls whose question and options stay end-to-end encrypted; the server counts votes per option number',
  configSchema: pollsConfigSchema,
  // Clients need these to offer only what the server accepts.
  publicConfig: ['maxOptions', 'allowMultipleChoice'],
  migrations: [init],
  server: pollsServer,
  client: pollsClient,
});

export default plugin;
export type { PollsMethods, PollResults, PollOptionResult, CreatedPoll, CreatePollOptions } from './client.js';
export type { PollsConfig, PollPayload, PollResultsWire, PollUpdatedPush } from './shared.js';
