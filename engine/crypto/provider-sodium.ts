/**
 * The libsodium provider (through the `sodium-native` addon): X25519 and Ed25519 from libsodium,
 * everything symmetric (AES-256-GCM, HMAC, HKDF, hashes, PBKDF2, random) from the node:crypto
 * provider. It is the default wherever the addon loads (see provider.ts).
 *
 * Why (figures from this machine kind, Node 20, in bench/README.md): libsodium signs and verifies
 * Ed25519 about 2.1x as fast as OpenSSL through node:crypto, and needs no key objects, so a fresh
 * X25519 key pair costs one base-point multiplication instead of a key import and export. A signed
 * sender-key message is mostly one sign and one verify, so this decides the group message rate.
 * libsodium has no AES-GCM on every CPU and no HMAC-SHA256 in the addon; OpenSSL is fast there.
 *
 * libsodium's verification is stricter than RFC 8032 requires (it refuses small-order public keys
 * and R values and non-canonical encodings); no honest signer produces those.
 */
import { createRequire } from 'node:module';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { assertKeyLength } from './bytes.js';
import { nodeProvider } from './provider-node.js';
import type { CryptoProvider, KeyPair } from './provider.js';

/** The part of sodium-native's API used here. */
interface Sodium {
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  sodium_memzero(buffer: Uint8Array): void;
}

function loadSodium(): Sodium | Error {
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

interface SigningKey {
  /** A copy of the seed: the entry is used only while the caller's array still holds it. */
  readonly seed: Uint8Array;
  /** libsodium's 64-byte secret key (seed || public key). */
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function createSodiumProvider(sodium: Sodium): CryptoProvider {
  // Expanding a seed costs a SHA-512 and a base-point multiplication; a chain's signing seed signs
  // every message of the chain, so the expansion is kept per seed array (like the node provider's
  // key objects). Entries die with the array.
  const signingKeys = new WeakMap<Uint8Array, SigningKey>();

  function expandSeed(seed: Uint8Array): SigningKey {
    const cached = signingKeys.get(seed);
    if (cached !== undefined && sameBytes(cached.seed, seed)) return cached;
    const publicKey = new Uint8Array(32);
    const secretKey = new Uint8Array(64);
    sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
    const entry = { seed: Uint8Array.from(seed), secretKey, publicKey };
    if (cached !== undefined) {
      sodium.sodium_memzero(cached.secretKey);
      sodium.sodium_memzero(cached.seed);
    }
    signingKeys.set(seed, entry);
    return entry;
  }

  function x25519Public(privateKey: Uint8Array): Uint8Array {
    const publicKey = new Uint8Array(32);
    sodium.crypto_scalarmult_base(publicKey, privateKey);
    return publicKey;
  }

  return {
    ...nodeProvider,
    name: 'sodium',

    x25519KeyPair(): KeyPair {
      const privateKey = nodeProvider.randomBytes(32);
      return { privateKey, publicKey: x25519Public(privateKey) };
    },

    x25519PublicKey(privateKey: Uint8Array): Uint8Array {
      assertKeyLength(privateKey, 32, 'X25519 private key');
      return x25519Public(privateKey);
    },

    x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
      assertKeyLength(privateKey, 32, 'X25519 private key');
      assertKeyLength(publicKey, 32, 'X25519 public key');
      const shared = new Uint8Array(32);
      try {
        sodium.crypto_scalarmult(shared, privateKey, publicKey);
      } catch (err) {
        // libsodium refuses an all-zero result (a low-order public key).
        throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'X25519 produced a low-order shared secret', undefined, { cause: err });
      }
      return shared;
    },

    ed25519KeyPair(): KeyPair {
      const privateKey = nodeProvider.randomBytes(32);
      return { privateKey, publicKey: Uint8Array.from(expandSeed(privateKey).publicKey) };
    },

    ed25519PublicKey(seed: Uint8Array): Uint8Array {
      assertKeyLength(seed, 32, 'Ed25519 seed');
      return Uint8Array.from(expandSeed(seed).publicKey);
    },

    ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
      assertKeyLength(seed, 32, 'Ed25519 seed');
      if (!(message instanceof Uint8Array)) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Message must be a Uint8Array');
      const signature = new Uint8Array(64);
      sodium.crypto_sign_detached(signature, message, expandSeed(seed).secretKey);
      return signature;
    },

    ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
      if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
      if (!(message instanceof Uint8Array)) return false;
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },
  };
}

const loaded = loadSodium();

/** The libsodium provider, or undefined where the `sodium-native` addon does not load. */
export const sodiumProvider: CryptoProvider | undefined = loaded instanceof Error ? undefined : createSodiumProvider(loaded);

/** Why the libsodium provider is missing (for logs and test output), or undefined when it loaded. */
export const sodiumUnavailableReason: string | undefined = loaded instanceof Error ? `sodium-native did not load: ${loaded.message}` : undefined;
