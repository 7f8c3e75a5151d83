/**
 * The plugin contract (DESIGN.md §2). A plugin is a value built with `definePlugin({...})`; the
 * host decides from the deployment's list whether it exists, in which order it starts and with
 * which settings. The server and client parts run in Node; a plugin's UI part lives in its own
 * `ui.ts` module (see engine/plugin/ui.ts) because it is bundled for the browser renderer.
 */
import type { TSchema, Static } from 'typebox';
import type { Knex } from 'knex';
import type { ServerPluginApi } from './server-api.js';
import type { ClientPluginApi } from './client-api.js';

/**
 * The plugin API version this engine implements. A plugin declares the version it was written
 * against; the host accepts it when it is in SUPPORTED_API_VERSIONS (see docs/PLUGINS.md for the
 * compatibility promise).
 */
export const PLUGIN_API_VERSION = 1;
export const SUPPORTED_API_VERSIONS: readonly number[] = [1];

/** One knex migration of a plugin. `name` is local to the plugin (`0001_init`); the host namespaces it. */
export interface PluginMigration {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down?(knex: Knex): Promise<void>;
}

export interface PluginDefinition<Schema extends TSchema | undefined = TSchema | undefined> {
  /** Lowercase letters, digits and dashes; unique in a deployment; prefixes the plugin's tables. */
  readonly name: string;
  /** The plugin's own semver version, advertised in `hello`. */
  readonly version: string;
  /** The plugin API version it was written against (PLUGIN_API_VERSION). */
  readonly apiVersion: number;
  readonly description?: string;
  /** Names of plugins that must be enabled and started before this one. */
  readonly dependsOn?: readonly string[];
  /** TypeBox schema of this plugin's per-deployment settings; defaults come from the schema. */
  readonly configSchema?: Schema;
  /** Setting names whose values the `hello` frame advertises to clients (never secrets). */
  readonly publicConfig?: readonly string[];
  /** Knex migrations, run in order by name. Disabling the plugin never drops its tables. */
  readonly migrations?: readonly PluginMigration[];
  /** The server part: registers handlers, taps hooks. */
  readonly server?: (api: ServerPluginApi<ConfigOf<Schema>>) => void | Promise<void>;
  /** The client part: adds methods under `client.plugins.<name>`, taps client hooks, adds commands. */
  readonly client?: (api: ClientPluginApi<ConfigOf<Schema>>) => void | Promise<void>;
}

export type ConfigOf<Schema> = Schema extends TSchema ? Static<Schema> : Record<string, never>;

/** A plugin of any config type, as the host sees it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPluginDefinition = PluginDefinition<any>;

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

export function isValidPluginName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

/** Declares a plugin. Returns the definition unchanged (frozen) with its types inferred. */
export function definePlugin<Schema extends TSchema | undefined = undefined>(
  definition: PluginDefinition<Schema>,
): PluginDefinition<Schema> {
  return Object.freeze({ ...definition });
}
