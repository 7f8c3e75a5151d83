/**
 * The node:crypto provider: OpenSSL underneath. The default where the libsodium addon does not
 * load (provider-sodium.ts), and the symmetric half of the sodium provider everywhere.
 *
 * Most of its cost is not the curve arithmetic but turning raw key bytes into OpenSSL key
 * objects, so it is built around that (figures from this machine kind, Node 20):
 * - Keys are imported as JWK, not DER: PKCS#8 DER import goes through OpenSSL 3's generic decoder
 *   and manages ~3k imports/s, JWK ~45k/s for private and ~250k/s for public keys.
 * - Private KeyObjects are cached in a WeakMap keyed by the caller's Uint8Array (a ratchet's own
 *   key, a sender-key signing seed): an X25519 DH runs at ~37k/s with a cached key and ~19k/s
 *   importing both keys. Each entry keeps a copy of the bytes and is used only while the array
 *   still holds them, so wiping or reusing an array can never yield a stale key.
 * - Public KeyObjects are cached by array identity and by content in a small LRU (public keys are
 *   not secret), because the same peer key arrives in fresh arrays (each decoded header, each
 *   pre-key bundle).
 * - HKDF is computed from HMACs: ~200k/s for 44 bytes against ~140k/s for crypto.hkdfSync.
 * - Key pairs come from random bytes imported as JWK (~35k/s), not generateKeyPairSync (see
 *   generateOkpKeyPair for the Node 20 deadlock that rules it out).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  pbkdf2,
  randomBytes as nodeRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { assertKeyLength, isAllZero } from './bytes.js';
import type { CryptoProvider, KeyPair } from './provider.js';

type OkpCurve = 'X25519' | 'Ed25519';

/** A Node Buffer seen as a plain Uint8Array (same memory), so both providers return one type. */
function asU8(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function fromBase64Url(text: string): Uint8Array {
  return asU8(Buffer.from(text, 'base64url'));
}

const PKCS8_PREFIX: Record<OkpCurve, Uint8Array> = {
  X25519: Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20),
  Ed25519: Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20),
};

function importPrivateDer(curve: OkpCurve, raw: Uint8Array): KeyObject {
  const der = Buffer.concat([PKCS8_PREFIX[curve], raw]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

/**
 * JWK import of a private OKP key. Node requires the `x` member to be a string but derives the
 * public key from `d` itself; the self-test below proves that on the running Node before this
 * path is used, and falls back to DER if a future Node behaves differently.
 */
function importPrivateJwk(curve: OkpCurve, raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: curve, x: '', d: toBase64Url(raw) }, format: 'jwk' });
}

function jwkImportWorks(): boolean {
  // RFC 8032 test vector 1: the seed, its public key and the signature of the empty message.
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const expectedPublic = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
  const expectedSignature =
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
  try {
    const key = importPrivateJwk('Ed25519', seed);
    const signature = nodeSign(null, new Uint8Array(0), key).toString('hex');
    return Buffer.from(rawPublicKey(key)).toString('hex') === expectedPublic && signature === expectedSignature;
  } catch {
    return false;
  }
}

const importPrivate: (curve: OkpCurve, raw: Uint8Array) => KeyObject = jwkImportWorks() ? importPrivateJwk : importPrivateDer;

interface CachedKey {
  /** A copy of the raw key: the entry is used only while the caller's array still holds it. */
  readonly bytes: Uint8Array;
  readonly key: KeyObject;
}

const privateKeyCache: Record<OkpCurve, WeakMap<Uint8Array, CachedKey>> = {
  X25519: new WeakMap(),
  Ed25519: new WeakMap(),
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function rememberPrivate(curve: OkpCurve, raw: Uint8Array, key: KeyObject): void {
  privateKeyCache[curve].set(raw, { bytes: Uint8Array.from(raw), key });
}

function privateKeyObject(curve: OkpCurve, raw: Uint8Array): KeyObject {
  const cached = privateKeyCache[curve].get(raw);
  if (cached !== undefined && sameBytes(cached.bytes, raw)) return cached.key;
  let key: KeyObject;
  try {
    key = importPrivate(curve, raw);
  } catch (err) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `Invalid ${curve} private key`, undefined, { cause: err });
  }
  rememberPrivate(curve, raw, key);
  return key;
}

