/**
 * The provider's primitives as plain functions. Each uses the default provider unless one is
 * passed as the last argument.
 */
import { getDefaultProvider, type CryptoProvider, type KeyPair } from './provider.js';

export function randomBytes(length: number, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.randomBytes(length);
}

export function x25519KeyPair(provider: CryptoProvider = getDefaultProvider()): KeyPair {
  return provider.x25519KeyPair();
}

export function x25519PublicKey(privateKey: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.x25519PublicKey(privateKey);
}

export function x25519(privateKey: Uint8Array, publicKey: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.x25519(privateKey, publicKey);
}

export function ed25519KeyPair(provider: CryptoProvider = getDefaultProvider()): KeyPair {
  return provider.ed25519KeyPair();
}

export function ed25519PublicKey(seed: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.ed25519PublicKey(seed);
}

export function ed25519Sign(seed: Uint8Array, message: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.ed25519Sign(seed, message);
}

export function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  provider: CryptoProvider = getDefaultProvider(),
): boolean {
  return provider.ed25519Verify(publicKey, message, signature);
}

export function sha256(data: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.sha256(data);
}

export function sha512(data: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.sha512(data);
}

export function hmacSha256(key: Uint8Array, data: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.hmacSha256(key, data);
}

export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
  provider: CryptoProvider = getDefaultProvider(),
): Uint8Array {
  return provider.hkdfSha256(ikm, salt, info, length);
}

export function aesGcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
  provider: CryptoProvider = getDefaultProvider(),
): Uint8Array {
  return provider.aesGcmEncrypt(key, nonce, plaintext, aad);
}

export function aesGcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertextWithTag: Uint8Array,
  aad?: Uint8Array,
  provider: CryptoProvider = getDefaultProvider(),
): Uint8Array {
  return provider.aesGcmDecrypt(key, nonce, ciphertextWithTag, aad);
}

export function pbkdf2Sha256(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
  provider: CryptoProvider = getDefaultProvider(),
): Promise<Uint8Array> {
  return provider.pbkdf2Sha256(password, salt, iterations, length);
}
