/**
 * Relay benchmark: N pairs of real ChatClients (X3DH + Double Ratchet per device, encrypted key
 * stores) exchange direct messages through a real Kecalek server running in its own process with
 * persistence on (SQLite, synchronous=FULL; and MariaDB when KECALEK_BENCH_MYSQL_URL or
 * KECALEK_TEST_MYSQL_URL is set). Measured:
 *
 * - sustained messages per second: every client keeps `--window` messages outstanding to its peer
 *   and a message counts once the server acknowledged it AND the peer decrypted it;
 * - latency from the `sendMessage` call to the peer's decrypted `message` event at a paced offered
 *   load (`--rate`, default 1,000 msg/s over all senders).
 *
 * Baseline, in the same run: a bare Node TLS forwarder (bench/lib/forwarder-child.ts) relaying
 * the same send_message frames (captured from the clients of this run) over the same number of
 * connections, driven by the same closed-loop and paced drivers. Targets (PERFORMANCE.md):
 * >= 8,000 msg/s; p99 <= 2 ms at 1,000 msg/s.
 *
 * Options: --pairs=N (100), --rate=R (1000), --window=W (4), --bytes=B (100-character texts),
 * --cpu-prof-dir=DIR (V8 CPU profiles of the server, forwarder and client processes),
 * --profile-dir=DIR (the server's main thread over the measured throughput interval),
 * --sql-profile-dir=DIR (the server's time per SQL statement, SQLite only: lib/sql-profile.ts).
 * Run directly: `node --import tsx bench/relay.ts [--quick]`.
 */
import { join } from 'node:path';
import { numberOption, option } from './lib/args.js';
import { connectRaw, startForwarder } from './lib/forwarder.js';
import { frameSizes } from './lib/frames.js';
import { fsyncLatency } from './lib/fsync.js';
import { closedLoop, type LoadTarget } from './lib/load.js';
import { cpuPerMessageUs, measureLoad, share, type LoadPlan, type Measured } from './lib/measure.js';
import { benchMysqlUrl, freshMysqlDatabase } from './lib/mysql.js';
import { startRelayPool, type RelayPool } from './lib/relay-pool.js';
import { startServerProcess } from './lib/server-process.js';
import { printTable, target, type BenchResult, type BenchRow } from './report.js';

export const TARGET_RATE = 8000;
export const TARGET_P99_MS = 2;
/** Client processes (measured: see bench/README.md). */
export const DEFAULT_CLIENT_WORKERS = 2;

interface Params extends LoadPlan {
  readonly pairs: number;
  /** Client processes the pairs are split between. */
  readonly workers: number;
  readonly bytes: number;
  readonly cpuProfileDir: string | undefined;
  /** Profile the server's main thread over the measured throughput interval into this folder. */
  readonly profileDir: string | undefined;
  /** Write the server's time per SQL statement (whole run, set-up included) into this folder. */
  readonly sqlProfileDir: string | undefined;
}

interface KecalekRun extends Measured {
  readonly backend: string;
  readonly workers: number;
  readonly setupSeconds: number;
  readonly frames: Buffer[];
  readonly writer: { batches: number; messages: number; largestBatch: number } | undefined;
  readonly rssBytes: number;
  readonly errors: string[];
}

async function kecalekRun(params: Params, backend: string, databaseUrl: string | undefined, capture: boolean): Promise<KecalekRun> {
  const server = await startServerProcess({
    databaseUrl,
    cpuProfileDir: params.cpuProfileDir,
    ...(params.sqlProfileDir === undefined ? {} : { sqlProfilePath: join(params.sqlProfileDir, `relay-sql-${backend}.json`) }),
  });
  let pool: RelayPool | undefined;
  try {
    pool = await startRelayPool({ server, pairs: params.pairs, workers: params.workers, bytes: params.bytes, prefix: `r${backend.slice(0, 1)}`, cpuProfileDir: params.cpuProfileDir });
    // A first loaded second, also the source of the baseline's frames (capture off afterwards).
    const frames = await pool.warm(1000, params.window, capture ? 5000 : 0);
    const profilePath = params.profileDir === undefined ? undefined : join(params.profileDir, `relay-server-${backend}.cpuprofile`);
    const measured = await pool.measure(params, server, profilePath);
    const stats = await server.stats();
    const errors = await pool.close();
    return {
      backend,
      workers: pool.workers,
      setupSeconds: pool.setupSeconds,
      frames,
      ...measured,
      writer: stats.writer,
      rssBytes: stats.rssBytes,
      errors: [...errors, ...(measured.throughput.firstError ? [String(measured.throughput.firstError)] : [])],
    };
  } finally {
    await pool?.close();
    await server.close();
  }
}

