/**
 * Sender keys of group conversations, one sealed record per conversation:
 *
 * - this device's own sending chain (SenderKeyState with its signing key), the devices it has been
 *   distributed to (`<user>:<device>`), and the members it was made for;
 * - the chains received from every other member device (a few per device, so that messages of a
 *   chain replaced by a rotation still decrypt).
 *
 * A received message is looked up by its chain id among the sending device's chains; a chain id
 * that belongs to ANOTHER member's chain is a forgery attempt (a member re-sending someone else's
 * ciphertext under its own name) and is refused like a bad signature. All work on one
 * conversation's keys is serialised.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { SenderKeyState, bytesToHex, constantTimeEqual, peekSenderKeyChainId, type CryptoProvider } from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64.js';
import type { KeyedSerial } from './serial.js';
import type { AccountStore } from './store/account-store.js';

/** Chains kept per sending device (the current one and those it replaced). */
export const MAX_CHAINS_PER_DEVICE = 4;

interface StoredOwn {
  state: string;
  created_at: number;
  sent_to: string[];
  members: string[];
}

interface StoredReceived {
  state: string;
  added_at: number;
}

interface GroupFile {
  v: 1;
  conversation_id: string;
  own: StoredOwn | null;
  received: Record<string, StoredReceived[]>;
}

export interface OwnChain {
  readonly state: SenderKeyState;
  readonly createdAt: number;
  /** Devices (`<user>:<device>`) that have this chain. */
  readonly sentTo: Set<string>;
  /** Users the chain was made for: if one of them leaves, the chain is replaced. */
  readonly members: Set<string>;
}

interface ReceivedChain {
  state: SenderKeyState;
  addedAt: number;
}

interface GroupState {
  own: OwnChain | null;
  received: Map<string, ReceivedChain[]>;
}

export const deviceKey = (userId: string, deviceId: string) => `${userId}:${deviceId}`;

export class GroupKeys {
  private readonly cache = new Map<string, GroupState>();

  constructor(
    private readonly store: AccountStore,
    private readonly provider: CryptoProvider,
    private readonly serial: KeyedSerial,
    private readonly report: (error: Error) => void,
  ) {}

  private recordName(conversationId: string): string {
    return `groups/${this.store.hashedName('group', conversationId)}.bin`;
  }

  /** Runs `task` with this conversation's sender-key lock held. */
  withLock<T>(conversationId: string, task: () => Promise<T>): Promise<T> {
    return this.serial.run(`group:${conversationId}`, task);
  }

  private async load(conversationId: string): Promise<GroupState> {
    const cached = this.cache.get(conversationId);
    if (cached) return cached;
    let file: GroupFile | undefined;
    try {
      file = await this.store.readJson<GroupFile>(this.recordName(conversationId));
    } catch (error) {
      // Sender keys heal themselves: a new own chain is distributed, missing ones are asked for again.
      this.report(error as Error);
      file = undefined;
    }
    const state: GroupState = { own: null, received: new Map() };
    if (file?.own) {
      state.own = {
        state: SenderKeyState.importState(decodeBase64(file.own.state, 'state'), this.provider),
        createdAt: file.own.created_at,
        sentTo: new Set(file.own.sent_to),
        members: new Set(file.own.members),
      };
    }
    for (const [device, chains] of Object.entries(file?.received ?? {})) {
      state.received.set(
        device,
        chains.map((c) => ({ state: SenderKeyState.importState(decodeBase64(c.state, 'state'), this.provider), addedAt: c.added_at })),
      );
    }
    this.cache.set(conversationId, state);
    return state;
  }

  private async save(conversationId: string, state: GroupState): Promise<void> {
    // Built when the write starts (writeJsonLazy): each group message read advances a chain and
    // saves the whole record (every member's chain), so saves that queue up behind a running write
    // share one serialisation. The state written is never older than at this call.
    await this.store.writeJsonLazy(this.recordName(conversationId), () => this.fileOf(conversationId, state));
  }

  private fileOf(conversationId: string, state: GroupState): GroupFile {
    return {
      v: 1,
      conversation_id: conversationId,
      own: state.own
        ? {
            state: encodeBase64(state.own.state.exportState()),
            created_at: state.own.createdAt,
            sent_to: [...state.own.sentTo],
            members: [...state.own.members],
          }
        : null,
      received: Object.fromEntries(
        [...state.received].map(([device, chains]) => [device, chains.map((c) => ({ state: encodeBase64(c.state.exportState()), added_at: c.addedAt }))]),
      ),
    };
  }

  async own(conversationId: string): Promise<OwnChain | null> {
    return (await this.load(conversationId)).own;
  }

  /** A new own chain for these members (rotation: nobody has it yet). Caller holds the lock. */
  async newOwnChain(conversationId: string, members: Iterable<string>): Promise<OwnChain> {
    const state = await this.load(conversationId);
    state.own = { state: SenderKeyState.create(this.provider), createdAt: Date.now(), sentTo: new Set(), members: new Set(members) };
    await this.save(conversationId, state);
    return state.own;
  }

