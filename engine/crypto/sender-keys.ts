/**
 * Sender Keys for group messages. Each member's device owns one sending chain per group: a random
 * chain id, an HMAC chain key and an Ed25519 signing key pair. It hands the chain to the other
 * members once (distribution(), sent through the pairwise Double Ratchet sessions); after that
 * every group message is encrypted once for all of them.
 *
 * Message: version (1) || chain id (16) || iteration (u32 BE) || AES-256-GCM ciphertext+tag ||
 * Ed25519 signature (64) over "KecalekSenderKeyMessage\0" || everything before the signature.
 * The AES key and nonce come from HKDF(message key, salt = 32 zero bytes, info = "KecalekSenderKey").
 *
 * Receiving checks, in order: format (invalid_message), chain id (unknown_chain), signature
 * (bad_signature) — before any chain key is touched — then iteration (duplicate_message,
 * max_skip_exceeded) and AEAD (decrypt_failed). Any failure leaves the state unchanged.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { ByteReader, ByteWriter, assertBytes, concatBytes, constantTimeEqual, copyBytes, readU32, utf8Encode, wipe, writeU32 } from './bytes.js';
import { chainStep, messageKeyOf, nextChainKey, openWithMessageKey, sealWithMessageKey } from './chain.js';
import { getDefaultProvider, type CryptoProvider } from './provider.js';

/** Most message keys one message may skip forward in a sender chain. */
export const MAX_SENDER_KEY_JUMP = 2000;
/** Most skipped message keys one sender-key state keeps; the oldest go first. */
export const MAX_SENDER_KEY_SKIPPED = 2000;

export const SENDER_KEY_CHAIN_ID_LENGTH = 16;

const MESSAGE_VERSION = 1;
const DISTRIBUTION_VERSION = 1;
const STATE_VERSION = 1;
const HEADER_LENGTH = 1 + SENDER_KEY_CHAIN_ID_LENGTH + 4;
const SIGNATURE_LENGTH = 64;
const TAG_LENGTH = 16;
/** The shortest valid message: header, an empty plaintext's tag, the signature. */
const MIN_MESSAGE_LENGTH = HEADER_LENGTH + TAG_LENGTH + SIGNATURE_LENGTH;
const DISTRIBUTION_LENGTH = 1 + SENDER_KEY_CHAIN_ID_LENGTH + 4 + 32 + 32;

const SENDER_KEY_INFO = utf8Encode('KecalekSenderKey');
const SIGNATURE_DOMAIN = utf8Encode('KecalekSenderKeyMessage\x00');

/**
 * "KecalekSenderKeyMessage\0" || body, the bytes a signature covers, built in a reused buffer:
 * sign and verify copy their input synchronously, the content is public (header and ciphertext),
 * and sparing a fresh backing store per message is measurable on this path.
 */
const SCRATCH_LIMIT = 64 * 1024;
let signingScratch = new Uint8Array(4096);
signingScratch.set(SIGNATURE_DOMAIN);

function signedBytes(body: Uint8Array): Uint8Array {
  const needed = SIGNATURE_DOMAIN.length + body.length;
  if (needed > SCRATCH_LIMIT) return concatBytes(SIGNATURE_DOMAIN, body);
  if (needed > signingScratch.length) {
    signingScratch = new Uint8Array(Math.min(SCRATCH_LIMIT, Math.max(needed, signingScratch.length * 2)));
    signingScratch.set(SIGNATURE_DOMAIN);
  }
  signingScratch.set(body, SIGNATURE_DOMAIN.length);
  return signingScratch.subarray(0, needed);
}

function invalidMessage(): CryptoError {
  return new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Malformed sender-key message');
}

/** The chain id a sender-key message names, so a receiver can pick the state to decrypt it with. */
export function peekSenderKeyChainId(message: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array) || message.length < MIN_MESSAGE_LENGTH || message[0] !== MESSAGE_VERSION) {
    throw invalidMessage();
  }
  return copyBytes(message.subarray(1, 1 + SENDER_KEY_CHAIN_ID_LENGTH));
}

interface SenderKeyFields {
  chainId: Uint8Array;
  iteration: number;
  chainKey: Uint8Array;
  signingPublic: Uint8Array;
  signingSeed: Uint8Array | null;
  skipped: Map<number, Uint8Array>;
}

export class SenderKeyState {
  private readonly provider: CryptoProvider;
  private readonly id: Uint8Array;
  private currentIteration: number;
  private chainKey: Uint8Array;
  private readonly signingPublic: Uint8Array;
  /** Only the owner of the chain holds the signing seed; received states can only verify. */
  private readonly signingSeed: Uint8Array | null;
  /** Skipped message keys by iteration, in insertion order (oldest first). */
  private readonly skipped: Map<number, Uint8Array>;

