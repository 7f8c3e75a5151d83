/**
 * Ed25519 -> X25519 key conversion, so one Ed25519 identity key both signs and takes part in
 * X3DH. node:crypto has no such operation, so every provider uses @noble/curves here:
 * - private: the X25519 scalar is the clamped first half of SHA-512(seed) — the same scalar
 *   Ed25519 signs with (RFC 8032 §5.1.5), as libsodium's crypto_sign_ed25519_sk_to_curve25519;
 * - public: the birational map u = (1 + y) / (1 - y) from the Edwards to the Montgomery form
 *   (RFC 7748 §4.1), as libsodium's crypto_sign_ed25519_pk_to_curve25519.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { assertKeyLength, bytesToHex, copyBytes, isAllZero } from './bytes.js';

/** The X25519 private key that belongs to an Ed25519 seed. */
export function ed25519PrivateToX25519(seed: Uint8Array): Uint8Array {
  assertKeyLength(seed, 32, 'Ed25519 seed');
  return ed25519.utils.toMontgomerySecret(seed);
}

// Identity keys repeat (one peer, many devices and sessions; a user's devices share one identity
// key), and the conversion costs a field square root and an inversion in pure JS: keep recent
// results. Public keys only, so nothing secret is retained.
const PUBLIC_CACHE_CAPACITY = 512;
const publicCache = new Map<string, Uint8Array>();

/** The X25519 public key that belongs to an Ed25519 public key; CryptoError invalid_key if it is not a valid point. */
export function ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array {
  assertKeyLength(publicKey, 32, 'Ed25519 public key');
  const id = bytesToHex(publicKey);
  const hit = publicCache.get(id);
  if (hit !== undefined) {
    publicCache.delete(id);
    publicCache.set(id, hit);
    return copyBytes(hit);
  }
  let converted: Uint8Array;
  try {
    converted = ed25519.utils.toMontgomery(publicKey);
  } catch (err) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'Not a valid Ed25519 public key', undefined, { cause: err });
  }
  // u = 0 comes from y = -1 (a low-order point); no honest identity key maps there.
  if (isAllZero(converted)) throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'Ed25519 public key has low order');
  publicCache.set(id, copyBytes(converted));
  if (publicCache.size > PUBLIC_CACHE_CAPACITY) publicCache.delete(publicCache.keys().next().value!);
  return converted;
}
