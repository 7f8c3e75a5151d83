/**
 * invitations_invitations: one pending invitation per (group, person). Rows go with their group
 * and with the accounts they name (ON DELETE CASCADE). Times are epoch ms (BIGINT).
 */
import { exactCollation, type Knex, type PluginMigration } from '../../../engine/plugin/index.js';

export const INVITATIONS_TABLE = 'invitations_invitations';
const ID_LENGTH = 36;

/** Ids compare exactly (utf8mb4_bin on MySQL), like the engine's columns they reference. */
function idColumn(knex: Knex, table: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return exactCollation(knex, table.string(name, ID_LENGTH)).notNullable();
}

export const init: PluginMigration = {
  name: '0001_init',
  async up(knex) {
    await knex.schema.createTable(INVITATIONS_TABLE, (t) => {
      idColumn(knex, t, 'conversation_id').references('id').inTable('conversations').onDelete('CASCADE');
      idColumn(knex, t, 'user_id').references('id').inTable('users').onDelete('CASCADE');
      idColumn(knex, t, 'invited_by').references('id').inTable('users').onDelete('CASCADE');
      t.bigInteger('created_at').notNullable();
      t.primary(['conversation_id', 'user_id']);
      t.index(['user_id']);
      t.index(['invited_by']);
      t.index(['created_at']);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists(INVITATIONS_TABLE);
  },
};
