/**
 * Cold-start benchmark: how long until a server answers, and how long a client login takes.
 *
 * 1. Server start: `node bin/kecalek.mjs server --dev` on free ports with a temporary DATA_DIR,
 *    timed from spawn until it accepts a TLS connection and sends its hello frame (a probe
 *    connects every 2 ms; it does not verify the certificate, which does not exist before the first
 *    start). First start (empty data folder: migrations, server secret, certificate generation)
 *    and warm start (the same folder again) separately, each the median of several runs, stopped
 *    with SIGTERM in between. Beside them, in the same run: `node -e` spawned to its first output
 *    (what starting Node costs) and `node --import tsx` of a module that only prints (what tsx's
 *    loader costs); and two variants of the warm start that show what tsx's on-the-fly compilation
 *    costs: with its transform cache off (TSX_DISABLE_CACHE=1, every file compiled at start), and
 *    without tsx at all (the CLI bundled once with esbuild, a devDependency, into a temporary
 *    file; nothing in the project's build changes).
 * 2. Client login with the DEFAULT password envelope (Argon2id 256 MiB, t=4, p=2): a fresh
 *    ChatClient's login() against a running server (its own process) on a known device, total and
 *    broken down by instrumenting the client's own methods during the run: envelope unlock
 *    (AccountStore.openKeys: the KDF and AES-GCM), TLS connect + hello (Connection.open), request
 *    round trips awaited by login() (login_start, login_finish, pre-key upkeep), and the rest
 *    (local store reads and writes, key derivations). Baseline: the raw KDF alone
 *    (deriveArgon2idKey with DEFAULT_ARGON2ID). Target (PERFORMANCE.md): login <= 1 s.
 *
 * Run directly: `node --import tsx bench/coldstart.ts [--quick]`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ChatClient } from '../engine/client/index.js';
import { Connection } from '../engine/client/connection.js';
import { AccountStore } from '../engine/client/store/account-store.js';
import { DEFAULT_ARGON2ID, deriveArgon2idKey, randomBytes } from '../engine/crypto/index.js';
import { OUTBOX_FOLDER, type OutboxMail } from '../engine/server/core/mailer.js';
import { ask, forkTs, median, sleep, waitForExit, type ServerReply } from './lib/conn-common.js';
import { printTable, target, type BenchResult, type BenchRow } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KECALEK_BIN = join(ROOT, 'bin', 'kecalek.mjs');
const TARGET_LOGIN_S = 1;
const PASSWORD = 'correct horse battery staple';
/** A probe that gets no hello within this time counts the start as failed. */
const START_TIMEOUT_MS = 60_000;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Seconds from spawning `node args` until its first byte on stdout; waits for it to exit. */
async function timeToFirstOutput(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', () => resolve(performance.now()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`node ${args.join(' ')} exited (${code}) without output`)));
  });
  child.stdout.resume();
  await waitForExit(child);
  return (first - start) / 1000;
}

