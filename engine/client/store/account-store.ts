/**
 * One account's folder on disk: `<home>/<email>/`.
 *
 *   keys.kenv        the private identity and login keys in a password envelope (Argon2id)
 *   lockout.json     failed-password lockout (no secret)
 *   *.bin, <dir>/*.bin  every other record (device state, pre-key privates, sessions, sender keys,
 *                    identity registry, message cache, outbox) sealed with the local key that is
 *                    derived from the identity key: AES-256-GCM, the record's relative path as
 *                    associated data, so records cannot be swapped for one another either.
 *
 * Nothing is ever read back as plaintext: a record that does not open is corrupt (ClientError
 * store_corrupt) — callers decide whether that is fatal (device state) or means "start empty and
 * report" (caches, the identity registry). Record names that would reveal who the user talks to
 * (sessions, conversations) are keyed hashes.
 */
import { dirname, join, relative, sep } from 'node:path';
import { ClientError, ClientErrorCode, CryptoError, CryptoErrorCode, WireErrorCode } from '../../errors.js';
import {
  type CryptoProvider,
  bytesToHex,
  concatBytes,
  copyBytes,
  hmacSha256,
  hkdfSha256,
  openLocal,
  openWithPassword,
  sealLocal,
  sealWithPassword,
  utf8Decode,
  utf8Encode,
  wipe,
} from '../../crypto/index.js';
import type { SealOptions } from '../../crypto/index.js';
import { normalizeEmail } from '../../protocol/auth.js';
import { FileWriters, ensureDir, exists, readIfExists, removeStaleTempFiles, writeFileAtomic } from './files.js';
import { Lockout } from './lockout.js';

export const KEYS_FILE = 'keys.kenv';
const KEYS_FORMAT = 1;
const NAME_LABEL = utf8Encode('kecalek-record-names-v1');

/** The secrets in keys.kenv (the identity seed also yields the local and self-copy keys). */
export interface KeyMaterial {
  identitySeed: Uint8Array;
  loginSeed: Uint8Array;
  /** A new login key not yet confirmed by the server (rotateLoginKey in progress). */
  pendingLoginSeed: Uint8Array | null;
  userId: string | null;
  username: string;
  email: string;
}

export function wipeKeyMaterial(keys: KeyMaterial): void {
  wipe(keys.identitySeed, keys.loginSeed, keys.pendingLoginSeed);
}

export function copyKeyMaterial(keys: KeyMaterial): KeyMaterial {
  return {
    ...keys,
    identitySeed: copyBytes(keys.identitySeed),
    loginSeed: copyBytes(keys.loginSeed),
    pendingLoginSeed: keys.pendingLoginSeed ? copyBytes(keys.pendingLoginSeed) : null,
  };
}

/** version u8 | identity seed 32 | login seed 32 | flags u8 (1: pending login seed) | [pending 32] | utf8 JSON metadata */
function encodeKeyMaterial(keys: KeyMaterial): Uint8Array {
  const meta = utf8Encode(JSON.stringify({ user_id: keys.userId, username: keys.username, email: keys.email }));
  const head = new Uint8Array([KEYS_FORMAT]);
  const flags = new Uint8Array([keys.pendingLoginSeed ? 1 : 0]);
  return concatBytes(head, keys.identitySeed, keys.loginSeed, flags, ...(keys.pendingLoginSeed ? [keys.pendingLoginSeed] : []), meta);
}

function decodeKeyMaterial(bytes: Uint8Array): KeyMaterial {
  const corrupt = () => new ClientError(ClientErrorCode.STORE_CORRUPT, `The key file ${KEYS_FILE} has an unknown layout`, { file: KEYS_FILE });
  if (bytes.length < 66 || bytes[0] !== KEYS_FORMAT) throw corrupt();
  const identitySeed = copyBytes(bytes.subarray(1, 33));
  const loginSeed = copyBytes(bytes.subarray(33, 65));
  const flags = bytes[65]!;
  let offset = 66;
  let pendingLoginSeed: Uint8Array | null = null;
  if (flags & 1) {
    if (bytes.length < offset + 32) throw corrupt();
    pendingLoginSeed = copyBytes(bytes.subarray(offset, offset + 32));
    offset += 32;
  }
  const meta = JSON.parse(utf8Decode(bytes.subarray(offset))) as { user_id?: string | null; username?: string; email?: string };
  if (typeof meta.username !== 'string' || typeof meta.email !== 'string') throw corrupt();
  return { identitySeed, loginSeed, pendingLoginSeed, userId: meta.user_id ?? null, username: meta.username, email: meta.email };
}

