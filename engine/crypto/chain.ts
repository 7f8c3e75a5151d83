/**
 * The symmetric-key ratchet shared by the Double Ratchet and Sender Keys: a chain key steps with
 * HMAC-SHA256 (constant 0x01 -> message key, 0x02 -> next chain key, as in the Signal specs), and
 * each message key is expanded with HKDF into an AES-256 key and a 12-byte nonce. A message key
 * encrypts exactly one message, so a nonce derived from it is never reused under its AES key.
 */
import type { CryptoProvider } from './provider.js';

const MESSAGE_KEY_CONSTANT = Uint8Array.of(0x01);
const CHAIN_KEY_CONSTANT = Uint8Array.of(0x02);
const ZERO_SALT = new Uint8Array(32);

export interface ChainStep {
  readonly messageKey: Uint8Array;
  readonly nextChainKey: Uint8Array;
}

/** KDF_CK: one step of a sending or receiving chain. */
export function chainStep(provider: CryptoProvider, chainKey: Uint8Array): ChainStep {
  return {
    messageKey: provider.hmacSha256(chainKey, MESSAGE_KEY_CONSTANT),
    nextChainKey: provider.hmacSha256(chainKey, CHAIN_KEY_CONSTANT),
  };
}

/** The chain key after one step, without the message key (used while skipping). */
export function nextChainKey(provider: CryptoProvider, chainKey: Uint8Array): Uint8Array {
  return provider.hmacSha256(chainKey, CHAIN_KEY_CONSTANT);
}

/** The message key at the current position of a chain. */
export function messageKeyOf(provider: CryptoProvider, chainKey: Uint8Array): Uint8Array {
  return provider.hmacSha256(chainKey, MESSAGE_KEY_CONSTANT);
}

function expand(provider: CryptoProvider, messageKey: Uint8Array, info: Uint8Array): Uint8Array {
  return provider.hkdfSha256(messageKey, ZERO_SALT, info, 44);
}

/** Encrypts one message under a single-use message key. */
export function sealWithMessageKey(
  provider: CryptoProvider,
  messageKey: Uint8Array,
  info: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const material = expand(provider, messageKey, info);
  try {
    return provider.aesGcmEncrypt(material.subarray(0, 32), material.subarray(32, 44), plaintext, aad);
  } finally {
    material.fill(0);
  }
}

/** Decrypts one message under a single-use message key; CryptoError decrypt_failed if it does not authenticate. */
export function openWithMessageKey(
  provider: CryptoProvider,
  messageKey: Uint8Array,
  info: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const material = expand(provider, messageKey, info);
  try {
    return provider.aesGcmDecrypt(material.subarray(0, 32), material.subarray(32, 44), ciphertext, aad);
  } finally {
    material.fill(0);
  }
}
