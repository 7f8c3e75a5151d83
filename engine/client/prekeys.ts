/**
 * This device's pre-keys: the current signed pre-key, the previous one (kept for a grace period
 * so that an X3DH message made with it before a rotation still decrypts), and the private halves
 * of the one-time pre-keys it uploaded (deleted once used). Stored sealed in `prekeys.bin`.
 *
 * Upkeep (after every login): rotate the signed pre-key when it is older than the rotation
 * interval (7 days) or the server has none; replenish one-time pre-keys to the target (50) when
 * fewer than the minimum (20) are left on the server; drop the previous signed pre-key after the
 * grace period (30 days). New private keys are stored BEFORE their public halves are uploaded, so
 * no message can ever arrive for a key this device does not have.
 */
import {
  generateOneTimePreKeys,
  generateSignedPreKey,
  wipe,
  type CryptoProvider,
  type KeyPair,
  type OneTimePreKey,
  type SignedPreKey,
} from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64.js';
import type { AccountStore } from './store/account-store.js';

export const PREKEYS_RECORD = 'prekeys.bin';
export const DAY_MS = 24 * 60 * 60 * 1000;

export interface PreKeyPolicy {
  /** Rotate the signed pre-key when it is at least this old (default 7 days). */
  readonly signedPreKeyRotationMs: number;
  /** Keep the previous signed pre-key this long after a rotation (default 30 days). */
  readonly signedPreKeyGraceMs: number;
  /** Upload one-time pre-keys up to this many (default 50). */
  readonly oneTimePreKeyTarget: number;
  /** ... when fewer than this many are left on the server (default 20). */
  readonly oneTimePreKeyMinimum: number;
}

export const DEFAULT_PREKEY_POLICY: PreKeyPolicy = Object.freeze({
  signedPreKeyRotationMs: 7 * DAY_MS,
  signedPreKeyGraceMs: 30 * DAY_MS,
  oneTimePreKeyTarget: 50,
  oneTimePreKeyMinimum: 20,
});

/** Most one-time pre-keys the server accepts in one upload. */
const MAX_UPLOAD = 100;
/** Most one-time pre-key privates kept (the server holds at most 200; older ones were handed out long ago). */
const MAX_STORED_ONE_TIME = 600;

interface StoredSignedPreKey {
  id: number;
  private_key: string;
  public_key: string;
  signature: string;
  created_at: number;
  retired_at?: number;
}

interface PreKeyFile {
  v: 1;
  current: StoredSignedPreKey | null;
  previous: StoredSignedPreKey | null;
  next_signed_id: number;
  next_one_time_id: number;
  one_time: Record<string, string>;
  /** One-time pre-keys generated but not uploaded yet (ids). */
  not_uploaded?: number[];
}

export interface PreKeyStatus {
  readonly count: number;
  readonly spk_created_at: number | null;
  readonly spk_key_id: number | null;
}

export interface UpkeepResult {
  /** One-time pre-keys on the server afterwards. */
  readonly oneTimePreKeys: number;
  readonly uploadedOneTimePreKeys: number;
  readonly rotatedSignedPreKey: boolean;
  readonly signedPreKeyId: number | null;
}

type Requester = <T>(type: string, fields?: Record<string, unknown>) => Promise<T>;

function toStored(key: SignedPreKey, createdAt: number): StoredSignedPreKey {
  return {
    id: key.keyId,
    private_key: encodeBase64(key.privateKey),
    public_key: encodeBase64(key.publicKey),
    signature: encodeBase64(key.signature),
    created_at: createdAt,
  };
}

export class PreKeys {
  private file: PreKeyFile = { v: 1, current: null, previous: null, next_signed_id: 1, next_one_time_id: 1, one_time: {} };

  constructor(
    private readonly store: AccountStore,
    private readonly provider: CryptoProvider,
    private readonly policy: PreKeyPolicy,
  ) {}

  /** Loads prekeys.bin (store_corrupt if it does not open). */
  async load(): Promise<void> {
    const stored = await this.store.readJson<PreKeyFile>(PREKEYS_RECORD);
    if (stored) this.file = stored;
  }

  /** Forgets everything (a new device starts over). */
  async reset(): Promise<void> {
    this.file = { v: 1, current: null, previous: null, next_signed_id: 1, next_one_time_id: 1, one_time: {} };
    await this.save();
  }

  private save(): Promise<void> {
    return this.store.writeJson(PREKEYS_RECORD, this.file);
  }

  get currentSignedPreKeyId(): number | null {
    return this.file.current?.id ?? null;
  }

  get storedOneTimeCount(): number {
    return Object.keys(this.file.one_time).length;
  }

  /** The key pair of a signed pre-key by id: the current one, or the previous one within its grace period. */
  signedPreKeyPair(id: number, now = Date.now()): KeyPair | undefined {
    for (const key of [this.file.current, this.file.previous]) {
      if (!key || key.id !== id) continue;
      if (key.retired_at !== undefined && now - key.retired_at >= this.policy.signedPreKeyGraceMs) return undefined;
      return { privateKey: decodeBase64(key.private_key, 'signed_prekey'), publicKey: decodeBase64(key.public_key, 'signed_prekey') };
    }
    return undefined;
  }

  /** The private half of a one-time pre-key, if this device still has it. */
  oneTimePrivate(id: number): Uint8Array | undefined {
    const value = this.file.one_time[String(id)];
    return value === undefined ? undefined : decodeBase64(value, 'one_time_prekey');
  }

  /** Deletes a used one-time pre-key (it is never accepted again). */
  async consumeOneTime(id: number): Promise<void> {
    if (!(String(id) in this.file.one_time)) return;
    delete this.file.one_time[String(id)];
    await this.save();
  }

