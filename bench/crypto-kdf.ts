/**
 * Password-KDF measurements behind the envelope's default (engine/crypto/KDF-FIGURES.md):
 * PBKDF2-SHA256 through node:crypto, WebCrypto and @noble/hashes, and Argon2id through the native
 * @node-rs/argon2 and the pure-JS @noble/hashes at several cost settings. Seconds per derivation,
 * median of several runs. Run directly: `node --import tsx bench/crypto-kdf.ts [--quick]`.
 */
import { pbkdf2 as nodePbkdf2 } from 'node:crypto';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hashRaw } from '@node-rs/argon2';
import type { BenchResult } from './report.js';

const PASSWORD = new TextEncoder().encode('correct horse battery staple');
const SALT = new Uint8Array(16).fill(7);

async function seconds(runs: number, derive: () => Promise<unknown>): Promise<number> {
  await derive();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await derive();
    times.push((performance.now() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function nodePbkdf2Sha256(iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    nodePbkdf2(PASSWORD, SALT, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
  );
}

async function webCryptoPbkdf2(iterations: number): Promise<ArrayBuffer> {
  const key = await globalThis.crypto.subtle.importKey('raw', PASSWORD, 'PBKDF2', false, ['deriveBits']);
  return globalThis.crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: SALT, iterations }, key, 256);
}

interface ArgonCost {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

const ARGON_ID = 2; // @node-rs/argon2's Algorithm.Argon2id (a const enum, unusable under isolatedModules)

function nativeArgon2id(cost: ArgonCost): Promise<Buffer> {
  return hashRaw(PASSWORD, {
    algorithm: ARGON_ID,
    memoryCost: cost.memoryKiB,
    timeCost: cost.iterations,
    parallelism: cost.parallelism,
    outputLen: 32,
    salt: SALT,
  });
}

function nobleArgon2id(cost: ArgonCost): Promise<Uint8Array> {
  return argon2idAsync(PASSWORD, SALT, {
    m: cost.memoryKiB,
    t: cost.iterations,
    p: cost.parallelism,
    dkLen: 32,
    maxmem: cost.memoryKiB * 1024 + (1 << 20),
  });
}

function label(cost: ArgonCost): string {
  return `m=${Math.round(cost.memoryKiB / 1024)} MiB t=${cost.iterations} p=${cost.parallelism}`;
}

export async function run(options: { quick?: boolean } = {}): Promise<BenchResult> {
  const runs = options.quick ? 1 : 5;
  const rows: BenchResult['rows'] = [];
  const iterations = 600_000;
  const pbkdf2Node = await seconds(runs, () => nodePbkdf2Sha256(iterations));
  rows.push({ what: 'PBKDF2-SHA256 600k, node:crypto', value: pbkdf2Node, unit: 's' });
  const base = { what: 'PBKDF2-SHA256 600k, node:crypto', value: pbkdf2Node };
  const pbkdf2Web = await seconds(runs, () => webCryptoPbkdf2(iterations));
  rows.push({ what: 'PBKDF2-SHA256 600k, WebCrypto', value: pbkdf2Web, unit: 's', baseline: base, ratio: pbkdf2Web / pbkdf2Node });
  const pbkdf2Noble = await seconds(Math.min(runs, 3), () => pbkdf2Async(sha256, PASSWORD, SALT, { c: iterations, dkLen: 32 }));
  rows.push({ what: 'PBKDF2-SHA256 600k, @noble/hashes', value: pbkdf2Noble, unit: 's', baseline: base, ratio: pbkdf2Noble / pbkdf2Node });

  const nativeCosts: ArgonCost[] = [
    { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 },
    { memoryKiB: 46 * 1024, iterations: 1, parallelism: 1 },
    { memoryKiB: 64 * 1024, iterations: 3, parallelism: 1 },
    { memoryKiB: 64 * 1024, iterations: 3, parallelism: 2 },
    { memoryKiB: 128 * 1024, iterations: 3, parallelism: 1 },
    { memoryKiB: 256 * 1024, iterations: 2, parallelism: 1 },
    { memoryKiB: 256 * 1024, iterations: 4, parallelism: 2 },
    { memoryKiB: 512 * 1024, iterations: 3, parallelism: 2 },
  ];
  for (const cost of nativeCosts) {
    const value = await seconds(runs, () => nativeArgon2id(cost));
    rows.push({ what: `Argon2id ${label(cost)}, @node-rs/argon2`, value, unit: 's', baseline: base, ratio: value / pbkdf2Node });
  }
  const nobleCosts: ArgonCost[] = [
    { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 },
    { memoryKiB: 64 * 1024, iterations: 3, parallelism: 1 },
    ...(options.quick ? [] : [{ memoryKiB: 256 * 1024, iterations: 4, parallelism: 2 }]),
  ];
  for (const cost of nobleCosts) {
    const value = await seconds(cost.memoryKiB * cost.iterations > 200 * 1024 ? 1 : Math.min(runs, 3), () => nobleArgon2id(cost));
    rows.push({ what: `Argon2id ${label(cost)}, @noble/hashes`, value, unit: 's', baseline: base, ratio: value / pbkdf2Node });
  }
  return { name: 'crypto-kdf', rows, notes: ['seconds per 32-byte derivation, median; ratio = time / PBKDF2 600k via node:crypto'] };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes('--quick') });
  console.log(`# ${result.name}`);
  for (const row of result.rows) {
    const ratio = row.ratio === undefined ? '' : `  (${row.ratio.toFixed(2)}x ${row.baseline!.what})`;
    console.log(`${row.what.padEnd(48)} ${row.value.toFixed(3).padStart(8)} ${row.unit}${ratio}`);
  }
  for (const note of result.notes ?? []) console.log(`note: ${note}`);
}