/** Resolves when a TLS connection to the port receives its first line (the hello frame). */
function probeHello(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    // Availability is measured, not identity: the certificate may not even exist yet.
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    let received = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received.includes('\n')) done(received.startsWith('{"type":"hello"'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/**
 * Seconds from spawning the server until it sent hello on a TLS connection. `entry` is what node
 * runs (bin/kecalek.mjs, or the bundle); the server is stopped with SIGTERM afterwards.
 */
async function timeServerStart(entry: readonly string[], dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const [port, wsPort] = [await freePort(), await freePort()];
  const start = performance.now();
  const child = spawn(process.execPath, [...entry, 'server', '--dev', '--port', String(port), '--ws-port', String(wsPort), '--data-dir', dataDir], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    if (output.length < 4000) output += chunk.toString('utf8');
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  child.once('exit', () => (exited = true));
  try {
    for (;;) {
      if (exited) throw new Error(`the server exited before it answered: ${output.trim().split('\n').slice(-3).join(' | ')}`);
      if (performance.now() - start > START_TIMEOUT_MS) throw new Error(`no hello within ${START_TIMEOUT_MS} ms`);
      if (await probeHello(port)) return (performance.now() - start) / 1000;
      await sleep(2);
    }
  } finally {
    child.kill('SIGTERM');
    await waitForExit(child, 20_000);
  }
}

/** The CLI bundled with esbuild into a temporary folder two levels below the root (see version.ts's package.json look-up). */
async function bundleCli(): Promise<{ entry: string; dir: string }> {
  const dir = join(ROOT, 'bench', '.coldstart-bundle');
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'kecalek.mjs');
  await build({
    entryPoints: [join(ROOT, 'cli', 'main.ts')],
    outfile: entry,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return { entry, dir };
}

// ---- server start ----------------------------------------------------------------------------

interface StartFigures {
  readonly nodeE: number;
  readonly tsxEmpty: number;
  readonly first: { median: number; all: number[] };
  readonly warm: { median: number; all: number[] };
  readonly warmNoCache: { median: number; all: number[] };
  readonly warmBundle: { median: number; all: number[] } | undefined;
  readonly bundleError?: string;
}

async function measureStart(runs: number): Promise<StartFigures> {
  const temp = mkdtempSync(join(tmpdir(), 'kecalek-coldstart-'));
  const emptyModule = join(temp, 'empty.ts');
  writeFileSync(emptyModule, "console.log('ready');\n");
  let bundleDir: string | undefined;
  try {
    let index = 0;
    const freshDir = (): string => join(temp, `data-${index++}`);
    const warmDir = freshDir();
    let bundleEntry: string | undefined;
    let bundleError: string | undefined;
    try {
      const bundle = await bundleCli();
      bundleDir = bundle.dir;
      bundleEntry = bundle.entry;
    } catch (error) {
      bundleError = (error as Error).message.split('\n')[0];
    }
    const variants: Array<{ name: keyof Omit<StartFigures, 'bundleError'>; measure: () => Promise<number> }> = [
      { name: 'nodeE', measure: () => timeToFirstOutput(['-e', 'console.log(1)']) },
      { name: 'tsxEmpty', measure: () => timeToFirstOutput(['--import', 'tsx', emptyModule]) },
      { name: 'first', measure: () => timeServerStart([KECALEK_BIN], freshDir()) },
      { name: 'warm', measure: () => timeServerStart([KECALEK_BIN], warmDir) },
      { name: 'warmNoCache', measure: () => timeServerStart([KECALEK_BIN], warmDir, { TSX_DISABLE_CACHE: '1' }) },
      ...(bundleEntry ? [{ name: 'warmBundle' as const, measure: () => timeServerStart([bundleEntry], warmDir) }] : []),
    ];
    // A warm-up round (file cache, tsx's transform cache, the warm data folder), then rounds that
    // take every variant in turn, so that load from other processes on a shared machine falls on
    // all of them alike.
    for (const variant of variants) await variant.measure();
    const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let round = 0; round < runs; round++) {
      for (const variant of variants) samples.get(variant.name)!.push(await variant.measure());
    }
    const figures = (name: string): { median: number; all: number[] } => ({ median: median(samples.get(name)!), all: samples.get(name)! });
    for (const variant of variants) console.log(`  ${variant.name}: ${samples.get(variant.name)!.map((s) => s.toFixed(3)).join(', ')} s`);
    if (bundleError) console.log(`  the bundled variant failed: ${bundleError}`);
    return {
      nodeE: figures('nodeE').median,
      tsxEmpty: figures('tsxEmpty').median,
      first: figures('first'),
      warm: figures('warm'),
      warmNoCache: figures('warmNoCache'),
      warmBundle: bundleEntry ? figures('warmBundle') : undefined,
      bundleError,
    };
  } finally {
    rmSync(temp, { recursive: true, force: true });
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  }
}

// ---- client login ----------------------------------------------------------------------------

interface Span {
  readonly what: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Times the client's own steps while a login runs: Connection.open, Connection#exchange (per
 * request type) and AccountStore#openKeys are wrapped for the duration of the benchmark.
 */
function instrumentClient(): { spans: Span[]; restore: () => void } {
  const spans: Span[] = [];
  type Method = (...args: never[]) => Promise<unknown>;
  const timed = <M extends Method>(what: (first: unknown) => string, original: M): M =>
    async function (this: unknown, ...args: Parameters<M>): Promise<unknown> {
      const start = performance.now();
      try {
        return await original.apply(this, args);
      } finally {
        spans.push({ what: what(args[0]), start, end: performance.now() });
      }
    } as M;
  const connection = Connection as unknown as { open: typeof Connection.open };
  const exchange = Connection.prototype as unknown as { exchange: Connection['exchange'] };
  const store = AccountStore.prototype as unknown as { openKeys: AccountStore['openKeys'] };
  const originals = { open: connection.open, exchange: exchange.exchange, openKeys: store.openKeys };
  connection.open = timed(() => 'connect', originals.open);
  exchange.exchange = timed((type) => `request ${String(type)}`, originals.exchange);
  store.openKeys = timed(() => 'unlock', originals.openKeys);
  return {
    spans,
    restore: () => {
      connection.open = originals.open;
      exchange.exchange = originals.exchange;
      store.openKeys = originals.openKeys;
    },
  };
}

interface LoginFigures {
  readonly totals: number[];
  readonly unlock: number[];
  readonly connect: number[];
  readonly requests: number[];
  readonly requestTypes: string[];
  /** The first login of the process, which also loads the native Argon2 module. */
  firstLogin: number;
  readonly kdf: number[];
}

async function readCode(dataDir: string, email: string): Promise<string> {
  const folder = join(dataDir, OUTBOX_FOLDER);
  for (let attempt = 0; attempt < 100; attempt++) {
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const mail = JSON.parse(await readFile(join(folder, name), 'utf8')) as OutboxMail;
      if (mail.to === email && mail.code) return mail.code;
    }
    await sleep(20);
  }
  throw new Error(`no registration code for ${email}`);
}

async function measureLogin(runs: number): Promise<LoginFigures> {
  const temp = mkdtempSync(join(tmpdir(), 'kecalek-coldstart-login-'));
  const dataDir = join(temp, 'server');
  const home = join(temp, 'home');
  const server = forkTs('conn-server.ts', { env: { KECALEK_BENCH_SERVER: JSON.stringify({ dataDir, maxConnections: 1000 }) } });
  try {
    const ready = await ask<Extract<ServerReply, { type: 'ready' }>>(server, undefined, 'ready', 120_000);
    const clientOptions = {
      server: { host: '127.0.0.1', port: ready.port, transport: 'tls' as const, ca: ready.ca, servername: 'localhost' },
      home,
      autoReconnect: false,
    };
    const email = 'coldstart@example.test';
    // Registration with the default envelope (the key file the logins open).
    const registering = new ChatClient(clientOptions);
    await registering.register({ username: 'coldstart', email, password: PASSWORD });
    await registering.confirmRegistration(await readCode(dataDir, email));
    await registering.close();

    const password = new TextEncoder().encode(PASSWORD);
    const { spans, restore } = instrumentClient();
    const figures: LoginFigures = { totals: [], unlock: [], connect: [], requests: [], requestTypes: [], firstLogin: 0, kdf: [] };
    try {
      for (let run = 0; run <= runs; run++) {
        spans.length = 0;
        const client = new ChatClient(clientOptions);
        const start = performance.now();
        await client.login({ email, password: PASSWORD });
        const end = performance.now();
        await client.close();
        const inside = spans.filter((s) => s.start >= start && s.end <= end);
        const sum = (what: (s: Span) => boolean): number => inside.filter(what).reduce((total, s) => total + (s.end - s.start), 0) / 1000;
        const total = (end - start) / 1000;
        // The first login of the process also loads the native Argon2 module: reported apart.
        if (run === 0) {
          figures.firstLogin = total;
          continue;
        }
        figures.totals.push(total);
        figures.unlock.push(sum((s) => s.what === 'unlock'));
        figures.connect.push(sum((s) => s.what === 'connect'));
        figures.requests.push(sum((s) => s.what.startsWith('request ')));
        for (const s of inside) if (s.what.startsWith('request ') && !figures.requestTypes.includes(s.what.slice(8))) figures.requestTypes.push(s.what.slice(8));
        // The baseline right after each login (alternating), so that load from other processes
        // falls on both alike.
        const kdfStart = performance.now();
        await deriveArgon2idKey(password, randomBytes(16), DEFAULT_ARGON2ID);
        figures.kdf.push((performance.now() - kdfStart) / 1000);
      }
    } finally {
      restore();
    }
    return figures;
  } finally {
    server.send({ type: 'stop' });
    await waitForExit(server);
    rmSync(temp, { recursive: true, force: true });
  }
}

// ---- the benchmark ---------------------------------------------------------------------------

export async function run({ quick }: { quick: boolean }): Promise<BenchResult> {
  const runs = quick ? 1 : 5;
  const start = await measureStart(runs);
  const login = await measureLogin(quick ? 2 : 5);
  const rows: BenchRow[] = [];
  const nodeE = { what: 'node -e to first output', value: start.nodeE };
  const withRatio = (row: BenchRow, baseline: { what: string; value: number }): BenchRow => ({ ...row, baseline, ratio: row.value / baseline.value });

  rows.push({ what: 'node -e, spawn to first output', value: start.nodeE, unit: 's' });
  rows.push(withRatio({ what: 'node --import tsx (module that only prints), to first output', value: start.tsxEmpty, unit: 's' }, nodeE));
  rows.push(withRatio({ what: 'server first start (migrations, certificate) to TLS hello', value: start.first.median, unit: 's' }, nodeE));
  rows.push(withRatio({ what: 'server warm start to TLS hello', value: start.warm.median, unit: 's' }, nodeE));
  rows.push(withRatio({ what: 'server warm start, tsx transform cache off', value: start.warmNoCache.median, unit: 's' }, { what: 'warm start', value: start.warm.median }));
  if (start.warmBundle) {
    rows.push(withRatio({ what: 'server warm start, esbuild bundle without tsx', value: start.warmBundle.median, unit: 's' }, { what: 'warm start', value: start.warm.median }));
  }

  const kdf = { what: 'raw Argon2id KDF (default parameters)', value: median(login.kdf) };
  const loginTotal = median(login.totals);
  rows.push({ what: 'raw Argon2id KDF, default 256 MiB t=4 p=2', value: kdf.value, unit: 's' });
  rows.push({ ...withRatio({ what: 'client login, total (default envelope)', value: loginTotal, unit: 's' }, kdf), target: target(loginTotal, '<=', TARGET_LOGIN_S) });
  rows.push(withRatio({ what: 'client login: envelope unlock (KDF + AES-GCM)', value: median(login.unlock), unit: 's' }, kdf));
  rows.push({ what: 'client login: TLS connect + hello', value: median(login.connect), unit: 's' });
  rows.push({ what: 'client login: request round trips awaited', value: median(login.requests), unit: 's' });
  const rest = login.totals.map((total, i) => total - login.unlock[i]! - login.connect[i]! - login.requests[i]!);
  rows.push({ what: 'client login: the rest (local store, key derivations)', value: median(rest), unit: 's' });

  const notes = [
    `medians of ${runs} rounds, each taking every start variant in turn (first start: a new data folder each time), and of ${login.totals.length} logins, each followed by one raw KDF (the baseline, alternating with the logins)`,
    `server start: ${KECALEK_BIN} server --dev, probed with a TLS connection every 2 ms until the hello frame arrives; stopped with SIGTERM between runs`,
    `first starts: ${start.first.all.map((s) => s.toFixed(3)).join(', ')} s; warm starts: ${start.warm.all.map((s) => s.toFixed(3)).join(', ')} s`,
    `login requests awaited inside login(): ${login.requestTypes.join(', ')}; the first login of the process (loads the native Argon2 module) took ${login.firstLogin.toFixed(3)} s`,
    `login totals: ${login.totals.map((s) => s.toFixed(3)).join(', ')} s; raw KDF: ${login.kdf.map((s) => s.toFixed(3)).join(', ')} s`,
  ];
  if (start.bundleError) notes.push(`the esbuild-bundled variant could not run: ${start.bundleError}`);
  return { name: 'coldstart', rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
