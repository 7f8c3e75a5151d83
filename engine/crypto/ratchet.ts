/**
 * The Double Ratchet (Signal's specification, revision 1) with X25519, HKDF-SHA256 and
 * AES-256-GCM.
 *
 * - KDF_RK: HKDF(ikm = DH output, salt = root key, info = "KecalekRatchet", 64) -> root key || chain key.
 * - KDF_CK: HMAC-SHA256(chain key, 0x01) = message key, HMAC-SHA256(chain key, 0x02) = next chain key.
 * - ENCRYPT: the message key is expanded by HKDF into an AES-256 key and a 12-byte nonce
 *   (chain.ts); AAD = session associated data || caller's ad || encoded header.
 * - Skipped message keys are bounded: one message may skip at most MAX_SKIP keys in one chain,
 *   and at most MAX_STORED_SKIPPED keys are kept across all chains (oldest evicted first).
 *
 * decrypt() works on temporaries and changes the session only after the AEAD has accepted the
 * message: every failure (tampered header or ciphertext, wrong key, duplicate, too large a skip)
 * throws a CryptoError and leaves the state exactly as it was, byte for byte in exportState().
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import {
  ByteReader,
  ByteWriter,
  EMPTY_BYTES,
  assertKeyLength,
  bytesToHex,
  concatBytes,
  constantTimeEqual,
  copyBytes,
  isU32,
  readU32,
  utf8Encode,
  wipe,
  writeU32,
} from './bytes.js';
import { chainStep, messageKeyOf, nextChainKey, openWithMessageKey, sealWithMessageKey } from './chain.js';
import { getDefaultProvider, type CryptoProvider, type KeyPair } from './provider.js';

/** Most message keys one message may skip within one chain. */
export const MAX_SKIP = 2000;
/** Most skipped message keys a session stores across all its chains; the oldest go first. */
export const MAX_STORED_SKIPPED = 2000;
/**
 * Closed receiving chains remembered (ratchet key and length) so that a late copy of a message
 * from one of them is reported as duplicate_message instead of being tried as a new DH ratchet.
 */
export const MAX_PREVIOUS_CHAINS = 32;

const RATCHET_INFO = utf8Encode('KecalekRatchet');
const MESSAGE_KEY_INFO = utf8Encode('KecalekMessageKeys');

const HEADER_VERSION = 1;
/** Encoded header: version (1) || dh (32) || pn (u32 BE) || n (u32 BE). */
export const HEADER_LENGTH = 41;

const STATE_VERSION = 1;
const MAX_ASSOCIATED_DATA = 0xffff;

export interface RatchetHeader {
  /** The sender's current ratchet public key. */
  readonly dh: Uint8Array;
  /** Number of messages in the sender's previous sending chain. */
  readonly pn: number;
  /** This message's number in the sender's current sending chain. */
  readonly n: number;
}

export interface RatchetMessage {
  readonly header: RatchetHeader;
  readonly ciphertext: Uint8Array;
}

function invalidHeader(): CryptoError {
  return new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Malformed ratchet header');
}

function assertHeader(header: RatchetHeader): void {
  if (
    header === null ||
    typeof header !== 'object' ||
    !(header.dh instanceof Uint8Array) ||
    header.dh.length !== 32 ||
    !isU32(header.pn) ||
    !isU32(header.n)
  ) {
    throw invalidHeader();
  }
}

/** The compact wire form of a header (HEADER_LENGTH bytes). */
export function encodeHeader(header: RatchetHeader): Uint8Array {
  assertHeader(header);
  const out = new Uint8Array(HEADER_LENGTH);
  out[0] = HEADER_VERSION;
  out.set(header.dh, 1);
  writeU32(out, 33, header.pn);
  writeU32(out, 37, header.n);
  return out;
}

/** Parses an encoded header; CryptoError invalid_message unless it is exactly one valid header. */
export function decodeHeader(bytes: Uint8Array): RatchetHeader {
  if (!(bytes instanceof Uint8Array) || bytes.length !== HEADER_LENGTH || bytes[0] !== HEADER_VERSION) throw invalidHeader();
  return { dh: copyBytes(bytes.subarray(1, 33)), pn: readU32(bytes, 33), n: readU32(bytes, 37) };
}

interface SkippedKey {
  readonly dh: Uint8Array;
  readonly n: number;
  readonly messageKey: Uint8Array;
}

interface ClosedChain {
  readonly dh: Uint8Array;
  /** How many messages the chain held: every n below this was received or stored as skipped. */
  readonly length: number;
}

