/**
 * The feature plugins shipped in plugins/, by name. Loaded lazily: a deployment pays only for the
 * plugins it enables.
 */
import type { PluginLoader } from '../plugin/host.js';

export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginLoader> = new Map<string, PluginLoader>([]);
