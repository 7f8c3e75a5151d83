/**
 * A load-generating worker of bench/connections.ts: holds thousands of lightweight raw-protocol
 * client connections (no ChatClient: one socket, one frame decoder and a few fields each) and
 * measures push latency between two of them. Commands arrive over IPC (conn-common.ts).
 *
 * Kecalek mode: each connection reads hello, then logs in as its seeded account (login_start,
 * login_finish signed with the Ed25519 login key, the seeded device id) and stays idle. A latency
 * sample is a `session_reset` from a random logged-in account to its DM partner's device, timed
 * from the request's write on the sender to the `session_reset` push read on the idle receiver;
 * both sockets are in this process, so one clock times both ends.
 *
 * Bare mode (the baseline): each connection reads `hello <id>`; a sample is `relay <id>` from one
 * random connection to another, timed until the other reads `push`.
 */
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { ed25519Sign } from '../../engine/crypto/index.js';
import { decodeBase64, encodeBase64 } from '../../engine/protocol/base64.js';
import { loginChallengeMessage } from '../../engine/protocol/auth.js';
import { FrameDecoder, WsFrameDecoder, encodeFrame, encodeWsMessages } from '../../engine/protocol/index.js';
import { SERVER_VERSION } from '../../engine/server/version.js';
import type { SeededAccount, WorkerCommand, WorkerReply, WorkerTarget } from './conn-common.js';

const LIMITS = { maxFrameBytes: 1024 * 1024, maxBodyBytes: 4 * 1024 * 1024 };
const HELLO_TIMEOUT_MS = 60_000;
const LATENCY_TIMEOUT_MS = 5_000;

type Frame = Record<string, unknown>;

interface Waiter {
  resolve(frame: Frame): void;
  reject(error: Error): void;
}

/** One client connection, either mode. */
class Client {
  account: SeededAccount | undefined;
  /** The bare server's id for this connection. */
  bareId = 0;
  closed = false;
  /** Hello (first frame or line), then responses: at most one request is outstanding. */
  private waiter: Waiter | undefined;
  /** Called when a push this benchmark waits for arrives. */
  onPush: ((from: string) => void) | undefined;
  private write!: (frame: Frame) => void;
  private writeLine!: (line: string) => void;
  private destroyFn!: () => void;
  private sequence = 0;

  constructor(private readonly target: WorkerTarget) {}

  open(): Promise<Frame> {
    const first = this.next(HELLO_TIMEOUT_MS);
    if (this.target.transport === 'wss') this.openWs();
    else this.openTls();
    return first;
  }

