/**
 * Device linking ("pairing"): one short-lived row per linking attempt between a new device and a
 * logged-in device of the account. The server relays commitments, ephemeral public keys and one
 * end-to-end encrypted payload; it never sees key material it could use. Rows live for 120 s
 * (maintenance deletes expired ones).
 *
 * The 8-digit code and the new device's poll token are stored only as HMAC-SHA256 values keyed
 * with the server secret, so a copy of the database does not hand out live codes or tokens.
 * `code_hash` is unique: a live code names exactly one pairing (an expired row holding the same
 * code is removed before the code is reused).
 */
import type { Knex } from 'knex';
import type { PluginMigration } from '../engine/plugin/define.js';
import { exactCollation } from '../engine/server/db/dialect.js';

const ID = 36;
/** Base64 of 32 bytes is 44 characters. */
const KEY = 64;
/** Hex HMAC-SHA256. */
const HASH = 64;

export const migration: PluginMigration = {
  name: '0002_pairing',

  async up(knex: Knex) {
    const id = (t: Knex.CreateTableBuilder, name: string) => exactCollation(knex, t.string(name, ID));
    const ascii = (t: Knex.CreateTableBuilder, name: string, length: number) => exactCollation(knex, t.string(name, length));

    await knex.schema.createTable('pairing_sessions', (t) => {
      id(t, 'id').primary();
      ascii(t, 'code_hash', HASH).notNullable().unique();
      ascii(t, 'poll_token_hash', HASH).notNullable();
      // SHA-256 commitment to the new device's ephemeral key, given at pairing_start.
      ascii(t, 'new_device_commitment', KEY).notNullable();
      // The new device's ephemeral key itself, revealed after it saw the approver's key.
      ascii(t, 'new_device_ephemeral', KEY).nullable();
      id(t, 'approver_user_id').nullable().references('id').inTable('users').onDelete('CASCADE');
      id(t, 'approver_device_id').nullable();
      ascii(t, 'approver_ephemeral', KEY).nullable();
      t.text('ciphertext', 'mediumtext').nullable();
      // waiting -> claimed -> ready
      t.string('status', 16).notNullable();
      t.integer('poll_count').notNullable().defaultTo(0);
      t.bigInteger('created_at').notNullable();
      t.bigInteger('expires_at').notNullable().index();
    });
  },

  async down(knex: Knex) {
    await knex.schema.dropTableIfExists('pairing_sessions');
  },
};
