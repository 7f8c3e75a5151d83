/**
 * `kecalek plugins list|purge` (engine/server/admin.ts) on real databases: a server runs the
 * plugins and stores data, stops, and the admin functions read and delete that data directly.
 * Purging undoes a plugin's migrations when they have `down`, otherwise drops its prefixed tables
 * (never an engine table, never another plugin's), and deletes its kv entries, migration records
 * and blob folder — and only for a plugin the deployment does not enable. The CLI runs once as a
 * child process.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from 'typebox';
import type { Knex } from 'knex';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { PluginLoader } from '../../plugin/host.js';
import { MIGRATIONS_TABLE } from '../../plugin/migrations.js';
import { createAccount, forEachBackend, startTestServer, testServerConfig, type TestServer } from '../../testing/index.js';
import { listPlugins, purgePlugin, type PurgePlan } from '../admin.js';
import type { ServerConfig } from '../config-types.js';
import { openDatabase } from '../db/connect.js';
import { exactCollation } from '../db/dialect.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const POLLS_PATH = './examples/kecalek-plugin-polls';

/** A plugin whose migration has no `down`: purging drops its prefixed tables (a referenced one last). */
const notes = definePlugin({
  name: 'notes',
  version: '1.0.0',
  apiVersion: 1,
  migrations: [
    {
      name: '0001_init',
      async up(knex: Knex) {
        await knex.schema.createTable('notes_lists', (t) => {
          exactCollation(knex, t.string('id', 36)).primary();
        });
        await knex.schema.createTable('notes_items', (t) => {
          exactCollation(knex, t.string('id', 36)).primary();
          exactCollation(knex, t.string('list_id', 36)).notNullable().references('id').inTable('notes_lists');
        });
      },
    },
  ],
  server(api) {
    api.handle('notes_add', Type.Object({}), async () => {
      const list = randomUUID();
      await api.db('notes_lists').insert({ id: list });
      await api.db('notes_items').insert({ id: randomUUID(), list_id: list });
      await api.kv.set('shared', { owner: 'notes' });
      await api.kv.set('second', 2);
      await api.blobs.write(randomUUID(), new TextEncoder().encode('note attachment'));
      return {};
    });
  },
});

/** Its tables start with `notes_` too: purging `notes` must leave them alone. */
const notesExtra = definePlugin({
  name: 'notes-extra',
  version: '1.0.0',
  apiVersion: 1,
  migrations: [
    {
      name: '0001_init',
      async up(knex: Knex) {
        await knex.schema.createTable('notes_extra_things', (t) => {
          t.string('id', 36).primary();
        });
      },
    },
  ],
  server(api) {
    api.handle('notes_extra_add', Type.Object({}), async () => {
      await api.db('notes_extra_things').insert({ id: randomUUID() });
      await api.kv.set('shared', { owner: 'notes-extra' });
      return {};
    });
  },
});

/** A newer notes with one more migration, to show a pending one. */
const notesV2 = definePlugin({
  ...notes,
  version: '1.1.0',
  migrations: [...(notes.migrations ?? []), { name: '0002_tags', up: (knex: Knex) => knex.schema.createTable('notes_tags', (t) => t.string('tag', 40)) }],
});

function builtinsOf(...definitions: AnyPluginDefinition[]): Map<string, PluginLoader> {
  return new Map(definitions.map((definition) => [definition.name, () => definition]));
}

async function tables(config: ServerConfig): Promise<string[]> {
  const database = openDatabase({ url: config.databaseUrl, defaultSqlitePath: `${config.dataDir}/kecalek.db` });
  try {
    if (database.kind === 'sqlite') {
      return ((await database.knex.raw("select name from sqlite_master where type = 'table'")) as Array<{ name: string }>).map((r) => r.name).sort();
    }
    const [rows] = (await database.knex.raw('select table_name as name from information_schema.tables where table_schema = database()')) as [Array<{ name: string }>];
    return rows.map((r) => r.name).sort();
  } finally {
    await database.close();
  }
}

