/**
 * Who has which devices: the pre-key bundles of `get_key_bundle`, cached per user for five
 * minutes (the original's device bundle cache). Every bundle's signed pre-key signature is
 * verified against the user's identity key when it arrives, and the identity key itself goes
 * through the client's trust check (TOFU / identityKeySeen): a bad signature or a changed key
 * refuses the operation that needed the bundle, naming the peer, before anything is sent.
 *
 * A bundle's one-time pre-key is handed out once by the server; after a session was made from it
 * the cached bundle is marked used and a new one is fetched for that device when needed.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { verifySignedPreKey, type CryptoProvider } from '../crypto/index.js';
import { decodeBase64 } from '../protocol/base64.js';
import type { DeviceBundle, PeerBundle } from './sessions.js';

export const BUNDLE_TTL_MS = 5 * 60 * 1000;

interface WireBundle {
  user_id: string;
  username: string;
  identity_key: string;
  devices: Array<{
    device_id: string;
    signed_prekey: { key_id: number; public_key: string; signature: string };
    one_time_prekey: { key_id: number; public_key: string } | null;
  }>;
}

export interface UserDevices {
  readonly userId: string;
  readonly username: string;
  readonly identityKey: Uint8Array;
  readonly identityKeyBase64: string;
  /** Device ids (own account: without this device). */
  readonly deviceIds: readonly string[];
}

interface CacheEntry {
  user: UserDevices;
  fetchedAt: number;
  /** Unused bundles by device (undefined once used for a session). */
  bundles: Map<string, DeviceBundle>;
}

export type Requester = <T>(type: string, fields?: Record<string, unknown>) => Promise<T>;

/** Checks a user's identity key as the server presented it; throws to refuse (changed key, ...). */
export type IdentityGate = (userId: string, username: string, identityKey: string) => Promise<void>;

export class DeviceDirectory {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<CacheEntry>>();

  constructor(
    private readonly request: Requester,
    private readonly gate: IdentityGate,
    private readonly provider: CryptoProvider,
    private readonly ttlMs = BUNDLE_TTL_MS,
  ) {}

  /** The user's devices (cached for the TTL unless `refresh`). */
  async devices(userId: string, options: { refresh?: boolean } = {}): Promise<UserDevices> {
    const cached = this.cache.get(userId);
    if (cached && !options.refresh && Date.now() - cached.fetchedAt < this.ttlMs) return cached.user;
    return (await this.fetch(userId)).user;
  }

  /** A bundle to start a session with one device: a cached unused one, or a fresh one. */
  async bundleFor(userId: string, deviceId: string): Promise<PeerBundle> {
    let entry = this.cache.get(userId);
    let bundle = entry?.bundles.get(deviceId);
    if (!entry || !bundle || Date.now() - entry.fetchedAt >= this.ttlMs) {
      entry = await this.fetch(userId, [deviceId]);
      bundle = entry.bundles.get(deviceId);
    }
    if (!bundle) {
      throw new CryptoError(CryptoErrorCode.INVALID_KEY, `${entry.user.username} has no device ${deviceId.slice(0, 8)} with published pre-keys`, {
        userId,
        deviceId,
        reason: 'no_bundle',
      });
    }
    // One-time pre-keys are one-time: the next session with this device needs a new bundle.
    entry.bundles.delete(deviceId);
    return { identityKey: entry.user.identityKey, bundle };
  }

  /**
   * A message came from this device of the user: if the cached device list does not know it, the
   * list is stale (a device was added) and is fetched again before the next send.
   */
  noteDevice(userId: string, deviceId: string): void {
    const entry = this.cache.get(userId);
    if (entry && !entry.user.deviceIds.includes(deviceId)) this.cache.delete(userId);
  }

  /** Forgets what is cached about a user (device list changed, session reset, ...). */
  invalidate(userId: string): void {
    this.cache.delete(userId);
  }

  /** Forgets one device of a user (removed). */
  dropDevice(userId: string, deviceId: string): void {
    const entry = this.cache.get(userId);
    if (!entry) return;
    entry.bundles.delete(deviceId);
    entry.user = { ...entry.user, deviceIds: entry.user.deviceIds.filter((id) => id !== deviceId) };
  }

  clear(): void {
    this.cache.clear();
  }

  private fetch(userId: string, deviceIds?: string[]): Promise<CacheEntry> {
    const key = deviceIds ? `${userId}|${deviceIds.join(',')}` : userId;
    let running = this.inflight.get(key);
    if (!running) {
      running = this.load(userId, deviceIds).finally(() => this.inflight.delete(key));
      this.inflight.set(key, running);
    }
    return running;
  }

  private async load(userId: string, deviceIds?: string[]): Promise<CacheEntry> {
    const wire = await this.request<WireBundle>('get_key_bundle', deviceIds ? { user_id: userId, device_ids: deviceIds } : { user_id: userId });
    const identityKey = decodeBase64(wire.identity_key, 'identity_key', { exactBytes: 32 });
    await this.gate(wire.user_id, wire.username, wire.identity_key);
    const bundles = new Map<string, DeviceBundle>();
    for (const device of wire.devices) {
      const signedPreKey = {
        keyId: device.signed_prekey.key_id,
        publicKey: decodeBase64(device.signed_prekey.public_key, 'signed_prekey.public_key', { exactBytes: 32 }),
        signature: decodeBase64(device.signed_prekey.signature, 'signed_prekey.signature', { exactBytes: 64 }),
      };
      if (!verifySignedPreKey(identityKey, signedPreKey.publicKey, signedPreKey.signature, this.provider)) {
        throw new CryptoError(
          CryptoErrorCode.BAD_SIGNATURE,
          `The signed pre-key of ${wire.username}'s device ${device.device_id.slice(0, 8)} is not signed by ${wire.username}'s identity key: refusing to encrypt for it (the server may be tampering with keys)`,
          { userId: wire.user_id, username: wire.username, deviceId: device.device_id },
        );
      }
      const oneTime = device.one_time_prekey;
      bundles.set(device.device_id, {
        deviceId: device.device_id,
        signedPreKey,
        ...(oneTime ? { oneTimePreKey: { keyId: oneTime.key_id, publicKey: decodeBase64(oneTime.public_key, 'one_time_prekey.public_key', { exactBytes: 32 }) } } : {}),
      });
    }
    const previous = this.cache.get(userId);
    let entry: CacheEntry;
    if (deviceIds && previous) {
      // A partial fetch adds to what is known about the user.
      for (const [id, bundle] of bundles) previous.bundles.set(id, bundle);
      const ids = new Set([...previous.user.deviceIds, ...bundles.keys()]);
      previous.user = { ...previous.user, identityKey, identityKeyBase64: wire.identity_key, deviceIds: [...ids] };
      entry = previous;
    } else {
      entry = {
        user: { userId: wire.user_id, username: wire.username, identityKey, identityKeyBase64: wire.identity_key, deviceIds: [...bundles.keys()] },
        fetchedAt: deviceIds ? 0 : Date.now(),
        bundles,
      };
      this.cache.set(userId, entry);
    }
    return entry;
  }
}
