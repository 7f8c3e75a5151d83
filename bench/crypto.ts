/**
 * engine/crypto benchmark: the protocols (Double Ratchet, Sender Keys, X3DH, password envelope)
 * with each provider, beside the raw node:crypto and libsodium primitives measured in the same run,
 * so the figures can be read as ratios on any machine. Targets (PERFORMANCE.md: 2x libsignal on
 * this machine kind, for the default provider): ratchet one direction >= 6,632 msg/s, ping-pong
 * >= 4,614 msg/s, sender keys >= 8,908 msg/s.
 *
 * Run directly: `node --import tsx bench/crypto.ts [--quick]`.
 */
import {
  createCipheriv,
  diffieHellman,
  generateKeyPairSync,
  randomBytes as nodeRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { createRequire } from 'node:module';
import {
  DEFAULT_ARGON2ID,
  DoubleRatchet,
  SenderKeyState,
  decodeHeader,
  deriveArgon2idKey,
  encodeHeader,
  generateOneTimePreKeys,
  generateSignedPreKey,
  nativeArgon2Available,
  nobleProvider,
  nodeProvider,
  sodiumProvider,
  sodiumUnavailableReason,
  getDefaultProvider,
  openWithPassword,
  sealWithPassword,
  x3dhInitiate,
  x3dhRespond,
  type CryptoProvider,
} from '../engine/crypto/index.js';
import { printTable, type BenchResult, type BenchRow } from './report.js';


type Row = BenchRow;

interface Timing {
  /** Seconds each measured run lasts. */
  seconds: number;
  /** Measured runs; the median is reported. */
  runs: number;
}

/** Operations per second of `op` (which performs `perCall` operations), median of several timed runs. */
function opsPerSecond(timing: Timing, op: () => void, perCall = 1): number {
  const warmUntil = performance.now() + Math.min(200, timing.seconds * 500);
  while (performance.now() < warmUntil) op();
  const rates: number[] = [];
  for (let run = 0; run < timing.runs; run++) {
    let calls = 0;
    const start = performance.now();
    const end = start + timing.seconds * 1000;
    let now = start;
    while (now < end) {
      for (let i = 0; i < 16; i++) op();
      calls += 16;
      now = performance.now();
    }
    rates.push((calls * perCall * 1000) / (now - start));
  }
  return median(rates);
}

/**
 * Rates of `op` and of its baseline, measured in alternating runs so that load from other
 * processes on a shared machine hits both alike and their ratio stays meaningful.
 */
function pairedOpsPerSecond(timing: Timing, baseline: () => void, op: () => void, perCall = 1): { value: number; baseline: number } {
  const one: Timing = { seconds: timing.seconds, runs: 1 };
  const values: number[] = [];
  const baselines: number[] = [];
  for (let run = 0; run < timing.runs; run++) {
    baselines.push(opsPerSecond(one, baseline));
    values.push(opsPerSecond(one, op, perCall));
  }
  return { value: median(values), baseline: median(baselines) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const MESSAGE = nodeRandomBytes(100);

// --- raw node:crypto primitives (the baselines) ---------------------------------------------

function rawAesGcmSealOp(): () => void {
  const key = nodeRandomBytes(32);
  const nonce = nodeRandomBytes(12);
  return () => {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.update(MESSAGE);
    cipher.final();
    cipher.getAuthTag();
  };
}

function rawX25519Op(): () => void {
  const a = generateKeyPairSync('x25519');
  const b = generateKeyPairSync('x25519');
  return () => {
    diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
  };
}

function rawEd25519Ops(): { sign: () => void; verify: () => void; pair: () => void } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const message = nodeRandomBytes(150);
  const signature = nodeSign(null, message, privateKey);
  return {
    sign: () => nodeSign(null, message, privateKey),
    verify: () => nodeVerify(null, message, publicKey, signature),
    pair: () => nodeVerify(null, message, publicKey, nodeSign(null, message, privateKey)),
  };
}

/** libsodium's own Ed25519 (through sodium-native), the ceiling of the sodium provider's signatures. */
function rawSodiumEd25519Pair(): (() => void) | undefined {
  if (sodiumProvider === undefined) return undefined;
  const sodium = createRequire(import.meta.url)('sodium-native') as {
    crypto_sign_keypair(pk: Uint8Array, sk: Uint8Array): void;
    crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
    crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  };
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  sodium.crypto_sign_keypair(publicKey, secretKey);
  const message = nodeRandomBytes(150);
  const signature = new Uint8Array(64);
  return () => {
    sodium.crypto_sign_detached(signature, message, secretKey);
    sodium.crypto_sign_verify_detached(signature, message, publicKey);
  };
}

// --- protocols --------------------------------------------------------------------------------

function sessionPair(provider: CryptoProvider): { alice: DoubleRatchet; bob: DoubleRatchet } {
  const aliceIdentity = provider.ed25519KeyPair();
  const bobIdentity = provider.ed25519KeyPair();
  const spk = generateSignedPreKey(bobIdentity.privateKey, 1, provider);
  const init = x3dhInitiate(
    {
      identityPrivate: aliceIdentity.privateKey,
      identityPublic: aliceIdentity.publicKey,
      remoteIdentityPublic: bobIdentity.publicKey,
      remoteSignedPreKey: spk,
    },
    provider,
  );
  const resp = x3dhRespond(
    {
      identityPrivate: bobIdentity.privateKey,
      identityPublic: bobIdentity.publicKey,
      signedPreKeyPrivate: spk.privateKey,
      remoteIdentityPublic: aliceIdentity.publicKey,
      remoteEphemeralPublic: init.ephemeralPublic,
    },
    provider,
  );
  const alice = DoubleRatchet.initAlice(init.sharedSecret, spk.publicKey, init.associatedData, provider);
  const bob = DoubleRatchet.initBob(resp.sharedSecret, spk, resp.associatedData, provider);
  const first = alice.encrypt(MESSAGE);
  bob.decrypt(first.header, first.ciphertext);
  return { alice, bob };
}

/** One message: encrypt, encode the header as on the wire, decode it, decrypt. */
function deliver(from: DoubleRatchet, to: DoubleRatchet): void {
  const message = from.encrypt(MESSAGE);
  const wireHeader = encodeHeader(message.header);
  to.decrypt(decodeHeader(wireHeader), message.ciphertext);
}

function ratchetOneWayOp(provider: CryptoProvider): () => void {
  const { alice, bob } = sessionPair(provider);
  return () => deliver(alice, bob);
}

/** Two messages per call, each starting a DH ratchet step. */
function ratchetPingPongOp(provider: CryptoProvider): () => void {
  const { alice, bob } = sessionPair(provider);
  return () => {
    deliver(alice, bob);
    deliver(bob, alice);
  };
}

function senderKeysOp(provider: CryptoProvider): () => void {
  const sender = SenderKeyState.create(provider);
  const receiver = SenderKeyState.fromDistribution(sender.distribution(), provider);
  return () => {
    receiver.decrypt(sender.encrypt(MESSAGE));
  };
}

function x3dhSetupOp(provider: CryptoProvider): () => void {
  const aliceIdentity = provider.ed25519KeyPair();
  const bobIdentity = provider.ed25519KeyPair();
  const spk = generateSignedPreKey(bobIdentity.privateKey, 1, provider);
  const bundle = { keyId: spk.keyId, publicKey: spk.publicKey, signature: spk.signature };
  const spkPair = { privateKey: spk.privateKey, publicKey: spk.publicKey };
  const oneTime = generateOneTimePreKeys(1, 64, provider);
  let next = 0;
  return () => {
    const opk = oneTime[next++ % oneTime.length]!;
    const init = x3dhInitiate(
      {
        identityPrivate: aliceIdentity.privateKey,
        identityPublic: aliceIdentity.publicKey,
        remoteIdentityPublic: bobIdentity.publicKey,
        remoteSignedPreKey: bundle,
        remoteOneTimePreKey: { keyId: opk.keyId, publicKey: opk.publicKey },
      },
      provider,
    );
    const resp = x3dhRespond(
      {
        identityPrivate: bobIdentity.privateKey,
        identityPublic: bobIdentity.publicKey,
        signedPreKeyPrivate: spk.privateKey,
        oneTimePreKeyPrivate: opk.privateKey,
        remoteIdentityPublic: init.header.identityKey,
        remoteEphemeralPublic: init.header.ephemeralKey,
      },
      provider,
    );
    DoubleRatchet.initAlice(init.sharedSecret, spk.publicKey, init.associatedData, provider);
    DoubleRatchet.initBob(resp.sharedSecret, spkPair, resp.associatedData, provider);
  };
}

async function envelopeUnlockSeconds(provider: CryptoProvider, runs: number): Promise<number> {
  const backend = provider === nodeProvider ? 'auto' : 'noble';
  const envelope = await sealWithPassword(nodeRandomBytes(64), 'correct horse battery staple', { argon2Backend: backend, provider });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await openWithPassword(envelope, 'correct horse battery staple', { argon2Backend: backend, provider });
    times.push((performance.now() - start) / 1000);
  }
  return median(times);
}

async function rawArgon2Seconds(runs: number): Promise<number> {
  const password = nodeRandomBytes(16);
  const salt = nodeRandomBytes(16);
  await deriveArgon2idKey(password, salt, DEFAULT_ARGON2ID, 'auto'); // warm-up: first touch of the memory
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await deriveArgon2idKey(password, salt, DEFAULT_ARGON2ID, 'auto');
    times.push((performance.now() - start) / 1000);
  }
  return median(times);
}

