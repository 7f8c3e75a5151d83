/**
 * Tombstones of removed devices. Every device of an account holds the account's login key, so a
 * device removed with `remove_device` could otherwise log in again with its stored device id and
 * silently become a device of the account once more. `login_finish` with an id listed here is
 * answered `device_removed` instead. A row names the account it belonged to (a tombstone of
 * another account's device is treated as an unknown id) and is kept as long as that account
 * exists: removal is final.
 */
import type { Knex } from 'knex';
import type { PluginMigration } from '../engine/plugin/define.js';
import { exactCollation } from '../engine/server/db/dialect.js';

const ID = 36;

export const migration: PluginMigration = {
  name: '0003_removed_devices',

  async up(knex: Knex) {
    const id = (t: Knex.CreateTableBuilder, name: string) => exactCollation(knex, t.string(name, ID));

    await knex.schema.createTable('removed_devices', (t) => {
      id(t, 'device_id').primary();
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.bigInteger('removed_at').notNullable();
      t.index(['user_id']);
    });
  },

  async down(knex: Knex) {
    await knex.schema.dropTableIfExists('removed_devices');
  },
};
