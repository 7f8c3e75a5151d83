/**
 * The portable provider: @noble/curves, @noble/ciphers and @noble/hashes (audited, pure JS).
 * It runs anywhere JavaScript does and is the reference the node provider is cross-tested
 * against; on these machines its curve operations are 20-40x slower than node:crypto.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { assertKeyLength, isAllZero } from './bytes.js';
import type { CryptoProvider, KeyPair } from './provider.js';

function assertAesInputs(key: Uint8Array, nonce: Uint8Array): void {
  assertKeyLength(key, 32, 'AES-256-GCM key');
  assertKeyLength(nonce, 12, 'AES-GCM nonce');
}

export const nobleProvider: CryptoProvider = {
  name: 'noble',

  randomBytes(length: number): Uint8Array {
    return nobleRandomBytes(length);
  },

  x25519KeyPair(): KeyPair {
    const privateKey = x25519.utils.randomSecretKey();
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  },

  x25519PublicKey(privateKey: Uint8Array): Uint8Array {
    assertKeyLength(privateKey, 32, 'X25519 private key');
    return x25519.getPublicKey(privateKey);
  },

  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    assertKeyLength(privateKey, 32, 'X25519 private key');
    assertKeyLength(publicKey, 32, 'X25519 public key');
    let shared: Uint8Array;
    try {
      // noble refuses low-order points itself; the zero check below keeps that explicit.
      shared = x25519.getSharedSecret(privateKey, publicKey);
    } catch (err) {
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'X25519 rejected the public key', undefined, { cause: err });
    }
    if (isAllZero(shared)) throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'X25519 produced a low-order shared secret');
    return shared;
  },

  ed25519KeyPair(): KeyPair {
    const privateKey = ed25519.utils.randomSecretKey();
    return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
  },

  ed25519PublicKey(seed: Uint8Array): Uint8Array {
    assertKeyLength(seed, 32, 'Ed25519 seed');
    return ed25519.getPublicKey(seed);
  },

  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
    assertKeyLength(seed, 32, 'Ed25519 seed');
    return ed25519.sign(message, seed);
  },

  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
    if (!(message instanceof Uint8Array)) return false;
    try {
      // Strict RFC 8032 / FIPS 186-5 rules (not ZIP-215), matching OpenSSL's verifier.
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },

  sha256(data: Uint8Array): Uint8Array {
    return sha256(data);
  },

  sha512(data: Uint8Array): Uint8Array {
    return sha512(data);
  },

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return hmac(sha256, key, data);
  },

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'HKDF output length out of range');
    }
    return hkdf(sha256, ikm, salt, info, length);
  },

  aesGcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    assertAesInputs(key, nonce);
    return gcm(key, nonce, aad).encrypt(plaintext);
  },

  aesGcmDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array {
    assertAesInputs(key, nonce);
    if (!(ciphertextWithTag instanceof Uint8Array) || ciphertextWithTag.length < 16) {
      throw new CryptoError(CryptoErrorCode.DECRYPT_FAILED, 'Ciphertext too short');
    }
    try {
      return gcm(key, nonce, aad).decrypt(ciphertextWithTag);
    } catch (err) {
      throw new CryptoError(CryptoErrorCode.DECRYPT_FAILED, 'Decryption failed', undefined, { cause: err });
    }
  },

  async pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
    try {
      return await pbkdf2Async(sha256, password, salt, { c: iterations, dkLen: length });
    } catch (err) {
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'PBKDF2 parameters rejected', undefined, { cause: err });
    }
  },
};
