/**
 * Pairwise sessions: one Double Ratchet session per peer device (`<user>:<device>`), created by
 * X3DH from a pre-key bundle (initiator) or from a prekey message (responder).
 *
 * - A new session sends prekey messages (carrying its X3DH header) until the peer's first reply
 *   arrives, so a lost or reordered first message does not break it.
 * - A device keeps its current session and up to two earlier ones: when both sides start a
 *   session at the same moment, or a late message of a replaced session arrives, the earlier
 *   state still decrypts it, and a state that decrypts is promoted to current.
 * - The responder finds the signed pre-key by id (current or previous) and the one-time pre-key
 *   by id; a used one-time pre-key is deleted.
 * - All work on one session is serialised, and a session's new state is durably stored BEFORE
 *   the ciphertext it produced is handed out: a restart never reuses a message key.
 * - Sessions are sealed records named by a keyed hash of `<user>:<device>`.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import {
  DoubleRatchet,
  constantTimeEqual,
  decodeX3DHHeader,
  encodeX3DHHeader,
  x3dhInitiate,
  x3dhRespond,
  wipe,
  type CryptoProvider,
  type PublicOneTimePreKey,
  type PublicSignedPreKey,
} from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64.js';
import type { PreKeys } from './prekeys.js';
import type { KeyedSerial } from './serial.js';
import type { AccountStore } from './store/account-store.js';
import { BodyType, decodeBody, encodePairwise, pairwiseAd, pairwisePrefix } from './wire-format.js';

/** Earlier session states kept besides the current one. */
export const MAX_PREVIOUS_SESSIONS = 2;
const INDEX_RECORD = 'sessions.bin';

export interface DeviceBundle {
  readonly deviceId: string;
  readonly signedPreKey: PublicSignedPreKey;
  readonly oneTimePreKey?: PublicOneTimePreKey;
}

export interface PeerBundle {
  readonly identityKey: Uint8Array;
  readonly bundle: DeviceBundle;
}

interface SessionState {
  ratchet: DoubleRatchet;
  remoteIdentity: Uint8Array;
  /** Encoded X3DH header to send until the peer answers (initiator only). */
  pendingPreKey: Uint8Array | null;
  /** The X3DH ephemeral key that created this session (to recognise repeated prekey messages). */
  baseKey: Uint8Array | null;
  createdAt: number;
}

interface StoredState {
  ratchet: string;
  remote_identity: string;
  pending: string | null;
  base_key: string | null;
  created_at: number;
}

interface SessionFile {
  v: 1;
  user_id: string;
  device_id: string;
  states: StoredState[];
}

interface IndexFile {
  v: 1;
  sessions: string[];
}

export interface OwnIdentity {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** What the client checks about a prekey message's claimed identity before X3DH (TOFU, own key). */
export type IdentityCheck = (userId: string, identityKey: Uint8Array) => Promise<void>;

export function noSession(userId: string, deviceId: string): CryptoError {
  return new CryptoError(CryptoErrorCode.INVALID_STATE, 'There is no session with this device', { reason: 'no_session', userId, deviceId });
}

const sessionKey = (userId: string, deviceId: string) => `${userId}:${deviceId}`;

export class SessionManager {
  private readonly cache = new Map<string, SessionState[]>();
  private index: Set<string> | undefined;

  constructor(
    private readonly store: AccountStore,
    private readonly provider: CryptoProvider,
    private readonly serial: KeyedSerial,
    private readonly identity: OwnIdentity,
    private readonly prekeys: PreKeys,
  ) {}

  private recordName(userId: string, deviceId: string): string {
    return `sessions/${this.store.hashedName('session', userId, deviceId)}.bin`;
  }

  private async loadIndex(): Promise<Set<string>> {
    if (!this.index) {
      const stored = await this.store.readJson<IndexFile>(INDEX_RECORD);
      this.index = new Set(stored?.sessions ?? []);
    }
    return this.index;
  }

  private async saveIndex(): Promise<void> {
    await this.store.writeJson(INDEX_RECORD, { v: 1, sessions: [...(await this.loadIndex())] } satisfies IndexFile);
  }

  private async load(userId: string, deviceId: string): Promise<SessionState[]> {
    const key = sessionKey(userId, deviceId);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const stored = await this.store.readJson<SessionFile>(this.recordName(userId, deviceId));
    const states = (stored?.states ?? []).map((s) => ({
      ratchet: DoubleRatchet.importState(decodeBase64(s.ratchet, 'ratchet'), this.provider),
      remoteIdentity: decodeBase64(s.remote_identity, 'remote_identity'),
      pendingPreKey: s.pending === null ? null : decodeBase64(s.pending, 'pending'),
      baseKey: s.base_key === null ? null : decodeBase64(s.base_key, 'base_key'),
      createdAt: s.created_at,
    }));
    this.cache.set(key, states);
    return states;
  }

