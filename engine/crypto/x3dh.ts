/**
 * X3DH key agreement (Signal's specification, revision 1) with Ed25519 identity keys that are
 * converted to X25519 for the Diffie-Hellman steps.
 *
 *   DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   DH4 = DH(EK_A, OPK_B)
 *   SK  = HKDF(ikm = 0xFF x 32 || DH1 || DH2 || DH3 [|| DH4], salt = 0 x 32, info = "KecalekX3DH", 32)
 *   AD  = IK_A || IK_B   (the Ed25519 public keys)
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { ByteReader, ByteWriter, assertKeyLength, concatBytes, copyBytes, isU32, utf8Encode, wipe } from './bytes.js';
import { ed25519PrivateToX25519, ed25519PublicToX25519 } from './convert.js';
import { getDefaultProvider, type CryptoProvider } from './provider.js';

const X3DH_INFO = utf8Encode('KecalekX3DH');
const SIGNED_PRE_KEY_DOMAIN = utf8Encode('KecalekSignedPreKey\x00');
const KDF_PREFIX = new Uint8Array(32).fill(0xff);
const ZERO_SALT = new Uint8Array(32);

/** Most one-time pre-keys generated in one call (the client uploads batches of 50). */
export const MAX_ONE_TIME_PRE_KEY_BATCH = 1000;

export interface SignedPreKey {
  readonly keyId: number;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Ed25519 signature by the identity key over signedPreKeySignatureMessage(publicKey). */
  readonly signature: Uint8Array;
}

export interface OneTimePreKey {
  readonly keyId: number;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** The public part of a signed pre-key, as a pre-key bundle carries it. */
export interface PublicSignedPreKey {
  readonly keyId: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

export interface PublicOneTimePreKey {
  readonly keyId: number;
  readonly publicKey: Uint8Array;
}

/** What the initiator's first message carries so the responder can run X3DH. */
export interface X3DHHeader {
  /** The initiator's Ed25519 identity public key. */
  readonly identityKey: Uint8Array;
  /** The initiator's ephemeral X25519 public key. */
  readonly ephemeralKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId?: number;
}

export interface X3DHInitiateParams {
  /** Own Ed25519 identity seed. */
  readonly identityPrivate: Uint8Array;
  /** Own Ed25519 identity public key. */
  readonly identityPublic: Uint8Array;
  /** The responder's Ed25519 identity public key. */
  readonly remoteIdentityPublic: Uint8Array;
  readonly remoteSignedPreKey: PublicSignedPreKey;
  readonly remoteOneTimePreKey?: PublicOneTimePreKey;
}

export interface X3DHInitiateResult {
  /** SK: initialises the Double Ratchet. */
  readonly sharedSecret: Uint8Array;
  /** IK_A || IK_B (Ed25519 public keys), bound into every ratchet message. */
  readonly associatedData: Uint8Array;
  readonly ephemeralPublic: Uint8Array;
  readonly header: X3DHHeader;
}

export interface X3DHRespondParams {
  readonly identityPrivate: Uint8Array;
  readonly identityPublic: Uint8Array;
  /** The private key of the signed pre-key named by the header's signedPreKeyId. */
  readonly signedPreKeyPrivate: Uint8Array;
  /** The private key of the one-time pre-key named by the header's oneTimePreKeyId, if any. */
  readonly oneTimePreKeyPrivate?: Uint8Array;
  readonly remoteIdentityPublic: Uint8Array;
  readonly remoteEphemeralPublic: Uint8Array;
}

export interface X3DHRespondResult {
  readonly sharedSecret: Uint8Array;
  readonly associatedData: Uint8Array;
}

function assertKeyId(keyId: unknown, what: string): asserts keyId is number {
  if (!isU32(keyId)) throw new CryptoError(CryptoErrorCode.INVALID_KEY, `${what} must be an integer in 0..2^32-1`);
}

/** The bytes an identity key signs to vouch for a signed pre-key (domain-separated). */
export function signedPreKeySignatureMessage(signedPreKeyPublic: Uint8Array): Uint8Array {
  assertKeyLength(signedPreKeyPublic, 32, 'Signed pre-key public key');
  return concatBytes(SIGNED_PRE_KEY_DOMAIN, signedPreKeyPublic);
}

/** True when `signature` is the identity key's signature of this signed pre-key (what a server checks on upload). */
export function verifySignedPreKey(
  identityPublic: Uint8Array,
  signedPreKeyPublic: Uint8Array,
  signature: Uint8Array,
  provider: CryptoProvider = getDefaultProvider(),
): boolean {
  if (!(signedPreKeyPublic instanceof Uint8Array) || signedPreKeyPublic.length !== 32) return false;
  return provider.ed25519Verify(identityPublic, signedPreKeySignatureMessage(signedPreKeyPublic), signature);
}

/** A new X25519 signed pre-key, signed by the Ed25519 identity seed. */
export function generateSignedPreKey(identitySeed: Uint8Array, keyId: number, provider: CryptoProvider = getDefaultProvider()): SignedPreKey {
  assertKeyLength(identitySeed, 32, 'Identity seed');
  assertKeyId(keyId, 'Signed pre-key id');
  const pair = provider.x25519KeyPair();
  const signature = provider.ed25519Sign(identitySeed, signedPreKeySignatureMessage(pair.publicKey));
  return { keyId, privateKey: pair.privateKey, publicKey: pair.publicKey, signature };
}

/** `count` new one-time pre-keys with ids startId, startId + 1, ... */
export function generateOneTimePreKeys(startId: number, count: number, provider: CryptoProvider = getDefaultProvider()): OneTimePreKey[] {
  assertKeyId(startId, 'One-time pre-key start id');
  if (!Number.isInteger(count) || count < 0 || count > MAX_ONE_TIME_PRE_KEY_BATCH) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `One-time pre-key count must be 0..${MAX_ONE_TIME_PRE_KEY_BATCH}`);
  }
  if (startId + count - 1 > 0xffffffff) throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'One-time pre-key ids would pass 2^32-1');
  const keys: OneTimePreKey[] = [];
  for (let i = 0; i < count; i++) {
    const pair = provider.x25519KeyPair();
    keys.push({ keyId: startId + i, privateKey: pair.privateKey, publicKey: pair.publicKey });
  }
  return keys;
}