  /** A new signed pre-key (stored before it is returned); the current one becomes the previous. */
  private async newSignedPreKey(identitySeed: Uint8Array, now: number): Promise<SignedPreKey> {
    const id = this.file.next_signed_id;
    const key = generateSignedPreKey(identitySeed, id, this.provider);
    if (this.file.current) this.file.previous = { ...this.file.current, retired_at: now };
    this.file.current = toStored(key, now);
    this.file.next_signed_id = id >= 0xfffffffe ? 1 : id + 1;
    await this.save();
    return key;
  }

  private async newOneTimePreKeys(count: number): Promise<OneTimePreKey[]> {
    let start = this.file.next_one_time_id;
    if (start + count > 0xffffffff) start = 1;
    const keys = generateOneTimePreKeys(start, count, this.provider);
    for (const key of keys) this.file.one_time[String(key.keyId)] = encodeBase64(key.privateKey);
    this.file.next_one_time_id = start + count;
    // Keys handed out in bundles that nobody used stay here; the oldest ones go beyond the cap.
    const ids = Object.keys(this.file.one_time).map(Number).sort((a, b) => a - b);
    for (const id of ids.slice(0, Math.max(0, ids.length - MAX_STORED_ONE_TIME))) delete this.file.one_time[String(id)];
    await this.save();
    return keys;
  }

  /** Drops the previous signed pre-key once its grace period is over. */
  private async expirePrevious(now: number): Promise<void> {
    const previous = this.file.previous;
    if (previous?.retired_at !== undefined && now - previous.retired_at >= this.policy.signedPreKeyGraceMs) {
      this.file.previous = null;
      await this.save();
    }
  }

  /**
   * Brings the server's pre-keys for this device up to the policy: asks for the status, rotates the
   * signed pre-key if needed, replenishes one-time pre-keys. `forceRotation` rotates in any case.
   */
  async upkeep(request: Requester, identitySeed: Uint8Array, options: { forceRotation?: boolean } = {}): Promise<UpkeepResult> {
    const now = Date.now();
    await this.expirePrevious(now);
    const status = await request<PreKeyStatus>('ensure_prekeys', {});
    const current = this.file.current;
    const serverHasCurrent = current !== null && status.spk_key_id === current.id && status.spk_created_at !== null;
    const age = serverHasCurrent ? now - status.spk_created_at! : current ? now - current.created_at : Infinity;
    const rotate = options.forceRotation === true || current === null || age >= this.policy.signedPreKeyRotationMs;
    const fields: Record<string, unknown> = {};
    const wipeLater: Uint8Array[] = [];
    if (rotate) {
      const key = await this.newSignedPreKey(identitySeed, now);
      wipeLater.push(key.privateKey);
      fields.signed_prekey = { key_id: key.keyId, public_key: encodeBase64(key.publicKey), signature: encodeBase64(key.signature) };
    } else if (!serverHasCurrent) {
      // Generated earlier (at registration) but never uploaded, or the server lost it: upload it as it is.
      fields.signed_prekey = { key_id: current!.id, public_key: current!.public_key, signature: current!.signature };
    }
    // One-time pre-keys generated earlier and not uploaded yet go first.
    const waiting = (this.file.not_uploaded ?? []).filter((id) => String(id) in this.file.one_time);
    const upload: Array<{ key_id: number; public_key: string }> = [];
    for (const id of waiting.slice(0, MAX_UPLOAD)) {
      const privateKey = decodeBase64(this.file.one_time[String(id)]!, 'one_time_prekey');
      upload.push({ key_id: id, public_key: encodeBase64(this.provider.x25519PublicKey(privateKey)) });
      wipe(privateKey);
    }
    if (status.count + upload.length < this.policy.oneTimePreKeyMinimum) {
      const wanted = Math.min(MAX_UPLOAD - upload.length, Math.max(0, this.policy.oneTimePreKeyTarget - status.count - upload.length));
      if (wanted > 0) {
        const keys = await this.newOneTimePreKeys(wanted);
        wipeLater.push(...keys.map((key) => key.privateKey));
        for (const key of keys) upload.push({ key_id: key.keyId, public_key: encodeBase64(key.publicKey) });
      }
    }
    wipe(...wipeLater);
    if (upload.length > 0) fields.one_time_prekeys = upload;
    if (Object.keys(fields).length === 0) {
      return { oneTimePreKeys: status.count, uploadedOneTimePreKeys: 0, rotatedSignedPreKey: false, signedPreKeyId: current?.id ?? null };
    }
    const after = await request<PreKeyStatus>('ensure_prekeys', fields);
    if (waiting.length > 0) {
      const sent = new Set(upload.map((key) => key.key_id));
      this.file.not_uploaded = (this.file.not_uploaded ?? []).filter((id) => !sent.has(id));
      await this.save();
    }
    return { oneTimePreKeys: after.count, uploadedOneTimePreKeys: upload.length, rotatedSignedPreKey: rotate, signedPreKeyId: this.file.current?.id ?? null };
  }

  /**
   * The pre-keys of a new account, generated locally at registration and stored (sealed) until
   * the first login uploads them: a signed pre-key and a full batch of one-time pre-keys.
   */
  async generateInitial(identitySeed: Uint8Array): Promise<void> {
    const now = Date.now();
    const signed = await this.newSignedPreKey(identitySeed, now);
    wipe(signed.privateKey);
    const keys = await this.newOneTimePreKeys(this.policy.oneTimePreKeyTarget);
    this.file.not_uploaded = keys.map((key) => key.keyId);
    wipe(...keys.map((key) => key.privateKey));
    await this.save();
  }
}