  /** Stores a session's states durably (awaited before any ciphertext it produced leaves). */
  private async save(userId: string, deviceId: string, states: SessionState[]): Promise<void> {
    const key = sessionKey(userId, deviceId);
    this.cache.set(key, states);
    // Built when the write starts (writeJsonLazy), so saves queued behind a running write of the
    // record share one export. It never writes a state older than this call's: a newer one (a
    // chain further on) is as safe to recover from as this one.
    await this.store.writeJsonLazy(
      this.recordName(userId, deviceId),
      (): SessionFile => ({
        v: 1,
        user_id: userId,
        device_id: deviceId,
        states: states.map((s) => ({
          ratchet: encodeBase64(s.ratchet.exportState()),
          remote_identity: encodeBase64(s.remoteIdentity),
          pending: s.pendingPreKey ? encodeBase64(s.pendingPreKey) : null,
          base_key: s.baseKey ? encodeBase64(s.baseKey) : null,
          created_at: s.createdAt,
        })),
      }),
    );
    const index = await this.loadIndex();
    if (!index.has(key)) {
      index.add(key);
      await this.saveIndex();
    }
  }

  /** Runs `task` with this session's lock held. */
  withLock<T>(userId: string, deviceId: string, task: () => Promise<T>): Promise<T> {
    return this.serial.run(`session:${sessionKey(userId, deviceId)}`, task);
  }

  async has(userId: string, deviceId: string): Promise<boolean> {
    return (await this.load(userId, deviceId)).length > 0;
  }

  /** The peer identity key the current session was made with, if any. */
  async remoteIdentity(userId: string, deviceId: string): Promise<Uint8Array | undefined> {
    return (await this.load(userId, deviceId))[0]?.remoteIdentity;
  }

  /** The devices of a user this device has sessions with. */
  async devicesOf(userId: string): Promise<string[]> {
    const prefix = `${userId}:`;
    return [...(await this.loadIndex())].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
  }

  /**
   * Encrypts a padded plaintext for one peer device. Without a session, `bundle()` is asked for the
   * device's pre-key bundle and X3DH runs (verifying the signed pre-key: CryptoError bad_signature).
   * Returns the body bytes once the advanced session state is on disk.
   */
  encrypt(userId: string, deviceId: string, conversationId: string, padded: Uint8Array, bundle: () => Promise<PeerBundle>): Promise<Uint8Array> {
    return this.withLock(userId, deviceId, async () => {
      const states = await this.load(userId, deviceId);
      let state = states[0];
      if (!state || !state.ratchet.canEncrypt) {
        const peer = await bundle();
        const result = x3dhInitiate(
          {
            identityPrivate: this.identity.seed,
            identityPublic: this.identity.publicKey,
            remoteIdentityPublic: peer.identityKey,
            remoteSignedPreKey: peer.bundle.signedPreKey,
            remoteOneTimePreKey: peer.bundle.oneTimePreKey,
          },
          this.provider,
        );
        const ratchet = DoubleRatchet.initAlice(result.sharedSecret, peer.bundle.signedPreKey.publicKey, result.associatedData, this.provider);
        wipe(result.sharedSecret);
        state = {
          ratchet,
          remoteIdentity: peer.identityKey,
          pendingPreKey: encodeX3DHHeader(result.header),
          baseKey: result.ephemeralPublic,
          createdAt: Date.now(),
        };
        states.unshift(state);
        states.length = Math.min(states.length, 1 + MAX_PREVIOUS_SESSIONS);
      }
      const prefix = pairwisePrefix(state.pendingPreKey ?? undefined);
      const message = state.ratchet.encrypt(padded, pairwiseAd(prefix, conversationId));
      await this.save(userId, deviceId, states);
      return encodePairwise(prefix, message.header, message.ciphertext);
    });
  }

