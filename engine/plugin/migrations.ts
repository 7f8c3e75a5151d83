/**
 * One knex migration source for the engine and every enabled plugin. Names are namespaced
 * `<owner>/<name>` (`engine/0001_core`, `reactions/0001_init`) in the single knex migrations
 * table, so two plugins' `0001_init` never collide. Migrations of disabled plugins are simply not
 * listed: their tables and rows stay, and re-enabling the plugin finds them intact.
 */
import type { Knex } from 'knex';
import { StartupError, StartupErrorCode } from '../errors.js';
import type { PluginMigration } from './define.js';

export interface NamespacedMigration {
  readonly owner: string;
  readonly migration: PluginMigration;
}

export const MIGRATIONS_TABLE = 'kecalek_migrations';
export const MIGRATIONS_LOCK_TABLE = 'kecalek_migrations_lock';

class NamespacedMigrationSource implements Knex.MigrationSource<NamespacedMigration> {
  constructor(private readonly migrations: readonly NamespacedMigration[]) {}

  async getMigrations(): Promise<NamespacedMigration[]> {
    return [...this.migrations];
  }

  getMigrationName(entry: NamespacedMigration): string {
    return `${entry.owner}/${entry.migration.name}`;
  }

  async getMigration(entry: NamespacedMigration): Promise<Knex.Migration> {
    return {
      up: (knex: Knex) => entry.migration.up(knex),
      down: (knex: Knex) => (entry.migration.down ? entry.migration.down(knex) : Promise.resolve()),
    };
  }
}

/** Orders each owner's migrations by name; owners keep the given order (engine first, then plugins in start order). */
export function collectMigrations(owners: ReadonlyArray<{ owner: string; migrations: readonly PluginMigration[] | undefined }>): NamespacedMigration[] {
  const all: NamespacedMigration[] = [];
  for (const { owner, migrations } of owners) {
    const seen = new Set<string>();
    const sorted = [...(migrations ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const migration of sorted) {
      if (!/^[A-Za-z0-9_.-]+$/.test(migration.name) || seen.has(migration.name)) {
        throw new StartupError(
          StartupErrorCode.PLUGIN_INVALID,
          `Plugin "${owner}" has an invalid or duplicate migration name "${migration.name}"`,
          { plugin: owner },
        );
      }
      seen.add(migration.name);
      all.push({ owner, migration });
    }
  }
  return all;
}

/** Runs every pending migration; a failure stops start-up with one line naming the migration. */
export async function runMigrations(db: Knex, migrations: readonly NamespacedMigration[]): Promise<string[]> {
  const config: Knex.MigratorConfig = {
    migrationSource: new NamespacedMigrationSource(migrations),
    tableName: MIGRATIONS_TABLE,
    // Disabled plugins' completed migrations are absent from the list on purpose.
    disableMigrationsListValidation: true,
  };
  const pending = new Set(
    ((await db.migrate.list(config)) as [unknown, NamespacedMigration[]])[1].map((m) => `${m.owner}/${m.migration.name}`),
  );
  const done: string[] = [];
  // One migration per call, so that a failure names exactly which one failed.
  for (const entry of migrations) {
    const name = `${entry.owner}/${entry.migration.name}`;
    if (!pending.has(name)) continue;
    try {
      await db.migrate.up({ ...config, name });
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new StartupError(StartupErrorCode.MIGRATION_FAILED, `Migration ${name} failed: ${reason}`, { migration: name }, { cause: error });
    }
    done.push(name);
  }
  return done;
}