/**
 * Public KeyObjects: optionally a WeakMap by array identity (the same array used again and again)
 * in front of a least-recently-used map keyed by the base64url encoding (the same key arriving in
 * a fresh array).
 */
class PublicKeyCache {
  private readonly byArray: WeakMap<Uint8Array, CachedKey> | null;
  private readonly entries = new Map<string, KeyObject>();

  constructor(
    private readonly curve: OkpCurve,
    private readonly capacity: number,
    identityCache: boolean,
  ) {
    this.byArray = identityCache ? new WeakMap() : null;
  }

  get(raw: Uint8Array): KeyObject {
    const same = this.byArray?.get(raw);
    if (same !== undefined && sameBytes(same.bytes, raw)) return same.key;
    const x = toBase64Url(raw);
    let key = this.entries.get(x);
    if (key !== undefined) {
      this.entries.delete(x);
    } else {
      key = createPublicKey({ key: { kty: 'OKP', crv: this.curve, x }, format: 'jwk' });
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(x, key);
    this.byArray?.set(raw, { bytes: Uint8Array.from(raw), key });
    return key;
  }
}

// Ed25519 public keys are verified again and again from the same array (a sender-key receiver's
// signing key), so they also get the identity map. X25519 public keys mostly arrive once in a fresh
// array (a ratchet header): an identity entry per message would only add garbage for the GC, which
// measurably slows everything that runs after a long ping-pong.
const publicKeyCache: Record<OkpCurve, PublicKeyCache> = {
  X25519: new PublicKeyCache('X25519', 256, false),
  Ed25519: new PublicKeyCache('Ed25519', 256, true),
};

function publicKeyObject(curve: OkpCurve, raw: Uint8Array): KeyObject {
  try {
    return publicKeyCache[curve].get(raw);
  } catch (err) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `Invalid ${curve} public key`, undefined, { cause: err });
  }
}

/**
 * The raw public key of a private KeyObject, read from the private key's own JWK export.
 *
 * Deliberately not createPublicKey(privateKey).export(): that public KeyObject shares the private
 * key's mutex, and on Node 20 a JWK export holds that mutex while allocating JS strings; if the
 * allocation runs a GC that finalises an older such KeyObject, its destructor waits for the same
 * mutex and the process deadlocks (observed with generateKeyPairSync's job objects, see
 * generateOkpKeyPair). A private KeyObject made here shares its mutex with nothing.
 */
function rawPublicKey(privateKey: KeyObject): Uint8Array {
  return fromBase64Url(privateKey.export({ format: 'jwk' }).x!);
}

/**
 * A new key pair from 32 random bytes (any 32 bytes are a valid X25519 scalar or Ed25519 seed),
 * imported once; the KeyObject stays cached for the first use of the new key.
 *
 * Not generateKeyPairSync: on Node 20, exporting a key made by generateKeyPairSync can deadlock
 * the process — the JWK export holds the key's mutex while allocating a string, the allocation
 * triggers a GC, and the GC's finaliser for the (already unreachable) key-generation job, which
 * holds the same key, locks the same mutex. Seen here under load in the benchmark: main thread
 * stuck in ~KeyGenJob inside ExportJWKEdKey, 4 hangs in ~40 runs, none in 16 runs after this
 * change. Importing random bytes costs the same (the import derives the public key).
 */
function generateOkpKeyPair(curve: OkpCurve): KeyPair {
  const privateKey = asU8(nodeRandomBytes(32));
  const publicKey = rawPublicKey(privateKeyObject(curve, privateKey));
  return { privateKey, publicKey };
}

function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return asU8(createHmac('sha256', key).update(data).digest());
}

function assertAesInputs(key: Uint8Array, nonce: Uint8Array): void {
  assertKeyLength(key, 32, 'AES-256-GCM key');
  assertKeyLength(nonce, 12, 'AES-GCM nonce');
}

