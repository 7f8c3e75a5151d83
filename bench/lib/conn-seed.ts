/**
 * Accounts for bench/connections.ts, seeded straight into the database for speed: registering
 * 20,000 accounts through register / outbox / register_confirm would take minutes and measure
 * registration, not connections. The rows are what registration and a first login leave (the
 * real schema, written by the engine's own migrations in a server started on the data folder):
 * a user with real Ed25519 identity and login public keys, one device, and a DM between accounts
 * 2k and 2k+1 so that each can send the other a `session_reset` (which needs a shared
 * conversation). Workers log in with the login-key seeds as any client does.
 */
import { randomUUID } from 'node:crypto';
import { ed25519KeyPair } from '../../engine/crypto/index.js';
import { encodeBase64 } from '../../engine/protocol/base64.js';
import { testServerConfig } from '../../engine/server/config.js';
import { dmKey } from '../../engine/server/db/conversations.js';
import { insertValues } from '../../engine/server/db/messages.js';
import { createLogger } from '../../engine/server/logger.js';
import { startServer } from '../../engine/server/server.js';
import type { SeededAccount } from './conn-common.js';

/** Seeds `count` accounts (rounded up to an even number) into the database of `dataDir`. */
export async function seedAccounts(dataDir: string, count: number): Promise<SeededAccount[]> {
  const total = count + (count % 2);
  const server = await startServer(testServerConfig({ dataDir, logLevel: 'silent' }), { logger: createLogger({ level: 'silent' }) });
  try {
    const now = Date.now();
    const accounts: SeededAccount[] = [];
    const users: Record<string, unknown>[] = [];
    const devices: Record<string, unknown>[] = [];
    for (let index = 0; index < total; index++) {
      const identity = ed25519KeyPair();
      const login = ed25519KeyPair();
      const userId = randomUUID();
      const deviceId = randomUUID();
      const email = `bench${index}@example.test`;
      accounts.push({ index, userId, deviceId, email, loginSeed: encodeBase64(login.privateKey), peer: index ^ 1 });
      users.push({
        id: userId,
        username: `bench${index}`,
        email,
        identity_key: encodeBase64(identity.publicKey),
        login_key: encodeBase64(login.publicKey),
        phantom: false,
        created_at: now,
        updated_at: now,
      });
      devices.push({ id: deviceId, user_id: userId, name: 'bench', created_at: now, last_seen_at: now });
    }
    const conversations: Record<string, unknown>[] = [];
    const members: Record<string, unknown>[] = [];
    for (let index = 0; index < total; index += 2) {
      const a = accounts[index]!.userId;
      const b = accounts[index + 1]!.userId;
      const id = randomUUID();
      conversations.push({ id, kind: 'dm', name: null, created_by: a, dm_key: dmKey(a, b), created_at: now, last_message_at: null });
      for (const userId of [a, b]) members.push({ conversation_id: id, user_id: userId, role: 'member', joined_at: now, cleared_at: null, hidden: false });
    }
    await server.database.knex.transaction(async (trx) => {
      await insertValues(trx, 'users', Object.keys(users[0]!), users);
      await insertValues(trx, 'devices', Object.keys(devices[0]!), devices);
      await insertValues(trx, 'conversations', Object.keys(conversations[0]!), conversations);
      await insertValues(trx, 'conversation_members', Object.keys(members[0]!), members);
    });
    return accounts;
  } finally {
    await server.close();
  }
}
