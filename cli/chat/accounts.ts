/**
 * The accounts this device knows (the client core keeps one folder per account under the home
 * folder, holding its password-protected keys), most recently used first for the start screen.
 */
import { stat } from 'node:fs/promises';
import { listAccounts } from '../../engine/client/index.js';

export interface KnownAccount {
  readonly email: string;
  /** When the account's folder last changed (a good proxy for "last used"). */
  readonly lastUsedAt: number;
}

export async function knownAccounts(home: string): Promise<KnownAccount[]> {
  const accounts = await listAccounts(home);
  const known = await Promise.all(
    accounts.map(async (account) => {
      const info = await stat(account.folder).catch(() => undefined);
      return { email: account.email, lastUsedAt: info?.mtimeMs ?? 0 };
    }),
  );
  return known.sort((a, b) => b.lastUsedAt - a.lastUsedAt || a.email.localeCompare(b.email));
}
