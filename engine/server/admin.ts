/**
 * Administration of a deployment's plugins (`kecalek plugins list|purge`). It reads the same
 * configuration as `kecalek server` and opens the database directly, but runs nothing: no
 * migrations, no plugin server code — it only loads plugin definitions to read their names,
 * versions and migrations.
 *
 * Disabling a plugin never deletes its data (DESIGN.md: "disable means gate, not delete");
 * purging is this separate, explicit step, allowed only for a plugin the deployment does not
 * enable. It undoes the plugin's migrations when every applied one has a `down` (else it drops
 * the tables named with the plugin's prefix), deletes its key-value entries and migration records,
 * and removes its blob folder under UPLOAD_DIR.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Knex } from 'knex';
import { StartupError, StartupErrorCode } from '../errors.js';
import { isValidPluginName, type AnyPluginDefinition, type PluginMigration } from '../plugin/define.js';
import { loadPlugin, resolvePlugins, type PluginLoader } from '../plugin/host.js';
import { KV_TABLE } from '../plugin/kv.js';
import { MIGRATIONS_LOCK_TABLE, MIGRATIONS_TABLE, collectMigrations, runMigrations } from '../plugin/migrations.js';
import { engineMigrations } from '../../migrations/index.js';
import { secureDelete } from './blobs.js';
import { BUILTIN_PLUGINS } from './builtin-plugins.js';
import type { ServerConfig } from './config-types.js';
import { openDatabase, type Database } from './db/connect.js';

export type PluginSource = 'built-in' | 'package' | 'path';

export interface AdminOptions {
  /** Built-in plugins by name (default: the ones shipped in plugins/). */
  readonly builtins?: ReadonlyMap<string, PluginLoader>;
}

/** One plugin of the deployment: configured (enabled), or not configured but with data left. */
export interface PluginStatus {
  readonly name: string;
  /** From the definition; undefined for a plugin that is not configured and not built in. */
  readonly version: string | undefined;
  /** Where the definition comes from; undefined when it is not configured and not built in. */
  readonly source: PluginSource | undefined;
  /** The plugin-list entry for a package or path plugin. */
  readonly entry: string | undefined;
  readonly enabled: boolean;
  /** Migration names (without the `<plugin>/` namespace) recorded as applied, in order. */
  readonly appliedMigrations: readonly string[];
  /** Migrations of an enabled plugin that the next server start will run. */
  readonly pendingMigrations: readonly string[];
  /** Tables named with the plugin's prefix. */
  readonly tables: readonly string[];
  readonly kvEntries: number;
  /** The plugin's blob folder under UPLOAD_DIR, when it exists. */
  readonly blobFolder: string | undefined;
}

export interface PluginInventory {
  /** Where the data is (no credentials). */
  readonly database: string;
  /** False when the SQLite file does not exist yet (the server never ran here). */
  readonly databaseExists: boolean;
  /** Enabled plugins in start order, then the other plugins that left data, by name. */
  readonly plugins: readonly PluginStatus[];
}

export interface PurgePlan {
  readonly name: string;
  /** The definition that was found for it (its `down` migrations can be run), if any. */
  readonly definition: { readonly version: string; readonly source: PluginSource } | undefined;
  /** Migrations whose `down` runs, in this order (newest first); empty when tables are dropped by prefix instead. */
  readonly undo: readonly string[];
  /** The plugin's tables now (all of them are gone afterwards). */
  readonly tables: readonly string[];
  readonly migrationRecords: readonly string[];
  readonly kvEntries: number;
  readonly blobFolder: string | undefined;
  /** Nothing of this plugin is stored. */
  readonly empty: boolean;
}

export interface PurgeOptions extends AdminOptions {
  /** Asked with the plan before anything is deleted (not asked when there is nothing to delete). */
  readonly confirm?: (plan: PurgePlan) => boolean | Promise<boolean>;
}

