/**
 * Keys for the client's local storage, derived from the identity seed so that nothing else needs
 * to be kept: one key for the on-disk stores (sessions, sender keys, message cache, verification
 * stores) and one for self-copies readable by all of the user's devices (they share the identity
 * key). Distinct HKDF salts and infos keep the two keys independent.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { EMPTY_BYTES, assertBytes, assertKeyLength, utf8Encode } from './bytes.js';
import { getDefaultProvider, type CryptoProvider } from './provider.js';

const LOCAL_STORAGE_LABEL = utf8Encode('kecalek-local-storage-v1');
const SELF_COPY_LABEL = utf8Encode('kecalek-self-copy-v1');
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

/** The AES-256 key that encrypts this device's local stores. */
export function deriveLocalStorageKey(identitySeed: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  assertKeyLength(identitySeed, 32, 'Identity seed');
  return provider.hkdfSha256(identitySeed, LOCAL_STORAGE_LABEL, LOCAL_STORAGE_LABEL, 32);
}

/** The AES-256 key for self-copies of messages, the same on every device of the account. */
export function deriveSelfCopyKey(identitySeed: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  assertKeyLength(identitySeed, 32, 'Identity seed');
  return provider.hkdfSha256(identitySeed, SELF_COPY_LABEL, SELF_COPY_LABEL, 32);
}

/** AES-256-GCM with a random nonce: nonce (12) || ciphertext + tag. `aad` binds context (a file name, a record id). */
export function sealLocal(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  assertKeyLength(key, 32, 'Local key');
  assertBytes(plaintext, 'Plaintext');
  const nonce = provider.randomBytes(NONCE_LENGTH);
  const ciphertext = provider.aesGcmEncrypt(key, nonce, plaintext, aad ?? EMPTY_BYTES);
  const out = new Uint8Array(NONCE_LENGTH + ciphertext.length);
  out.set(nonce, 0);
  out.set(ciphertext, NONCE_LENGTH);
  return out;
}

/** Inverse of sealLocal; CryptoError decrypt_failed if the data was modified, truncated or sealed under another key or aad. */
export function openLocal(key: Uint8Array, sealed: Uint8Array, aad?: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  assertKeyLength(key, 32, 'Local key');
  if (!(sealed instanceof Uint8Array) || sealed.length < NONCE_LENGTH + TAG_LENGTH) {
    throw new CryptoError(CryptoErrorCode.DECRYPT_FAILED, 'Sealed data too short');
  }
  return provider.aesGcmDecrypt(key, sealed.subarray(0, NONCE_LENGTH), sealed.subarray(NONCE_LENGTH), aad ?? EMPTY_BYTES);
}