  /**
   * Decrypts a pairwise body from a peer device; returns the padded plaintext. Runs X3DH as the
   * responder for a prekey message that belongs to no known session. Every failure leaves the
   * stored sessions as they were.
   */
  decrypt(userId: string, deviceId: string, conversationId: string, body: Uint8Array, checkIdentity: IdentityCheck): Promise<Uint8Array> {
    return this.withLock(userId, deviceId, async () => {
      const decoded = decodeBody(body);
      if (decoded.type !== BodyType.PREKEY && decoded.type !== BodyType.RATCHET) {
        throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Not a pairwise message');
      }
      const ad = pairwiseAd(decoded.prefix, conversationId);
      const states = await this.load(userId, deviceId);

      if (decoded.type === BodyType.PREKEY) {
        const header = decodeX3DHHeader(decoded.x3dhHeader);
        const known = states.findIndex((s) => s.baseKey !== null && constantTimeEqual(s.baseKey, header.ephemeralKey));
        if (known >= 0) return this.decryptWith(userId, deviceId, states, known, decoded.header, decoded.ciphertext, ad);

        await checkIdentity(userId, header.identityKey);
        const signed = this.prekeys.signedPreKeyPair(header.signedPreKeyId);
        if (!signed) {
          throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'The message was made with a signed pre-key this device no longer has', {
            reason: 'unknown_signed_prekey',
          });
        }
        let oneTime: Uint8Array | undefined;
        if (header.oneTimePreKeyId !== undefined) {
          oneTime = this.prekeys.oneTimePrivate(header.oneTimePreKeyId);
          if (!oneTime) {
            wipe(signed.privateKey);
            throw new CryptoError(CryptoErrorCode.INVALID_KEY, 'The message was made with a one-time pre-key that was already used', {
              reason: 'unknown_one_time_prekey',
            });
          }
        }
        let ratchet: DoubleRatchet;
        let plaintext: Uint8Array;
        try {
          const agreed = x3dhRespond(
            {
              identityPrivate: this.identity.seed,
              identityPublic: this.identity.publicKey,
              signedPreKeyPrivate: signed.privateKey,
              oneTimePreKeyPrivate: oneTime,
              remoteIdentityPublic: header.identityKey,
              remoteEphemeralPublic: header.ephemeralKey,
            },
            this.provider,
          );
          ratchet = DoubleRatchet.initBob(agreed.sharedSecret, signed, agreed.associatedData, this.provider);
          wipe(agreed.sharedSecret);
          plaintext = ratchet.decrypt(decoded.header, decoded.ciphertext, ad);
        } finally {
          wipe(signed.privateKey, oneTime);
        }
        const state: SessionState = {
          ratchet,
          remoteIdentity: header.identityKey,
          pendingPreKey: null,
          baseKey: header.ephemeralKey,
          createdAt: Date.now(),
        };
        const next = [state, ...states].slice(0, 1 + MAX_PREVIOUS_SESSIONS);
        await this.save(userId, deviceId, next);
        if (header.oneTimePreKeyId !== undefined) await this.prekeys.consumeOneTime(header.oneTimePreKeyId);
        return plaintext;
      }

      if (states.length === 0) throw noSession(userId, deviceId);
      let lastError: unknown;
      for (let i = 0; i < states.length; i++) {
        try {
          return await this.decryptWith(userId, deviceId, states, i, decoded.header, decoded.ciphertext, ad);
        } catch (error) {
          lastError = error;
          // A duplicate in the current session is final; otherwise try the earlier states.
          if (error instanceof CryptoError && error.code === CryptoErrorCode.DUPLICATE_MESSAGE && i === 0) throw error;
        }
      }
      throw lastError;
    });
  }

  private async decryptWith(
    userId: string,
    deviceId: string,
    states: SessionState[],
    index: number,
    header: Parameters<DoubleRatchet['decrypt']>[0],
    ciphertext: Uint8Array,
    ad: Uint8Array,
  ): Promise<Uint8Array> {
    const state = states[index]!;
    const plaintext = state.ratchet.decrypt(header, ciphertext, ad);
    // A normal message from the peer on this session is its reply: stop sending the X3DH header.
    state.pendingPreKey = null;
    if (index > 0) {
      states.splice(index, 1);
      states.unshift(state);
    }
    await this.save(userId, deviceId, states);
    return plaintext;
  }

  /** Forgets the sessions with one device, or with every device of the user. */
  async forget(userId: string, deviceId?: string): Promise<string[]> {
    const devices = deviceId !== undefined ? [deviceId] : await this.devicesOf(userId);
    for (const device of devices) {
      await this.withLock(userId, device, async () => {
        this.cache.set(sessionKey(userId, device), []);
        await this.store.remove(this.recordName(userId, device));
        const index = await this.loadIndex();
        if (index.delete(sessionKey(userId, device))) await this.saveIndex();
      });
    }
    return devices;
  }

  /** Forgets every session (a device that became a new device). */
  async forgetAll(): Promise<void> {
    for (const key of [...(await this.loadIndex())]) {
      const at = key.indexOf(':');
      await this.forget(key.slice(0, at), key.slice(at + 1));
    }
  }
}
