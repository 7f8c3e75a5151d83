/**
 * engine/client: the ChatClient every Kecalek front end uses, its types and errors, and
 * `listAccounts(home)` for choosing a local account.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exists } from './store/files.js';
import { KEYS_FILE } from './store/account-store.js';
import type { AccountInfo } from './types.js';

export { ChatClient, DEFAULT_HOME, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS } from './client.js';
export type * from './types.js';
export { ClientError, ClientErrorCode, CryptoError, CryptoErrorCode, KecalekError, WireErrorCode } from '../errors.js';
export { CLIENT_VERSION } from './version.js';
export { DEFAULT_PREKEY_POLICY } from './prekeys.js';
export { LOCKOUT_MAX_SECONDS, lockoutDurationMs } from './store/lockout.js';
export type { PluginClientFacade, ClientPluginApi, MessagePayload, TerminalCommand, IdentityKeyStatus } from '../plugin/client-api.js';

/** The accounts stored under `home` (folders holding a key file), sorted by address. */
export async function listAccounts(home: string): Promise<AccountInfo[]> {
  let entries;
  try {
    entries = await readdir(home, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const accounts: AccountInfo[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.includes('@')) continue;
    const folder = join(home, entry.name);
    if (await exists(join(folder, KEYS_FILE))) accounts.push({ email: entry.name, folder });
  }
  return accounts.sort((a, b) => a.email.localeCompare(b.email));
}
