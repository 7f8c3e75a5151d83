/**
 * The provider layer: every primitive the protocols need, behind one interface with three
 * implementations — libsodium for the curves with node:crypto for the rest (the fastest, the
 * default wherever the sodium-native addon loads), node:crypto alone (the default otherwise) and
 * @noble (portable, pure JS). All give identical results for identical inputs; the known-answer
 * and cross tests hold them to that.
 */
import { nodeProvider } from './provider-node.js';
import { sodiumProvider } from './provider-sodium.js';

export interface KeyPair {
  /** X25519: the 32-byte scalar. Ed25519: the 32-byte seed (RFC 8032 private key). */
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface CryptoProvider {
  readonly name: string;

  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;

  x25519KeyPair(): KeyPair;
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /**
   * X25519(privateKey, publicKey). Throws CryptoError invalid_key on wrong lengths and when the
   * shared secret is all zeros (the peer sent a low-order point).
   */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;

  /** A fresh key pair; `privateKey` is the 32-byte seed. */
  ed25519KeyPair(): KeyPair;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /** Deterministic RFC 8032 signature (64 bytes). */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** RFC 8032 verification. Never throws: malformed keys or signatures give false. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;

  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** RFC 5869 HKDF with SHA-256; `length` at most 255 * 32. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;

  /** AES-256-GCM with a 12-byte nonce; returns ciphertext || 16-byte tag. */
  aesGcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** Inverse of aesGcmEncrypt; CryptoError decrypt_failed when authentication fails. */
  aesGcmDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array;

  /** PBKDF2-HMAC-SHA256 (off the main thread where the implementation can). */
  pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array>;
}

let defaultProvider: CryptoProvider = sodiumProvider ?? nodeProvider;

/** The provider used when a function or class is not given one (libsodium + node:crypto, else node:crypto, unless changed). */
export function getDefaultProvider(): CryptoProvider {
  return defaultProvider;
}

/** Replaces the default provider for everything created afterwards; returns the previous one. */
export function setDefaultProvider(provider: CryptoProvider): CryptoProvider {
  const previous = defaultProvider;
  defaultProvider = provider;
  return previous;
}