function skippedId(dhHex: string, n: number): string {
  return `${dhHex}:${n}`;
}

/**
 * Walks a chain from index `from` to `until` (exclusive), collecting the message keys passed over;
 * returns the chain key at `until`. Never modifies or wipes `chainKey` itself.
 */
function skipChain(
  provider: CryptoProvider,
  chainKey: Uint8Array,
  from: number,
  until: number,
  dh: Uint8Array,
  into: SkippedKey[],
): Uint8Array {
  let key = chainKey;
  for (let n = from; n < until; n++) {
    into.push({ dh, n, messageKey: messageKeyOf(provider, key) });
    const next = nextChainKey(provider, key);
    if (key !== chainKey) key.fill(0);
    key = next;
  }
  return key;
}

function kdfRootKey(provider: CryptoProvider, rootKey: Uint8Array, dhOutput: Uint8Array): [Uint8Array, Uint8Array] {
  const out = provider.hkdfSha256(dhOutput, rootKey, RATCHET_INFO, 64);
  const result: [Uint8Array, Uint8Array] = [copyBytes(out.subarray(0, 32)), copyBytes(out.subarray(32, 64))];
  out.fill(0);
  return result;
}

function maxSkipExceeded(): CryptoError {
  return new CryptoError(CryptoErrorCode.MAX_SKIP_EXCEEDED, `The message skips more than ${MAX_SKIP} message keys`, {
    max_skip: MAX_SKIP,
  });
}

function duplicate(): CryptoError {
  return new CryptoError(CryptoErrorCode.DUPLICATE_MESSAGE, 'The message was already received');
}

interface RatchetFields {
  rootKey: Uint8Array;
  sending: KeyPair;
  remote: Uint8Array | null;
  sendChain: Uint8Array | null;
  receiveChain: Uint8Array | null;
  sendCount: number;
  receiveCount: number;
  previousSendCount: number;
  associatedData: Uint8Array;
  previousChains: ClosedChain[];
  skipped: Map<string, SkippedKey>;
}

export class DoubleRatchet {
  private readonly provider: CryptoProvider;
  private rootKey: Uint8Array;
  /** DHs: own current ratchet key pair. */
  private sending: KeyPair;
  /** DHr: the peer's current ratchet public key. */
  private remote: Uint8Array | null;
  /** CKs / CKr. */
  private sendChain: Uint8Array | null;
  private receiveChain: Uint8Array | null;
  /** Ns / Nr / PN. */
  private sendCount: number;
  private receiveCount: number;
  private previousSendCount: number;
  private readonly associatedData: Uint8Array;
  private previousChains: ClosedChain[];
  /** Skipped message keys in insertion order (Map order), so the oldest is first to evict. */
  private readonly skipped: Map<string, SkippedKey>;

  private constructor(provider: CryptoProvider, fields: RatchetFields) {
    this.provider = provider;
    this.rootKey = fields.rootKey;
    this.sending = fields.sending;
    this.remote = fields.remote;
    this.sendChain = fields.sendChain;
    this.receiveChain = fields.receiveChain;
    this.sendCount = fields.sendCount;
    this.receiveCount = fields.receiveCount;
    this.previousSendCount = fields.previousSendCount;
    this.associatedData = fields.associatedData;
    this.previousChains = fields.previousChains;
    this.skipped = fields.skipped;
  }

  /**
   * The initiator's session: SK from X3DH and the responder's signed pre-key as the first remote
   * ratchet key. It can send at once.
   */
  static initAlice(
    sharedSecret: Uint8Array,
    remoteSignedPreKeyPublic: Uint8Array,
    associatedData: Uint8Array,
    provider: CryptoProvider = getDefaultProvider(),
  ): DoubleRatchet {
    assertKeyLength(sharedSecret, 32, 'Shared secret');
    assertKeyLength(remoteSignedPreKeyPublic, 32, 'Remote signed pre-key');
    DoubleRatchet.assertAssociatedData(associatedData);
    const sending = provider.x25519KeyPair();
    const remote = copyBytes(remoteSignedPreKeyPublic);
    const dhOutput = provider.x25519(sending.privateKey, remote);
    const [rootKey, sendChain] = kdfRootKey(provider, sharedSecret, dhOutput);
    dhOutput.fill(0);
    return new DoubleRatchet(provider, {
      rootKey,
      sending,
      remote,
      sendChain,
      receiveChain: null,
      sendCount: 0,
      receiveCount: 0,
      previousSendCount: 0,
      associatedData: copyBytes(associatedData),
      previousChains: [],
      skipped: new Map(),
    });
  }

