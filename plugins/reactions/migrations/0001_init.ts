/**
 * reactions/0001_init: one row per (message, user, reaction). The rows follow their message, its
 * conversation and the reacting user out of the database (ON DELETE CASCADE); a soft-deleted
 * message keeps its row, so the plugin removes its reactions itself (messageDeleted).
 */
import { exactCollation, type Knex, type PluginMigration } from '../../../engine/plugin/index.js';

export const REACTIONS_TABLE = 'reactions_reactions';
const ID = 36;

// Ids compare exactly on MySQL/MariaDB (utf8mb4_bin), as the engine's columns they reference do.
export const migration: PluginMigration = {
  name: '0001_init',

  async up(knex: Knex) {
    await knex.schema.createTable(REACTIONS_TABLE, (t) => {
      exactCollation(knex, t.string('message_id', ID)).notNullable().references('id').inTable('messages').onDelete('CASCADE');
      exactCollation(knex, t.string('conversation_id', ID)).notNullable().references('id').inTable('conversations').onDelete('CASCADE');
      exactCollation(knex, t.string('user_id', ID)).notNullable().references('id').inTable('users').onDelete('CASCADE');
      exactCollation(knex, t.string('reaction', 32)).notNullable();
      t.bigInteger('created_at').notNullable();
      // One reaction of each kind per user per message; also the lookup by message.
      t.primary(['message_id', 'user_id', 'reaction']);
      t.index(['conversation_id']);
      t.index(['user_id']);
      // Retention (maintenance deletes by age).
      t.index(['created_at']);
    });
  },

  async down(knex: Knex) {
    await knex.schema.dropTableIfExists(REACTIONS_TABLE);
  },
};
