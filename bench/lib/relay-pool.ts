/**
 * The relay benchmark's clients in `workers` processes (./relay-worker.ts), so that the load is
 * not capped by one event loop: the pairs are split between them, each phase runs in all of them
 * at once, and their results are added up (rates, CPU) or merged (latencies).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchServer } from './clients.js';
import type { LoadResult } from './load.js';
import type { ChildCounters, IntervalCpu, LoadPlan, Measured, PacedRun } from './measure.js';
import { ChildChannel, childExecArgv, waitForExit } from './server-process.js';
import { sleep, summarize } from './stats.js';
import type { RelayWorkerOptions, RelayWorkerReply, RelayWorkerRequest, WorkerPhase } from './relay-protocol.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Worker {
  readonly child: ChildProcess;
  readonly channel: ChildChannel<RelayWorkerReply>;
  readonly pairs: number;
}

export interface RelayPool {
  readonly workers: number;
  /** The slowest worker's set-up (accounts, DMs, sessions), seconds. */
  readonly setupSeconds: number;
  /** A first loaded interval in every worker; the first worker also captures send_message frames. */
  warm(ms: number, window: number, captureLimit: number): Promise<Buffer[]>;
  /** The closed-loop and paced runs of `plan`, with the server's CPU over each measured interval. */
  measure(plan: LoadPlan, server: ChildCounters, profilePath?: string): Promise<Measured>;
  /** Closes every client; returns the client errors reported. */
  close(): Promise<string[]>;
}

function expect<T extends RelayWorkerReply['type']>(worker: Worker, type: T, timeoutMs = 600_000): Promise<Extract<RelayWorkerReply, { type: T }>> {
  return worker.channel
    .next((r): r is Extract<RelayWorkerReply, { type: T | 'failed' }> => r.type === type || r.type === 'failed', timeoutMs)
    .then((reply) => {
      if (reply.type === 'failed') throw new Error(`relay client worker failed: ${(reply as { message: string }).message}`);
      return reply as Extract<RelayWorkerReply, { type: T }>;
    });
}

export async function startRelayPool(options: {
  server: BenchServer;
  pairs: number;
  workers: number;
  bytes: number;
  prefix: string;
  cpuProfileDir?: string;
}): Promise<RelayPool> {
  const count = Math.max(1, Math.min(options.workers, options.pairs));
  const workers: Worker[] = [];
  for (let w = 0; w < count; w++) {
    const pairs = Math.floor(options.pairs / count) + (w < options.pairs % count ? 1 : 0);
    const workerOptions: RelayWorkerOptions = { server: options.server, pairs, prefix: `${options.prefix}w${w}u`, bytes: options.bytes };
    const child = fork(join(here, 'relay-worker.ts'), [], {
      execArgv: childExecArgv(options.cpuProfileDir, `clients${w}`),
      env: { ...process.env, KECALEK_BENCH_RELAY_WORKER: JSON.stringify(workerOptions) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    workers.push({ child, channel: new ChildChannel<RelayWorkerReply>(child, `client worker ${w}`), pairs });
  }
  const request = (worker: Worker, message: RelayWorkerRequest) => worker.child.send(message);
  let setupSeconds = 0;
  try {
    for (const ready of await Promise.all(workers.map((w) => expect(w, 'ready')))) setupSeconds = Math.max(setupSeconds, ready.setupSeconds);
  } catch (error) {
    for (const worker of workers) worker.child.kill();
    throw error;
  }

  /** Runs one phase in every worker; the server's CPU is read over the measured interval. */
  async function phase(message: RelayWorkerRequest & { warmupMs: number; measureMs: number }, server: ChildCounters, rateOf?: (w: Worker) => number, profilePath?: string) {
    const profile = profilePath !== undefined && server.profile ? server.profile.bind(server) : undefined;
    const replies = Promise.all(
      workers.map((w) => {
        const answer = expect(w, 'phase');
        request(w, rateOf && message.type === 'paced' ? { ...message, rate: rateOf(w) } : message);
        return answer;
      }),
    );
    await sleep(message.warmupMs);
    await server.stats(true);
    await profile?.();
    const wallStart = performance.now();
    await sleep(message.measureMs);
    const end = await server.stats();
    await profile?.(profilePath);
    const wallMs = performance.now() - wallStart;
    const phases = await replies;
    return { merged: merge(phases), cpu: { selfMs: sum(phases.map((p) => p.cpuMs)), childMs: end.cpuMs, childRssBytes: end.rssBytes, wallMs } satisfies IntervalCpu };
  }

  return {
    workers: count,
    setupSeconds,
    async warm(ms, window, captureLimit) {
      const replies = await Promise.all(
        workers.map((w, i) => {
          const answer = expect(w, 'warmed');
          request(w, { type: 'warm', ms, window, captureLimit: i === 0 ? captureLimit : 0 });
          return answer;
        }),
      );
      return replies.flatMap((r) => r.frames.map((f) => Buffer.from(f, 'base64')));
    },
    async measure(plan, server, profilePath) {
      const closed = await phase({ type: 'closed', window: plan.window, warmupMs: plan.warmupMs, measureMs: plan.measureMs }, server, undefined, profilePath);
      const share = (rate: number) => (w: Worker) => (rate * w.pairs) / options.pairs;
      // The low (sustainable) rate first: when the system cannot keep up with the target rate, the
      // backlog that rate leaves behind (up to the drain timeout) would otherwise land in the low
      // rate's measurement.
      let low: PacedRun | undefined;
      if (plan.lowRate !== undefined) {
        const run = await phase({ type: 'paced', rate: plan.lowRate, warmupMs: 1000, measureMs: plan.latencyMs }, server, share(plan.lowRate));
        low = { result: run.merged, summary: summarize(run.merged.latencies), cpu: run.cpu };
      }
      const latency = await phase({ type: 'paced', rate: plan.rate, warmupMs: 1000, measureMs: plan.latencyMs }, server, share(plan.rate));
      return {
        throughput: closed.merged,
        throughputCpu: closed.cpu,
        latency: latency.merged,
        latencySummary: summarize(latency.merged.latencies),
        latencyCpu: latency.cpu,
        ...(low ? { low } : {}),
      };
    },
    async close() {
      const errors: string[] = [];
      await Promise.all(
        workers.map(async (w) => {
          if (w.child.connected) {
            const answer = expect(w, 'closed', 120_000).catch(() => undefined);
            request(w, { type: 'close' });
            errors.push(...((await answer)?.errors ?? []));
          }
          await waitForExit(w.child);
        }),
      );
      return errors;
    },
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function merge(phases: readonly WorkerPhase[]): LoadResult {
  return {
    rate: sum(phases.map((p) => p.rate)),
    completed: sum(phases.map((p) => p.completed)),
    failures: sum(phases.map((p) => p.failures)),
    lost: sum(phases.map((p) => p.lost)),
    latencies: phases.flatMap((p) => p.latencies),
    firstError: phases.find((p) => p.firstError !== undefined)?.firstError,
  };
}
