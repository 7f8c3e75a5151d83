/**
 * Fan-out benchmark: one sender in a group of `--members` real ChatClients (default 100, so 99
 * recipients) sends sender-key group messages through a real Kecalek server in its own process
 * (SQLite, synchronous=FULL). A message counts once the server acknowledged it AND every other
 * member decrypted it; its latency runs from the `sendMessage` call to the LAST member's
 * decrypted `message` event. Measured: group messages per second sustained (closed loop,
 * `--window` outstanding) and the latency percentiles at a paced offered load (`--rate`, default
 * 5 group messages per second, i.e. 495 decryptions per second across the members, a load the
 * clients of this benchmark sustain on the 2-vCPU machines).
 *
 * Baseline, in the same run: the bare TLS forwarder fanning the same captured group send_message
 * frames out to as many raw connections, driven the same way.
 *
 * Options: --members=N (100), --rate=R (5), --window=W (4), --bytes=B (100),
 * --cpu-prof-dir=DIR. Run directly: `node --import tsx bench/fanout.ts [--quick]`.
 */
import { join } from 'node:path';
import { numberOption, option } from './lib/args.js';
import { clientHomeRoot, closeUsers, registerUsers, removeHomeRoot, type BenchUser } from './lib/clients.js';
import { connectRaw, startForwarder } from './lib/forwarder.js';
import { captureFrames, frameSizes } from './lib/frames.js';
import { closedLoop, type LoadTarget } from './lib/load.js';
import { cpuPerMessageUs, measureLoad, share, type LoadPlan, type Measured } from './lib/measure.js';
import { startServerProcess } from './lib/server-process.js';
import { DeliveryTracker } from './lib/tracker.js';
import { printTable, type BenchResult, type BenchRow } from './report.js';

interface Params extends LoadPlan {
  readonly members: number;
  readonly bytes: number;
  readonly cpuProfileDir: string | undefined;
  /** Profile the server's main thread over the measured throughput interval into this folder. */
  readonly profileDir: string | undefined;
}

interface KecalekFanout extends Measured {
  readonly setupSeconds: number;
  readonly frames: Buffer[];
  readonly rssBytes: number;
  readonly errors: string[];
}

async function kecalekRun(params: Params): Promise<KecalekFanout> {
  const server = await startServerProcess({ cpuProfileDir: params.cpuProfileDir });
  const homeRoot = await clientHomeRoot();
  let users: BenchUser[] = [];
  try {
    const setupStart = performance.now();
    users = await registerUsers(server, homeRoot, params.members, 'fanout');
    const [sender, ...recipients] = users as [BenchUser, ...BenchUser[]];
    const tracker = new DeliveryTracker('g-', params.bytes);
    for (const user of recipients) tracker.watch(user.client);
    const group = await sender.client.createGroup('bench', recipients.map((u) => u.email));
    // The first message also hands the sender key to every member (pairwise, X3DH with each).
    for (let i = 0; i < 3; i++) await tracker.sendAndWait(sender.client, group.id, recipients.length);
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const load: LoadTarget = {
      senders: 1,
      issue: (_s, done, fail) => tracker.send(sender.client, group.id, recipients.length, done, fail),
    };
    const captured = await captureFrames('send_message', 2000, () => closedLoop(load, { window: params.window, warmupMs: 0, measureMs: 1000 }));
    const dir = params.profileDir;
    const measured = await measureLoad(load, params, server, dir === undefined ? {} : { child: join(dir, 'fanout-server.cpuprofile'), self: join(dir, 'fanout-clients.cpuprofile') });
    const stats = await server.stats();
    return {
      setupSeconds,
      frames: captured.frames,
      ...measured,
      rssBytes: stats.rssBytes,
      errors: [...tracker.errors.map((e) => e.message), ...(measured.throughput.firstError ? [String(measured.throughput.firstError)] : [])],
    };
  } finally {
    await closeUsers(users);
    await server.close();
    await removeHomeRoot(homeRoot);
  }
}

/** One raw sender whose peers are `members - 1` raw receivers; a frame is complete when all have it. */
async function baselineRun(params: Params, frames: readonly Buffer[]): Promise<Measured> {
  const forwarder = await startForwarder({ cpuProfileDir: params.cpuProfileDir });
  const receiverIds = Array.from({ length: params.members - 1 }, (_, i) => `m${i}`);
  const receivers = await Promise.all(receiverIds.map((id) => connectRaw(forwarder, id, [])));
  const sender = await connectRaw(forwarder, 'sender', receiverIds);
  try {
    const sent: Array<{ start: number; remaining: number; done: (latencyMs: number) => void }> = [];
    let first = 0; // index of the oldest message not complete yet
    const received = receivers.map(() => 0);
    receivers.forEach((receiver, r) => {
      receiver.onFrames = (count) => {
        const now = performance.now();
        for (let k = 0; k < count; k++) {
          const entry = sent[received[r]!++]!;
          if (--entry.remaining === 0) entry.done(now - entry.start);
        }
        while (first < sent.length && sent[first]!.remaining === 0) first++;
      };
    });
    let next = 0;
    const load: LoadTarget = {
      senders: 1,
      issue: (_s, done) => {
        sent.push({ start: performance.now(), remaining: receivers.length, done });
        sender.send(frames[next++ % frames.length]!);
      },
    };
    await closedLoop(load, { window: params.window, warmupMs: 0, measureMs: 500 });
    return await measureLoad(load, params, forwarder);
  } finally {
    sender.close();
    for (const receiver of receivers) receiver.close();
    await forwarder.close();
  }
}

