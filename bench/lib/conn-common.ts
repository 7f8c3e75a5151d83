/**
 * Shared pieces of the connections benchmark (bench/connections.ts): the messages exchanged with
 * its child processes (the server under test, the bare TLS baseline, the load-generating
 * workers), how those children are started (through tsx, with the file-descriptor limit raised to
 * the hard limit), and small statistics helpers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const LIB_DIR = dirname(fileURLToPath(import.meta.url));

/** One seeded account as a load-generating worker needs it. */
export interface SeededAccount {
  readonly index: number;
  readonly userId: string;
  readonly deviceId: string;
  readonly email: string;
  /** Ed25519 login-key seed, base64. */
  readonly loginSeed: string;
  /** The index of the account sharing a DM with this one (session_reset needs a shared conversation). */
  readonly peer: number;
}

export type ClientMode = 'kecalek' | 'bare';

export interface WorkerTarget {
  readonly mode: ClientMode;
  /** 'tls' or 'wss' (Kecalek only). */
  readonly transport: 'tls' | 'wss';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly ca: string;
  /** Connections opened (and logged in) at the same time per worker. */
  readonly concurrency: number;
  /** Kecalek: stop after hello instead of logging in (investigation of what a login adds). */
  readonly noLogin?: boolean;
}

/** Parent -> worker. */
export type WorkerCommand =
  | { readonly type: 'target'; readonly target: WorkerTarget }
  /** Open one connection per account (Kecalek: log in as it) or `count` bare connections. */
  | { readonly type: 'open'; readonly accounts: readonly SeededAccount[]; readonly count: number }
  /** Push-latency samples: `samples` pushes, one at a time, `gapMs` apart. */
  | { readonly type: 'latency'; readonly samples: number; readonly gapMs: number }
  | { readonly type: 'close' };

/** Worker -> parent. */
export type WorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'opened'; readonly opened: number; readonly failed: number; readonly firstError?: string; readonly open: number }
  | { readonly type: 'latency'; readonly latenciesMs: number[]; readonly lost: number }
  | { readonly type: 'closed' };

/** Parent -> server child (Kecalek or bare). `loop-reset` / `loop`: event-loop delay since the reset. */
export type ServerCommand =
  | { readonly type: 'gc' }
  | { readonly type: 'snapshot'; readonly path: string }
  | { readonly type: 'loop-reset' }
  | { readonly type: 'loop' }
  | { readonly type: 'stop' };

/** Server child -> parent. */
export type ServerReply =
  | { readonly type: 'ready'; readonly port: number; readonly wsPort?: number; readonly ca: string }
  | { readonly type: 'gc'; readonly memory: NodeJS.MemoryUsage; readonly connections: number }
  | { readonly type: 'snapshot'; readonly path: string }
  | { readonly type: 'loop-reset' }
  | { readonly type: 'loop'; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };

/**
 * Answers the `loop-reset` / `loop` commands of a server child: how long its event loop was held
 * up (perf_hooks' event-loop delay histogram, 1 ms resolution), to tell stalls inside the server
 * from scheduling delays of a busy machine when push latency is high.
 */
export function serveLoopDelay(command: ServerCommand, reply: (message: ServerReply) => void): boolean {
  if (command.type === 'loop-reset') {
    if (loopDelay === undefined) {
      loopDelay = monitorEventLoopDelay({ resolution: 1 });
      loopDelay.enable();
    }
    loopDelay.reset();
    reply({ type: 'loop-reset' });
    return true;
  }
  if (command.type === 'loop') {
    const ms = (ns: number): number => (Number.isFinite(ns) ? ns / 1e6 : 0);
    reply({ type: 'loop', p50Ms: ms(loopDelay?.percentile(50) ?? 0), p99Ms: ms(loopDelay?.percentile(99) ?? 0), maxMs: ms(loopDelay?.max ?? 0) });
    return true;
  }
  return false;
}

let loopDelay: IntervalHistogram | undefined;

export interface FdLimit {
  readonly soft: number;
  readonly hard: number;
}

/** This process's open-files limit (`ulimit -n`), from /proc. */
export function fdLimit(pid: number | 'self' = 'self'): FdLimit {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/);
  const parse = (value: string | undefined): number => (value === undefined || value === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(value));
  return { soft: parse(soft), hard: parse(hard) };
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`No VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** Total CPU time (user + system) a process has used, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat; after "pid (comm) " they are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Starts a TypeScript module of this folder as a child with an IPC channel, through tsx. Its
 * open-files limit is raised to the hard limit first when the soft one is lower (a child cannot
 * raise its own, and Node has no setrlimit).
 */
export function forkTs(module: string, options: { execArgv?: readonly string[]; env?: NodeJS.ProcessEnv; wrapper?: string } = {}): ChildProcess {
  const limit = fdLimit();
  const path = join(LIB_DIR, module);
  const execArgv = ['--import', 'tsx', ...(options.execArgv ?? [])];
  const env = { ...process.env, ...options.env };
  // An optional wrapper command (e.g. `heaptrack`) runs node; it must exec it with the same descriptors.
  const wrapper = options.wrapper ? options.wrapper.split(' ').filter(Boolean) : [];
  if (limit.soft >= limit.hard && wrapper.length === 0) return fork(path, [], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // `sh -c 'ulimit -n H; exec node ...'`: the IPC descriptor and NODE_CHANNEL_FD pass through exec.
  return fork(path, [], {
    execPath: '/bin/sh',
    execArgv: ['-c', `ulimit -n ${limit.hard} && exec "$0" "$@"`, ...wrapper, process.execPath, ...execArgv],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Sends a command to a child and resolves with its first reply of the given type. */
export function ask<R extends { type: string }>(child: ChildProcess, command: unknown, replyType: R['type'], timeoutMs = 600_000): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`No "${replyType}" reply from child ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: { type?: string }): void => {
      if (message?.type === replyType) finish(undefined, message as R);
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`Child ${child.pid} exited (${code ?? signal}) before "${replyType}"`));
    const finish = (error?: Error, reply?: R): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(reply!);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    if (command !== undefined) child.send(command as Parameters<ChildProcess['send']>[0]);
  });
}

/** Resolves when the child has exited (kills it after `timeoutMs`). */
export function waitForExit(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The q-quantile (0..1) of some values, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
