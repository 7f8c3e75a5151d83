/**
 * The plugin host: turns a deployment's plugin list into started plugins.
 *   1. load each entry (built-in name, npm package name, or path),
 *   2. check the definition and its apiVersion,
 *   3. order by `dependsOn` (topological; ties keep the list's order),
 *   4. validate each plugin's settings against its configSchema (defaults applied),
 * after which the server runs the migrations and starts the plugins in that order.
 * Anything wrong stops start-up with one StartupError line naming the plugin and the problem.
 */
import { createRequire } from 'node:module';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import { StartupError, StartupErrorCode } from '../errors.js';
import { SUPPORTED_API_VERSIONS, isValidPluginName, type AnyPluginDefinition } from './define.js';

export type PluginLoader = () => AnyPluginDefinition | Promise<AnyPluginDefinition>;

export interface PluginHostOptions {
  /** Plugins shipped with the engine, by name. */
  readonly builtins: ReadonlyMap<string, PluginLoader>;
  /** Where relative paths and package names are resolved from (the deployment's directory). */
  readonly cwd: string;
}

export interface ResolvedPlugin {
  readonly definition: AnyPluginDefinition;
  /** Validated settings with schema defaults applied. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Where it came from: `builtin`, a package name, or a file path. */
  readonly source: string;
}

/** Loads, checks, orders and configures the deployment's plugins. */
export async function resolvePlugins(
  entries: readonly string[],
  settings: Readonly<Record<string, unknown>>,
  options: PluginHostOptions,
): Promise<ResolvedPlugin[]> {
  const loaded: Array<{ definition: AnyPluginDefinition; source: string }> = [];
  const byName = new Map<string, { definition: AnyPluginDefinition; source: string }>();
  for (const entry of entries) {
    const item = await loadEntry(entry, options);
    checkDefinition(item.definition, entry);
    const clash = byName.get(item.definition.name);
    if (clash) {
      throw new StartupError(
        StartupErrorCode.PLUGIN_DUPLICATE,
        `Plugin "${item.definition.name}" is listed twice (${clash.source} and ${item.source})`,
        { plugin: item.definition.name },
      );
    }
    byName.set(item.definition.name, item);
    loaded.push(item);
  }

  for (const name of Object.keys(settings)) {
    if (!byName.has(name)) {
      throw new StartupError(
        StartupErrorCode.PLUGIN_CONFIG_INVALID,
        `Settings are given for plugin "${name}", which is not enabled`,
        { plugin: name },
      );
    }
  }

  return orderByDependencies(loaded).map(({ definition, source }) => ({
    definition,
    source,
    config: validatePluginConfig(definition, settings[definition.name]),
  }));
}

/**
 * Loads and checks one plugin-list entry without ordering or configuring it (the admin commands
 * use it to find a plugin that is not enabled). Fails like start-up does, with one StartupError line.
 */
export async function loadPlugin(entry: string, options: PluginHostOptions): Promise<{ definition: AnyPluginDefinition; source: string }> {
  const item = await loadEntry(entry, options);
  checkDefinition(item.definition, entry);
  return item;
}

async function loadEntry(entry: string, options: PluginHostOptions): Promise<{ definition: AnyPluginDefinition; source: string }> {
  const trimmed = entry.trim();
  if (!trimmed) throw new StartupError(StartupErrorCode.PLUGIN_NOT_FOUND, 'An empty plugin name is in the plugin list');
  const builtin = options.builtins.get(trimmed);
  if (builtin) return { definition: await builtin(), source: 'builtin' };

  const isPath = trimmed.startsWith('.') || isAbsolute(trimmed);
  if (!isPath && !trimmed.includes('/') && !trimmed.startsWith('kecalek-plugin-') && !trimmed.startsWith('@')) {
    throw new StartupError(
      StartupErrorCode.PLUGIN_NOT_FOUND,
      `Unknown plugin "${trimmed}": not a built-in plugin (${options.builtins.size > 0 ? [...options.builtins.keys()].join(', ') : 'there are none'}); third-party plugins are named by package (kecalek-plugin-*) or path`,
      { plugin: trimmed },
    );
  }
  let url: string;
  try {
    url = isPath ? pathToFileURL(resolvePath(options.cwd, trimmed)).href : resolvePackage(trimmed, options.cwd);
  } catch (error) {
    throw new StartupError(StartupErrorCode.PLUGIN_NOT_FOUND, `Plugin "${trimmed}" cannot be found: ${firstLine(error)}`, { plugin: trimmed }, { cause: error });
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = isModuleNotFound(error) ? StartupErrorCode.PLUGIN_NOT_FOUND : StartupErrorCode.PLUGIN_INVALID;
    throw new StartupError(code, `Plugin "${trimmed}" cannot be loaded: ${firstLine(error)}`, { plugin: trimmed }, { cause: error });
  }
  const definition = (mod.default ?? mod.plugin) as AnyPluginDefinition | undefined;
  if (!definition || typeof definition !== 'object') {
    throw new StartupError(
      StartupErrorCode.PLUGIN_INVALID,
      `Plugin "${trimmed}" does not export a plugin definition (default export or \`plugin\`)`,
      { plugin: trimmed },
    );
  }
  return { definition, source: trimmed };
}

function resolvePackage(name: string, cwd: string): string {
  // Prefer the deployment's own node_modules, then the engine's.
  for (const base of [resolvePath(cwd, 'package.json'), import.meta.url]) {
    try {
      return pathToFileURL(createRequire(base).resolve(name)).href;
    } catch {
      // try the next base
    }
  }
  return import.meta.resolve(name);
}