export interface PurgeResult {
  readonly plan: PurgePlan;
  readonly purged: boolean;
  /** Tables dropped (by the `down` migrations or by prefix). */
  readonly droppedTables: readonly string[];
}

/** What `kecalek plugins list` shows. Opens the database read-only in spirit: it changes nothing. */
export async function listPlugins(config: ServerConfig, options: AdminOptions = {}): Promise<PluginInventory> {
  const builtins = options.builtins ?? BUILTIN_PLUGINS;
  const enabled = await resolvePlugins(config.plugins, config.pluginSettings, { builtins, cwd: config.cwd });
  return withDatabase(config, async (database) => {
    const stored = await readStored(config, database);
    const known = knownNames(stored, enabled.map((p) => p.definition.name), builtins);
    const statuses: PluginStatus[] = enabled.map(({ definition, source }) => {
      const applied = stored.migrations.get(definition.name) ?? [];
      return {
        name: definition.name,
        version: definition.version,
        ...describeSource(source),
        enabled: true,
        appliedMigrations: applied,
        pendingMigrations: (definition.migrations ?? []).map((m: PluginMigration) => m.name).filter((name: string) => !applied.includes(name)).sort(),
        tables: tablesOf(definition.name, stored, known),
        kvEntries: stored.kv.get(definition.name) ?? 0,
        blobFolder: stored.blobFolders.has(definition.name) ? blobFolderOf(config, definition.name) : undefined,
      };
    });
    const enabledNames = new Set(statuses.map((s) => s.name));
    const leftovers = [...storedOwners(stored)].filter((name) => !enabledNames.has(name)).sort();
    for (const name of leftovers) {
      // Its definition, when it can still be found (built in, or installed as kecalek-plugin-<name>).
      const found = await findDefinition(name, builtins, config.cwd).catch(() => undefined);
      statuses.push({
        name,
        version: found?.definition.version,
        ...(found ? describeSource(found.source) : { source: undefined, entry: undefined }),
        enabled: false,
        appliedMigrations: stored.migrations.get(name) ?? [],
        pendingMigrations: [],
        tables: tablesOf(name, stored, known),
        kvEntries: stored.kv.get(name) ?? 0,
        blobFolder: stored.blobFolders.has(name) ? blobFolderOf(config, name) : undefined,
      });
    }
    return { database: database.description, databaseExists: database.exists, plugins: statuses };
  });
}

/**
 * Deletes everything a plugin that this deployment does not enable has stored. `target` is the
 * plugin's name, or the package name or path it was enabled by (which also finds its `down`
 * migrations); a bare name that is not built in is looked up as the package `kecalek-plugin-<name>`.
 */
