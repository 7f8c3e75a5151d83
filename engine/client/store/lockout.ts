/**
 * Brute-force lockout for the local password, as the original client had it: after N failed
 * attempts the account folder is locked for min(2^N, 300) seconds. The state lives in the
 * account folder (`lockout.json`, 0600) so that restarting the client does not reset it. It holds
 * no secret; deleting it only gives back the attempts an attacker with disk access could make
 * offline anyway.
 */
import { join } from 'node:path';
import { readIfExists, writeFileAtomic } from './files.js';

export const LOCKOUT_FILE = 'lockout.json';
export const LOCKOUT_BASE_SECONDS = 2;
export const LOCKOUT_MAX_SECONDS = 300;

interface LockoutState {
  failed_attempts: number;
  locked_until: number;
}

/** The lockout after `failures` failed attempts, in milliseconds. */
export function lockoutDurationMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(LOCKOUT_BASE_SECONDS ** failures, LOCKOUT_MAX_SECONDS) * 1000;
}

export class Lockout {
  private readonly path: string;

  constructor(folder: string) {
    this.path = join(folder, LOCKOUT_FILE);
  }

  private async read(): Promise<LockoutState> {
    const bytes = await readIfExists(this.path);
    if (!bytes) return { failed_attempts: 0, locked_until: 0 };
    try {
      const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockoutState>;
      const failed = Number.isSafeInteger(parsed.failed_attempts) && parsed.failed_attempts! > 0 ? parsed.failed_attempts! : 0;
      const until = Number.isSafeInteger(parsed.locked_until) && parsed.locked_until! > 0 ? parsed.locked_until! : 0;
      return { failed_attempts: failed, locked_until: until };
    } catch {
      return { failed_attempts: 0, locked_until: 0 };
    }
  }

  /** Milliseconds until another attempt is allowed (0: allowed now). */
  async retryAfterMs(now = Date.now()): Promise<number> {
    const state = await this.read();
    return Math.max(0, state.locked_until - now);
  }

  /** Records a failed attempt; returns the new lockout in milliseconds. */
  async recordFailure(now = Date.now()): Promise<{ failures: number; retryAfterMs: number }> {
    const state = await this.read();
    const failures = state.failed_attempts + 1;
    const retryAfterMs = lockoutDurationMs(failures);
    const next: LockoutState = { failed_attempts: failures, locked_until: now + retryAfterMs };
    await writeFileAtomic(this.path, new TextEncoder().encode(JSON.stringify(next)));
    return { failures, retryAfterMs };
  }

  async clear(): Promise<void> {
    const state = await this.read();
    if (state.failed_attempts === 0 && state.locked_until === 0) return;
    await writeFileAtomic(this.path, new TextEncoder().encode(JSON.stringify({ failed_attempts: 0, locked_until: 0 })));
  }
}