function deriveSharedSecret(provider: CryptoProvider, secrets: Uint8Array[]): Uint8Array {
  const ikm = concatBytes(KDF_PREFIX, ...secrets);
  try {
    return provider.hkdfSha256(ikm, ZERO_SALT, X3DH_INFO, 32);
  } finally {
    wipe(ikm, ...secrets);
  }
}

/**
 * The initiator's side: checks the signed pre-key's signature (CryptoError bad_signature), then
 * derives the shared secret and the header for the first message.
 */
export function x3dhInitiate(params: X3DHInitiateParams, provider: CryptoProvider = getDefaultProvider()): X3DHInitiateResult {
  const { identityPrivate, identityPublic, remoteIdentityPublic, remoteSignedPreKey, remoteOneTimePreKey } = params;
  assertKeyLength(identityPrivate, 32, 'Identity seed');
  assertKeyLength(identityPublic, 32, 'Identity public key');
  assertKeyLength(remoteIdentityPublic, 32, 'Remote identity public key');
  assertKeyLength(remoteSignedPreKey?.publicKey, 32, 'Remote signed pre-key');
  assertKeyId(remoteSignedPreKey.keyId, 'Signed pre-key id');
  if (remoteOneTimePreKey !== undefined) {
    assertKeyLength(remoteOneTimePreKey.publicKey, 32, 'Remote one-time pre-key');
    assertKeyId(remoteOneTimePreKey.keyId, 'One-time pre-key id');
  }
  if (!verifySignedPreKey(remoteIdentityPublic, remoteSignedPreKey.publicKey, remoteSignedPreKey.signature, provider)) {
    throw new CryptoError(CryptoErrorCode.BAD_SIGNATURE, 'The signed pre-key signature does not verify');
  }

  const remoteIdentityX = ed25519PublicToX25519(remoteIdentityPublic);
  const identityX = ed25519PrivateToX25519(identityPrivate);
  const ephemeral = provider.x25519KeyPair();
  const secrets: Uint8Array[] = [];
  try {
    secrets.push(provider.x25519(identityX, remoteSignedPreKey.publicKey));
    secrets.push(provider.x25519(ephemeral.privateKey, remoteIdentityX));
    secrets.push(provider.x25519(ephemeral.privateKey, remoteSignedPreKey.publicKey));
    if (remoteOneTimePreKey !== undefined) secrets.push(provider.x25519(ephemeral.privateKey, remoteOneTimePreKey.publicKey));
  } catch (err) {
    wipe(identityX, ephemeral.privateKey, ...secrets);
    throw err;
  }
  wipe(identityX, ephemeral.privateKey);
  const sharedSecret = deriveSharedSecret(provider, secrets);

  const header: X3DHHeader =
    remoteOneTimePreKey === undefined
      ? { identityKey: copyBytes(identityPublic), ephemeralKey: copyBytes(ephemeral.publicKey), signedPreKeyId: remoteSignedPreKey.keyId }
      : {
          identityKey: copyBytes(identityPublic),
          ephemeralKey: copyBytes(ephemeral.publicKey),
          signedPreKeyId: remoteSignedPreKey.keyId,
          oneTimePreKeyId: remoteOneTimePreKey.keyId,
        };
  return {
    sharedSecret,
    associatedData: concatBytes(identityPublic, remoteIdentityPublic),
    ephemeralPublic: ephemeral.publicKey,
    header,
  };
}