/** The bare forwarder with 2 x pairs raw connections, each sending to its peer the captured frames. */
async function baselineRun(params: Params, frames: readonly Buffer[]): Promise<Measured> {
  const forwarder = await startForwarder({ cpuProfileDir: params.cpuProfileDir });
  const peers = await Promise.all(Array.from({ length: params.pairs * 2 }, (_, s) => connectRaw(forwarder, `c${s}`, [`c${s ^ 1}`])));
  try {
    // Frames from sender s arrive in order at s ^ 1: a FIFO of send times per sender.
    const queues = peers.map(() => [] as Array<{ start: number; done: (latencyMs: number) => void }>);
    peers.forEach((peer, r) => {
      const queue = queues[r ^ 1]!;
      peer.onFrames = (count) => {
        const now = performance.now();
        for (let k = 0; k < count; k++) {
          const entry = queue.shift();
          entry?.done(now - entry.start);
        }
      };
    });
    let next = 0;
    const load: LoadTarget = {
      senders: peers.length,
      issue: (s, done) => {
        queues[s]!.push({ start: performance.now(), done });
        peers[s]!.send(frames[next++ % frames.length]!);
      },
    };
    await closedLoop(load, { window: params.window, warmupMs: 0, measureMs: 500 });
    return await measureLoad(load, params, forwarder);
  } finally {
    for (const peer of peers) peer.close();
    await forwarder.close();
  }
}

const MiB = 1024 * 1024;