/** A folder name for an address: the normalised address, refused if it could escape `home`. */
export function accountFolderName(email: string): string {
  const name = normalizeEmail(email);
  const unsafe = [...name].some((char) => char === '/' || char === '\\' || char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
  if (name.length === 0 || name === '.' || name === '..' || unsafe || !name.includes('@')) {
    throw new ClientError(ClientErrorCode.NO_ACCOUNT, 'Not a valid e-mail address for an account folder');
  }
  return name;
}

export class AccountStore {
  readonly folder: string;
  readonly email: string;
  readonly lockout: Lockout;
  private readonly writers = new FileWriters();
  /** Sub-folders known to exist with mode 0700 (created once per run). */
  private readonly folders = new Set<string>();
  private localKey: Uint8Array | null = null;
  private nameKey: Uint8Array | null = null;

  constructor(
    readonly home: string,
    email: string,
    private readonly provider: CryptoProvider,
  ) {
    this.email = normalizeEmail(email);
    this.folder = join(home, accountFolderName(email));
    this.lockout = new Lockout(this.folder);
  }

  async hasKeys(): Promise<boolean> {
    return exists(join(this.folder, KEYS_FILE));
  }

  /** Creates the folders (0700) and removes temporary files a crash left behind. */
  async prepare(): Promise<void> {
    await ensureDir(this.home);
    await ensureDir(this.folder);
    await removeStaleTempFiles(this.folder);
  }

  /** Writes keys.kenv (a new password envelope). */
  async saveKeys(keys: KeyMaterial, password: Uint8Array, options: SealOptions = {}): Promise<void> {
    await this.prepare();
    const plain = encodeKeyMaterial(keys);
    try {
      const sealed = await sealWithPassword(plain, password, { ...options, provider: this.provider });
      await writeFileAtomic(join(this.folder, KEYS_FILE), sealed);
    } finally {
      wipe(plain);
    }
  }

  /**
   * Opens keys.kenv with the password. Throws ClientError invalid_credentials for a wrong
   * password (callers count it for the lockout), store_corrupt for a damaged file, no_account
   * when there is none.
   */
  async openKeys(password: Uint8Array): Promise<KeyMaterial> {
    const sealed = await readIfExists(join(this.folder, KEYS_FILE));
    if (!sealed) throw new ClientError(ClientErrorCode.NO_ACCOUNT, 'There is no account for this address on this computer');
    let plain: Uint8Array;
    try {
      plain = await openWithPassword(sealed, password, { provider: this.provider });
    } catch (error) {
      if (error instanceof CryptoError && error.code === CryptoErrorCode.WRONG_PASSWORD) {
        throw new ClientError(WireErrorCode.INVALID_CREDENTIALS, 'Wrong password');
      }
      if (error instanceof CryptoError) {
        throw new ClientError(ClientErrorCode.STORE_CORRUPT, `The key file ${KEYS_FILE} is damaged or was modified`, { file: KEYS_FILE }, { cause: error });
      }
      throw error;
    }
    try {
      return decodeKeyMaterial(plain);
    } catch (error) {
      if (error instanceof ClientError) throw error;
      throw new ClientError(ClientErrorCode.STORE_CORRUPT, `The key file ${KEYS_FILE} is damaged`, { file: KEYS_FILE }, { cause: error });
    } finally {
      wipe(plain);
    }
  }

  /** Enables the sealed records with the local key (a copy is kept until lock()). */
  unlock(localKey: Uint8Array): void {
    this.lock();
    this.localKey = copyBytes(localKey);
    this.nameKey = hkdfSha256(localKey, NAME_LABEL, NAME_LABEL, 32, this.provider);
  }

  /** Forgets the local key (after flushing pending writes). */
  lock(): void {
    wipe(this.localKey, this.nameKey);
    this.localKey = null;
    this.nameKey = null;
  }

  get unlocked(): boolean {
    return this.localKey !== null;
  }

  private key(): Uint8Array {
    if (!this.localKey) throw new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'The account store is locked');
    return this.localKey;
  }

  /** A keyed-hash file name, so record names do not reveal user, device or conversation ids. */
  hashedName(kind: string, ...parts: string[]): string {
    if (!this.nameKey) throw new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'The account store is locked');
    return bytesToHex(hmacSha256(this.nameKey, utf8Encode([kind, ...parts].join('\u0000')), this.provider)).slice(0, 40);
  }

  private pathOf(name: string): string {
    const full = join(this.folder, name);
    const rel = relative(this.folder, full);
    if (rel.startsWith('..') || rel.includes(`..${sep}`)) throw new Error('A record name must stay inside the account folder');
    return full;
  }

  private aad(name: string): Uint8Array {
    return utf8Encode(`kecalek-record\u0000${name.split(sep).join('/')}`);
  }

  /** A sealed record's plaintext, or undefined when it does not exist; store_corrupt if it does not open. */
  async read(name: string): Promise<Uint8Array | undefined> {
    const sealed = await readIfExists(this.pathOf(name));
    if (!sealed) return undefined;
    try {
      return openLocal(this.key(), sealed, this.aad(name), this.provider);
    } catch (error) {
      if (error instanceof CryptoError) {
        throw new ClientError(ClientErrorCode.STORE_CORRUPT, `The file ${name} in the account folder is damaged or was modified`, { file: name }, { cause: error });
      }
      throw error;
    }
  }

  /** The record's path, its folder created (0700) the first time. */
  private async recordPath(name: string): Promise<string> {
    const path = this.pathOf(name);
    const dir = dirname(path);
    if (dir !== this.folder && !this.folders.has(dir)) {
      await ensureDir(dir);
      this.folders.add(dir);
    }
    return path;
  }

  /** Seals and writes a record atomically (coalesced with other writes of the same record). */
  async write(name: string, plaintext: Uint8Array): Promise<void> {
    const path = await this.recordPath(name);
    const sealed = sealLocal(this.key(), plaintext, this.aad(name), this.provider);
    await this.writers.write(path, sealed);
  }

  async remove(name: string): Promise<void> {
    await this.writers.remove(this.pathOf(name));
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    const bytes = await this.read(name);
    if (!bytes) return undefined;
    try {
      return JSON.parse(utf8Decode(bytes)) as T;
    } catch (error) {
      throw new ClientError(ClientErrorCode.STORE_CORRUPT, `The file ${name} in the account folder is damaged`, { file: name }, { cause: error });
    } finally {
      wipe(bytes);
    }
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    const bytes = utf8Encode(JSON.stringify(value));
    try {
      await this.write(name, bytes);
    } finally {
      wipe(bytes);
    }
  }

  /**
   * Like writeJson, but `value()` is serialised and sealed only when the record's writer starts
   * this write: changes made while an earlier write of the record is running are all saved by
   * one serialisation. Resolves, as writeJson does, once content at least as new as the state at
   * the call is durable. For records that are rewritten whole on every change and grow (the
   * message cache: serialising it eagerly on every put made a busy conversation cost
   * O(messages) per message in JSON and sealing alone).
   */
  async writeJsonLazy(name: string, value: () => unknown): Promise<void> {
    const path = await this.recordPath(name);
    const aad = this.aad(name);
    await this.writers.write(path, () => {
      const bytes = utf8Encode(JSON.stringify(value()));
      try {
        return sealLocal(this.key(), bytes, aad, this.provider);
      } finally {
        wipe(bytes);
      }
    });
  }

  /** Waits for every pending write. */
  flush(): Promise<void> {
    return this.writers.flush();
  }
}
