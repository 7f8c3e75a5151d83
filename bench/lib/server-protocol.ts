/** What the benchmark and its server process (./server-child.ts) say to each other, and the bench configuration. */
import type { LimitsConfig, RateLimitsConfig } from '../../engine/server/config-types.js';
import type { WriterStats } from '../../engine/server/core/message-writer.js';

export interface ServerChildOptions {
  /** The server's data folder (SQLite file, outbox, log). */
  readonly dataDir: string;
  /** A MySQL/MariaDB URL; SQLite in dataDir when absent. */
  readonly databaseUrl?: string;
  /** Write the time spent per SQL statement (./sql-profile.ts) to this file when stopping. */
  readonly sqlProfilePath?: string;
}

/**
 * Limits raised for the benchmark through the configuration (MAX_CONNECTIONS_PER_IP,
 * CONNECTION_REQUESTS_PER_SEC, CONNECTION_BURST): every client of the benchmark comes from
 * 127.0.0.1 and one sends thousands of requests per second. The defaults stay as they are.
 */
export const BENCH_LIMITS: Partial<LimitsConfig> = {
  maxConnectionsPerIp: 10_000,
  maxConnections: 50_000,
  connectionRequestsPerSec: 1_000_000,
  connectionBurst: 1_000_000,
};

/** RATE_SEND_PER_MIN and the account rates raised the same way. */
export const BENCH_RATE_LIMITS: Partial<RateLimitsConfig> = {
  registerPerMinute: 1_000_000,
  registerPerIpPerHour: 1_000_000,
  loginPerMinute: 1_000_000,
  sendPerMinute: 100_000_000,
};

export type ChildRequest =
  | { type: 'stats'; id: number; reset?: boolean }
  /** Starts a CPU profile of the server's main thread, or stops it and writes it to `path`. */
  | { type: 'profile'; id: number; path?: string }
  | { type: 'stop' };

export interface ServerStats {
  /** CPU time (user + system) since start or the last reset. */
  readonly cpuMs: number;
  readonly rssBytes: number;
  readonly writer: WriterStats | undefined;
  readonly connections: number;
}

export type ChildReply =
  | { type: 'ready'; port: number; certificate: string; dataDir: string; database: 'sqlite' | 'mysql' }
  | ({ type: 'stats'; id: number } & ServerStats)
  | { type: 'profiled'; id: number }
  | { type: 'stopped' }
  | { type: 'error'; message: string };