  private constructor(provider: CryptoProvider, fields: SenderKeyFields) {
    this.provider = provider;
    this.id = fields.chainId;
    this.currentIteration = fields.iteration;
    this.chainKey = fields.chainKey;
    this.signingPublic = fields.signingPublic;
    this.signingSeed = fields.signingSeed;
    this.skipped = fields.skipped;
  }

  /** A new own sending chain: random chain id and chain key, iteration 0, a fresh signing key pair. */
  static create(provider: CryptoProvider = getDefaultProvider()): SenderKeyState {
    const signing = provider.ed25519KeyPair();
    return new SenderKeyState(provider, {
      chainId: provider.randomBytes(SENDER_KEY_CHAIN_ID_LENGTH),
      iteration: 0,
      chainKey: provider.randomBytes(32),
      signingPublic: signing.publicKey,
      signingSeed: signing.privateKey,
      skipped: new Map(),
    });
  }

  /** A receiving state from another member's distribution(): it verifies and decrypts, never encrypts. */
  static fromDistribution(bytes: Uint8Array, provider: CryptoProvider = getDefaultProvider()): SenderKeyState {
    const fail = () => new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Malformed sender-key distribution');
    if (!(bytes instanceof Uint8Array) || bytes.length !== DISTRIBUTION_LENGTH) throw fail();
    const reader = new ByteReader(bytes, fail);
    if (reader.u8() !== DISTRIBUTION_VERSION) throw fail();
    const chainId = reader.take(SENDER_KEY_CHAIN_ID_LENGTH);
    const iteration = reader.u32();
    const chainKey = reader.take(32);
    const signingPublic = reader.take(32);
    reader.end();
    return new SenderKeyState(provider, { chainId, iteration, chainKey, signingPublic, signingSeed: null, skipped: new Map() });
  }

  get chainId(): Uint8Array {
    return copyBytes(this.id);
  }

  /** The iteration of the next message this chain will send or expects to receive. */
  get iteration(): number {
    return this.currentIteration;
  }

  /** The chain's Ed25519 signature public key. */
  get signingPublicKey(): Uint8Array {
    return copyBytes(this.signingPublic);
  }

  /** True for an own chain (it holds the signing key). */
  get canEncrypt(): boolean {
    return this.signingSeed !== null;
  }

  get skippedKeyCount(): number {
    return this.skipped.size;
  }

  /**
   * What a member needs to receive this chain from now on: version (1) || chain id (16) ||
   * iteration (u32) || chain key (32) || signature public key (32). Secret: send it only through
   * an end-to-end encrypted session.
   */
  distribution(): Uint8Array {
    return new ByteWriter()
      .u8(DISTRIBUTION_VERSION)
      .bytes(this.id)
      .u32(this.currentIteration)
      .bytes(this.chainKey)
      .bytes(this.signingPublic)
      .finish();
  }

