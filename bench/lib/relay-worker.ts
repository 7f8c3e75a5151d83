/**
 * A client process of the relay benchmark: it runs `pairs` pairs of real ChatClients against the
 * benchmark's server (accounts, DMs, sessions in both directions), then the load phases the
 * parent asks for, each pair entirely inside this process (latencies never compare clocks of two
 * processes). Options in KECALEK_BENCH_RELAY_WORKER (RelayWorkerOptions).
 */
import { clientHomeRoot, closeUsers, registerUsers, removeHomeRoot, type BenchUser } from './clients.js';
import { captureFrames } from './frames.js';
import { closedLoop, paced, type LoadResult, type LoadTarget } from './load.js';
import { DeliveryTracker } from './tracker.js';
import type { RelayWorkerOptions, RelayWorkerReply, RelayWorkerRequest, WorkerPhase } from './relay-protocol.js';

const options = JSON.parse(process.env.KECALEK_BENCH_RELAY_WORKER ?? '{}') as RelayWorkerOptions;
const send = (reply: RelayWorkerReply): void => {
  process.send?.(reply);
};

const homeRoot = await clientHomeRoot();
let users: BenchUser[] = [];
const tracker = new DeliveryTracker(`${options.prefix}-`, options.bytes);

async function setUp(): Promise<LoadTarget> {
  const start = performance.now();
  users = await registerUsers(options.server, homeRoot, options.pairs * 2, options.prefix);
  for (const user of users) tracker.watch(user.client);
  const senders: Array<{ user: BenchUser; conversationId: string }> = [];
  for (let i = 0; i < options.pairs; i++) {
    const [a, b] = [users[2 * i]!, users[2 * i + 1]!];
    const conversation = await a.client.createDm(b.email);
    senders.push({ user: a, conversationId: conversation.id }, { user: b, conversationId: conversation.id });
  }
  // Sessions in both directions (X3DH, then a DH ratchet step each way) before anything is timed.
  for (let round = 0; round < 2; round++) {
    await Promise.all(
      Array.from({ length: options.pairs }, async (_, i) => {
        await tracker.sendAndWait(senders[2 * i]!.user.client, senders[2 * i]!.conversationId, 1);
        await tracker.sendAndWait(senders[2 * i + 1]!.user.client, senders[2 * i + 1]!.conversationId, 1);
      }),
    );
  }
  send({ type: 'ready', setupSeconds: (performance.now() - start) / 1000 });
  return {
    senders: senders.length,
    issue: (s, done, fail) => tracker.send(senders[s]!.user.client, senders[s]!.conversationId, 1, done, fail),
  };
}

/** Runs a phase, with this process's CPU over its measured interval. */
async function phase(run: (hooks: { measureStart(): void; measureEnd(): void }) => Promise<LoadResult>): Promise<WorkerPhase> {
  let cpuStart = process.cpuUsage();
  let wallStart = performance.now();
  let cpuMs = 0;
  let wallMs = 0;
  const result = await run({
    measureStart() {
      cpuStart = process.cpuUsage();
      wallStart = performance.now();
    },
    measureEnd() {
      const used = process.cpuUsage(cpuStart);
      cpuMs = (used.user + used.system) / 1000;
      wallMs = performance.now() - wallStart;
    },
  });
  return {
    rate: result.rate,
    completed: result.completed,
    failures: result.failures,
    lost: result.lost,
    latencies: result.latencies,
    cpuMs,
    wallMs,
    firstError: result.firstError === undefined ? undefined : String(result.firstError),
  };
}

try {
  const load = await setUp();
  process.on('message', (message: RelayWorkerRequest) => {
    void (async () => {
      try {
        if (message.type === 'warm') {
          const captured = await captureFrames('send_message', message.captureLimit, () =>
            closedLoop(load, { window: message.window, warmupMs: 0, measureMs: message.ms }),
          );
          send({ type: 'warmed', frames: captured.frames.map((f) => f.toString('base64')) });
        } else if (message.type === 'closed') {
          send({ type: 'phase', ...(await phase((hooks) => closedLoop(load, { ...message, ...hooks }))) });
        } else if (message.type === 'paced') {
          send({ type: 'phase', ...(await phase((hooks) => paced(load, { ...message, ...hooks }))) });
        } else if (message.type === 'close') {
          await closeUsers(users);
          await removeHomeRoot(homeRoot);
          send({ type: 'closed', errors: tracker.errors.map((e) => e.message) });
          process.disconnect?.();
          process.exit(0);
        }
      } catch (error) {
        send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
} catch (error) {
  send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  await closeUsers(users);
  await removeHomeRoot(homeRoot);
  process.exit(1);
}
