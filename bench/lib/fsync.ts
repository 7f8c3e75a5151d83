/**
 * The disk's commit latency, the floor under a persisted message's latency: a durable SQLite
 * commit (synchronous=FULL) costs at least one fsync of the WAL, and every message waits for the
 * commit of its batch. Measures sequential 4 KiB write + fsync rounds in a folder on the same
 * file system as the server's data.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarize, type LatencySummary } from './stats.js';

export async function fsyncLatency(rounds: number, folder = tmpdir()): Promise<LatencySummary> {
  const dir = await mkdtemp(join(folder, 'kecalek-bench-fsync-'));
  const handle = await open(join(dir, 'probe'), 'w');
  const block = randomBytes(4096);
  const samples: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      await handle.write(block, 0, block.length, (i % 256) * block.length);
      await handle.sync();
      samples.push(performance.now() - start);
    }
  } finally {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  }
  return summarize(samples);
}
