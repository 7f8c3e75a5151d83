/**
 * Starts the benchmark's Kecalek server in a child process (./server-child.ts) with the bench
 * configuration on a fresh data folder in the temporary directory (on disk: the server's fsyncs
 * are part of what is measured), and talks to it over IPC.
 *
 * `cpuProfileDir` runs the child under `node --cpu-prof`; the profile is written when it stops.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildReply, ChildRequest, ServerChildOptions, ServerStats } from './server-protocol.js';

export interface ServerProcessOptions {
  /** MySQL/MariaDB URL (a database that exists); SQLite in the data folder when absent. */
  readonly databaseUrl?: string;
  /** Write a V8 CPU profile of the server process into this folder. */
  readonly cpuProfileDir?: string;
  /** Write the time per SQL statement of the server to this file when it stops. */
  readonly sqlProfilePath?: string;
  /** Keep the data folder after close (to read server.log). */
  readonly keepDataDir?: boolean;
}

export interface ServerProcess {
  readonly host: string;
  readonly port: number;
  /** The self-signed certificate clients must trust. */
  readonly certificate: string;
  readonly dataDir: string;
  readonly database: 'sqlite' | 'mysql';
  readonly pid: number;
  /** CPU time since start (or the last reset), RSS and the message writer's counters. */
  stats(reset?: boolean): Promise<ServerStats>;
  /** Starts a CPU profile of the server's main thread (no path), or stops it and writes it to `path`. */
  profile(path?: string): Promise<void>;
  /** Graceful shutdown of the server; removes the data folder unless kept. */
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

/** node flags for a TypeScript child: tsx, plus a CPU profile when asked. */
export function childExecArgv(cpuProfileDir: string | undefined, name: string): string[] {
  const argv = ['--import', 'tsx'];
  // One folder per child: V8 writes a profile per thread (tsx's loader runs in a worker), the main
  // thread's being the larger one.
  if (cpuProfileDir !== undefined) argv.push('--cpu-prof', `--cpu-prof-dir=${join(cpuProfileDir, `${name}-${Date.now()}`)}`);
  return argv;
}

/** A child's replies, by type, with request/answer matching for `stats`. */
export class ChildChannel<Reply extends { type: string }> {
  private readonly waiting: Array<{ accept: (reply: Reply) => boolean; resolve: (reply: Reply) => void; reject: (error: Error) => void }> = [];
  private exited: Error | undefined;

  constructor(private readonly child: ChildProcess, label: string) {
    child.on('message', (reply: Reply) => {
      const index = this.waiting.findIndex((w) => w.accept(reply));
      if (index >= 0) this.waiting.splice(index, 1)[0]!.resolve(reply);
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`${label} process exited (${signal ?? code})`);
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.exited);
    });
  }

  next<R extends Reply>(accept: (reply: Reply) => reply is R, timeoutMs = 120_000): Promise<R> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the child process')), timeoutMs);
      timer.unref();
      this.waiting.push({
        accept,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as R);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }
}

/** Waits for the child's exit (killing it after `timeoutMs`). */
export function waitForExit(child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kecalek-bench-server-'));
  const childOptions: ServerChildOptions = {
    dataDir,
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
    ...(options.sqlProfilePath === undefined ? {} : { sqlProfilePath: options.sqlProfilePath }),
  };
  const child = fork(join(here, 'server-child.ts'), [], {
    execArgv: childExecArgv(options.cpuProfileDir, 'server'),
    env: { ...process.env, KECALEK_BENCH_SERVER: JSON.stringify(childOptions) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const channel = new ChildChannel<ChildReply>(child, 'server');
  const first = await channel.next((r): r is Extract<ChildReply, { type: 'ready' | 'error' }> => r.type === 'ready' || r.type === 'error');
  if (first.type === 'error') {
    await waitForExit(child);
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`The benchmark server did not start: ${first.message}`);
  }
  let nextId = 1;
  let closing: Promise<void> | undefined;
  const request = (message: ChildRequest) => child.send(message);
  return {
    host: '127.0.0.1',
    port: first.port,
    certificate: first.certificate,
    dataDir,
    database: first.database,
    pid: child.pid!,
    async stats(reset = false) {
      const id = nextId++;
      const answer = channel.next((r): r is Extract<ChildReply, { type: 'stats' }> => r.type === 'stats' && r.id === id);
      request({ type: 'stats', id, reset });
      const { type: _type, id: _id, ...stats } = await answer;
      return stats;
    },
    async profile(path) {
      const id = nextId++;
      const answer = channel.next((r): r is Extract<ChildReply, { type: 'profiled' }> => r.type === 'profiled' && r.id === id);
      request({ type: 'profile', id, ...(path === undefined ? {} : { path }) });
      await answer;
    },
    close() {
      closing ??= (async () => {
        if (child.connected) {
          const stopped = channel.next((r): r is Extract<ChildReply, { type: 'stopped' | 'error' }> => r.type === 'stopped' || r.type === 'error', 60_000).catch(() => undefined);
          request({ type: 'stop' });
          await stopped;
        }
        await waitForExit(child);
        if (!options.keepDataDir) await rm(dataDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
