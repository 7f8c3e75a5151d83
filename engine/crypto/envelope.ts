/**
 * Password envelopes: a secret (private keys) encrypted under a key stretched from a password.
 *
 * Format (integers big-endian):
 *   "KENV" (4) | version (1) = 1 | KDF id (1) | KDF parameters | salt (16) | nonce (12) | AES-256-GCM ciphertext + tag
 *   KDF 1, Argon2id (RFC 9106, v1.3): memory KiB u32 | iterations u32 | parallelism u8
 *   KDF 2, PBKDF2-HMAC-SHA256:        iterations u32
 * Everything before the ciphertext is the AEAD's associated data, so the parameters cannot be
 * changed without the envelope failing to open.
 *
 * Opening refuses parameters outside a fixed policy before running the KDF, so a modified file can
 * neither downgrade the work factor (below the minimum: envelope_corrupt, no honest writer makes
 * such a file) nor make the client allocate or compute without bound (above the maximum:
 * envelope_unsupported). A wrong password and a modified salt, nonce, in-range parameter or
 * ciphertext are indistinguishable to an AEAD: all give wrong_password.
 */
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { ByteWriter, assertBytes, readU32, utf8Encode } from './bytes.js';
import { getDefaultProvider, type CryptoProvider } from './provider.js';

const MAGIC = utf8Encode('KENV');
export const ENVELOPE_VERSION = 1;

export const KdfId = {
  ARGON2ID: 1,
  PBKDF2_SHA256: 2,
} as const;
export type KdfId = (typeof KdfId)[keyof typeof KdfId];

export interface Argon2idParams {
  /** Memory in KiB. */
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

/**
 * The default: 256 MiB, 4 passes, 2 lanes. About 0.15 s with the native @node-rs/argon2 on this
 * project's 2-vCPU machines (see KDF-FIGURES.md), several seconds with the pure-JS fallback.
 */
export const DEFAULT_ARGON2ID: Argon2idParams = Object.freeze({ memoryKiB: 256 * 1024, iterations: 4, parallelism: 2 });
/** PBKDF2-SHA256 iterations for new PBKDF2 envelopes (OWASP 2023's figure, also the minimum). */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

/** What an envelope may ask for. Below the minimums: corrupt; above the maximums: unsupported. */
export const ENVELOPE_LIMITS = Object.freeze({
  argon2id: Object.freeze({
    /** OWASP's minimum configurations: 19 MiB with 2 passes, or 46 MiB with 1. */
    minMemoryKiB: 19 * 1024,
    singlePassMinMemoryKiB: 46 * 1024,
    maxMemoryKiB: 1024 * 1024,
    minIterations: 1,
    maxIterations: 16,
    minParallelism: 1,
    maxParallelism: 16,
    /** memory x iterations: bounds the work a file can demand (16x the default). */
    maxMemoryPasses: 4 * 1024 * 1024,
  }),
  pbkdf2: Object.freeze({ minIterations: 600_000, maxIterations: 10_000_000 }),
});

const SALT_LENGTH = 16;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;

export type KdfChoice = 'argon2id' | 'pbkdf2-sha256';

/** Which Argon2id implementation derives keys: the native module when it loads (auto), or one forced. */
export type Argon2Backend = 'auto' | 'native' | 'noble';

export interface SealOptions {
  /** Default 'argon2id'. */
  readonly kdf?: KdfChoice;
  readonly argon2id?: Argon2idParams;
  readonly pbkdf2Iterations?: number;
  readonly argon2Backend?: Argon2Backend;
  readonly provider?: CryptoProvider;
}

export interface OpenOptions {
  readonly argon2Backend?: Argon2Backend;
  readonly provider?: CryptoProvider;
}

/** The parameters an envelope declares, read without opening it. */
export type EnvelopeKdf =
  | { readonly kdf: 'argon2id'; readonly params: Argon2idParams }
  | { readonly kdf: 'pbkdf2-sha256'; readonly iterations: number };

function corrupt(message = 'The envelope is malformed or was modified'): CryptoError {
  return new CryptoError(CryptoErrorCode.ENVELOPE_CORRUPT, message);
}

function unsupported(message: string): CryptoError {
  return new CryptoError(CryptoErrorCode.ENVELOPE_UNSUPPORTED, message);
}

/** Why Argon2id parameters are outside the policy: 'low' (weaker than allowed), 'high' (too costly), or null if fine. */
function argon2idViolation(params: Argon2idParams): 'low' | 'high' | null {
  const limits = ENVELOPE_LIMITS.argon2id;
  const { memoryKiB, iterations, parallelism } = params;
  if (![memoryKiB, iterations, parallelism].every((v) => Number.isInteger(v))) return 'low';
  if (memoryKiB > limits.maxMemoryKiB || iterations > limits.maxIterations || parallelism > limits.maxParallelism) return 'high';
  if (memoryKiB * iterations > limits.maxMemoryPasses) return 'high';
  if (memoryKiB < limits.minMemoryKiB || iterations < limits.minIterations || parallelism < limits.minParallelism) return 'low';
  if (iterations < 2 && memoryKiB < limits.singlePassMinMemoryKiB) return 'low';
  return null;
}

function pbkdf2Violation(iterations: number): 'low' | 'high' | null {
  if (!Number.isInteger(iterations) || iterations < ENVELOPE_LIMITS.pbkdf2.minIterations) return 'low';
  if (iterations > ENVELOPE_LIMITS.pbkdf2.maxIterations) return 'high';
  return null;
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  // NFC so that the same password typed through different input methods gives the same key.
  if (typeof password === 'string') return utf8Encode(password.normalize('NFC'));
  if (password instanceof Uint8Array) return password;
  throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'The password must be a string or a Uint8Array');
}