  encrypt(plaintext: Uint8Array): Uint8Array {
    if (this.signingSeed === null) {
      throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'A received sender key cannot encrypt');
    }
    if (this.currentIteration >= 0xffffffff) throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'The sender chain is exhausted');
    assertBytes(plaintext, 'Plaintext');
    const header = new Uint8Array(HEADER_LENGTH);
    header[0] = MESSAGE_VERSION;
    header.set(this.id, 1);
    writeU32(header, 1 + SENDER_KEY_CHAIN_ID_LENGTH, this.currentIteration);
    const { messageKey, nextChainKey: next } = chainStep(this.provider, this.chainKey);
    let ciphertext: Uint8Array;
    try {
      ciphertext = sealWithMessageKey(this.provider, messageKey, SENDER_KEY_INFO, plaintext, header);
    } catch (err) {
      next.fill(0);
      throw err;
    } finally {
      messageKey.fill(0);
    }
    const message = new Uint8Array(HEADER_LENGTH + ciphertext.length + SIGNATURE_LENGTH);
    message.set(header, 0);
    message.set(ciphertext, HEADER_LENGTH);
    const signatureStart = HEADER_LENGTH + ciphertext.length;
    message.set(this.provider.ed25519Sign(this.signingSeed, signedBytes(message.subarray(0, signatureStart))), signatureStart);
    this.chainKey.fill(0);
    this.chainKey = next;
    this.currentIteration++;
    return message;
  }

  decrypt(message: Uint8Array): Uint8Array {
    if (!(message instanceof Uint8Array) || message.length < MIN_MESSAGE_LENGTH || message[0] !== MESSAGE_VERSION) {
      throw invalidMessage();
    }
    if (!constantTimeEqual(message.subarray(1, 1 + SENDER_KEY_CHAIN_ID_LENGTH), this.id)) {
      throw new CryptoError(CryptoErrorCode.UNKNOWN_CHAIN, 'The message belongs to another sender-key chain');
    }
    const signatureStart = message.length - SIGNATURE_LENGTH;
    if (!this.provider.ed25519Verify(this.signingPublic, signedBytes(message.subarray(0, signatureStart)), message.subarray(signatureStart))) {
      throw new CryptoError(CryptoErrorCode.BAD_SIGNATURE, 'The sender-key message signature does not verify');
    }
    const header = message.subarray(0, HEADER_LENGTH);
    const ciphertext = message.subarray(HEADER_LENGTH, signatureStart);
    const iteration = readU32(message, 1 + SENDER_KEY_CHAIN_ID_LENGTH);

    if (iteration < this.currentIteration) {
      const stored = this.skipped.get(iteration);
      if (stored === undefined) throw new CryptoError(CryptoErrorCode.DUPLICATE_MESSAGE, 'The message was already received');
      const plaintext = openWithMessageKey(this.provider, stored, SENDER_KEY_INFO, ciphertext, header);
      this.skipped.delete(iteration);
      stored.fill(0);
      return plaintext;
    }
    if (iteration - this.currentIteration > MAX_SENDER_KEY_JUMP) {
      throw new CryptoError(CryptoErrorCode.MAX_SKIP_EXCEEDED, `The message jumps more than ${MAX_SENDER_KEY_JUMP} iterations ahead`, {
        max_skip: MAX_SENDER_KEY_JUMP,
      });
    }

    const newlySkipped: Array<[number, Uint8Array]> = [];
    let key = this.chainKey;
    for (let i = this.currentIteration; i < iteration; i++) {
      newlySkipped.push([i, messageKeyOf(this.provider, key)]);
      const next = nextChainKey(this.provider, key);
      if (key !== this.chainKey) key.fill(0);
      key = next;
    }
    const { messageKey, nextChainKey: next } = chainStep(this.provider, key);
    if (key !== this.chainKey) key.fill(0);
    let plaintext: Uint8Array;
    try {
      plaintext = openWithMessageKey(this.provider, messageKey, SENDER_KEY_INFO, ciphertext, header);
    } catch (err) {
      wipe(next, ...newlySkipped.map(([, k]) => k));
      throw err;
    } finally {
      messageKey.fill(0);
    }

    this.chainKey.fill(0);
    this.chainKey = next;
    this.currentIteration = iteration + 1;
    for (const [i, k] of newlySkipped) this.skipped.set(i, k);
    while (this.skipped.size > MAX_SENDER_KEY_SKIPPED) {
      const oldest = this.skipped.keys().next().value!;
      this.skipped.get(oldest)!.fill(0);
      this.skipped.delete(oldest);
    }
    return plaintext;
  }

  /**
   * The whole state as bytes (secret: store it encrypted). Layout: version u8 | flags u8
   * (1 = holds the signing seed) | chain id 16 | iteration u32 | chain key 32 | signature public
   * key 32 | [signing seed 32] | skipped count u16, then iteration u32 + message key 32 each.
   */
  exportState(): Uint8Array {
    const writer = new ByteWriter()
      .u8(STATE_VERSION)
      .u8(this.signingSeed !== null ? 1 : 0)
      .bytes(this.id)
      .u32(this.currentIteration)
      .bytes(this.chainKey)
      .bytes(this.signingPublic);
    if (this.signingSeed !== null) writer.bytes(this.signingSeed);
    writer.u16(this.skipped.size);
    for (const [iteration, key] of this.skipped) writer.u32(iteration).bytes(key);
    return writer.finish();
  }

  /** Restores a state from exportState(); CryptoError invalid_state on malformed bytes. */
  static importState(bytes: Uint8Array, provider: CryptoProvider = getDefaultProvider()): SenderKeyState {
    const fail = () => new CryptoError(CryptoErrorCode.INVALID_STATE, 'Malformed sender-key state');
    if (!(bytes instanceof Uint8Array)) throw fail();
    const reader = new ByteReader(bytes, fail);
    if (reader.u8() !== STATE_VERSION) throw fail();
    const flags = reader.u8();
    if (flags !== 0 && flags !== 1) throw fail();
    const chainId = reader.take(SENDER_KEY_CHAIN_ID_LENGTH);
    const iteration = reader.u32();
    const chainKey = reader.take(32);
    const signingPublic = reader.take(32);
    const signingSeed = flags === 1 ? reader.take(32) : null;
    const count = reader.u16();
    if (count > MAX_SENDER_KEY_SKIPPED) throw fail();
    const skipped = new Map<number, Uint8Array>();
    for (let i = 0; i < count; i++) {
      const skippedIteration = reader.u32();
      if (skippedIteration >= iteration || skipped.has(skippedIteration)) throw fail();
      skipped.set(skippedIteration, reader.take(32));
    }
    reader.end();
    return new SenderKeyState(provider, { chainId, iteration, chainKey, signingPublic, signingSeed, skipped });
  }
}