  /**
   * The responder's session: SK from X3DH and the signed pre-key pair the initiator used. It can
   * send once it has decrypted the initiator's first message.
   */
  static initBob(
    sharedSecret: Uint8Array,
    ownSignedPreKeyPair: KeyPair,
    associatedData: Uint8Array,
    provider: CryptoProvider = getDefaultProvider(),
  ): DoubleRatchet {
    assertKeyLength(sharedSecret, 32, 'Shared secret');
    assertKeyLength(ownSignedPreKeyPair?.privateKey, 32, 'Signed pre-key private key');
    assertKeyLength(ownSignedPreKeyPair.publicKey, 32, 'Signed pre-key public key');
    DoubleRatchet.assertAssociatedData(associatedData);
    return new DoubleRatchet(provider, {
      rootKey: copyBytes(sharedSecret),
      sending: { privateKey: copyBytes(ownSignedPreKeyPair.privateKey), publicKey: copyBytes(ownSignedPreKeyPair.publicKey) },
      remote: null,
      sendChain: null,
      receiveChain: null,
      sendCount: 0,
      receiveCount: 0,
      previousSendCount: 0,
      associatedData: copyBytes(associatedData),
      previousChains: [],
      skipped: new Map(),
    });
  }

  private static assertAssociatedData(associatedData: Uint8Array): void {
    if (!(associatedData instanceof Uint8Array) || associatedData.length > MAX_ASSOCIATED_DATA) {
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, `Associated data must be a Uint8Array of at most ${MAX_ASSOCIATED_DATA} bytes`);
    }
  }

  /** True once the session has a sending chain (always for the initiator; after the first receive for the responder). */
  get canEncrypt(): boolean {
    return this.sendChain !== null;
  }

  /** How many skipped message keys are stored. */
  get skippedKeyCount(): number {
    return this.skipped.size;
  }

  private aad(ad: Uint8Array | undefined, headerBytes: Uint8Array): Uint8Array {
    if (ad !== undefined && !(ad instanceof Uint8Array)) {
      throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Associated data must be a Uint8Array');
    }
    return concatBytes(this.associatedData, ad ?? EMPTY_BYTES, headerBytes);
  }

  encrypt(plaintext: Uint8Array, ad?: Uint8Array): RatchetMessage {
    if (this.sendChain === null) {
      throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'This session cannot send before it has received a message');
    }
    if (this.sendCount >= 0xffffffff) throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'The sending chain is exhausted');
    if (!(plaintext instanceof Uint8Array)) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Plaintext must be a Uint8Array');
    const header: RatchetHeader = { dh: copyBytes(this.sending.publicKey), pn: this.previousSendCount, n: this.sendCount };
    const aad = this.aad(ad, encodeHeader(header));
    const { messageKey, nextChainKey: next } = chainStep(this.provider, this.sendChain);
    let ciphertext: Uint8Array;
    try {
      ciphertext = sealWithMessageKey(this.provider, messageKey, MESSAGE_KEY_INFO, plaintext, aad);
    } catch (err) {
      wipe(next);
      throw err;
    } finally {
      messageKey.fill(0);
    }
    this.sendChain.fill(0);
    this.sendChain = next;
    this.sendCount++;
    return { header, ciphertext };
  }

  decrypt(header: RatchetHeader, ciphertext: Uint8Array, ad?: Uint8Array): Uint8Array {
    assertHeader(header);
    if (!(ciphertext instanceof Uint8Array)) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Ciphertext must be a Uint8Array');
    const aad = this.aad(ad, encodeHeader(header));

    if (this.skipped.size > 0) {
      const id = skippedId(bytesToHex(header.dh), header.n);
      const stored = this.skipped.get(id);
      if (stored !== undefined) {
        const plaintext = openWithMessageKey(this.provider, stored.messageKey, MESSAGE_KEY_INFO, ciphertext, aad);
        this.skipped.delete(id);
        stored.messageKey.fill(0);
        return plaintext;
      }
    }

    if (this.remote !== null && this.receiveChain !== null && constantTimeEqual(header.dh, this.remote)) {
      return this.decryptInCurrentChain(header, ciphertext, aad);
    }
    for (const closed of this.previousChains) {
      if (constantTimeEqual(header.dh, closed.dh)) {
        // Every message of a closed chain was received or is stored as skipped (checked above).
        if (header.n < closed.length) throw duplicate();
        throw new CryptoError(CryptoErrorCode.DECRYPT_FAILED, 'Decryption failed');
      }
    }
    return this.decryptWithRatchetStep(header, ciphertext, aad);
  }

  private decryptInCurrentChain(header: RatchetHeader, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    const chain = this.receiveChain!;
    if (header.n < this.receiveCount) throw duplicate();
    if (header.n - this.receiveCount > MAX_SKIP) throw maxSkipExceeded();
    const newlySkipped: SkippedKey[] = [];
    const dh = this.remote!;
    const key = skipChain(this.provider, chain, this.receiveCount, header.n, dh, newlySkipped);
    const { messageKey, nextChainKey: next } = chainStep(this.provider, key);
    if (key !== chain) key.fill(0);
    let plaintext: Uint8Array;
    try {
      plaintext = openWithMessageKey(this.provider, messageKey, MESSAGE_KEY_INFO, ciphertext, aad);
    } catch (err) {
      wipe(next, ...newlySkipped.map((s) => s.messageKey));
      throw err;
    } finally {
      messageKey.fill(0);
    }
    chain.fill(0);
    this.receiveChain = next;
    this.receiveCount = header.n + 1;
    this.storeSkipped(newlySkipped);
    return plaintext;
  }

  private decryptWithRatchetStep(header: RatchetHeader, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    const oldChain = this.receiveChain;
    const skipOld = oldChain !== null && header.pn > this.receiveCount;
    // Both bounds are checked before any key is derived or stored.
    if (skipOld && header.pn - this.receiveCount > MAX_SKIP) throw maxSkipExceeded();
    if (header.n > MAX_SKIP) throw maxSkipExceeded();

    const provider = this.provider;
    const newlySkipped: SkippedKey[] = [];
    const temporaries: Uint8Array[] = [];
    let newSending: KeyPair | null = null;
    let rootKey: Uint8Array;
    let receiveChain: Uint8Array;
    let sendChain: Uint8Array;
    let plaintext: Uint8Array;
    const remote = copyBytes(header.dh);
    try {
      if (skipOld) temporaries.push(skipChain(provider, oldChain, this.receiveCount, header.pn, this.remote!, newlySkipped));
      const dhReceive = provider.x25519(this.sending.privateKey, remote);
      temporaries.push(dhReceive);
      const [rootAfterReceive, newReceiveChain] = kdfRootKey(provider, this.rootKey, dhReceive);
      temporaries.push(rootAfterReceive, newReceiveChain);
      newSending = provider.x25519KeyPair();
      const dhSend = provider.x25519(newSending.privateKey, remote);
      temporaries.push(dhSend);
      [rootKey, sendChain] = kdfRootKey(provider, rootAfterReceive, dhSend);
      const key = skipChain(provider, newReceiveChain, 0, header.n, remote, newlySkipped);
      if (key !== newReceiveChain) temporaries.push(key);
      const step = chainStep(provider, key);
      receiveChain = step.nextChainKey;
      try {
        plaintext = openWithMessageKey(provider, step.messageKey, MESSAGE_KEY_INFO, ciphertext, aad);
      } catch (err) {
        wipe(rootKey, sendChain, receiveChain);
        throw err;
      } finally {
        step.messageKey.fill(0);
      }
    } catch (err) {
      wipe(newSending?.privateKey, ...newlySkipped.map((s) => s.messageKey));
      throw err;
    } finally {
      wipe(...temporaries);
    }

    // Authenticated: commit the step.
    if (oldChain !== null && this.remote !== null) {
      this.previousChains.push({ dh: this.remote, length: Math.max(this.receiveCount, header.pn) });
      if (this.previousChains.length > MAX_PREVIOUS_CHAINS) this.previousChains.shift();
      oldChain.fill(0);
    }
    this.sending.privateKey.fill(0);
    this.sendChain?.fill(0);
    this.rootKey.fill(0);
    this.previousSendCount = this.sendCount;
    this.sendCount = 0;
    this.receiveCount = header.n + 1;
    this.remote = remote;
    this.sending = newSending;
    this.rootKey = rootKey;
    this.receiveChain = receiveChain;
    this.sendChain = sendChain;
    this.storeSkipped(newlySkipped);
    return plaintext;
  }

  private storeSkipped(keys: SkippedKey[]): void {
    if (keys.length === 0) return;
    let dhHex = '';
    let dhOf: Uint8Array | null = null;
    for (const key of keys) {
      if (key.dh !== dhOf) {
        dhOf = key.dh;
        dhHex = bytesToHex(key.dh);
      }
      this.skipped.set(skippedId(dhHex, key.n), key);
    }
    while (this.skipped.size > MAX_STORED_SKIPPED) {
      const oldest = this.skipped.keys().next().value!;
      this.skipped.get(oldest)!.messageKey.fill(0);
      this.skipped.delete(oldest);
    }
  }

  /**
   * The whole session as bytes (secret: store it encrypted). Layout, integers big-endian:
   * version u8 | flags u8 (1 remote key, 2 sending chain, 4 receiving chain) | root key 32 |
   * own ratchet private 32 | own ratchet public 32 | [remote 32] | [sending chain 32] |
   * [receiving chain 32] | Ns u32 | Nr u32 | PN u32 | associated data (u16 length + bytes) |
   * closed chains (u16 count, then dh 32 + length u32 each) |
   * skipped keys (u32 count, then dh 32 + n u32 + message key 32 each, oldest first).
   */
  exportState(): Uint8Array {
    const flags = (this.remote !== null ? 1 : 0) | (this.sendChain !== null ? 2 : 0) | (this.receiveChain !== null ? 4 : 0);
    const writer = new ByteWriter()
      .u8(STATE_VERSION)
      .u8(flags)
      .bytes(this.rootKey)
      .bytes(this.sending.privateKey)
      .bytes(this.sending.publicKey);
    if (this.remote !== null) writer.bytes(this.remote);
    if (this.sendChain !== null) writer.bytes(this.sendChain);
    if (this.receiveChain !== null) writer.bytes(this.receiveChain);
    writer.u32(this.sendCount).u32(this.receiveCount).u32(this.previousSendCount);
    writer.u16(this.associatedData.length).bytes(this.associatedData);
    writer.u16(this.previousChains.length);
    for (const closed of this.previousChains) writer.bytes(closed.dh).u32(closed.length);
    writer.u32(this.skipped.size);
    for (const key of this.skipped.values()) writer.bytes(key.dh).u32(key.n).bytes(key.messageKey);
    return writer.finish();
  }

  /** Restores a session from exportState(); CryptoError invalid_state on malformed bytes. */
  static importState(bytes: Uint8Array, provider: CryptoProvider = getDefaultProvider()): DoubleRatchet {
    const fail = () => new CryptoError(CryptoErrorCode.INVALID_STATE, 'Malformed ratchet state');
    if (!(bytes instanceof Uint8Array)) throw fail();
    const reader = new ByteReader(bytes, fail);
    if (reader.u8() !== STATE_VERSION) throw fail();
    const flags = reader.u8();
    if ((flags & ~7) !== 0) throw fail();
    const rootKey = reader.take(32);
    const sending: KeyPair = { privateKey: reader.take(32), publicKey: reader.take(32) };
    const remote = flags & 1 ? reader.take(32) : null;
    const sendChain = flags & 2 ? reader.take(32) : null;
    const receiveChain = flags & 4 ? reader.take(32) : null;
    if (receiveChain !== null && remote === null) throw fail();
    const sendCount = reader.u32();
    const receiveCount = reader.u32();
    const previousSendCount = reader.u32();
    const associatedData = reader.take(reader.u16());
    const closedCount = reader.u16();
    if (closedCount > MAX_PREVIOUS_CHAINS) throw fail();
    const previousChains: ClosedChain[] = [];
    for (let i = 0; i < closedCount; i++) previousChains.push({ dh: reader.take(32), length: reader.u32() });
    const skippedCount = reader.u32();
    if (skippedCount > MAX_STORED_SKIPPED) throw fail();
    const skipped = new Map<string, SkippedKey>();
    for (let i = 0; i < skippedCount; i++) {
      const dh = reader.take(32);
      const n = reader.u32();
      const key: SkippedKey = { dh, n, messageKey: reader.take(32) };
      const id = skippedId(bytesToHex(dh), n);
      if (skipped.has(id)) throw fail();
      skipped.set(id, key);
    }
    reader.end();
    return new DoubleRatchet(provider, {
      rootKey,
      sending,
      remote,
      sendChain,
      receiveChain,
      sendCount,
      receiveCount,
      previousSendCount,
      associatedData,
      previousChains,
      skipped,
    });
  }
}