type NativeHashRaw = (
  password: Uint8Array,
  options: { algorithm: number; memoryCost: number; timeCost: number; parallelism: number; outputLen: number; salt: Uint8Array },
) => Promise<Uint8Array>;

let nativeArgon2: Promise<NativeHashRaw | null> | undefined;

/** The native Argon2 binding, or null where it cannot load (no prebuilt binary for the platform). */
function loadNativeArgon2(): Promise<NativeHashRaw | null> {
  nativeArgon2 ??= import('@node-rs/argon2').then(
    (mod) => mod.hashRaw as NativeHashRaw,
    () => null,
  );
  return nativeArgon2;
}

/** True when Argon2id runs natively here (otherwise the pure-JS fallback is used). */
export async function nativeArgon2Available(): Promise<boolean> {
  return (await loadNativeArgon2()) !== null;
}

const ARGON2ID_ALGORITHM = 2; // @node-rs/argon2 Algorithm.Argon2id (a const enum, not importable under isolatedModules)

/** Argon2id (v1.3) with a 32-byte output, through the chosen backend. */
export async function deriveArgon2idKey(
  password: Uint8Array,
  salt: Uint8Array,
  params: Argon2idParams,
  backend: Argon2Backend = 'auto',
): Promise<Uint8Array> {
  if (argon2idViolation(params) !== null) throw unsupported('Argon2id parameters outside the accepted range');
  const native = backend === 'noble' ? null : await loadNativeArgon2();
  if (native === null && backend === 'native') throw unsupported('The native Argon2 module is not available on this platform');
  try {
    if (native !== null) {
      const key = await native(password, {
        algorithm: ARGON2ID_ALGORITHM,
        memoryCost: params.memoryKiB,
        timeCost: params.iterations,
        parallelism: params.parallelism,
        outputLen: KEY_LENGTH,
        salt,
      });
      const out = Uint8Array.from(key);
      key.fill(0);
      return out;
    }
    return await argon2idAsync(password, salt, {
      m: params.memoryKiB,
      t: params.iterations,
      p: params.parallelism,
      dkLen: KEY_LENGTH,
      maxmem: params.memoryKiB * 1024 + (1 << 20),
    });
  } catch (err) {
    // Parameters were validated by the caller; what is left is a resource failure (memory).
    throw new CryptoError(CryptoErrorCode.ENVELOPE_UNSUPPORTED, 'Argon2id could not run with these parameters', undefined, { cause: err });
  }
}

/** Encrypts `secret` under `password`. Argon2id with DEFAULT_ARGON2ID unless options say otherwise. */
export async function sealWithPassword(secret: Uint8Array, password: string | Uint8Array, options: SealOptions = {}): Promise<Uint8Array> {
  assertBytes(secret, 'Secret');
  const provider = options.provider ?? getDefaultProvider();
  const pass = passwordBytes(password);
  try {
    return await seal(secret, pass, options, provider);
  } finally {
    if (pass !== password) pass.fill(0);
  }
}