export async function run(options: { quick?: boolean } = {}): Promise<BenchResult> {
  const quick = options.quick === true;
  const params: Params = {
    pairs: Math.floor(numberOption('pairs', quick ? 10 : 100)),
    workers: Math.floor(numberOption('client-workers', DEFAULT_CLIENT_WORKERS)),
    rate: numberOption('rate', 1000),
    lowRate: numberOption('low-rate', 100),
    window: numberOption('window', 4),
    bytes: numberOption('bytes', 100),
    warmupMs: quick ? 1000 : 3000,
    measureMs: quick ? 2000 : 10_000,
    latencyMs: quick ? 2000 : 10_000,
    cpuProfileDir: option('cpu-prof-dir'),
    profileDir: option('profile-dir'),
    sqlProfileDir: option('sql-profile-dir'),
  };
  const disk = await fsyncLatency(quick ? 200 : 1000);
  const runs: KecalekRun[] = [];
  runs.push(await kecalekRun(params, 'sqlite', undefined, true));
  const mysqlServer = benchMysqlUrl();
  if (mysqlServer !== undefined) {
    const database = await freshMysqlDatabase(mysqlServer);
    try {
      runs.push(await kecalekRun(params, 'mariadb', database.url, false));
    } finally {
      await database.drop();
    }
  }
  const frames = runs[0]!.frames;
  const baseline = await baselineRun(params, frames);

  const rows: BenchRow[] = [];
  const base = {
    rate: { what: 'bare TLS forwarder, same frames', value: baseline.throughput.rate },
    p50: { what: 'bare TLS forwarder p50', value: baseline.latencySummary.p50 },
    p95: { what: 'bare TLS forwarder p95', value: baseline.latencySummary.p95 },
    p99: { what: 'bare TLS forwarder p99', value: baseline.latencySummary.p99 },
    cpu: { what: 'bare TLS forwarder CPU per frame', value: cpuPerMessageUs(baseline.throughputCpu, baseline.throughput.rate) },
  };
  const notes: string[] = [];
  for (const r of runs) {
    const name = r.backend === 'sqlite' ? 'SQLite' : 'MariaDB';
    const rate = r.throughput.rate;
    const l = r.latencySummary;
    rows.push({ what: `relay sustained, ${params.pairs} pairs, ${name}`, value: rate, unit: 'msg/s', baseline: base.rate, ratio: rate / base.rate.value, target: target(rate, '>=', TARGET_RATE) });
    rows.push({ what: `relay latency p50 at ${params.rate} msg/s, ${name}`, value: l.p50, unit: 'ms', baseline: base.p50, ratio: l.p50 / base.p50.value });
    rows.push({ what: `relay latency p95 at ${params.rate} msg/s, ${name}`, value: l.p95, unit: 'ms', baseline: base.p95, ratio: l.p95 / base.p95.value });
    rows.push({ what: `relay latency p99 at ${params.rate} msg/s, ${name}`, value: l.p99, unit: 'ms', baseline: base.p99, ratio: l.p99 / base.p99.value, target: target(l.p99, '<=', TARGET_P99_MS) });
    if (r.low && baseline.low) {
      for (const p of ['p50', 'p99'] as const) {
        const value = r.low.summary[p];
        const b = baseline.low.summary[p];
        rows.push({ what: `relay latency ${p} at ${params.lowRate} msg/s, ${name}`, value, unit: 'ms', baseline: { what: `bare TLS forwarder ${p}`, value: b }, ratio: value / b });
      }
    }
    const cpuUs = cpuPerMessageUs(r.throughputCpu, rate);
    rows.push({ what: `server CPU per relayed message, ${name}`, value: cpuUs, unit: 'us', baseline: base.cpu, ratio: cpuUs / base.cpu.value });
    // What one core of server CPU would relay at this cost per message if the clients were free
    // (an estimate: the per-message cost falls as batches grow, and time blocked in fsync is not CPU).
    const ceiling = 1e6 / cpuUs;
    const baseCeiling = 1e6 / base.cpu.value;
    rows.push({
      what: `server-bound ceiling (1 core / server CPU per message), ${name}`,
      value: ceiling,
      unit: 'msg/s',
      baseline: { what: 'bare TLS forwarder, same estimate', value: baseCeiling },
      ratio: ceiling / baseCeiling,
      target: target(ceiling, '>=', TARGET_RATE),
    });
    rows.push({ what: `server RSS after the run, ${name}`, value: r.rssBytes / MiB, unit: 'MiB' });
    const batches = r.writer && r.writer.batches > 0 ? (r.writer.messages / r.writer.batches).toFixed(1) : '?';
    notes.push(
      `${name}: set-up (${params.pairs * 2} accounts, DMs, sessions) ${r.setupSeconds.toFixed(1)} s; throughput run: server process ` +
        `${share(r.throughputCpu.childMs, r.throughputCpu.wallMs)} of a core, client processes ${share(r.throughputCpu.selfMs, r.throughputCpu.wallMs)}; ` +
        `writer ${batches} messages per transaction (largest ${r.writer?.largestBatch ?? '?'}); ` +
        `at ${params.rate} msg/s offered ${Math.round(r.latency.rate)} completed per second, server ${share(r.latencyCpu.childMs, r.latencyCpu.wallMs)}, clients ${share(r.latencyCpu.selfMs, r.latencyCpu.wallMs)}; ` +
        `failures ${r.throughput.failures + r.latency.failures}, lost ${r.throughput.lost + r.latency.lost}`,
    );
    if (r.errors.length > 0) notes.push(`${name}: client errors: ${r.errors.slice(0, 3).join(' | ')}`);
  }
  rows.push({ what: 'fsync of 4 KiB in the server data folder, p50', value: disk.p50, unit: 'ms' });
  rows.push({ what: 'fsync of 4 KiB in the server data folder, p99', value: disk.p99, unit: 'ms' });
  const sizes = frameSizes(frames);
  notes.push(
    `baseline: ${params.pairs * 2} raw TLS connections, ${frames.length} captured send_message frames (${sizes.min}-${sizes.max} B, median ${sizes.median} B); ` +
      `forwarder ${share(baseline.throughputCpu.childMs, baseline.throughputCpu.wallMs)} of a core, driver ${share(baseline.throughputCpu.selfMs, baseline.throughputCpu.wallMs)} at ${Math.round(baseline.throughput.rate)} frames/s`,
  );
  notes.push(
    `closed loop: ${params.window} outstanding messages per sender, ${params.warmupMs / 1000} s warm-up, ${params.measureMs / 1000} s measured; ` +
      `paced: ${params.rate} and ${params.lowRate} msg/s over ${params.pairs * 2} senders, 1 s warm-up, ${params.latencyMs / 1000} s measured each; texts of ${params.bytes} characters; ` +
      `Kecalek clients in ${runs[0]!.workers} processes (client CPU = their sum), key stores on tmpfs; baseline driver in the benchmark process`,
  );
  if (mysqlServer === undefined) notes.push('MariaDB not measured: set KECALEK_BENCH_MYSQL_URL (or KECALEK_TEST_MYSQL_URL)');
  return { name: 'relay', rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
