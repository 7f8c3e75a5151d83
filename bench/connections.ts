/**
 * Connections benchmark: how many concurrent AUTHENTICATED idle connections one Kecalek server
 * holds on this machine, and what each costs.
 *
 * The server runs as its own child process (bench/lib/conn-server.ts) on a data folder seeded with
 * accounts (bench/lib/conn-seed.ts: straight into the real schema, see there why). Load comes from
 * a few worker processes (bench/lib/conn-worker.ts) holding lightweight raw-protocol connections
 * over TLS (or WebSocket over TLS with `--ws`), each logged in as its own account and device. The
 * count steps up (1,000, 2,500, 5,000, 10,000, 20,000, up to `--max=`); at each step:
 *   - connection set-up rate (TLS handshake + hello + login_start + login_finish), connections/s;
 *   - the server's RSS (/proc/<pid>/status VmRSS, after two forced GCs) and the memory per
 *     connection: (RSS - RSS with no connection) / connections; the V8 heap share likewise;
 *   - push latency to a random idle client: a `session_reset` from a random logged-in account to
 *     its DM partner's device, timed from the sender's write to the push read on the receiver.
 * Baseline in the same run: a bare Node TLS server (bench/lib/conn-bare.ts, same certificate and
 * TLS options) holding the same numbers of idle connections and relaying one line from a
 * connection to another. Targets (shared/PERFORMANCE.md): >= 20,000 concurrent authenticated
 * connections under 1 GiB RSS with push p99 <= 10 ms.
 *
 * `--malloc-variant` also measures the largest step once more with glibc's mmap threshold at 64 KiB
 * (`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536`, a deployment setting; see bench/README.md,
 * "Connections"). It is off by default: it adds a third 20,000-connection run (about two minutes).
 *
 * Options: `--quick` (small steps), `--max=N`, `--ws`, `--workers=N`, `--samples=N` (latency
 * samples per step), `--profile=cpu|heap` (writes the server's --cpu-prof / --heap-prof profile
 * into a temporary folder), `--snapshot` (a heap snapshot of the server at the largest step),
 * `--skip-baseline`, `--no-login` and `--hold=S` (investigation only: no baseline / connections
 * that stop after hello, to see what a login adds / keep everything up S seconds after the last
 * step to attach a debugger). KECALEK_BENCH_SERVER_WRAPPER names a command that runs the server's
 * node (e.g. `heaptrack`).
 * Every process gets its open-files limit raised to the hard limit (`ulimit -n`); one server
 * process cannot hold more connections than that limit allows, so the largest step is capped
 * there and the cap is reported.
 *
 * Run directly: `node --expose-gc --import tsx bench/connections.ts [--quick] [--max=20000]`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ask,
  cpuSeconds,
  fdLimit,
  forkTs,
  median,
  openFds,
  quantile,
  rssBytes,
  sleep,
  waitForExit,
  type ClientMode,
  type SeededAccount,
  type ServerReply,
  type WorkerReply,
  type WorkerTarget,
} from './lib/conn-common.js';
import { seedAccounts } from './lib/conn-seed.js';
import { printTable, target, type BenchResult, type BenchRow } from './report.js';

const FULL_STEPS = [1_000, 5_000, 10_000, 20_000];
const QUICK_STEPS = [200, 1_000];
/** Descriptors left free besides those the server had open before any connection. */
const FD_SLACK = 16;
/** Idle seconds before the largest step is measured: the login rate-limit windows (60 s) expire. */
const SETTLE_SECONDS = 65;
/** glibc tunable of the malloc variant: allocations of 64 KiB and more get their own mappings. */
const MALLOC_TUNABLE = 'glibc.malloc.mmap_threshold=65536';
const TARGET_CONNECTIONS = 20_000;
const TARGET_RSS_MIB = 1024;
const TARGET_PUSH_P99_MS = 10;

interface Options {
  readonly quick: boolean;
  readonly max: number | undefined;
  readonly ws: boolean;
  readonly workers: number;
  readonly samples: number;
  readonly profile: 'cpu' | 'heap' | undefined;
  readonly snapshot: boolean;
  /** Investigation only: skip the bare TLS baseline / do not log the connections in. */
  readonly skipBaseline: boolean;
  readonly noLogin: boolean;
  /** Investigation only: seconds to keep everything up after the last step (to attach gdb, heaptrack, ...). */
  readonly holdSeconds: number;
  /** Also measure the largest step with MALLOC_TUNABLE (`--malloc-variant`). */
  readonly mallocVariant: boolean;
}

