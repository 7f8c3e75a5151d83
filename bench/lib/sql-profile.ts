/**
 * Time spent in SQLite statements of this process, by SQL text (better-sqlite3 only): the
 * `run`/`all`/`get` methods of every prepared statement are wrapped to add up wall time and calls.
 * The benchmark server (./server-child.ts) installs it when asked (relay/fanout `--sql-profile=FILE`)
 * and writes the summary when it stops. Wall time includes the fsync of a COMMIT.
 */
import { createRequire } from 'node:module';

interface Entry {
  calls: number;
  ms: number;
}

export interface SqlProfile {
  /** Statements by total time, most first. */
  summary(): Array<{ sql: string; calls: number; ms: number; usPerCall: number }>;
}

export function installSqlProfile(): SqlProfile {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as new (path: string) => { prepare(sql: string): object; close(): void };
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
  probe.close();
  const entries = new Map<string, Entry>();
  for (const method of ['run', 'all', 'get'] as const) {
    const original = proto[method] as (this: { source: string }, ...args: unknown[]) => unknown;
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      const start = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const key = this.source.replace(/\s+/g, ' ').replace(/(\?, )+\?/g, '?, ...').slice(0, 200);
        const entry = entries.get(key) ?? { calls: 0, ms: 0 };
        entry.calls++;
        entry.ms += performance.now() - start;
        entries.set(key, entry);
      }
    };
  }
  return {
    summary() {
      return [...entries.entries()]
        .map(([sql, e]) => ({ sql, calls: e.calls, ms: Math.round(e.ms * 10) / 10, usPerCall: Math.round((e.ms / e.calls) * 1000) }))
        .sort((a, b) => b.ms - a.ms);
    },
  };
}