export async function purgePlugin(config: ServerConfig, target: string, options: PurgeOptions = {}): Promise<PurgeResult> {
  const builtins = options.builtins ?? BUILTIN_PLUGINS;
  const wanted = target.trim();
  if (!wanted) throw new StartupError(StartupErrorCode.PLUGIN_NOT_FOUND, 'Name the plugin to purge');
  const enabled = await resolvePlugins(config.plugins, config.pluginSettings, { builtins, cwd: config.cwd });
  const refuseEnabled = (name: string): never => {
    throw new StartupError(
      StartupErrorCode.CONFIG_INVALID,
      `Plugin "${name}" is enabled in this deployment's plugin list: remove it from PLUGINS (or kecalek.config.json) and restart the server before purging its data`,
      { plugin: name },
    );
  };
  const enabledHit = enabled.find((p) => p.definition.name === wanted || p.source === wanted);
  if (enabledHit) refuseEnabled(enabledHit.definition.name);

  const definition = await findDefinition(wanted, builtins, config.cwd);
  const name = definition?.definition.name ?? wanted;
  if (!isValidPluginName(name)) {
    throw new StartupError(StartupErrorCode.PLUGIN_NOT_FOUND, `"${wanted}" is neither a plugin name nor a plugin package or path that can be loaded`, { plugin: wanted });
  }
  if (name === 'engine' || name.startsWith('core-')) {
    throw new StartupError(StartupErrorCode.CONFIG_INVALID, `"${name}" is part of the engine, not a plugin: its data cannot be purged`, { plugin: name });
  }
  if (enabled.some((p) => p.definition.name === name)) refuseEnabled(name);

  return withDatabase(config, async (database) => {
    const stored = await readStored(config, database);
    const known = knownNames(stored, [...enabled.map((p) => p.definition.name), name], builtins);
    const applied = stored.migrations.get(name) ?? [];
    const migrations = new Map((definition?.definition.migrations ?? []).map((m: PluginMigration) => [m.name, m]));
    const canUndo = applied.length > 0 && applied.every((migration) => typeof migrations.get(migration)?.down === 'function');
    const tables = tablesOf(name, stored, known);
    const kvEntries = stored.kv.get(name) ?? 0;
    const blobFolder = stored.blobFolders.has(name) ? blobFolderOf(config, name) : undefined;
    const plan: PurgePlan = {
      name,
      definition: definition ? { version: definition.definition.version, source: describeSource(definition.source).source } : undefined,
      undo: canUndo ? [...applied].reverse() : [],
      tables,
      migrationRecords: applied,
      kvEntries,
      blobFolder,
      empty: applied.length === 0 && tables.length === 0 && kvEntries === 0 && blobFolder === undefined,
    };
    if (plan.empty) return { plan, purged: false, droppedTables: [] };
    if (options.confirm && !(await options.confirm(plan))) return { plan, purged: false, droppedTables: [] };
    if (!database.knex) return { plan, purged: await removeBlobFolder(plan), droppedTables: [] };

    const db = database.knex;
    for (const migrationName of plan.undo) {
      try {
        await migrations.get(migrationName)!.down!(db);
      } catch (error) {
        throw new StartupError(
          StartupErrorCode.MIGRATION_FAILED,
          `Migration ${name}/${migrationName} could not be undone: ${firstLine(error)} (nothing after it was changed)`,
          { migration: `${name}/${migrationName}` },
          { cause: error },
        );
      }
      await db(MIGRATIONS_TABLE).where({ name: `${name}/${migrationName}` }).delete();
    }
    // Whatever the plugin's tables are now (all of them without `down` migrations, leftovers with).
    const remaining = tablesOf(name, { ...stored, tables: await listTables(db, database.kind) }, known);
    await dropTables(db, remaining);
    if (await db.schema.hasTable(KV_TABLE)) await db(KV_TABLE).where({ plugin: name }).delete();
    if (await db.schema.hasTable(MIGRATIONS_TABLE)) {
      const records = (await db(MIGRATIONS_TABLE).select('name')) as Array<{ name: string }>;
      const own = records.map((r) => r.name).filter((recorded) => recorded.startsWith(`${name}/`));
      if (own.length > 0) await db(MIGRATIONS_TABLE).whereIn('name', own).delete();
    }
    await removeBlobFolder(plan);
    return { plan, purged: true, droppedTables: [...new Set([...tables, ...remaining])].sort() };
  });
}

// ---- the database --------------------------------------------------------------------------

interface OpenDatabase {
  /** undefined when the SQLite file does not exist (nothing is created). */
  readonly knex: Knex | undefined;
  readonly kind: 'sqlite' | 'mysql';
  readonly description: string;
  readonly exists: boolean;
}

