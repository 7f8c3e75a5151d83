/**
 * The polls tables. They hold only what the server needs to count: which conversation a poll
 * belongs to, how many options it has, who voted for which option *number*. The question and the
 * option texts never reach the server (they travel inside the encrypted poll message).
 *
 * Conventions of a Kecalek plugin's schema: tables prefixed with the plugin's name, ids as 36
 * character strings with the exact collation (MySQL needs it for foreign keys to the engine's
 * tables), times as epoch milliseconds in BIGINT columns, foreign keys to engine tables with
 * ON DELETE CASCADE so that deleting a conversation or an account removes the plugin's rows.
 */
import { exactCollation, type Knex, type PluginMigration } from 'kecalek/plugin';

const ID = 36;

export const init: PluginMigration = {
  name: '0001_init',

  async up(knex: Knex) {
    const id = (t: Knex.CreateTableBuilder, name: string) => exactCollation(knex, t.string(name, ID));

    await knex.schema.createTable('polls_polls', (t) => {
      id(t, 'poll_id').primary();
      id(t, 'conversation_id').notNullable().references('id').inTable('conversations').onDelete('CASCADE');
      // The account that created the poll (only it may close the poll); kept when the account goes.
      id(t, 'created_by').nullable().references('id').inTable('users').onDelete('SET NULL');
      t.integer('option_count').notNullable();
      t.boolean('multiple').notNullable();
      t.bigInteger('closed_at').nullable();
      t.bigInteger('created_at').notNullable();
      t.index(['conversation_id']);
    });

    await knex.schema.createTable('polls_votes', (t) => {
      id(t, 'poll_id').notNullable().references('poll_id').inTable('polls_polls').onDelete('CASCADE');
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.integer('option_index').notNullable();
      t.primary(['poll_id', 'user_id', 'option_index']);
      t.index(['user_id']);
    });
  },

  async down(knex: Knex) {
    await knex.schema.dropTableIfExists('polls_votes');
    await knex.schema.dropTableIfExists('polls_polls');
  },
};
