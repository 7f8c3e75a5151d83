/**
 * engine/crypto: Kecalek's end-to-end cryptography. Pure (no I/O); binary values are Uint8Array;
 * every deliberate failure is a CryptoError with a CryptoErrorCode.
 */
export { CryptoError, CryptoErrorCode } from '../errors.js';

export type { CryptoProvider, KeyPair } from './provider.js';
export { getDefaultProvider, setDefaultProvider } from './provider.js';
export { nodeProvider } from './provider-node.js';
export { nobleProvider } from './provider-noble.js';
export { sodiumProvider, sodiumUnavailableReason } from './provider-sodium.js';

export {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519KeyPair,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hkdfSha256,
  hmacSha256,
  pbkdf2Sha256,
  randomBytes,
  sha256,
  sha512,
  x25519,
  x25519KeyPair,
  x25519PublicKey,
} from './primitives.js';
export { ed25519PrivateToX25519, ed25519PublicToX25519 } from './convert.js';
export {
  bytesToHex,
  concatBytes,
  constantTimeEqual,
  copyBytes,
  hexToBytes,
  utf8Decode,
  utf8Encode,
  wipe,
} from './bytes.js';

export type {
  OneTimePreKey,
  PublicOneTimePreKey,
  PublicSignedPreKey,
  SignedPreKey,
  X3DHHeader,
  X3DHInitiateParams,
  X3DHInitiateResult,
  X3DHRespondParams,
  X3DHRespondResult,
} from './x3dh.js';
export {
  MAX_ONE_TIME_PRE_KEY_BATCH,
  decodeX3DHHeader,
  encodeX3DHHeader,
  generateOneTimePreKeys,
  generateSignedPreKey,
  signedPreKeySignatureMessage,
  verifySignedPreKey,
  x3dhInitiate,
  x3dhRespond,
} from './x3dh.js';

export type { RatchetHeader, RatchetMessage } from './ratchet.js';
export { DoubleRatchet, HEADER_LENGTH, MAX_PREVIOUS_CHAINS, MAX_SKIP, MAX_STORED_SKIPPED, decodeHeader, encodeHeader } from './ratchet.js';

export {
  MAX_SENDER_KEY_JUMP,
  MAX_SENDER_KEY_SKIPPED,
  SENDER_KEY_CHAIN_ID_LENGTH,
  SenderKeyState,
  peekSenderKeyChainId,
} from './sender-keys.js';

export { MAX_PADDED_PLAINTEXT, PADDING_BUCKETS, padPlaintext, paddedLength, unpadPlaintext } from './padding.js';

export type { Argon2Backend, Argon2idParams, EnvelopeKdf, KdfChoice, OpenOptions, SealOptions } from './envelope.js';
export {
  DEFAULT_ARGON2ID,
  DEFAULT_PBKDF2_ITERATIONS,
  ENVELOPE_LIMITS,
  ENVELOPE_VERSION,
  KdfId,
  deriveArgon2idKey,
  inspectEnvelope,
  nativeArgon2Available,
  openWithPassword,
  sealWithPassword,
} from './envelope.js';

export { deriveLocalStorageKey, deriveSelfCopyKey, openLocal, sealLocal } from './local-keys.js';
