/**
 * The engine's core schema: accounts, devices, pre-keys, conversations, messages. Feature tables
 * (reactions, pins, invitations, profiles, uploads) belong to their plugins' migrations.
 * Times are epoch milliseconds in BIGINT columns (SQLite and MySQL treat dates differently).
 * Keys and ciphertexts are stored as base64 text: the server relays them as they came.
 */
import type { Knex } from 'knex';
import type { PluginMigration } from '../engine/plugin/define.js';
import { exactCollation } from '../engine/server/db/dialect.js';

const ID = 36;
const KEY = 64;

export const migration: PluginMigration = {
  name: '0001_core',

  async up(knex: Knex) {
    const id = (t: Knex.CreateTableBuilder, name: string) => exactCollation(knex, t.string(name, ID));
    const ascii = (t: Knex.CreateTableBuilder, name: string, length: number) => exactCollation(knex, t.string(name, length));

    await knex.schema.createTable('users', (t) => {
      id(t, 'id').primary();
      t.string('username', 32).notNullable();
      t.string('email', 254).notNullable().unique();
      ascii(t, 'identity_key', KEY).notNullable();
      ascii(t, 'login_key', KEY).notNullable();
      // Unregistered placeholder accounts (anti-enumeration); upgraded in place on registration.
      t.boolean('phantom').notNullable().defaultTo(false);
      t.bigInteger('created_at').notNullable();
      t.bigInteger('updated_at').notNullable();
    });

    await knex.schema.createTable('pending_registrations', (t) => {
      t.string('email', 254).primary();
      t.string('username', 32).notNullable();
      ascii(t, 'identity_key', KEY).notNullable();
      ascii(t, 'login_key', KEY).notNullable();
      ascii(t, 'code_hash', 128).notNullable();
      t.integer('attempts').notNullable().defaultTo(0);
      t.bigInteger('created_at').notNullable();
      t.bigInteger('expires_at').notNullable().index();
    });

    await knex.schema.createTable('devices', (t) => {
      id(t, 'id').primary();
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.string('name', 64).nullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('last_seen_at').notNullable();
      t.index(['user_id']);
    });

    await knex.schema.createTable('signed_prekeys', (t) => {
      id(t, 'device_id').primary().references('id').inTable('devices').onDelete('CASCADE');
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.integer('key_id').unsigned().notNullable();
      ascii(t, 'public_key', KEY).notNullable();
      ascii(t, 'signature', 128).notNullable();
      t.bigInteger('created_at').notNullable();
      t.index(['user_id']);
    });

    await knex.schema.createTable('one_time_prekeys', (t) => {
      t.bigIncrements('id').primary();
      id(t, 'device_id').notNullable().references('id').inTable('devices').onDelete('CASCADE');
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.integer('key_id').unsigned().notNullable();
      ascii(t, 'public_key', KEY).notNullable();
      t.unique(['device_id', 'key_id']);
    });

    await knex.schema.createTable('conversations', (t) => {
      id(t, 'id').primary();
      t.string('kind', 8).notNullable();
      t.string('name', 100).nullable();
      id(t, 'created_by').nullable().references('id').inTable('users').onDelete('SET NULL');
      // "<smaller user id>:<larger user id>" for DMs, so one pair has exactly one DM.
      ascii(t, 'dm_key', 2 * ID + 1).nullable().unique();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('last_message_at').nullable();
    });

    await knex.schema.createTable('conversation_members', (t) => {
      id(t, 'conversation_id').notNullable().references('id').inTable('conversations').onDelete('CASCADE');
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.string('role', 16).notNullable();
      t.bigInteger('joined_at').notNullable();
      // DM "delete for me": messages up to cleared_at stay hidden; the DM reappears on a new message.
      t.bigInteger('cleared_at').nullable();
      t.boolean('hidden').notNullable().defaultTo(false);
      t.primary(['conversation_id', 'user_id']);
      t.index(['user_id']);
    });

    await knex.schema.createTable('messages', (t) => {
      t.bigIncrements('seq').primary();
      id(t, 'id').notNullable().unique();
      id(t, 'conversation_id').notNullable().references('id').inTable('conversations').onDelete('CASCADE');
      id(t, 'sender_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      id(t, 'sender_device_id').notNullable();
      ascii(t, 'client_msg_id', 64).nullable();
      t.string('kind', 8).notNullable();
      // Shared ciphertext of group (sender-key) messages; per-device ciphertexts are in message_recipients.
      t.text('body', 'mediumtext').nullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('deleted_at').nullable();
      t.index(['conversation_id', 'created_at']);
      t.index(['conversation_id', 'deleted_at']);
      t.unique(['sender_id', 'client_msg_id']);
    });

    await knex.schema.createTable('message_recipients', (t) => {
      id(t, 'message_id').notNullable().references('id').inTable('messages').onDelete('CASCADE');
      id(t, 'user_id').notNullable();
      id(t, 'device_id').notNullable();
      t.text('body', 'mediumtext').notNullable();
      t.primary(['message_id', 'user_id', 'device_id']);
      t.index(['user_id', 'device_id']);
    });

    await knex.schema.createTable('message_reads', (t) => {
      id(t, 'message_id').notNullable().references('id').inTable('messages').onDelete('CASCADE');
      id(t, 'user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
      t.bigInteger('read_at').notNullable().index();
      t.primary(['message_id', 'user_id']);
      t.index(['user_id']);
    });

    await knex.schema.createTable('plugin_kv', (t) => {
      ascii(t, 'plugin', 40).notNullable();
      exactCollation(knex, t.string('key', 190)).notNullable();
      t.text('value', 'mediumtext').notNullable();
      t.bigInteger('updated_at').notNullable();
      t.primary(['plugin', 'key']);
    });
  },

  async down(knex: Knex) {
    for (const table of [
      'plugin_kv',
      'message_reads',
      'message_recipients',
      'messages',
      'conversation_members',
      'conversations',
      'one_time_prekeys',
      'signed_prekeys',
      'devices',
      'pending_registrations',
      'users',
    ]) {
      await knex.schema.dropTableIfExists(table);
    }
  },
};