/** Opens the deployment's database like the server does, without creating a missing SQLite file. */
async function withDatabase<T>(config: ServerConfig, task: (database: OpenDatabase) => Promise<T>): Promise<T> {
  const url = config.databaseUrl?.trim();
  const mysql = url !== undefined && /^mysql2?:\/\//i.test(url);
  if (!mysql) {
    const file = resolve(url ? url.replace(/^sqlite:(\/\/)?/i, '') : `${config.dataDir}/kecalek.db`);
    if (!existsSync(file)) return task({ knex: undefined, kind: 'sqlite', description: `SQLite ${file}`, exists: false });
  }
  const database: Database = openDatabase({ url, defaultSqlitePath: `${config.dataDir}/kecalek.db` });
  try {
    await database.knex.raw('select 1').catch((error: unknown) => {
      throw new StartupError(StartupErrorCode.DATABASE_UNAVAILABLE, `Cannot reach the database (${database.description}): ${firstLine(error)}`, undefined, {
        cause: error,
      });
    });
    return await task({ knex: database.knex, kind: database.kind, description: database.description, exists: true });
  } finally {
    await database.close();
  }
}

interface Stored {
  /** Applied migration names by owner, in name order. */
  readonly migrations: ReadonlyMap<string, string[]>;
  readonly kv: ReadonlyMap<string, number>;
  readonly tables: readonly string[];
  readonly engineTables: ReadonlySet<string>;
  /** Plugin names that have a folder under UPLOAD_DIR. */
  readonly blobFolders: ReadonlySet<string>;
}

