/**
 * CPU over a measured interval, for the benchmark process and for a child (server or forwarder):
 * hooks for closedLoop/paced that read the counters when the interval starts and ends.
 */
import { closedLoop, paced, type LoadResult, type LoadTarget, type MeasureHooks } from './load.js';
import { selfProfile } from './self-profile.js';
import { summarize, type LatencySummary } from './stats.js';

export interface ChildCounters {
  stats(reset?: boolean): Promise<{ cpuMs: number; rssBytes: number }>;
  /** Starts a CPU profile (no path) or stops it into `path`, when the child can. */
  profile?(path?: string): Promise<void>;
}

export interface IntervalCpu {
  /** CPU ms of this process in the interval. */
  readonly selfMs: number;
  /** CPU ms of the child in the interval. */
  readonly childMs: number;
  /** The child's RSS at the end of the interval. */
  readonly childRssBytes: number;
  /** Wall-clock ms of the interval. */
  readonly wallMs: number;
}

/** Hooks to pass to a load driver, and the CPU they measured once it returned. */
export function cpuMeter(child: ChildCounters, profilePath?: string): { hooks: MeasureHooks; result(): Promise<IntervalCpu> } {
  let selfStart = process.cpuUsage();
  let wallStart = performance.now();
  let selfMs = 0;
  let wallMs = 0;
  let reset: Promise<unknown> = Promise.resolve();
  let end: Promise<{ cpuMs: number; rssBytes: number }> | undefined;
  const profiling: Array<Promise<void>> = [];
  const profile = profilePath !== undefined && child.profile ? child.profile.bind(child) : undefined;
  return {
    hooks: {
      measureStart() {
        selfStart = process.cpuUsage();
        wallStart = performance.now();
        reset = child.stats(true);
        if (profile) profiling.push(profile());
      },
      measureEnd() {
        const used = process.cpuUsage(selfStart);
        selfMs = (used.user + used.system) / 1000;
        wallMs = performance.now() - wallStart;
        end = child.stats();
        if (profile) profiling.push(profile(profilePath));
      },
    },
    async result() {
      await reset;
      await Promise.all(profiling);
      const last = end ? await end : { cpuMs: Number.NaN, rssBytes: Number.NaN };
      return { selfMs, childMs: last.cpuMs, childRssBytes: last.rssBytes, wallMs };
    },
  };
}

export interface LoadPlan {
  /** Outstanding messages per sender in the closed loop. */
  readonly window: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Offered rate of the paced run, messages per second. */
  readonly rate: number;
  readonly latencyMs: number;
  /** A second paced run at this rate (a load the system sustains), when set. */
  readonly lowRate?: number;
}

/** A paced run: what completed, its latencies, and the CPU over it. */
export interface PacedRun {
  readonly result: LoadResult;
  readonly summary: LatencySummary;
  readonly cpu: IntervalCpu;
}

export interface Measured {
  readonly throughput: LoadResult;
  readonly throughputCpu: IntervalCpu;
  readonly latency: LoadResult;
  readonly latencySummary: LatencySummary;
  readonly latencyCpu: IntervalCpu;
  readonly low?: PacedRun;
}

/** Where to write CPU profiles over the throughput run's measured interval. */
export interface ProfilePaths {
  /** The child (server or forwarder). */
  readonly child?: string;
  /** This process (the clients or the baseline driver). */
  readonly self?: string;
}

/** The closed-loop throughput run, then the paced runs (low rate first, 1 s warm-up each), with CPU over each. */
export async function measureLoad(load: LoadTarget, plan: LoadPlan, child: ChildCounters, profiles: ProfilePaths = {}): Promise<Measured> {
  const throughputMeter = cpuMeter(child, profiles.child);
  const self = profiles.self === undefined ? undefined : selfProfile(profiles.self);
  let selfWritten: Promise<void> = Promise.resolve();
  const throughput = await closedLoop(load, {
    window: plan.window,
    warmupMs: plan.warmupMs,
    measureMs: plan.measureMs,
    measureStart() {
      throughputMeter.hooks.measureStart?.();
      self?.start();
    },
    measureEnd() {
      throughputMeter.hooks.measureEnd?.();
      if (self) selfWritten = self.stop();
    },
  });
  await selfWritten;
  const throughputCpu = await throughputMeter.result();
  // The low (sustainable) rate first, so that a backlog left by an unsustainable target rate
  // cannot spill into its measurement.
  let low: PacedRun | undefined;
  if (plan.lowRate !== undefined) {
    const lowMeter = cpuMeter(child);
    const result = await paced(load, { rate: plan.lowRate, warmupMs: 1000, measureMs: plan.latencyMs, ...lowMeter.hooks });
    low = { result, summary: summarize(result.latencies), cpu: await lowMeter.result() };
  }
  const latencyMeter = cpuMeter(child);
  const latency = await paced(load, { rate: plan.rate, warmupMs: 1000, measureMs: plan.latencyMs, ...latencyMeter.hooks });
  const latencyCpu = await latencyMeter.result();
  return { throughput, throughputCpu, latency, latencySummary: summarize(latency.latencies), latencyCpu, ...(low ? { low } : {}) };
}

/** Child CPU microseconds per message at `rate` over the interval. */
export function cpuPerMessageUs(cpu: IntervalCpu, rate: number): number {
  return (cpu.childMs * 1000) / ((rate * cpu.wallMs) / 1000);
}

/** A CPU share of one core, as "42%". */
export function share(cpuMs: number, wallMs: number): string {
  return `${Math.round((cpuMs / wallMs) * 100)}%`;
}