export const nodeProvider: CryptoProvider = {
  name: 'node',

  randomBytes(length: number): Uint8Array {
    return asU8(nodeRandomBytes(length));
  },

  x25519KeyPair(): KeyPair {
    return generateOkpKeyPair('X25519');
  },

  x25519PublicKey(privateKey: Uint8Array): Uint8Array {
    assertKeyLength(privateKey, 32, 'X25519 private key');
    return rawPublicKey(privateKeyObject('X25519', privateKey));
  },

  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    assertKeyLength(privateKey, 32, 'X25519 private key');
    assertKeyLength(publicKey, 32, 'X25519 public key');
    const priv = privateKeyObject('X25519', privateKey);
    const pub = publicKeyObject('X25519', publicKey);
    let shared: Uint8Array;
    try {
      shared = asU8(diffieHellman({ privateKey: priv, publicKey: pub }));
    } catch (err) {
      // OpenSSL refuses to derive an all-zero secret (a low-order public key).
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'X25519 rejected the public key', undefined, { cause: err });
    }
    if (isAllZero(shared)) throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'X25519 produced a low-order shared secret');
    return shared;
  },

  ed25519KeyPair(): KeyPair {
    return generateOkpKeyPair('Ed25519');
  },

  ed25519PublicKey(seed: Uint8Array): Uint8Array {
    assertKeyLength(seed, 32, 'Ed25519 seed');
    return rawPublicKey(privateKeyObject('Ed25519', seed));
  },

  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
    assertKeyLength(seed, 32, 'Ed25519 seed');
    return asU8(nodeSign(null, message, privateKeyObject('Ed25519', seed)));
  },

  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
    if (!(message instanceof Uint8Array)) return false;
    try {
      return nodeVerify(null, message, publicKeyCache.Ed25519.get(publicKey), signature);
    } catch {
      return false;
    }
  },

  sha256(data: Uint8Array): Uint8Array {
    return asU8(createHash('sha256').update(data).digest());
  },

  sha512(data: Uint8Array): Uint8Array {
    return asU8(createHash('sha512').update(data).digest());
  },

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return hmac(key, data);
  },

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'HKDF output length out of range');
    }
    const prk = createHmac('sha256', salt).update(ikm).digest();
    const out = new Uint8Array(length);
    // info || counter in one buffer, so each block is one or two update() calls into OpenSSL.
    const infoCounter = new Uint8Array(info.length + 1);
    infoCounter.set(info);
    let previous: Buffer | null = null;
    for (let block = 1, offset = 0; offset < length; block++, offset += 32) {
      infoCounter[info.length] = block;
      const mac = createHmac('sha256', prk);
      if (previous !== null) mac.update(previous);
      const t = mac.update(infoCounter).digest();
      out.set(length - offset >= 32 ? t : t.subarray(0, length - offset), offset);
      previous?.fill(0);
      previous = t;
    }
    previous?.fill(0);
    prk.fill(0);
    return out;
  },

  aesGcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    assertAesInputs(key, nonce);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
    if (aad !== undefined && aad.length > 0) cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    const tail = cipher.final(); // empty for GCM, kept for form
    // Buffer.concat allocates small results from Node's pool: ~0.3 us less per message than a
    // fresh backing store, which shows on the sender-key path. Ciphertext is not secret.
    return asU8(Buffer.concat([body, tail, cipher.getAuthTag()]));
  },

  aesGcmDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array {
    assertAesInputs(key, nonce);
    if (!(ciphertextWithTag instanceof Uint8Array) || ciphertextWithTag.length < 16) {
      throw new CryptoError(CryptoErrorCode.DECRYPT_FAILED, 'Ciphertext too short');
    }
    const split = ciphertextWithTag.length - 16;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
    decipher.setAuthTag(ciphertextWithTag.subarray(split));
    if (aad !== undefined && aad.length > 0) decipher.setAAD(aad);
    const body = decipher.update(ciphertextWithTag.subarray(0, split));
    try {
      decipher.final();
    } catch (err) {
      body.fill(0);
      throw new CryptoError(CryptoErrorCode.DECRYPT_FAILED, 'Decryption failed', undefined, { cause: err });
    }
    return asU8(body);
  },

  pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const refuse = (err: unknown) =>
        reject(new CryptoError(CryptoErrorCode.INVALID_KEY, 'PBKDF2 parameters rejected', undefined, { cause: err }));
      try {
        pbkdf2(password, salt, iterations, length, 'sha256', (err, key) => {
          if (err) refuse(err);
          else resolve(asU8(key));
        });
      } catch (err) {
        refuse(err);
      }
    });
  },
};
