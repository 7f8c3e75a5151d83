/**
 * Devices' `last_seen_at`, written behind in batches.
 *
 * Every login and every disconnect records when the device was last seen. Written one UPDATE at
 * a time, each was its own commit: with SQLite (FULL sync, one connection, better-sqlite3 runs on
 * the event loop) an fsync that blocks the whole server — two per login before this (login_finish
 * and the authenticated hook), one per disconnect. The CPU profile of bench/connections.ts logging
 * 5,000 connections in spent 44% of the server's samples (21 of 48 s, ~4.3 ms per login) inside
 * those commits, every push to every other connection waiting behind them; fsync of a 4 KiB commit
 * took 0.3 ms on a quiet machine of this kind and 3 ms on a busy one. Here touches are collected
 * and written together at most every LAST_SEEN_FLUSH_MS, in one transaction, so a burst of 1,000
 * logins costs a few commits instead of 2,000. The value is informational (list_devices); a crash
 * loses at most the last fraction of a second of it.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { touchDevices, type DeviceTouch } from '../db/devices.js';

/** Longest a touch waits before it is written. */
export const LAST_SEEN_FLUSH_MS = 250;

export class LastSeenRecorder {
  /** Pending touches by device id (a later touch of the same device replaces an earlier one). */
  private pending = new Map<string, DeviceTouch>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly db: Knex,
    private readonly log: Logger,
    private readonly delayMs = LAST_SEEN_FLUSH_MS,
  ) {}

  /** Records that the device was seen at `at` (epoch ms); written within delayMs. */
  touch(userId: string, deviceId: string, at: number): void {
    if (this.closed) return;
    this.pending.set(deviceId, { userId, deviceId, lastSeenAt: at });
    if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.delayMs);
      this.timer.unref();
    }
  }

  /** Writes what is pending now; resolves once everything handed over so far is written. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size > 0) {
      const batch = [...this.pending.values()];
      this.pending = new Map();
      this.writing = this.writing
        .then(() => touchDevices(this.db, batch))
        .catch((error: unknown) => this.log.error({ err: error, devices: batch.length }, 'could not record last_seen_at'));
    }
    return this.writing;
  }

  /** Writes what is pending and stops taking touches (before the database closes). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