async function query<T>(config: ServerConfig, task: (knex: Knex) => Promise<T>): Promise<T> {
  const database = openDatabase({ url: config.databaseUrl, defaultSqlitePath: `${config.dataDir}/kecalek.db` });
  try {
    return await task(database.knex);
  } finally {
    await database.close();
  }
}

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

forEachBackend('plugin administration (list, purge)', (backend) => {
  let dataDir: string;
  let pollId: string;

  /** The deployment's configuration as `kecalek plugins` reads it, with this plugin list. */
  const configWith = (plugins: string[]): ServerConfig =>
    testServerConfig({ dataDir, databaseUrl: backend.databaseUrl, plugins, cwd: ROOT, pluginSettings: {} });

  before(async function () {
    this.timeout(60_000);
    dataDir = await mkdtemp(join(tmpdir(), 'kecalek-admin-'));
    const server: TestServer = await startTestServer({
      databaseUrl: backend.databaseUrl,
      plugins: [POLLS_PATH, notes, notesExtra],
      config: { dataDir, cwd: ROOT },
    });
    try {
      const alice = await createAccount(server);
      const { conversation } = await alice.connection.expectOk<{ conversation: { id: string } }>('create_conversation', { kind: 'group', name: 'g', user_ids: [] });
      pollId = randomUUID();
      await alice.connection.expectOk('create_poll', { conversation_id: conversation.id, poll_id: pollId, option_count: 2, multiple: false });
      await alice.connection.expectOk('vote_poll', { poll_id: pollId, option_indexes: [1] });
      await alice.connection.expectOk('notes_add');
      await alice.connection.expectOk('notes_extra_add');
    } finally {
      await server.close();
    }
  });

  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the configured plugins with version, source and migrations, and the disabled ones that left data', async function () {
    this.timeout(30_000);
    const inventory = await listPlugins(configWith([POLLS_PATH, 'notes']), { builtins: builtinsOf(notesV2, notesExtra) });
    expect(inventory.databaseExists).to.equal(true);
    expect(inventory.database).to.match(backend.name === 'sqlite' ? /^SQLite / : /^MySQL /);
    const [polls, notesRow, extra] = inventory.plugins;
    expect(polls).to.deep.include({
      name: 'polls',
      version: '1.0.0',
      source: 'path',
      entry: POLLS_PATH,
      enabled: true,
      appliedMigrations: ['0001_init'],
      pendingMigrations: [],
      tables: ['polls_polls', 'polls_votes'],
      kvEntries: 0,
      blobFolder: undefined,
    });
    // The next start would run notes' new migration.
    expect(notesRow).to.deep.include({ name: 'notes', version: '1.1.0', source: 'built-in', enabled: true, appliedMigrations: ['0001_init'], pendingMigrations: ['0002_tags'] });
    expect(notesRow!.tables).to.deep.equal(['notes_items', 'notes_lists']);
    expect(notesRow!.kvEntries).to.equal(2);
    expect(notesRow!.blobFolder).to.equal(join(dataDir, 'uploads', 'notes'));
    // notes-extra is not in the list any more, but its data is.
    expect(extra).to.deep.include({ name: 'notes-extra', version: '1.0.0', source: 'built-in', enabled: false, appliedMigrations: ['0001_init'], tables: ['notes_extra_things'], kvEntries: 1 });
    expect(inventory.plugins).to.have.length(3);

    // By package name, the same plugin is a package.
    const byPackage = await listPlugins(configWith(['kecalek-plugin-polls']), { builtins: builtinsOf(notes, notesExtra) });
    expect(byPackage.plugins[0]).to.deep.include({ name: 'polls', source: 'package', entry: 'kecalek-plugin-polls', enabled: true });
    expect(byPackage.plugins.filter((p) => !p.enabled).map((p) => p.name)).to.deep.equal(['notes', 'notes-extra']);
  });

  it('refuses to purge an enabled plugin or the engine, and finds nothing to purge for an unknown name', async function () {
    this.timeout(30_000);
    const builtins = builtinsOf(notes, notesExtra);
    for (const target of ['polls', 'kecalek-plugin-polls', POLLS_PATH]) {
      const refused = await failure(purgePlugin(configWith(['kecalek-plugin-polls']), target, { builtins }));
      expect(refused.code, target).to.equal('config_invalid');
      expect(refused.message).to.match(/^Plugin "polls" is enabled in this deployment's plugin list/);
    }
    expect((await failure(purgePlugin(configWith([]), 'core-messages', { builtins }))).message).to.contain('part of the engine');
    expect((await failure(purgePlugin(configWith([]), 'kecalek-plugin-missing-here', { builtins }))).code).to.equal('plugin_not_found');
    const nothing = await purgePlugin(configWith([]), 'weather', { builtins });
    expect(nothing).to.deep.include({ purged: false });
    expect(nothing.plan.empty).to.equal(true);
    expect(await tables(configWith([]))).to.include.members(['polls_polls', 'notes_lists', 'notes_extra_things']);
  });

  it('asks before deleting, and deletes nothing when the answer is no', async function () {
    this.timeout(30_000);
    let shown: PurgePlan | undefined;
    const result = await purgePlugin(configWith([]), 'notes', {
      builtins: builtinsOf(notes, notesExtra),
      confirm: (plan) => {
        shown = plan;
        return false;
      },
    });
    expect(result.purged).to.equal(false);
    expect(shown).to.deep.include({ name: 'notes', undo: [], tables: ['notes_items', 'notes_lists'], migrationRecords: ['0001_init'], kvEntries: 2, empty: false });
    expect(await tables(configWith([]))).to.include.members(['notes_items', 'notes_lists']);
  });

  it('purges a plugin without down migrations: its prefixed tables, kv entries, records and files, nothing of anyone else', async function () {
    this.timeout(30_000);
    const before = await tables(configWith([]));
    const result = await purgePlugin(configWith(['notes-extra']), 'notes', { builtins: builtinsOf(notes, notesExtra), confirm: () => true });
    expect(result.purged).to.equal(true);
    expect(result.droppedTables).to.deep.equal(['notes_items', 'notes_lists']);
    const after = await tables(configWith([]));
    expect(after).to.deep.equal(before.filter((t) => t !== 'notes_items' && t !== 'notes_lists'));
    expect(after).to.include.members(['notes_extra_things', 'users', 'messages', 'plugin_kv', MIGRATIONS_TABLE]);
    const kv = await query(configWith([]), (knex) => knex('plugin_kv').select('plugin', 'key').orderBy('plugin'));
    expect(kv).to.deep.equal([{ plugin: 'notes-extra', key: 'shared' }]);
    const records = await query(configWith([]), (knex) => knex(MIGRATIONS_TABLE).pluck('name'));
    expect(records.filter((name: string) => name.startsWith('notes/'))).to.deep.equal([]);
    expect(records).to.include('notes-extra/0001_init');
    expect(existsSync(join(dataDir, 'uploads', 'notes'))).to.equal(false);
  });

  it('purges a plugin with down migrations by undoing them; re-enabling it starts from empty tables', async function () {
    this.timeout(60_000);
    const result = await purgePlugin(configWith([]), 'kecalek-plugin-polls');
    expect(result.plan).to.deep.include({ name: 'polls', undo: ['0001_init'], tables: ['polls_polls', 'polls_votes'] });
    expect(result.plan.definition).to.deep.equal({ version: '1.0.0', source: 'package' });
    expect(result.purged).to.equal(true);
    const after = await tables(configWith([]));
    expect(after.filter((t) => t.startsWith('polls_'))).to.deep.equal([]);

    // Enabled again, the plugin's migrations run anew and it works on empty tables.
    const server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [POLLS_PATH], config: { dataDir, cwd: ROOT } });
    try {
      const bob = await createAccount(server);
      const gone = await bob.connection.expectError('get_poll_results', { poll_id: pollId }, 'not_found');
      expect(gone.code).to.equal('not_found');
      expect(await server.server.database.knex('polls_polls').count({ n: '*' })).to.deep.equal([{ n: 0 }]);
    } finally {
      await server.close();
    }
    const inventory = await listPlugins(configWith([POLLS_PATH]), { builtins: builtinsOf(notesExtra) });
    expect(inventory.plugins[0]).to.deep.include({ name: 'polls', appliedMigrations: ['0001_init'] });
  });

  it('runs as `kecalek plugins list` and `kecalek plugins purge --yes` from the command line', async function () {
    this.timeout(60_000);
    const env = { DATA_DIR: dataDir, DATABASE_URL: backend.databaseUrl ?? '', KECALEK_CONFIG: '', ENVIRONMENT: '' };
    const listed = await runCli(['plugins', 'list', '--json'], { ...env, PLUGINS: 'kecalek-plugin-polls' });
    expect(listed.code, listed.stderr).to.equal(0);
    const inventory = JSON.parse(listed.stdout) as { plugins: Array<{ name: string; enabled: boolean; source: string }> };
    expect(inventory.plugins.map((p) => [p.name, p.enabled, p.source ?? null])).to.deep.equal([
      ['polls', true, 'package'],
      ['notes-extra', false, null],
    ]);

    const text = await runCli(['plugins', 'list'], { ...env, PLUGINS: '' });
    expect(text.stdout).to.match(/^notes-extra +- +disabled +- +1 applied \(0001_init\); data: tables notes_extra_things, 1 key-value entry$/m);

    const refused = await runCli(['plugins', 'purge', 'polls', '--yes'], { ...env, PLUGINS: 'kecalek-plugin-polls' });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/^kecalek: Plugin "polls" is enabled in this deployment's plugin list: .*\n$/);

    const cancelled = await runCli(['plugins', 'purge', 'notes-extra'], { ...env, PLUGINS: '' }, 'no\n');
    expect(cancelled.code).to.equal(1);
    expect(cancelled.stdout).to.contain('the tables notes_extra_things');
    expect(cancelled.stderr).to.equal('kecalek: purge of "notes-extra" cancelled; nothing was deleted\n');

    const purged = await runCli(['plugins', 'purge', 'notes-extra', '--yes'], { ...env, PLUGINS: '' });
    expect(purged.code, purged.stderr).to.equal(0);
    expect(purged.stdout).to.contain('Purged plugin "notes-extra" (dropped notes_extra_things).');
    expect(await tables(configWith([]))).not.to.include('notes_extra_things');
    const rest = await runCli(['plugins', 'list'], { ...env, PLUGINS: '' });
    expect(rest.stdout).to.match(/^polls +1\.0\.0 +disabled +package kecalek-plugin-polls +1 applied \(0001_init\); data: tables polls_polls, polls_votes$/m);
    expect(rest.stdout).not.to.contain('notes-extra');
    await runCli(['plugins', 'purge', 'polls', '--yes'], { ...env, PLUGINS: '' });
    const empty = await runCli(['plugins', 'list'], { ...env, PLUGINS: '' });
    expect(empty.stdout).to.contain('No plugins are enabled, and no plugin has left data.');
  });
});

describe('plugin administration without a database', () => {
  it('lists the configured plugins without creating the database', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'kecalek-admin-empty-'));
    try {
      const inventory = await listPlugins(testServerConfig({ dataDir, plugins: [POLLS_PATH], cwd: ROOT }));
      expect(inventory.databaseExists).to.equal(false);
      expect(inventory.plugins.map((p) => [p.name, p.enabled, p.appliedMigrations.length, p.pendingMigrations])).to.deep.equal([['polls', true, 0, ['0001_init']]]);
      expect(await readdir(dataDir)).to.deep.equal([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

function runCli(args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'kecalek.mjs'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
