/**
 * `kecalek plugins list` and `kecalek plugins purge <name>`: the deployment's plugins as the
 * server would load them (same environment, .env, kecalek.config.json and flags), and the
 * explicit deletion of a disabled plugin's data. Neither starts the server or runs migrations.
 * A problem is one `kecalek: ...` line on stderr and exit code 1.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { KecalekError } from '../engine/errors.js';
import { listPlugins, purgePlugin, type PluginInventory, type PluginStatus, type PurgePlan } from '../engine/server/admin.js';
import { loadServerConfig, type Env } from '../engine/server/config.js';
import type { ServerConfig } from '../engine/server/config-types.js';

export interface PluginsCommandOptions {
  readonly dev?: boolean;
  readonly dataDir?: string;
  readonly plugins?: string;
}

export function registerPluginsCommand(program: Command): void {
  const plugins = program
    .command('plugins')
    .description("list the deployment's plugins, or delete a disabled plugin's data (reads the same configuration as `kecalek server`)");

  const configOptions = (command: Command): Command =>
    command
      .option('--dev', 'read the configuration as `kecalek server --dev` does')
      .option('--data-dir <dir>', 'data folder, overrides DATA_DIR')
      .option('--plugins <list>', 'comma-separated plugin list, overrides PLUGINS');

  configOptions(
    plugins
      .command('list')
      .description('show the configured plugins (version, source, migrations) and the disabled ones that left data')
      .option('--json', 'print the list as JSON'),
  ).action(async (options: PluginsCommandOptions & { json?: boolean }) => {
    process.exitCode = await runList(options);
  });

  configOptions(
    plugins
      .command('purge <name>')
      .description("delete all data of a plugin this deployment does not enable: its tables, key-value entries, migration records and blob folder")
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action(async (name: string, options: PluginsCommandOptions & { yes?: boolean }) => {
    process.exitCode = await runPurge(name, options);
  });
}

function readConfig(options: PluginsCommandOptions): ServerConfig {
  const env: Env = { ...process.env };
  if (options.dataDir !== undefined) env.DATA_DIR = options.dataDir;
  if (options.plugins !== undefined) env.PLUGINS = options.plugins;
  return loadServerConfig({ env, dev: options.dev === true });
}

export async function runList(options: PluginsCommandOptions & { json?: boolean }): Promise<number> {
  try {
    const inventory = await listPlugins(readConfig(options));
    const lines = options.json ? [JSON.stringify(inventory, null, 2)] : formatInventory(inventory);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    return fail(error);
  }
}

export async function runPurge(name: string, options: PluginsCommandOptions & { yes?: boolean }): Promise<number> {
  try {
    const result = await purgePlugin(readConfig(options), name, {
      confirm: async (plan) => {
        for (const line of describePlan(plan)) process.stdout.write(`${line}\n`);
        return options.yes === true || (await ask(`Delete all of this for good? Type "yes" to confirm: `));
      },
    });
    if (result.plan.empty) {
      process.stdout.write(`Plugin "${result.plan.name}" has no data stored here; nothing to purge.\n`);
      return 0;
    }
    if (!result.purged) {
      process.stderr.write(`kecalek: purge of "${result.plan.name}" cancelled; nothing was deleted\n`);
      return 1;
    }
    process.stdout.write(`Purged plugin "${result.plan.name}"${result.droppedTables.length > 0 ? ` (dropped ${result.droppedTables.join(', ')})` : ''}.\n`);
    return 0;
  } catch (error) {
    return fail(error);
  }
}

/** What `kecalek plugins list` prints. */
export function formatInventory(inventory: PluginInventory): string[] {
  const lines = [`Database: ${inventory.database}${inventory.databaseExists ? '' : ' (does not exist yet: the server has not run here)'}`];
  if (inventory.plugins.length === 0) {
    lines.push('No plugins are enabled, and no plugin has left data.');
    return lines;
  }
  const rows = [['PLUGIN', 'VERSION', 'STATE', 'SOURCE', 'MIGRATIONS'], ...inventory.plugins.map(row)];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  for (const cells of rows) lines.push(cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
  if (inventory.plugins.some((plugin) => !plugin.enabled)) {
    lines.push('', 'Disabled plugins keep their data; `kecalek plugins purge <name>` deletes it.');
  }
  return lines;
}

function row(plugin: PluginStatus): string[] {
  const source = plugin.source === undefined ? '-' : plugin.entry ? `${plugin.source} ${plugin.entry}` : plugin.source;
  const applied = plugin.appliedMigrations.length > 0 ? `${plugin.appliedMigrations.length} applied (${plugin.appliedMigrations.join(', ')})` : 'none applied';
  const pending = plugin.pendingMigrations.length > 0 ? `, ${plugin.pendingMigrations.length} pending (${plugin.pendingMigrations.join(', ')})` : '';
  const data = plugin.enabled
    ? ''
    : `; data: ${[
        plugin.tables.length > 0 ? `tables ${plugin.tables.join(', ')}` : '',
        plugin.kvEntries > 0 ? `${plugin.kvEntries} key-value ${plugin.kvEntries === 1 ? 'entry' : 'entries'}` : '',
        plugin.blobFolder ? `files in ${plugin.blobFolder}` : '',
      ]
        .filter(Boolean)
        .join(', ') || 'migration records only'}`;
  return [plugin.name, plugin.version ?? '-', plugin.enabled ? 'enabled' : 'disabled', source, `${applied}${pending}${data}`];
}

/** What a purge is about to delete, shown before the confirmation. */
export function describePlan(plan: PurgePlan): string[] {
  const lines = [`Purging plugin "${plan.name}"${plan.definition ? ` ${plan.definition.version} (${plan.definition.source})` : ''} deletes:`];
  if (plan.undo.length > 0) lines.push(`  - its migrations, undone in reverse order: ${plan.undo.join(', ')}`);
  if (plan.tables.length > 0) lines.push(`  - the tables ${plan.tables.join(', ')}`);
  if (plan.migrationRecords.length > 0 && plan.undo.length === 0) lines.push(`  - its migration records: ${plan.migrationRecords.join(', ')}`);
  if (plan.kvEntries > 0) lines.push(`  - ${plan.kvEntries} key-value ${plan.kvEntries === 1 ? 'entry' : 'entries'}`);
  if (plan.blobFolder) lines.push(`  - the folder ${plan.blobFolder} and every file in it`);
  return lines;
}

/** Asks on the terminal (or reads a piped answer); end of input counts as no. */
async function ask(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
  try {
    const answer = await new Promise<string | undefined>((resolveAnswer) => {
      prompt.once('close', () => resolveAnswer(undefined));
      prompt.question(question).then(resolveAnswer, () => resolveAnswer(undefined));
    });
    // A piped answer is not echoed: end the prompt's line.
    if (process.stdin.isTTY !== true) process.stdout.write('\n');
    return answer !== undefined && ['y', 'yes'].includes(answer.trim().toLowerCase());
  } finally {
    prompt.close();
  }
}

function fail(error: unknown): number {
  const message = error instanceof KecalekError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`kecalek: ${message.split('\n')[0]!.trim()}\n`);
  return 1;
}