/** The responder's side, from the initiator's header and the named pre-keys' private halves. */
export function x3dhRespond(params: X3DHRespondParams, provider: CryptoProvider = getDefaultProvider()): X3DHRespondResult {
  const { identityPrivate, identityPublic, signedPreKeyPrivate, oneTimePreKeyPrivate, remoteIdentityPublic, remoteEphemeralPublic } = params;
  assertKeyLength(identityPrivate, 32, 'Identity seed');
  assertKeyLength(identityPublic, 32, 'Identity public key');
  assertKeyLength(signedPreKeyPrivate, 32, 'Signed pre-key private key');
  if (oneTimePreKeyPrivate !== undefined) assertKeyLength(oneTimePreKeyPrivate, 32, 'One-time pre-key private key');
  assertKeyLength(remoteIdentityPublic, 32, 'Remote identity public key');
  assertKeyLength(remoteEphemeralPublic, 32, 'Remote ephemeral key');

  const remoteIdentityX = ed25519PublicToX25519(remoteIdentityPublic);
  const identityX = ed25519PrivateToX25519(identityPrivate);
  const secrets: Uint8Array[] = [];
  try {
    secrets.push(provider.x25519(signedPreKeyPrivate, remoteIdentityX));
    secrets.push(provider.x25519(identityX, remoteEphemeralPublic));
    secrets.push(provider.x25519(signedPreKeyPrivate, remoteEphemeralPublic));
    if (oneTimePreKeyPrivate !== undefined) secrets.push(provider.x25519(oneTimePreKeyPrivate, remoteEphemeralPublic));
  } catch (err) {
    wipe(identityX, ...secrets);
    throw err;
  }
  wipe(identityX);
  return {
    sharedSecret: deriveSharedSecret(provider, secrets),
    associatedData: concatBytes(remoteIdentityPublic, identityPublic),
  };
}

const X3DH_HEADER_VERSION = 1;

/**
 * Compact encoding of an X3DH header: version (1) || identity key (32) || ephemeral key (32) ||
 * signed pre-key id (u32) || 0 | 1 (has one-time pre-key) [|| one-time pre-key id (u32)].
 */
export function encodeX3DHHeader(header: X3DHHeader): Uint8Array {
  assertKeyLength(header.identityKey, 32, 'Identity key');
  assertKeyLength(header.ephemeralKey, 32, 'Ephemeral key');
  assertKeyId(header.signedPreKeyId, 'Signed pre-key id');
  const writer = new ByteWriter().u8(X3DH_HEADER_VERSION).bytes(header.identityKey).bytes(header.ephemeralKey).u32(header.signedPreKeyId);
  if (header.oneTimePreKeyId === undefined) return writer.u8(0).finish();
  assertKeyId(header.oneTimePreKeyId, 'One-time pre-key id');
  return writer.u8(1).u32(header.oneTimePreKeyId).finish();
}

/** Inverse of encodeX3DHHeader; CryptoError invalid_message on any malformed input. */
export function decodeX3DHHeader(bytes: Uint8Array): X3DHHeader {
  const fail = () => new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Malformed X3DH header');
  if (!(bytes instanceof Uint8Array)) throw fail();
  const reader = new ByteReader(bytes, fail);
  if (reader.u8() !== X3DH_HEADER_VERSION) throw fail();
  const identityKey = reader.take(32);
  const ephemeralKey = reader.take(32);
  const signedPreKeyId = reader.u32();
  const flag = reader.u8();
  if (flag === 0) {
    reader.end();
    return { identityKey, ephemeralKey, signedPreKeyId };
  }
  if (flag !== 1) throw fail();
  const oneTimePreKeyId = reader.u32();
  reader.end();
  return { identityKey, ephemeralKey, signedPreKeyId, oneTimePreKeyId };
}
