/**
 * Which plugins' client parts a client (`kecalek chat`, the desktop app) loads: the built-in
 * plugins, and third-party ones named with `--plugin <path|package>` (repeatable; the desktop
 * also reads KECALEK_PLUGINS), resolved like a server's plugin list
 * (a path starting with `.` or `/`, relative to the working directory, or a package name
 * `kecalek-plugin-*` / `@scope/...` from the working directory's node_modules, then Kecalek's).
 * Each activates only if the server advertises the plugin in its hello, like the built-in ones.
 */
import type { AnyPluginDefinition } from '../plugin/define.js';
import { loadPlugin } from '../plugin/host.js';
import { BUILTIN_PLUGINS } from '../server/builtin-plugins.js';

export interface ClientPluginOptions {
  /** Where paths and package names are resolved from (default: the working directory). */
  readonly cwd?: string;
  /** Told about a built-in plugin that could not be loaded (it is left out), and similar hints. */
  readonly warn?: (line: string) => void;
}

/** The built-in plugins' definitions (a built-in that fails to load is left out and reported to `warn`). */
export async function builtinClientPlugins(warn?: (line: string) => void): Promise<AnyPluginDefinition[]> {
  const definitions: AnyPluginDefinition[] = [];
  for (const [name, load] of BUILTIN_PLUGINS) {
    try {
      definitions.push(await load());
    } catch (error) {
      warn?.(`plugin ${name} could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return definitions;
}

/**
 * The definitions a client gets: the `--plugin` entries first (so that one of them wins
 * over a built-in of the same name), then the built-ins. A `--plugin` entry that cannot be found
 * or is not a plugin rejects with the server's one-line StartupError (`Plugin "./x" cannot be
 * found: ...`); one without a client part is kept out, with a hint to `warn`.
 */
export async function loadClientPlugins(entries: readonly string[], options: ClientPluginOptions = {}): Promise<AnyPluginDefinition[]> {
  const cwd = options.cwd ?? process.cwd();
  const chosen: AnyPluginDefinition[] = [];
  const names = new Set<string>();
  for (const entry of entries) {
    const { definition } = await loadPlugin(entry, { builtins: BUILTIN_PLUGINS, cwd });
    if (typeof definition.client !== 'function') {
      options.warn?.(`plugin ${definition.name} (${entry.trim()}) has no client part: nothing to load into a client`);
      continue;
    }
    if (names.has(definition.name)) continue;
    names.add(definition.name);
    chosen.push(definition);
  }
  const builtins = (await builtinClientPlugins(options.warn)).filter((definition) => !names.has(definition.name));
  return [...chosen, ...builtins];
}