  private openTls(): void {
    const socket = tls.connect({ host: this.target.host, port: this.target.port, ca: this.target.ca, servername: 'localhost' });
    socket.setNoDelay(true);
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
    this.destroyFn = () => socket.destroy();
    this.writeLine = (line) => void socket.write(line);
    if (this.target.mode === 'bare') {
      let partial = '';
      socket.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('latin1')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.receiveLine(line);
      });
      return;
    }
    const decoder = new FrameDecoder({ ...LIMITS, onFrame: (frame) => this.receive(frame), onError: (error) => this.fail(error) });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    this.write = (frame) => {
      for (const part of encodeFrame(frame, undefined, LIMITS)) socket.write(part);
    };
  }

  private openWs(): void {
    const socket = new WebSocket(`wss://${this.target.host}:${this.target.port}${this.target.path}`, {
      // The test certificate names 127.0.0.1 too, so no servername is needed.
      ca: this.target.ca,
      perMessageDeflate: false,
    });
    const decoder = new WsFrameDecoder({ ...LIMITS, onFrame: (frame) => this.receive(frame), onError: (error) => this.fail(error) });
    socket.on('message', (data: Buffer, isBinary: boolean) => decoder.push(data, isBinary));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
    this.destroyFn = () => socket.terminate();
    this.write = (frame) => {
      for (const message of encodeWsMessages(frame, undefined, LIMITS)) socket.send(message.data, { binary: message.binary });
    };
  }

  private receiveLine(line: string): void {
    if (line === 'push') this.onPush?.('');
    else if (line.startsWith('hello ')) this.settle({ type: 'hello', id: Number(line.slice(6)) });
  }

  private receive(frame: Frame): void {
    if (frame.type === 'session_reset' && frame.request_id === undefined) {
      this.onPush?.(String((frame.data as { from_user_id?: unknown }).from_user_id));
      return;
    }
    // hello, responses; other pushes (online_users, user_online) are not waited for.
    if (frame.type === 'hello' || frame.request_id !== undefined || frame.type === 'error') this.settle(frame);
  }

  private settle(frame: Frame): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve(frame);
  }

  private fail(error: Error): void {
    if (!this.closed) {
      this.closed = true;
      this.destroyFn?.();
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  private next(timeoutMs: number): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** Sends a request and resolves with its `data`; rejects on an error response. */
  async request(type: string, fields: Frame): Promise<Frame> {
    if (this.closed) throw new Error('connection closed');
    const answer = this.next(HELLO_TIMEOUT_MS);
    this.write({ type, ...fields, request_id: `r${++this.sequence}` });
    const frame = await answer;
    const data = (frame.data ?? {}) as Frame;
    if (frame.status !== 'ok') throw new Error(`${type}: ${String(data.code)}: ${String(data.message)}`);
    return data;
  }

  relay(toId: number): void {
    this.writeLine(`relay ${toId}\n`);
  }

  async login(account: SeededAccount): Promise<void> {
    const started = await this.request('login_start', { email: account.email });
    const challenge = decodeBase64(started.challenge as string, 'challenge', { exactBytes: 32 });
    const seed = Buffer.from(account.loginSeed, 'base64');
    await this.request('login_finish', {
      email: account.email,
      signature: encodeBase64(ed25519Sign(seed, loginChallengeMessage(challenge, account.email))),
      client_version: SERVER_VERSION,
      device_id: account.deviceId,
    });
    this.account = account;
  }

  destroy(): void {
    this.closed = true;
    this.destroyFn?.();
  }
}

let target: WorkerTarget | undefined;
/** Logged-in (or bare) connections, and Kecalek ones by account index for pairing. */
const clients: Client[] = [];
const byAccount = new Map<number, Client>();

function reply(message: WorkerReply): void {
  process.send?.(message);
}

async function openOne(account: SeededAccount | undefined): Promise<void> {
  const client = new Client(target!);
  const hello = await client.open();
  if (hello.type === 'error') {
    client.destroy();
    throw new Error(`refused: ${JSON.stringify(hello.data)}`);
  }
  if (account && !target!.noLogin) await client.login(account);
  else if (account) client.account = account;
  else client.bareId = hello.id as number;
  clients.push(client);
  if (account) byAccount.set(account.index, client);
}

async function openMany(accounts: readonly SeededAccount[], count: number): Promise<void> {
  const total = target!.mode === 'kecalek' ? accounts.length : count;
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      try {
        await openOne(target!.mode === 'kecalek' ? accounts[index] : undefined);
        opened++;
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(target!.concurrency, total) }, lane));
  reply({ type: 'opened', opened, failed, firstError, open: clients.filter((c) => !c.closed).length });
}

function pickPair(): { from: Client; to: Client } | undefined {
  const live = clients.filter((c) => !c.closed);
  for (let attempt = 0; attempt < 100; attempt++) {
    const from = live[Math.floor(Math.random() * live.length)];
    if (!from) return undefined;
    if (target!.mode === 'bare') {
      const to = live[Math.floor(Math.random() * live.length)];
      if (to && to !== from) return { from, to };
      continue;
    }
    const to = byAccount.get(from.account!.peer);
    if (to && !to.closed) return { from, to };
  }
  return undefined;
}

/** One push: sender writes, receiver reads. Resolves with the latency in ms, or undefined if lost. */
function sample(from: Client, to: Client): Promise<number | undefined> {
  return new Promise<number | undefined>((resolve) => {
    let done = false;
    const finish = (value: number | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      to.onPush = undefined;
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), LATENCY_TIMEOUT_MS);
    const fromUserId = from.account?.userId ?? '';
    const start = performance.now();
    to.onPush = (sender) => {
      if (target!.mode === 'bare' || sender === fromUserId) finish(performance.now() - start);
    };
    if (target!.mode === 'bare') {
      from.relay(to.bareId);
    } else {
      const peer = to.account!;
      from.request('session_reset', { user_id: peer.userId, device_id: peer.deviceId }).catch(() => finish(undefined));
    }
  });
}

async function measureLatency(samples: number, gapMs: number): Promise<void> {
  const latenciesMs: number[] = [];
  let lost = 0;
  for (let i = 0; i < samples; i++) {
    const pair = pickPair();
    if (!pair) {
      lost++;
      continue;
    }
    const latency = await sample(pair.from, pair.to);
    if (latency === undefined) lost++;
    else latenciesMs.push(latency);
    // Random gaps, so the samples do not fall into step with timers on the server.
    await new Promise((resolve) => setTimeout(resolve, gapMs * (0.5 + Math.random())));
  }
  reply({ type: 'latency', latenciesMs, lost });
}

process.on('message', (command: WorkerCommand) => {
  switch (command.type) {
    case 'target':
      target = command.target;
      reply({ type: 'ready' });
      break;
    case 'open':
      void openMany(command.accounts, command.count);
      break;
    case 'latency':
      void measureLatency(command.samples, command.gapMs);
      break;
    case 'close':
      for (const client of clients) client.destroy();
      clients.length = 0;
      byAccount.clear();
      reply({ type: 'closed' });
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
process.on('disconnect', () => process.exit(0));