async function readStored(config: ServerConfig, database: OpenDatabase): Promise<Stored> {
  const migrations = new Map<string, string[]>();
  const kv = new Map<string, number>();
  let tables: string[] = [];
  const db = database.knex;
  if (db) {
    tables = await listTables(db, database.kind);
    if (tables.includes(MIGRATIONS_TABLE)) {
      const rows = (await db(MIGRATIONS_TABLE).select('name').orderBy('name')) as Array<{ name: string }>;
      for (const { name } of rows) {
        const slash = name.indexOf('/');
        if (slash <= 0) continue;
        const owner = name.slice(0, slash);
        migrations.set(owner, [...(migrations.get(owner) ?? []), name.slice(slash + 1)]);
      }
    }
    if (tables.includes(KV_TABLE)) {
      const rows = (await db(KV_TABLE).select('plugin').count({ entries: '*' }).groupBy('plugin')) as Array<{ plugin: string; entries: number | string }>;
      for (const row of rows) kv.set(row.plugin, Number(row.entries));
    }
  }
  const blobFolders = new Set<string>();
  try {
    for (const entry of await readdir(config.uploadDir, { withFileTypes: true })) {
      if (entry.isDirectory() && isValidPluginName(entry.name)) blobFolders.add(entry.name);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { migrations, kv, tables, engineTables: await engineTables(), blobFolders };
}

/** Plugins (not the engine, not core modules) that have something stored. */
function storedOwners(stored: Stored): Set<string> {
  const owners = new Set<string>([...stored.migrations.keys(), ...stored.kv.keys(), ...stored.blobFolders]);
  for (const owner of [...owners]) if (owner === 'engine' || owner.startsWith('core-') || !isValidPluginName(owner)) owners.delete(owner);
  return owners;
}

function knownNames(stored: Stored, names: readonly string[], builtins: ReadonlyMap<string, PluginLoader>): string[] {
  return [...new Set([...storedOwners(stored), ...names, ...builtins.keys()])];
}

/** A plugin's tables carry its name as prefix (`polls_votes`; dashes may be written as underscores). */
function tablePrefixes(name: string): string[] {
  const underscored = name.replace(/-/g, '_');
  return underscored === name ? [`${name}_`] : [`${name}_`, `${underscored}_`];
}

/**
 * The tables with this plugin's prefix — never an engine table, and never one that carries the
 * longer prefix of another known plugin (`foo_bar_x` belongs to `foo-bar`, not to `foo`).
 */
function tablesOf(name: string, stored: Pick<Stored, 'tables' | 'engineTables'>, known: readonly string[]): string[] {
  const own = tablePrefixes(name);
  const longer = known
    .filter((other) => other !== name)
    .flatMap(tablePrefixes)
    .filter((prefix) => own.some((mine) => prefix.length > mine.length && prefix.startsWith(mine)));
  return stored.tables
    .filter((table) => !stored.engineTables.has(table) && own.some((p) => table.startsWith(p)) && !longer.some((p) => table.startsWith(p)))
    .sort();
}

async function listTables(db: Knex, kind: 'sqlite' | 'mysql'): Promise<string[]> {
  if (kind === 'sqlite') {
    const rows = (await db.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\'")) as Array<{ name: string }>;
    return rows.map((row) => row.name).sort();
  }
  const [rows] = (await db.raw("select table_name as name from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE'")) as [
    Array<{ name: string }>,
  ];
  return rows.map((row) => row.name).sort();
}

let engineTableNames: Promise<ReadonlySet<string>> | undefined;

/** The engine's own tables, found by running its migrations on a throw-away in-memory database. */
function engineTables(): Promise<ReadonlySet<string>> {
  engineTableNames ??= (async () => {
    const scratch = openDatabase({ url: 'sqlite::memory:' });
    try {
      await runMigrations(scratch.knex, collectMigrations([{ owner: 'engine', migrations: engineMigrations }]));
      return new Set([...(await listTables(scratch.knex, 'sqlite')), MIGRATIONS_TABLE, MIGRATIONS_LOCK_TABLE]);
    } finally {
      await scratch.close();
    }
  })();
  return engineTableNames;
}

/** Drops tables in an order their foreign keys allow (a referenced table after the tables that reference it). */
async function dropTables(db: Knex, tables: readonly string[]): Promise<void> {
  let left = [...tables];
  while (left.length > 0) {
    const failed: Array<{ table: string; error: unknown }> = [];
    for (const table of left) {
      try {
        await db.schema.dropTableIfExists(table);
      } catch (error) {
        failed.push({ table, error });
      }
    }
    if (failed.length === left.length) {
      throw new StartupError(StartupErrorCode.MIGRATION_FAILED, `Table ${failed[0]!.table} could not be dropped: ${firstLine(failed[0]!.error)}`, {
        table: failed[0]!.table,
      });
    }
    left = failed.map((f) => f.table);
  }
}

// ---- files and definitions -----------------------------------------------------------------

function blobFolderOf(config: ServerConfig, name: string): string {
  return join(config.uploadDir, name);
}

/** Removes the plugin's blob folder, overwriting each file before unlinking it (as blob deletion does). */
async function removeBlobFolder(plan: PurgePlan): Promise<boolean> {
  if (!plan.blobFolder) return false;
  const wipe = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await wipe(path);
      else if (entry.isFile()) await secureDelete(path);
    }
  };
  if ((await stat(plan.blobFolder)).isDirectory()) await wipe(plan.blobFolder);
  await rm(plan.blobFolder, { recursive: true, force: true });
  return true;
}

function describeSource(source: string): { source: PluginSource; entry: string | undefined } {
  if (source === 'builtin') return { source: 'built-in', entry: undefined };
  const isPath = source.startsWith('.') || source.startsWith('/') || /^[A-Za-z]:[\\/]/.test(source);
  return { source: isPath ? 'path' : 'package', entry: source };
}

/** The definition behind a purge target, if it can be loaded; a plain name that is not built in is tried as `kecalek-plugin-<name>`. */
async function findDefinition(
  target: string,
  builtins: ReadonlyMap<string, PluginLoader>,
  cwd: string,
): Promise<{ definition: AnyPluginDefinition; source: string } | undefined> {
  const host = { builtins, cwd };
  if (builtins.has(target)) return loadPlugin(target, host);
  const bareName = isValidPluginName(target) && !target.startsWith('kecalek-plugin-');
  if (!bareName) {
    // A package name or path was given on purpose: it must load.
    return loadPlugin(target, host);
  }
  try {
    const found = await loadPlugin(`kecalek-plugin-${target}`, host);
    return found.definition.name === target ? found : undefined;
  } catch (error) {
    if (error instanceof StartupError && error.code === StartupErrorCode.PLUGIN_NOT_FOUND) return undefined;
    throw error;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