function checkDefinition(definition: AnyPluginDefinition, entry: string): void {
  const label = typeof definition.name === 'string' ? definition.name : entry;
  const invalid = (why: string) => new StartupError(StartupErrorCode.PLUGIN_INVALID, `Plugin "${label}" is invalid: ${why}`, { plugin: label });
  if (!isValidPluginName(definition.name)) throw invalid('its name must be lowercase letters, digits and dashes, starting with a letter');
  if (typeof definition.version !== 'string' || !/^\d+\.\d+\.\d+/.test(definition.version)) throw invalid('version must be semver (x.y.z)');
  if (typeof definition.apiVersion !== 'number' || !SUPPORTED_API_VERSIONS.includes(definition.apiVersion)) {
    throw new StartupError(
      StartupErrorCode.PLUGIN_API_VERSION,
      `Plugin "${label}" needs plugin API version ${String(definition.apiVersion)}; this engine supports ${SUPPORTED_API_VERSIONS.join(', ')}`,
      { plugin: label },
    );
  }
  if (definition.dependsOn !== undefined && (!Array.isArray(definition.dependsOn) || !definition.dependsOn.every(isValidPluginName))) {
    throw invalid('dependsOn must be a list of plugin names');
  }
  for (const part of ['server', 'client'] as const) {
    if (definition[part] !== undefined && typeof definition[part] !== 'function') throw invalid(`${part} must be a function`);
  }
  if (definition.migrations !== undefined && !Array.isArray(definition.migrations)) throw invalid('migrations must be a list');
}

/** Topological order by dependsOn; among plugins that are ready, the deployment list's order wins. */
export function orderByDependencies<T extends { definition: AnyPluginDefinition }>(items: readonly T[]): T[] {
  const byName = new Map(items.map((item) => [item.definition.name, item]));
  for (const item of items) {
    for (const dependency of item.definition.dependsOn ?? []) {
      if (!byName.has(dependency)) {
        throw new StartupError(
          StartupErrorCode.PLUGIN_DEPENDENCY_MISSING,
          `Plugin "${item.definition.name}" depends on "${dependency}", which is not enabled`,
          { plugin: item.definition.name, dependency },
        );
      }
    }
  }
  const ordered: T[] = [];
  const placed = new Set<string>();
  while (ordered.length < items.length) {
    const next = items.find(
      (item) => !placed.has(item.definition.name) && (item.definition.dependsOn ?? []).every((d) => placed.has(d)),
    );
    if (!next) {
      const cycle = findCycle(items.filter((item) => !placed.has(item.definition.name)));
      throw new StartupError(
        StartupErrorCode.PLUGIN_DEPENDENCY_CYCLE,
        `Plugins depend on each other in a cycle: ${cycle.join(' -> ')}`,
        { cycle },
      );
    }
    ordered.push(next);
    placed.add(next.definition.name);
  }
  return ordered;
}

function findCycle(remaining: ReadonlyArray<{ definition: AnyPluginDefinition }>): string[] {
  const deps = new Map(remaining.map((item) => [item.definition.name, item.definition.dependsOn ?? []]));
  const visit = (name: string, path: string[]): string[] | undefined => {
    const at = path.indexOf(name);
    if (at >= 0) return [...path.slice(at), name];
    for (const dependency of deps.get(name) ?? []) {
      if (!deps.has(dependency)) continue;
      const found = visit(dependency, [...path, name]);
      if (found) return found;
    }
    return undefined;
  };
  for (const name of deps.keys()) {
    const cycle = visit(name, []);
    if (cycle) return cycle;
  }
  return [...deps.keys()];
}

/** Applies schema defaults and validates; an invalid setting stops start-up naming `plugin.setting`. */
export function validatePluginConfig(definition: AnyPluginDefinition, raw: unknown): Readonly<Record<string, unknown>> {
  const schema = definition.configSchema as TSchema | undefined;
  if (!schema) {
    if (raw !== undefined && !(typeof raw === 'object' && raw !== null && Object.keys(raw).length === 0)) {
      throw new StartupError(
        StartupErrorCode.PLUGIN_CONFIG_INVALID,
        `Plugin "${definition.name}" takes no settings, but some were given`,
        { plugin: definition.name },
      );
    }
    return Object.freeze({});
  }
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new StartupError(StartupErrorCode.PLUGIN_CONFIG_INVALID, `Settings of plugin "${definition.name}" must be an object`, {
      plugin: definition.name,
    });
  }
  const value = Value.Default(schema, structuredClone(raw ?? {})) as Record<string, unknown>;
  if (!Value.Check(schema, value)) {
    const [first] = [...Value.Errors(schema, value)];
    const setting = first ? pointerToPath(first.instancePath, first.params) : '';
    // An unknown setting fails the `false` schema of additionalProperties: say so in words.
    const message = first?.schemaPath.endsWith('/additionalProperties') ? 'is not a setting of this plugin' : (first?.message ?? 'is invalid');
    throw new StartupError(
      StartupErrorCode.PLUGIN_CONFIG_INVALID,
      `Invalid setting ${definition.name}${setting ? `.${setting}` : ''}: ${message}`,
      { plugin: definition.name, setting },
    );
  }
  return deepFreeze(value);
}

function pointerToPath(pointer: string, params: unknown): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  // A missing required property reports the parent; name the property itself.
  const missing = (params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
  if (Array.isArray(missing) && missing.length > 0) parts.push(missing[0]!);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}