function parseOptions(quick: boolean): Options {
  const value = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const number = (name: string): number | undefined => {
    const raw = value(name);
    if (raw === undefined) return undefined;
    const parsed = Number(raw.replace(/[_,]/g, ''));
    if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive whole number`);
    return parsed;
  };
  const profile = value('profile');
  if (profile !== undefined && profile !== 'cpu' && profile !== 'heap') throw new Error('--profile must be cpu or heap');
  return {
    quick,
    max: number('max'),
    ws: process.argv.includes('--ws'),
    workers: number('workers') ?? 4,
    samples: number('samples') ?? (quick ? 100 : 1000),
    profile,
    snapshot: process.argv.includes('--snapshot'),
    skipBaseline: process.argv.includes('--skip-baseline'),
    noLogin: process.argv.includes('--no-login'),
    holdSeconds: number('hold') ?? 0,
    mallocVariant: process.argv.includes('--malloc-variant'),
  };
}

/** One step's figures. */
interface StepFigures {
  readonly connections: number;
  readonly setupPerSecond: number;
  readonly rssBytes: number;
  readonly heapBytes: number;
  readonly bytesPerConnection: number;
  readonly heapBytesPerConnection: number;
  /** V8 heap committed (heapTotal) and memory outside the V8 heap that V8 knows of (external), per connection. */
  readonly heapTotalBytesPerConnection: number;
  readonly externalBytesPerConnection: number;
  readonly pushP50Ms: number;
  readonly pushP99Ms: number;
  readonly pushMaxMs: number;
  readonly samples: number;
  readonly lost: number;
  readonly serverCpuSecondsPerConnection: number;
  /** The server's event-loop delay while the push samples ran. */
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
  /** Seconds the step sat idle before it was measured (the largest step: login rate-limit windows expire). */
  readonly settledSeconds: number;
}

interface RunFigures {
  readonly idleRssBytes: number;
  readonly idleFds: number;
  /** Most connections the server process can hold under its open-files limit. */
  readonly ceiling: number;
  readonly steps: StepFigures[];
  readonly failures: string[];
  readonly profileDir?: string;
  readonly snapshotPath?: string;
}

interface RunSpec {
  readonly mode: ClientMode;
  /** Environment for the server child (the malloc variant sets GLIBC_TUNABLES). */
  readonly serverEnv?: NodeJS.ProcessEnv;
  /** Idle seconds before the largest step is measured. */
  readonly settleSeconds: number;
  readonly steps: readonly number[];
  readonly accounts: readonly SeededAccount[];
  readonly dataDir: string;
  readonly options: Options;
}

async function startWorkers(count: number, targetSpec: WorkerTarget): Promise<ChildProcess[]> {
  const workers = Array.from({ length: count }, () => forkTs('conn-worker.ts'));
  await Promise.all(workers.map((worker) => ask<WorkerReply>(worker, { type: 'target', target: targetSpec }, 'ready')));
  return workers;
}

/** Runs the steps against one server (Kecalek or the bare baseline). */
async function runSteps(spec: RunSpec): Promise<RunFigures> {
  const { mode, options } = spec;
  const execArgv = ['--expose-gc'];
  let profileDir: string | undefined;
  if (mode === 'kecalek' && options.profile) {
    profileDir = mkdtempSync(join(tmpdir(), `kecalek-conn-${options.profile}-prof-`));
    execArgv.push(options.profile === 'cpu' ? '--cpu-prof' : '--heap-prof', options.profile === 'cpu' ? `--cpu-prof-dir=${profileDir}` : `--heap-prof-dir=${profileDir}`);
  }
  const server =
    mode === 'kecalek'
      ? forkTs('conn-server.ts', {
          execArgv,
          wrapper: process.env.KECALEK_BENCH_SERVER_WRAPPER,
          env: { ...spec.serverEnv, KECALEK_BENCH_SERVER: JSON.stringify({ dataDir: spec.dataDir, maxConnections: 1_000_000 }) },
        })
      : forkTs('conn-bare.ts', { execArgv, env: { KECALEK_BENCH_BARE_DIR: spec.dataDir } });
  const ready = await ask<Extract<ServerReply, { type: 'ready' }>>(server, undefined, 'ready', 120_000);
  const pid = server.pid!;
  const failures: string[] = [];
  let workers: ChildProcess[] = [];
  try {
    await sleep(500);
    const idle = await ask<Extract<ServerReply, { type: 'gc' }>>(server, { type: 'gc' }, 'gc');
    await sleep(200);
    const idleRss = rssBytes(pid);
    const idleFds = openFds(pid);
    void idle;
    // One process holds at most (its open-files limit - what it keeps open anyway) connections.
    const ceiling = fdLimit(pid).soft - idleFds - FD_SLACK;
    const stepsHere = [...new Set(spec.steps.map((s) => Math.min(s, ceiling - (ceiling % 2))))];
    const ws = mode === 'kecalek' && options.ws;
    workers = await startWorkers(options.workers, {
      mode,
      transport: ws ? 'wss' : 'tls',
      host: '127.0.0.1',
      port: ws ? ready.wsPort! : ready.port,
      path: '/ws',
      ca: ready.ca,
      concurrency: 16,
      noLogin: options.noLogin,
    });
    const steps: StepFigures[] = [];
    let open = 0;
    let snapshotPath: string | undefined;
    for (const step of stepsHere) {
      // Kecalek: accounts [open, step) in DM pairs, each pair on one worker (its samples need both).
      const cpuBefore = cpuSeconds(pid);
      const started = performance.now();
      const replies = await Promise.all(
        workers.map((worker, w) => {
          const accounts: SeededAccount[] = [];
          let count = 0;
          for (let pair = open / 2; pair < step / 2; pair++) {
            if (pair % workers.length !== w) continue;
            count += 2;
            if (mode === 'kecalek') accounts.push(spec.accounts[2 * pair]!, spec.accounts[2 * pair + 1]!);
          }
          return ask<Extract<WorkerReply, { type: 'opened' }>>(worker, { type: 'open', accounts, count }, 'opened');
        }),
      );
      const elapsedS = (performance.now() - started) / 1000;
      const opened = replies.reduce((sum, r) => sum + r.opened, 0);
      const failed = replies.reduce((sum, r) => sum + r.failed, 0);
      const cpuUsed = cpuSeconds(pid) - cpuBefore;
      for (const r of replies) if (r.firstError) failures.push(`${mode} step ${step}: ${r.failed} failed, e.g. ${r.firstError}`);
      open = replies.reduce((sum, r) => sum + r.open, 0);
      if (failed > 0 || open < step) console.log(`  ${mode}: ${open} of ${step} connections open (${failed} failed)`);

      // Let handshakes, login hooks and presence pushes settle, then measure memory. The largest
      // step waits until the login rate-limit windows (60 s) have expired: the steady idle state.
      const isLargest = step === stepsHere[stepsHere.length - 1];
      const settledSeconds = isLargest ? spec.settleSeconds : 1;
      if (settledSeconds > 1) console.log(`  ${mode}: ${open.toLocaleString('en-US')} connections open; idle ${settledSeconds} s before measuring`);
      await sleep(settledSeconds * 1000);
      const memory = await ask<Extract<ServerReply, { type: 'gc' }>>(server, { type: 'gc' }, 'gc');
      await sleep(300);
      const rss = rssBytes(pid);
      if (options.snapshot && mode === 'kecalek' && isLargest && spec.serverEnv === undefined) {
        const path = join(tmpdir(), `kecalek-conn-${step}-${Date.now()}.heapsnapshot`);
        snapshotPath = (await ask<Extract<ServerReply, { type: 'snapshot' }>>(server, { type: 'snapshot', path }, 'snapshot')).path;
      }

      const perWorker = Math.ceil(options.samples / workers.length);
      await ask<ServerReply>(server, { type: 'loop-reset' }, 'loop-reset');
      const latencies = await Promise.all(
        workers.map((worker) => ask<Extract<WorkerReply, { type: 'latency' }>>(worker, { type: 'latency', samples: perWorker, gapMs: 20 }, 'latency')),
      );
      const loop = await ask<Extract<ServerReply, { type: 'loop' }>>(server, { type: 'loop' }, 'loop');
      const all = latencies.flatMap((l) => l.latenciesMs);
      const lost = latencies.reduce((sum, l) => sum + l.lost, 0);
      const figures: StepFigures = {
        connections: open,
        setupPerSecond: opened / elapsedS,
        rssBytes: rss,
        heapBytes: memory.memory.heapUsed,
        bytesPerConnection: (rss - idleRss) / Math.max(1, open),
        heapBytesPerConnection: (memory.memory.heapUsed - idle.memory.heapUsed) / Math.max(1, open),
        heapTotalBytesPerConnection: (memory.memory.heapTotal - idle.memory.heapTotal) / Math.max(1, open),
        externalBytesPerConnection: (memory.memory.external - idle.memory.external) / Math.max(1, open),
        pushP50Ms: median(all),
        pushP99Ms: quantile(all, 0.99),
        pushMaxMs: quantile(all, 1),
        samples: all.length,
        lost,
        serverCpuSecondsPerConnection: cpuUsed / Math.max(1, opened),
        loopP99Ms: loop.p99Ms,
        loopMaxMs: loop.maxMs,
        settledSeconds,
      };
      steps.push(figures);
      console.log(
        `  ${mode} ${open.toLocaleString('en-US')} connections: set-up ${figures.setupPerSecond.toFixed(0)}/s, RSS ${(rss / 2 ** 20).toFixed(1)} MiB ` +
          `(${(figures.bytesPerConnection / 1024).toFixed(2)} KiB/conn: V8 heap used ${(figures.heapBytesPerConnection / 1024).toFixed(2)}, ` +
          `committed ${(figures.heapTotalBytesPerConnection / 1024).toFixed(2)}, external ${(figures.externalBytesPerConnection / 1024).toFixed(2)}), ` +
          `push p50 ${figures.pushP50Ms.toFixed(3)} ms p99 ${figures.pushP99Ms.toFixed(3)} ms max ${figures.pushMaxMs.toFixed(3)} ms (${all.length} samples, ${lost} lost), ` +
          `server event-loop delay p99 ${loop.p99Ms.toFixed(1)} ms max ${loop.maxMs.toFixed(1)} ms`,
      );
      if (open < step) break;
    }
    if (options.holdSeconds > 0 && mode === 'kecalek') {
      console.log(`  holding ${options.holdSeconds} s: server pid ${pid}`);
      await sleep(options.holdSeconds * 1000);
    }
    return { idleRssBytes: idleRss, idleFds, ceiling, steps, failures, profileDir, snapshotPath };
  } finally {
    await Promise.all(workers.map((worker) => ask<WorkerReply>(worker, { type: 'close' }, 'closed', 30_000).catch(() => undefined)));
    await Promise.all(workers.map((worker) => waitForExit(worker)));
    server.send({ type: 'stop' });
    await waitForExit(server, 60_000);
  }
}

export async function run({ quick }: { quick: boolean }): Promise<BenchResult> {
  const options = parseOptions(quick);
  const limits = fdLimit();
  const wanted = (quick ? QUICK_STEPS : FULL_STEPS).filter((s) => options.max === undefined || s <= options.max);
  if (options.max !== undefined && !wanted.includes(options.max)) wanted.push(options.max);
  const steps = [...new Set(wanted.map((s) => s + (s % 2)))].sort((a, b) => a - b);
  const largest = steps[steps.length - 1]!;
  console.log(`connections: steps ${steps.join(', ')}; open-files limit soft ${limits.soft} hard ${limits.hard}; ${options.ws ? 'WebSocket over TLS' : 'TLS'}; ${options.workers} workers`);

  const dataDir = mkdtempSync(join(tmpdir(), 'kecalek-conn-'));
  try {
    const seedStart = performance.now();
    const accounts = await seedAccounts(dataDir, largest);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    console.log(`  seeded ${accounts.length.toLocaleString('en-US')} accounts in ${seedSeconds.toFixed(1)} s`);

    const settleSeconds = quick ? 1 : SETTLE_SECONDS;
    const kecalek = await runSteps({ mode: 'kecalek', steps, accounts, dataDir, options, settleSeconds });
    // The baseline holds exactly the counts the server reached.
    const bare = options.skipBaseline
      ? emptyRun()
      : await runSteps({ mode: 'bare', steps: kecalek.steps.map((s) => s.connections), accounts, dataDir, options, settleSeconds: 1 });
    // The same server with glibc's mmap threshold at 64 KiB (a deployment setting, see the README):
    // Node's 64 KiB TLS input buffers then get fresh pages instead of reused, already touched ones.
    const malloc = !options.mallocVariant
      ? undefined
      : await runSteps({ mode: 'kecalek', steps: [kecalek.steps[kecalek.steps.length - 1]!.connections], accounts, dataDir, options, settleSeconds, serverEnv: { GLIBC_TUNABLES: MALLOC_TUNABLE } });
    return report(options, limits, largest, kecalek, bare, malloc);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function emptyRun(): RunFigures {
  return { idleRssBytes: 0, idleFds: 0, ceiling: 0, steps: [], failures: [] };
}

function report(
  options: Options,
  limits: { soft: number; hard: number },
  wanted: number,
  kecalek: RunFigures,
  bare: RunFigures,
  malloc: RunFigures | undefined,
): BenchResult {
  const capped = kecalek.ceiling < wanted;
  const rows: BenchRow[] = [];
  const kib = (bytes: number): number => bytes / 1024;
  const mib = (bytes: number): number => bytes / 2 ** 20;
  const transport = options.ws ? 'WSS' : 'TLS';
  const ratio = (value: number, base: number): number | undefined => (base > 0 && Number.isFinite(value / base) ? value / base : undefined);
  const withBaseline = (row: Omit<BenchRow, 'baseline' | 'ratio'>, baselineWhat: string, baselineValue: number | undefined): BenchRow =>
    baselineValue === undefined
      ? row
      : { ...row, baseline: { what: baselineWhat, value: baselineValue }, ratio: ratio(row.value, baselineValue) };

  rows.push({ what: 'server RSS with no connection', value: mib(kecalek.idleRssBytes), unit: 'MiB' });
  for (const step of kecalek.steps) {
    const base = bare.steps.find((b) => b.connections === step.connections) ?? bare.steps.find((b) => b.connections >= step.connections * 0.99);
    const n = step.connections.toLocaleString('en-US');
    const isLargest = step === kecalek.steps[kecalek.steps.length - 1];
    rows.push(
      withBaseline(
        { what: `${n} ${transport} connections: set-up rate (handshake + login)`, value: step.setupPerSecond, unit: 'conn/s' },
        'bare TLS handshakes',
        base?.setupPerSecond,
      ),
    );
    rows.push(
      withBaseline(
        {
          what: `${n} ${transport} connections: server RSS`,
          value: mib(step.rssBytes),
          unit: 'MiB',
          ...(isLargest ? { target: target(mib(step.rssBytes), '<=', TARGET_RSS_MIB) } : {}),
        },
        'bare TLS server',
        base ? mib(base.rssBytes) : undefined,
      ),
    );
    rows.push(
      withBaseline({ what: `${n} ${transport} connections: memory per connection`, value: kib(step.bytesPerConnection), unit: 'KiB' }, 'bare TLS server', base ? kib(base.bytesPerConnection) : undefined),
    );
    rows.push(
      withBaseline({ what: `${n} ${transport} connections: V8 heap per connection`, value: kib(step.heapBytesPerConnection), unit: 'KiB' }, 'bare TLS server', base ? kib(base.heapBytesPerConnection) : undefined),
    );
    rows.push(
      withBaseline(
        { what: `${n} ${transport} connections: server CPU per connection set up`, value: step.serverCpuSecondsPerConnection * 1000, unit: 'ms' },
        'bare TLS handshake',
        base ? base.serverCpuSecondsPerConnection * 1000 : undefined,
      ),
    );
    rows.push(withBaseline({ what: `${n} ${transport} connections: push p50`, value: step.pushP50Ms, unit: 'ms' }, 'bare TLS relay', base?.pushP50Ms));
    rows.push(
      withBaseline(
        {
          what: `${n} ${transport} connections: push p99`,
          value: step.pushP99Ms,
          unit: 'ms',
          ...(isLargest ? { target: target(step.pushP99Ms, '<=', TARGET_PUSH_P99_MS) } : {}),
        },
        'bare TLS relay',
        base?.pushP99Ms,
      ),
    );
  }
  const variant = malloc?.steps[malloc.steps.length - 1];
  if (malloc && variant) {
    const n = variant.connections.toLocaleString('en-US');
    const base = bare.steps.find((b) => b.connections === variant.connections);
    const what = `${n} ${transport} connections, ${MALLOC_TUNABLE}`;
    rows.push({ what: `${what}: server RSS`, value: mib(variant.rssBytes), unit: 'MiB', target: target(mib(variant.rssBytes), '<=', TARGET_RSS_MIB) });
    rows.push(withBaseline({ what: `${what}: memory per connection`, value: kib(variant.bytesPerConnection), unit: 'KiB' }, 'bare TLS server', base ? kib(base.bytesPerConnection) : undefined));
    rows.push(
      withBaseline(
        { what: `${what}: push p99`, value: variant.pushP99Ms, unit: 'ms', target: target(variant.pushP99Ms, '<=', TARGET_PUSH_P99_MS) },
        'bare TLS relay',
        base?.pushP99Ms,
      ),
    );
  }
  // The largest step at which both the RSS and the push p99 were within their targets.
  const inTarget = (s: StepFigures): boolean => s.pushP99Ms <= TARGET_PUSH_P99_MS && mib(s.rssBytes) <= TARGET_RSS_MIB;
  const largestOk = Math.max(0, ...kecalek.steps.filter(inTarget).map((s) => s.connections));
  rows.push(
    withBaseline(
      { what: 'concurrent authenticated connections held (RSS and p99 in target)', value: largestOk, unit: 'conn', target: target(largestOk, '>=', TARGET_CONNECTIONS) },
      'most one process can hold here (open-files limit)',
      kecalek.ceiling > 0 ? kecalek.ceiling : undefined,
    ),
  );
  if (variant && inTarget(variant)) {
    rows.push({ what: `concurrent authenticated connections held, ${MALLOC_TUNABLE}`, value: variant.connections, unit: 'conn', target: target(variant.connections, '>=', TARGET_CONNECTIONS) });
  }

  const notes: string[] = [
    `open-files limit (ulimit -n): soft ${limits.soft}, hard ${limits.hard}; children run at the hard limit; the server had ${kecalek.idleFds} descriptors open before any connection` +
      (capped
        ? `; the largest step was capped at ${kecalek.ceiling.toLocaleString('en-US')} instead of ${wanted.toLocaleString('en-US')}: one process cannot hold more descriptors here (the hard limit cannot be raised without CAP_SYS_RESOURCE)`
        : ''),
    'accounts are seeded straight into the database (real schema and Ed25519 keys, one device each, DM pairs); every connection then logs in through login_start/login_finish',
    `push: session_reset from a random logged-in account to its DM partner's device, send-to-receive on the idle side, ${options.samples} samples per step from ${options.workers} workers (one at a time per worker, ~20 ms apart); baseline: a bare Node TLS server relaying a line between two of its connections`,
    'memory per connection = (RSS after two forced GCs - RSS with no connection) / connections; the largest step is measured after it sat idle (settled seconds below)',
    `server CPU per connection = the server process's CPU time (/proc stat) during a step's set-up / connections opened`,
  ];
  const describe = (label: string, run: RunFigures | undefined): void => {
    for (const step of run?.steps ?? []) {
      notes.push(
        `${label} ${step.connections}: settled ${step.settledSeconds} s; push max ${step.pushMaxMs.toFixed(2)} ms (${step.samples} samples, ${step.lost} lost); ` +
          `server event-loop delay while sampling p99 ${step.loopP99Ms.toFixed(1)} ms, max ${step.loopMaxMs.toFixed(1)} ms`,
      );
    }
  };
  describe('kecalek', kecalek);
  describe('bare', bare);
  describe(`kecalek ${MALLOC_TUNABLE}`, malloc);
  notes.push(...kecalek.failures, ...bare.failures, ...(malloc?.failures ?? []));
  if (kecalek.profileDir) notes.push(`server profile written to ${kecalek.profileDir}`);
  if (kecalek.snapshotPath) notes.push(`heap snapshot at the largest step: ${kecalek.snapshotPath}`);
  return { name: options.ws ? 'connections-ws' : 'connections', rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
