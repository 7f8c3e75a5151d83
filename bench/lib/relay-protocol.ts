/** What the relay benchmark and its client worker processes (./relay-worker.ts) say to each other. */
import type { BenchServer } from './clients.js';

export interface RelayWorkerOptions {
  readonly server: BenchServer;
  /** Pairs this worker runs; accounts are named `<prefix><n>`. */
  readonly pairs: number;
  readonly prefix: string;
  readonly bytes: number;
}

export type RelayWorkerRequest =
  | { type: 'warm'; captureLimit: number; ms: number; window: number }
  | { type: 'closed'; window: number; warmupMs: number; measureMs: number }
  | { type: 'paced'; rate: number; warmupMs: number; measureMs: number }
  | { type: 'close' };

/** A load phase's outcome in one worker, with its own CPU over the measured interval. */
export interface WorkerPhase {
  readonly rate: number;
  readonly completed: number;
  readonly failures: number;
  readonly lost: number;
  readonly latencies: number[];
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly firstError: string | undefined;
}

export type RelayWorkerReply =
  | { type: 'ready'; setupSeconds: number }
  | { type: 'warmed'; frames: string[] }
  | ({ type: 'phase' } & WorkerPhase)
  | { type: 'closed'; errors: string[] }
  | { type: 'failed'; message: string };
