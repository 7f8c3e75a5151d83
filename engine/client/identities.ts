/**
 * Trust on first use for other users' identity keys (the original's known_identity_keys.bin).
 * The first key seen for a user id is recorded; a different key later is a change that must be
 * shown to the user, and no new session is started with the new key until the user accepts it.
 *
 * The registry is sealed with the local key. If it does not open (damaged or replaced on disk)
 * it is treated as empty and the failure is reported — a forged file is never accepted, so an
 * attacker with disk access cannot suppress a key-change warning; at worst trust starts over.
 */
import { ClientError } from '../errors.js';
import type { IdentityKeyStatus } from '../plugin/client-api.js';
import type { AccountStore } from './store/account-store.js';

export const IDENTITIES_RECORD = 'identities.bin';

interface IdentityEntry {
  identity_key: string;
  first_seen: number;
  last_seen: number;
}

interface IdentityFile {
  v: 1;
  keys: Record<string, IdentityEntry>;
}

export class IdentityRegistry {
  private file: IdentityFile = { v: 1, keys: {} };
  /** Users whose key changed and was not accepted yet: user id -> the new key. */
  private readonly changed = new Map<string, string>();

  constructor(
    private readonly store: AccountStore,
    private readonly report: (error: Error) => void,
  ) {}

  async load(): Promise<void> {
    try {
      const stored = await this.store.readJson<IdentityFile>(IDENTITIES_RECORD);
      this.file = stored && typeof stored.keys === 'object' && stored.keys !== null ? stored : { v: 1, keys: {} };
    } catch (error) {
      // No plaintext fallback, no partial trust: an unreadable registry is an empty one.
      this.file = { v: 1, keys: {} };
      this.report(error instanceof ClientError ? error : new Error(String(error)));
    }
  }

  /** The engine's own verdict before plugins refine it: new, trusted (same key) or changed. */
  baseStatus(userId: string, identityKey: string): IdentityKeyStatus {
    const entry = this.file.keys[userId];
    if (!entry) return 'new';
    return entry.identity_key === identityKey ? 'trusted' : 'changed';
  }

  known(userId: string): string | undefined {
    return this.file.keys[userId]?.identity_key;
  }

  isBlocked(userId: string): boolean {
    return this.changed.has(userId);
  }

  /** Records the key as trusted for this user (first sight, or the user accepted a change). */
  async trust(userId: string, identityKey: string): Promise<void> {
    const now = Date.now();
    const entry = this.file.keys[userId];
    if (entry && entry.identity_key === identityKey) {
      // Only write when the day changes: last_seen is informational.
      if (now - entry.last_seen < 24 * 60 * 60 * 1000) return;
      entry.last_seen = now;
    } else {
      this.file.keys[userId] = { identity_key: identityKey, first_seen: now, last_seen: now };
    }
    this.changed.delete(userId);
    await this.store.writeJson(IDENTITIES_RECORD, this.file);
  }

  /** Marks a changed key as not accepted yet. */
  block(userId: string, newKey: string): void {
    this.changed.set(userId, newKey);
  }

  /** The user accepted the changed key: it becomes the trusted one. Returns false when nothing was pending. */
  async accept(userId: string): Promise<boolean> {
    const key = this.changed.get(userId);
    if (key === undefined) return false;
    this.file.keys[userId] = { identity_key: key, first_seen: Date.now(), last_seen: Date.now() };
    this.changed.delete(userId);
    await this.store.writeJson(IDENTITIES_RECORD, this.file);
    return true;
  }
}