  /** Records that these devices now have the own chain (after the distribution was stored by the server). */
  async markDistributed(conversationId: string, devices: Iterable<string>): Promise<void> {
    const state = await this.load(conversationId);
    if (!state.own) return;
    for (const device of devices) state.own.sentTo.add(device);
    await this.save(conversationId, state);
  }

  /** Encrypts with the own chain; the advanced chain is on disk before the ciphertext is returned. Caller holds the lock. */
  async encrypt(conversationId: string, padded: Uint8Array): Promise<Uint8Array> {
    const state = await this.load(conversationId);
    if (!state.own) throw new CryptoError(CryptoErrorCode.INVALID_STATE, 'No own sender key for this group');
    const message = state.own.state.encrypt(padded);
    await this.save(conversationId, state);
    return message;
  }

  /** Stores a chain distributed by a member device. Returns the chain id (hex). */
  addReceived(conversationId: string, userId: string, deviceId: string, distribution: Uint8Array): Promise<string> {
    return this.withLock(conversationId, async () => {
      const incoming = SenderKeyState.fromDistribution(distribution, this.provider);
      const state = await this.load(conversationId);
      const key = deviceKey(userId, deviceId);
      const chains = state.received.get(key) ?? [];
      const existing = chains.find((c) => constantTimeEqual(c.state.chainId, incoming.chainId));
      if (existing) {
        // The same chain again (a retry, or a resend): keep ours unless this one starts earlier.
        if (incoming.iteration >= existing.state.iteration) return bytesToHex(incoming.chainId);
        chains.splice(chains.indexOf(existing), 1);
      }
      chains.unshift({ state: incoming, addedAt: Date.now() });
      state.received.set(key, chains.slice(0, MAX_CHAINS_PER_DEVICE));
      await this.save(conversationId, state);
      return bytesToHex(incoming.chainId);
    });
  }

  /**
   * Decrypts a group message from a member device; returns the padded plaintext. CryptoError
   * unknown_chain when the chain has not arrived (yet); bad_signature for a forged message (bad
   * signature, or another member's chain under this sender's name).
   */
  decrypt(conversationId: string, userId: string, deviceId: string, message: Uint8Array): Promise<Uint8Array> {
    return this.withLock(conversationId, async () => {
      const chainId = peekSenderKeyChainId(message);
      const state = await this.load(conversationId);
      const own = deviceKey(userId, deviceId);
      const chain = (state.received.get(own) ?? []).find((c) => constantTimeEqual(c.state.chainId, chainId));
      if (!chain) {
        for (const [device, chains] of state.received) {
          if (device !== own && chains.some((c) => constantTimeEqual(c.state.chainId, chainId))) {
            throw new CryptoError(CryptoErrorCode.BAD_SIGNATURE, "A group message uses another member's sender key under this sender's name", {
              reason: 'forged_sender',
            });
          }
        }
        if (state.own && constantTimeEqual(state.own.state.chainId, chainId)) {
          throw new CryptoError(CryptoErrorCode.BAD_SIGNATURE, "A group message uses this device's own sender key under another sender's name", {
            reason: 'forged_sender',
          });
        }
        throw new CryptoError(CryptoErrorCode.UNKNOWN_CHAIN, 'The sender key for this group message has not arrived', { chainId: bytesToHex(chainId) });
      }
      const plaintext = chain.state.decrypt(message);
      await this.save(conversationId, state);
      return plaintext;
    });
  }

  /** Forgets the chains received from a user's devices (they left the group). */
  dropSender(conversationId: string, userId: string): Promise<void> {
    return this.withLock(conversationId, async () => {
      const state = await this.load(conversationId);
      let changed = false;
      for (const device of [...state.received.keys()]) {
        if (device.startsWith(`${userId}:`)) {
          state.received.delete(device);
          changed = true;
        }
      }
      if (changed) await this.save(conversationId, state);
    });
  }

  /** Forgets the chains received from one device (removed from its account). */
  dropDevice(conversationId: string, userId: string, deviceId: string): Promise<void> {
    return this.withLock(conversationId, async () => {
      const state = await this.load(conversationId);
      if (state.received.delete(deviceKey(userId, deviceId))) await this.save(conversationId, state);
    });
  }

  /** Forgets everything about a conversation (left, removed, deleted). */
  drop(conversationId: string): Promise<void> {
    return this.withLock(conversationId, async () => {
      this.cache.delete(conversationId);
      await this.store.remove(this.recordName(conversationId));
    });
  }

  /** Forgets the distribution bookkeeping (this device became a new device: nobody has its chains). */
  async resetDistribution(conversationId: string): Promise<void> {
    await this.withLock(conversationId, async () => {
      const state = await this.load(conversationId);
      if (state.own) {
        state.own = null;
        await this.save(conversationId, state);
      }
    });
  }
}