async function seal(secret: Uint8Array, pass: Uint8Array, options: SealOptions, provider: CryptoProvider): Promise<Uint8Array> {
  const salt = provider.randomBytes(SALT_LENGTH);
  const nonce = provider.randomBytes(NONCE_LENGTH);
  const writer = new ByteWriter().bytes(MAGIC).u8(ENVELOPE_VERSION);
  let key: Uint8Array;
  const kdf = options.kdf ?? 'argon2id';
  if (kdf === 'argon2id') {
    const params = options.argon2id ?? DEFAULT_ARGON2ID;
    if (argon2idViolation(params) !== null) throw unsupported('Argon2id parameters outside the accepted range');
    writer.u8(KdfId.ARGON2ID).u32(params.memoryKiB).u32(params.iterations).u8(params.parallelism);
    key = await deriveArgon2idKey(pass, salt, params, options.argon2Backend);
  } else if (kdf === 'pbkdf2-sha256') {
    const iterations = options.pbkdf2Iterations ?? DEFAULT_PBKDF2_ITERATIONS;
    if (pbkdf2Violation(iterations) !== null) throw unsupported('PBKDF2 iterations outside the accepted range');
    writer.u8(KdfId.PBKDF2_SHA256).u32(iterations);
    key = await provider.pbkdf2Sha256(pass, salt, iterations, KEY_LENGTH);
  } else {
    throw unsupported('Unknown KDF');
  }
  const header = writer.bytes(salt).bytes(nonce).finish();
  try {
    const ciphertext = provider.aesGcmEncrypt(key, nonce, secret, header);
    const out = new Uint8Array(header.length + ciphertext.length);
    out.set(header, 0);
    out.set(ciphertext, header.length);
    return out;
  } finally {
    key.fill(0);
  }
}

interface ParsedEnvelope {
  readonly kdf: EnvelopeKdf;
  readonly header: Uint8Array;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

function parseEnvelope(envelope: Uint8Array): ParsedEnvelope {
  if (!(envelope instanceof Uint8Array) || envelope.length < MAGIC.length + 2) throw corrupt();
  for (let i = 0; i < MAGIC.length; i++) if (envelope[i] !== MAGIC[i]) throw corrupt('Not a Kecalek password envelope');
  if (envelope[4] !== ENVELOPE_VERSION) throw unsupported('Unknown envelope version');
  const kdfId = envelope[5];
  let offset = 6;
  let kdf: EnvelopeKdf;
  if (kdfId === KdfId.ARGON2ID) {
    if (envelope.length < offset + 9) throw corrupt();
    const params: Argon2idParams = {
      memoryKiB: readU32(envelope, offset),
      iterations: readU32(envelope, offset + 4),
      parallelism: envelope[offset + 8]!,
    };
    offset += 9;
    const violation = argon2idViolation(params);
    if (violation === 'low') throw corrupt('Argon2id parameters below the minimum');
    if (violation === 'high') throw unsupported('Argon2id parameters above the maximum');
    kdf = { kdf: 'argon2id', params };
  } else if (kdfId === KdfId.PBKDF2_SHA256) {
    if (envelope.length < offset + 4) throw corrupt();
    const iterations = readU32(envelope, offset);
    offset += 4;
    const violation = pbkdf2Violation(iterations);
    if (violation === 'low') throw corrupt('PBKDF2 iterations below the minimum');
    if (violation === 'high') throw unsupported('PBKDF2 iterations above the maximum');
    kdf = { kdf: 'pbkdf2-sha256', iterations };
  } else {
    throw unsupported('Unknown KDF');
  }
  if (envelope.length < offset + SALT_LENGTH + NONCE_LENGTH + TAG_LENGTH) throw corrupt();
  const salt = envelope.subarray(offset, offset + SALT_LENGTH);
  const nonce = envelope.subarray(offset + SALT_LENGTH, offset + SALT_LENGTH + NONCE_LENGTH);
  const headerEnd = offset + SALT_LENGTH + NONCE_LENGTH;
  return { kdf, header: envelope.subarray(0, headerEnd), salt, nonce, ciphertext: envelope.subarray(headerEnd) };
}

/** The KDF and parameters an envelope declares (validated as openWithPassword would). */
export function inspectEnvelope(envelope: Uint8Array): EnvelopeKdf {
  return parseEnvelope(envelope).kdf;
}

/**
 * Decrypts an envelope. CryptoError wrong_password if it does not authenticate, envelope_corrupt
 * if it is malformed, envelope_unsupported for an unknown version or KDF or excessive parameters.
 */
export async function openWithPassword(envelope: Uint8Array, password: string | Uint8Array, options: OpenOptions = {}): Promise<Uint8Array> {
  const parsed = parseEnvelope(envelope);
  const provider = options.provider ?? getDefaultProvider();
  const pass = passwordBytes(password);
  let key: Uint8Array;
  try {
    key =
      parsed.kdf.kdf === 'argon2id'
        ? await deriveArgon2idKey(pass, parsed.salt, parsed.kdf.params, options.argon2Backend)
        : await provider.pbkdf2Sha256(pass, parsed.salt, parsed.kdf.iterations, KEY_LENGTH);
  } finally {
    if (pass !== password) pass.fill(0);
  }
  try {
    return provider.aesGcmDecrypt(key, parsed.nonce, parsed.ciphertext, parsed.header);
  } catch (err) {
    if (err instanceof CryptoError && err.code === CryptoErrorCode.DECRYPT_FAILED) {
      throw new CryptoError(CryptoErrorCode.WRONG_PASSWORD, 'Wrong password');
    }
    throw err;
  } finally {
    key.fill(0);
  }
}