const TARGETS = { oneWay: 6632, pingPong: 4614, senderKeys: 8908 };

/**
 * A full GC between measurements when the process allows it (`node --expose-gc`): a ping-pong run
 * leaves thousands of dead OpenSSL KeyObjects whose finalisation otherwise slows whatever is
 * measured next by up to ~20%.
 */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function run(options: { quick?: boolean } = {}): Promise<BenchResult> {
  const quick = options.quick === true;
  const fast: Timing = quick ? { seconds: 0.3, runs: 3 } : { seconds: 1, runs: 5 };
  const slow: Timing = quick ? { seconds: 0.3, runs: 1 } : { seconds: 1, runs: 3 };
  const rows: Row[] = [];
  const notes: string[] = [];

  const aesOp = rawAesGcmSealOp();
  const dhOp = rawX25519Op();
  const ed = rawEd25519Ops();
  const names = {
    aes: 'node:crypto AES-256-GCM seal, 100 B',
    dh: 'node:crypto X25519 DH',
    pair: 'node:crypto Ed25519 sign + verify',
  };
  rows.push({ what: names.aes, value: opsPerSecond(fast, aesOp), unit: 'ops/s' });
  rows.push({ what: names.dh, value: opsPerSecond(fast, dhOp), unit: 'ops/s' });
  rows.push({ what: 'node:crypto Ed25519 sign', value: opsPerSecond(fast, ed.sign), unit: 'ops/s' });
  rows.push({ what: 'node:crypto Ed25519 verify', value: opsPerSecond(fast, ed.verify), unit: 'ops/s' });
  rows.push({ what: names.pair, value: opsPerSecond(fast, ed.pair), unit: 'pairs/s' });
  const sodiumPair = rawSodiumEd25519Pair();
  const sodiumPairName = 'libsodium Ed25519 sign + verify';
  if (sodiumPair) rows.push({ what: sodiumPairName, value: opsPerSecond(fast, sodiumPair), unit: 'pairs/s' });
  else notes.push(`${sodiumUnavailableReason}: no sodium rows`);

  const results: Record<string, { oneWay: number; pingPong: number; senderKeys: number; senderKeysCeiling: number }> = {};
  const providers = [...(sodiumProvider ? [sodiumProvider] : []), nodeProvider, nobleProvider];
  for (const provider of providers) {
    const timing = provider === nobleProvider ? slow : fast;
    const p = provider.name;
    // Each provider's signatures measured against its own library's sign + verify.
    const [pairName, pairOp] = provider === sodiumProvider && sodiumPair ? [sodiumPairName, sodiumPair] : [names.pair, ed.pair];
    const measure = (what: string, unit: string, baselineName: string, baselineOp: () => void, op: () => void, perCall = 1) => {
      collectGarbage();
      const m = pairedOpsPerSecond(timing, baselineOp, op, perCall);
      rows.push({ what, value: m.value, unit, baseline: { what: baselineName, value: m.baseline }, ratio: m.value / m.baseline });
      return m;
    };
    const oneWay = measure(`ratchet one direction, 100 B (${p})`, 'msg/s', names.aes, aesOp, ratchetOneWayOp(provider));
    const pingPong = measure(`ratchet ping-pong, 100 B (${p})`, 'msg/s', names.dh, dhOp, ratchetPingPongOp(provider), 2);
    const group = measure(`sender keys, 100 B (${p})`, 'msg/s', pairName, pairOp, senderKeysOp(provider));
    measure(`X3DH set-up, both sides + ratchet init (${p})`, 'setups/s', names.dh, dhOp, x3dhSetupOp(provider));
    results[p] = { oneWay: oneWay.value, pingPong: pingPong.value, senderKeys: group.value, senderKeysCeiling: group.baseline };
  }

  const native = await nativeArgon2Available();
  const rawArgon = await rawArgon2Seconds(quick ? 1 : 5);
  const argonBase = { what: `Argon2id ${DEFAULT_ARGON2ID.memoryKiB / 1024} MiB t=${DEFAULT_ARGON2ID.iterations} p=${DEFAULT_ARGON2ID.parallelism} (${native ? '@node-rs/argon2' : '@noble/hashes'})`, value: rawArgon };
  rows.push({ what: argonBase.what, value: rawArgon, unit: 's' });
  const unlockNode = await envelopeUnlockSeconds(nodeProvider, quick ? 1 : 5);
  rows.push({ what: 'envelope unlock, default Argon2id (node)', value: unlockNode, unit: 's', baseline: argonBase, ratio: unlockNode / rawArgon });
  if (!quick) {
    const unlockNoble = await envelopeUnlockSeconds(nobleProvider, 1);
    rows.push({ what: 'envelope unlock, default Argon2id (noble, pure-JS fallback)', value: unlockNoble, unit: 's', baseline: argonBase, ratio: unlockNoble / rawArgon });
  }

  const verdict = (value: number, target: number) =>
    `${Math.round(value).toLocaleString('en-US')} msg/s vs target ${target.toLocaleString('en-US')} (${value >= target ? 'met' : 'NOT met'})`;
  // The default provider carries the targets; the node provider's figures follow for comparison.
  for (const provider of new Set([getDefaultProvider(), nodeProvider])) {
    const figures = results[provider.name];
    if (!figures) continue;
    const label = `${provider.name} provider${provider === getDefaultProvider() ? ' (the default)' : ''}`;
    notes.push(`${label}, ratchet one direction: ${verdict(figures.oneWay, TARGETS.oneWay)}`);
    notes.push(`${label}, ratchet ping-pong: ${verdict(figures.pingPong, TARGETS.pingPong)}`);
    notes.push(
      `${label}, sender keys: ${verdict(figures.senderKeys, TARGETS.senderKeys)}; its library's Ed25519 sign + verify alone runs at ` +
        `${Math.round(figures.senderKeysCeiling).toLocaleString('en-US')}/s here, the ceiling for any signed sender-key message`,
    );
  }
  notes.push('each protocol row is measured in runs alternating with its baseline row (ratio = protocol / baseline), so load from other processes affects both');
  notes.push('messages are 100 B, not padded; ratchet figures include header encode/decode; X3DH reuses both identities (conversion caches warm)');
  if (!native) notes.push('native Argon2 unavailable: Argon2id figures are the pure-JS fallback');
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    notes.push('run with node --expose-gc to collect garbage between measurements (later rows otherwise pay for earlier rows\' dead KeyObjects)');
  }
  return { name: 'crypto', rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
