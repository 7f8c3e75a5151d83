/**
 * pins/0001_init: at most one pin per message. A pin follows its message, its conversation and the
 * member who pinned it out of the database (ON DELETE CASCADE); a soft-deleted message keeps its
 * row, so the plugin unpins it itself (messageDeleted).
 */
import { exactCollation, type Knex, type PluginMigration } from '../../../engine/plugin/index.js';

export const PINS_TABLE = 'pins_pins';
const ID = 36;

// Ids compare exactly on MySQL/MariaDB (utf8mb4_bin), as the engine's columns they reference do.
export const migration: PluginMigration = {
  name: '0001_init',

  async up(knex: Knex) {
    await knex.schema.createTable(PINS_TABLE, (t) => {
      exactCollation(knex, t.string('message_id', ID)).primary().references('id').inTable('messages').onDelete('CASCADE');
      exactCollation(knex, t.string('conversation_id', ID)).notNullable().references('id').inTable('conversations').onDelete('CASCADE');
      exactCollation(knex, t.string('pinned_by', ID)).notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.bigInteger('pinned_at').notNullable();
      // A conversation's pins, newest first; the cap counts them.
      t.index(['conversation_id', 'pinned_at']);
      t.index(['pinned_by']);
    });
  },

  async down(knex: Knex) {
    await knex.schema.dropTableIfExists(PINS_TABLE);
  },
};
