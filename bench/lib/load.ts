/**
 * Load drivers shared by the relay and fan-out benchmarks, for Kecalek clients and for the raw
 * baseline connections alike, so both are driven the same way:
 *
 * - closedLoop: every sender keeps `window` messages outstanding (sent and not yet complete) and
 *   sends the next as soon as one completes; the rate is the completions inside the measured
 *   interval divided by its length, after a warm-up that is not counted.
 * - paced: messages are started at a fixed total rate (round robin over the senders), whatever
 *   happens to earlier ones (open loop); the latency of each message started inside the measured
 *   interval is recorded.
 *
 * A LoadTarget decides what "complete" means (Kecalek: acknowledged by the server and decrypted
 * by every recipient; baseline: received by every peer) and reports it with the latency.
 */
import { sleep } from './stats.js';

export interface LoadTarget {
  readonly senders: number;
  /** Starts one message of `sender`; calls `done(latencyMs)` once it is complete, or `fail`. */
  issue(sender: number, done: (latencyMs: number) => void, fail: (error: unknown) => void): void;
}

export interface LoadResult {
  /** Messages completed per second in the measured interval. */
  readonly rate: number;
  readonly completed: number;
  readonly failures: number;
  /** Latencies (ms) of the messages counted. */
  readonly latencies: number[];
  /** Messages still incomplete when the drain timed out. */
  readonly lost: number;
  readonly firstError: unknown;
}

interface Phase {
  counting: boolean;
}

async function drain(outstanding: () => number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (outstanding() > 0 && Date.now() < deadline) await sleep(10);
}

/** Called when the measured interval starts and ends (to read CPU counters over exactly that interval). */
export interface MeasureHooks {
  measureStart?(): void;
  measureEnd?(): void;
}

export async function closedLoop(
  target: LoadTarget,
  options: { window: number; warmupMs: number; measureMs: number; drainMs?: number } & MeasureHooks,
): Promise<LoadResult> {
  const phase: Phase = { counting: false };
  let running = true;
  let completed = 0;
  let failures = 0;
  let outstanding = 0;
  let firstError: unknown;
  const latencies: number[] = [];
  const start = (sender: number): void => {
    outstanding++;
    const counted = phase.counting;
    target.issue(
      sender,
      (latency) => {
        outstanding--;
        if (phase.counting) {
          completed++;
          if (counted) latencies.push(latency);
        }
        if (running) start(sender);
      },
      (error) => {
        outstanding--;
        failures++;
        firstError ??= error;
        if (running) start(sender);
      },
    );
  };
  for (let w = 0; w < options.window; w++) for (let s = 0; s < target.senders; s++) start(s);
  await sleep(options.warmupMs);
  phase.counting = true;
  options.measureStart?.();
  const t0 = performance.now();
  await sleep(options.measureMs);
  phase.counting = false;
  const elapsed = performance.now() - t0;
  options.measureEnd?.();
  const done = completed;
  running = false;
  await drain(() => outstanding, options.drainMs ?? 30_000);
  return { rate: (done * 1000) / elapsed, completed: done, failures, latencies, lost: outstanding, firstError };
}

export async function paced(
  target: LoadTarget,
  options: { rate: number; warmupMs: number; measureMs: number; drainMs?: number } & MeasureHooks,
): Promise<LoadResult> {
  let completed = 0;
  let completedInWindow = 0;
  let failures = 0;
  let outstanding = 0;
  let firstError: unknown;
  const latencies: number[] = [];
  const intervalMs = 1000 / options.rate;
  const t0 = performance.now();
  const measureFrom = t0 + options.warmupMs;
  const end = measureFrom + options.measureMs;
  let issued = 0;
  let countedIssued = 0;
  let measuring = false;
  for (;;) {
    const now = performance.now();
    if (!measuring && now >= measureFrom) {
      measuring = true;
      options.measureStart?.();
    }
    if (now >= end) break;
    // Every message whose slot has come, in order (a late timer catches up).
    while (t0 + issued * intervalMs <= now) {
      const counted = t0 + issued * intervalMs >= measureFrom;
      if (counted) countedIssued++;
      outstanding++;
      target.issue(
        issued % target.senders,
        (latency) => {
          outstanding--;
          if (measuring && performance.now() < end) completedInWindow++;
          if (counted) {
            completed++;
            latencies.push(latency);
          }
        },
        (error) => {
          outstanding--;
          failures++;
          firstError ??= error;
        },
      );
      issued++;
    }
    const wait = t0 + issued * intervalMs - performance.now();
    // setTimeout has ~1 ms granularity; shorter waits yield to I/O with setImmediate.
    if (wait >= 2) await sleep(Math.floor(wait) - 1);
    else await new Promise((resolve) => setImmediate(resolve));
  }
  options.measureEnd?.();
  await drain(() => outstanding, options.drainMs ?? 30_000);
  // The rate is what completed inside the measured interval: below the offered rate when the
  // system cannot keep up (the latencies then grow with the backlog).
  return { rate: (completedInWindow * 1000) / options.measureMs, completed, failures, latencies, lost: countedIssued - completed - failures, firstError };
}
