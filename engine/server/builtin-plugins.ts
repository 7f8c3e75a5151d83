/**
 * The feature plugins shipped in plugins/, by name. Loaded lazily: a deployment pays only for the
 * plugins it enables.
 */
import type { PluginLoader } from '../plugin/host.js';

export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginLoader> = new Map<string, PluginLoader>([
  ['reactions', async () => (await import('../../plugins/reactions/index.js')).default],
  ['pins', async () => (await import('../../plugins/pins/index.js')).default],
  ['mentions', async () => (await import('../../plugins/mentions/index.js')).default],
  ['invitations', async () => (await import('../../plugins/invitations/index.js')).default],
]);
