/**
 * A small key-value store per plugin, in the engine's database (`plugin_kv`), so that a small
 * plugin needs no migrations. Values are JSON; keys are namespaced by plugin name.
 */
import type { Knex } from 'knex';

export interface KeyValueStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Entries whose key starts with `prefix`, in key order. */
  list<T = unknown>(prefix?: string): Promise<Array<{ key: string; value: T }>>;
}

export const KV_TABLE = 'plugin_kv';
const MAX_KEY_LENGTH = 190;

export function createKeyValueStore(db: Knex, plugin: string): KeyValueStore {
  const checkKey = (key: string) => {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new TypeError(`${plugin}: kv keys are 1-${MAX_KEY_LENGTH} characters`);
    }
  };
  return {
    async get<T>(key: string) {
      checkKey(key);
      const row = await db(KV_TABLE).where({ plugin, key }).first('value');
      return row ? (JSON.parse(row.value) as T) : undefined;
    },
    async set(key, value) {
      checkKey(key);
      const serialized = JSON.stringify(value);
      if (serialized === undefined) throw new TypeError(`${plugin}: kv values must be JSON-serializable`);
      await db(KV_TABLE)
        .insert({ plugin, key, value: serialized, updated_at: Date.now() })
        .onConflict(['plugin', 'key'])
        .merge(['value', 'updated_at']);
    },
    async delete(key) {
      checkKey(key);
      return (await db(KV_TABLE).where({ plugin, key }).delete()) > 0;
    },
    async list<T>(prefix = '') {
      const query = db(KV_TABLE).where({ plugin }).orderBy('key');
      if (prefix) query.andWhereRaw('?? like ? escape ?', ['key', `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`, '!']);
      const rows: Array<{ key: string; value: string }> = await query.select('key', 'value');
      return rows.filter((row) => row.key.startsWith(prefix)).map((row) => ({ key: row.key, value: JSON.parse(row.value) as T }));
    },
  };
}