const MiB = 1024 * 1024;

export async function run(options: { quick?: boolean } = {}): Promise<BenchResult> {
  const quick = options.quick === true;
  const params: Params = {
    members: Math.max(2, Math.floor(numberOption('members', quick ? 20 : 100))),
    rate: numberOption('rate', 5),
    window: numberOption('window', 4),
    bytes: numberOption('bytes', 100),
    warmupMs: quick ? 1000 : 3000,
    measureMs: quick ? 2000 : 10_000,
    latencyMs: quick ? 2000 : 10_000,
    cpuProfileDir: option('cpu-prof-dir'),
    profileDir: option('profile-dir'),
  };
  const k = await kecalekRun(params);
  const baseline = await baselineRun(params, k.frames);
  const recipients = params.members - 1;
  const l = k.latencySummary;
  const b = baseline.latencySummary;
  const rate = k.throughput.rate;
  const cpuUs = cpuPerMessageUs(k.throughputCpu, rate);
  const baseCpu = cpuPerMessageUs(baseline.throughputCpu, baseline.throughput.rate);
  const rows: BenchRow[] = [
    {
      what: `fan-out sustained, ${params.members} members, SQLite`,
      value: rate,
      unit: 'msg/s',
      baseline: { what: 'bare TLS forwarder, same frames', value: baseline.throughput.rate },
      ratio: rate / baseline.throughput.rate,
    },
    { what: `fan-out deliveries (decrypted by a member), SQLite`, value: rate * recipients, unit: 'msg/s' },
    { what: `last-member latency p50 at ${params.rate} msg/s`, value: l.p50, unit: 'ms', baseline: { what: 'bare TLS forwarder p50', value: b.p50 }, ratio: l.p50 / b.p50 },
    { what: `last-member latency p95 at ${params.rate} msg/s`, value: l.p95, unit: 'ms', baseline: { what: 'bare TLS forwarder p95', value: b.p95 }, ratio: l.p95 / b.p95 },
    { what: `last-member latency p99 at ${params.rate} msg/s`, value: l.p99, unit: 'ms', baseline: { what: 'bare TLS forwarder p99', value: b.p99 }, ratio: l.p99 / b.p99 },
    { what: 'server CPU per group message', value: cpuUs, unit: 'us', baseline: { what: 'bare TLS forwarder CPU per frame', value: baseCpu }, ratio: cpuUs / baseCpu },
    { what: 'server RSS after the run', value: k.rssBytes / MiB, unit: 'MiB' },
  ];
  const sizes = frameSizes(k.frames);
  const notes = [
    `set-up (${params.members} accounts, group, sender-key distribution) ${k.setupSeconds.toFixed(1)} s; throughput run: server ${share(k.throughputCpu.childMs, k.throughputCpu.wallMs)} of a core, ` +
      `client process ${share(k.throughputCpu.selfMs, k.throughputCpu.wallMs)}; latency run achieved ${k.latency.rate.toFixed(1)} msg/s, server ${share(k.latencyCpu.childMs, k.latencyCpu.wallMs)}, ` +
      `clients ${share(k.latencyCpu.selfMs, k.latencyCpu.wallMs)}; failures ${k.throughput.failures + k.latency.failures}, lost ${k.throughput.lost + k.latency.lost}`,
    `baseline: 1 sender + ${recipients} raw TLS receivers, ${k.frames.length} captured group send_message frames (${sizes.min}-${sizes.max} B, median ${sizes.median} B); ` +
      `forwarder ${share(baseline.throughputCpu.childMs, baseline.throughputCpu.wallMs)} of a core at ${Math.round(baseline.throughput.rate)} frames/s in, ${Math.round(baseline.throughput.rate * recipients)} out`,
    `closed loop: ${params.window} outstanding group messages, ${params.warmupMs / 1000} s warm-up, ${params.measureMs / 1000} s measured; paced: ${params.rate} msg/s, ` +
      `1 s warm-up, ${params.latencyMs / 1000} s measured; texts of ${params.bytes} characters; client stores on tmpfs; every member's client runs in the benchmark process`,
  ];
  if (k.errors.length > 0) notes.push(`client errors: ${k.errors.slice(0, 3).join(' | ')}`);
  return { name: 'fanout', rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
