/**
 * Device linking, client side (docs/PROTOCOL.md, "Device linking"): moving an account's keys from a
 * logged-in device (the approver) to a new device without letting the server read them or
 * substitute a key unnoticed.
 *
 * Both devices make a fresh X25519 key pair; the payload is sealed with AES-256-GCM under a key
 * derived from their Diffie-Hellman output. The server relays the public keys, so it could try to
 * put its own in between. Two defences:
 * - QR mode: the QR shown by the new device carries its public key; the approver checks what the
 *   server relays against it (constant time) and stops with `pairing_mismatch` before sending.
 * - Both modes: each side shows a short authentication string (SAS, 6 digits) derived from the
 *   DH output and both public keys; the users compare them. A substituted key gives different
 *   values. So that a server cannot search for keys that make the two values agree, the new device
 *   commits to its key in `pairing_start` and reveals it only after it has seen the approver's key,
 *   and the approver reveals its key only after it has received that commitment: when the server
 *   has to fix its own keys it does not yet know the honest device's key on either side.
 *
 * Everything here talks through a minimal transport (`request(type, fields)` resolving with a
 * response's data and rejecting with an error whose `code` is the wire code), so the ChatClient,
 * the terminal client and the tests can all drive it.
 */
import { ClientError, ClientErrorCode, CryptoError, CryptoErrorCode, WireErrorCode } from '../errors.js';
import {
  concatBytes,
  constantTimeEqual,
  getDefaultProvider,
  padPlaintext,
  unpadPlaintext,
  utf8Decode,
  utf8Encode,
  wipe,
  type CryptoProvider,
} from '../crypto/index.js';
import { decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url } from '../protocol/base64.js';
import { PAIRING_CODE_DIGITS, PAIRING_KEY_BYTES, pairingCommitmentMessage } from '../protocol/pairing.js';
import { UUID_PATTERN } from '../protocol/validation.js';

/** What linking needs from a connection: one request, answered with the response's `data`. */
export interface PairingTransport {
  request<T>(type: string, fields: Record<string, unknown>): Promise<T>;
}

/** The account keys a new device receives. */
export interface LinkedKeys {
  readonly userId: string;
  readonly email: string;
  readonly username: string;
  /** Ed25519 identity seed (32 bytes). */
  readonly identitySeed: Uint8Array;
  /** Ed25519 login seed (32 bytes). */
  readonly loginSeed: Uint8Array;
}

export interface LinkingOptions {
  /** How often to poll the server (default 2 s, as the original). */
  readonly pollIntervalMs?: number;
}

/** The new device's side, returned by startNewDeviceLinking. */
export interface NewDeviceLinking {
  /** The 8-digit code to type on the approving device. */
  readonly code: string;
  /** Text to show as a QR code (carries this device's ephemeral public key). */
  readonly qrText: string;
  /** When the pairing expires, in this device's clock (epoch ms). */
  readonly expiresAt: number;
  /** Resolves with the SAS ("123 456") once the approving device answered; rejects if linking fails. */
  readonly sas: Promise<string>;
  /** After the user confirmed that both devices show the same SAS: waits for the keys and decrypts them. */
  receive(): Promise<LinkedKeys>;
  cancel(): Promise<void>;
}

/** The approving device's side, returned by approveDeviceLinking. */
export interface DeviceLinkingApproval {
  /** The SAS ("123 456") to compare with the new device's. */
  readonly sas: string;
  /** Sends the keys, end-to-end encrypted to the new device. Only after the user confirmed the SAS. */
  confirm(): Promise<void>;
  cancel(): Promise<void>;
}

/** The content of a linking QR code. */
export interface LinkQr {
  readonly version: number;
  readonly pairingId: string;
  readonly code: string;
  readonly ephemeralPublic: Uint8Array;
}

export type LinkInput = { readonly kind: 'qr'; readonly qr: LinkQr } | { readonly kind: 'code'; readonly code: string };

export const DEFAULT_PAIRING_POLL_INTERVAL_MS = 2000;
export const LINK_QR_PREFIX = 'kecalek-link';
export const LINK_QR_VERSION = 1;
/** Digits in the SAS. */
export const SAS_DIGITS = 6;

/** Extra time past the server's expiry before a side gives up on its own. */
const EXPIRY_GRACE_MS = 2000;
/** Longest wait the poller accepts from a `rate_limited` answer before trying again. */
const MAX_RATE_LIMIT_WAIT_MS = 30_000;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SEED_BYTES = 32;
const PAYLOAD_VERSION = 1;
/** Payload JSON is filled with spaces to this length, so padding puts every payload in the 1 KiB bucket (the longest fits). */
const PAYLOAD_FILL_BYTES = 1024 - 5;

const TRANSCRIPT_DOMAIN = utf8Encode('KecalekPairing\x00v1\x00');
const KEY_INFO = utf8Encode('KecalekPairingKey\x00');
const SAS_INFO = utf8Encode('KecalekPairingSas\x00');
const PAYLOAD_AAD = utf8Encode('KecalekPairingPayload\x00');
const ZERO_SALT = new Uint8Array(32);
const UUID = new RegExp(UUID_PATTERN);
const CODE = new RegExp(`^[0-9]{${PAIRING_CODE_DIGITS}}$`);
const POLL_TOKEN = /^[0-9a-f]{32}$/;

// ---- pure helpers ------------------------------------------------------------------------------

/** The SHA-256 commitment to an ephemeral public key that the new device sends in pairing_start. */
export function pairingCommitment(ephemeralPublic: Uint8Array, provider: CryptoProvider = getDefaultProvider()): Uint8Array {
  return provider.sha256(pairingCommitmentMessage(ephemeralPublic));
}

/** `kecalek-link:1:<pairing id>:<code>:<base64url ephemeral key>` */
export function encodeLinkQr(qr: Omit<LinkQr, 'version'>): string {
  return `${LINK_QR_PREFIX}:${LINK_QR_VERSION}:${qr.pairingId}:${qr.code}:${encodeBase64Url(qr.ephemeralPublic)}`;
}

/** Parses a linking QR text; ClientError bad_request (not a linking QR) or protocol_mismatch (newer version). */
export function parseLinkQr(text: string): LinkQr {
  const parts = text.trim().split(':');
  const invalid = () => new ClientError(WireErrorCode.BAD_REQUEST, 'This is not a Kecalek device-linking QR code');
  if (parts.length < 2 || parts[0]!.toLowerCase() !== LINK_QR_PREFIX) throw invalid();
  if (parts[1] !== String(LINK_QR_VERSION)) {
    throw new ClientError(ClientErrorCode.PROTOCOL_MISMATCH, 'This device-linking QR code is from a newer version of Kecalek; update this app');
  }
  if (parts.length !== 5) throw invalid();
  const [, , pairingId, code, key] = parts as [string, string, string, string, string];
  if (!UUID.test(pairingId) || !CODE.test(code)) throw invalid();
  let ephemeralPublic: Uint8Array;
  try {
    ephemeralPublic = decodeBase64Url(key, 'ephemeral_public', { exactBytes: PAIRING_KEY_BYTES });
  } catch {
    throw invalid();
  }
  return { version: LINK_QR_VERSION, pairingId, code, ephemeralPublic };
}

/** What the user gave the approving device: a scanned QR text, or the code (spaces and dashes allowed). */
export function parseLinkInput(input: string): LinkInput {
  const trimmed = input.trim();
  if (trimmed.toLowerCase().startsWith(`${LINK_QR_PREFIX}:`)) return { kind: 'qr', qr: parseLinkQr(trimmed) };
  const code = trimmed.replace(/[\s-]/g, '');
  if (!CODE.test(code)) throw new ClientError(WireErrorCode.BAD_REQUEST, `Enter the ${PAIRING_CODE_DIGITS}-digit code shown on the new device, or scan its QR code`);
  return { kind: 'code', code };
}

export interface TranscriptInput {
  readonly pairingId: string;
  readonly code: string;
  readonly newDevicePublic: Uint8Array;
  readonly approverPublic: Uint8Array;
}

/**
 * What both sides bind into every derived value:
 * `"KecalekPairing\0v1\0" || new device key (32) || approver key (32) || u8 len || pairing id || u8 len || code`.
 */
export function pairingTranscript(input: TranscriptInput): Uint8Array {
  if (input.newDevicePublic.length !== PAIRING_KEY_BYTES || input.approverPublic.length !== PAIRING_KEY_BYTES) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `Ephemeral keys must be ${PAIRING_KEY_BYTES} bytes`);
  }
  const id = utf8Encode(input.pairingId);
  const code = utf8Encode(input.code);
  if (id.length > 255 || code.length > 255) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Pairing id or code too long');
  return concatBytes(TRANSCRIPT_DOMAIN, input.newDevicePublic, input.approverPublic, Uint8Array.of(id.length), id, Uint8Array.of(code.length), code);
}

export interface PairingSecrets {
  /** AES-256-GCM key for the payload. */
  readonly key: Uint8Array;
  /** "123 456" */
  readonly sas: string;
}

/**
 * The payload key and the SAS, from X25519(own private, other public) and the transcript (two
 * separate HKDF outputs). CryptoError invalid_key if the other key is a low-order point.
 */
export function derivePairingSecrets(
  ownPrivate: Uint8Array,
  otherPublic: Uint8Array,
  transcript: Uint8Array,
  provider: CryptoProvider = getDefaultProvider(),
): PairingSecrets {
  const shared = provider.x25519(ownPrivate, otherPublic);
  try {
    const key = provider.hkdfSha256(shared, ZERO_SALT, concatBytes(KEY_INFO, transcript), 32);
    const sasBytes = provider.hkdfSha256(shared, ZERO_SALT, concatBytes(SAS_INFO, transcript), 8);
    const sas = formatSas(sasBytes);
    wipe(sasBytes);
    return { key, sas };
  } finally {
    wipe(shared);
  }
}

/** Six decimal digits from the first 40 bits (bias below 1e-6), shown as two groups of three. */
export function formatSas(bytes: Uint8Array): string {
  if (bytes.length < 5) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'SAS needs at least 5 bytes');
  let value = 0;
  for (let i = 0; i < 5; i++) value = value * 256 + bytes[i]!;
  const digits = String(value % 10 ** SAS_DIGITS).padStart(SAS_DIGITS, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

/** Seals the account keys for the new device: base64(nonce (12) || AES-256-GCM(padded JSON)), AAD bound to the transcript. */
export function sealPairingPayload(
  key: Uint8Array,
  transcript: Uint8Array,
  keys: LinkedKeys,
  provider: CryptoProvider = getDefaultProvider(),
): string {
  checkLinkedKeys(keys);
  const json = utf8Encode(
    JSON.stringify({
      v: PAYLOAD_VERSION,
      user_id: keys.userId,
      email: keys.email,
      username: keys.username,
      identity_seed: encodeBase64(keys.identitySeed),
      login_seed: encodeBase64(keys.loginSeed),
    }),
  );
  // JSON ignores trailing whitespace: filling up to one bucket makes every payload the same size.
  const filled = new Uint8Array(Math.max(json.length, PAYLOAD_FILL_BYTES)).fill(0x20);
  filled.set(json);
  const padded = padPlaintext(filled);
  wipe(json, filled);
  try {
    const nonce = provider.randomBytes(NONCE_BYTES);
    const sealed = provider.aesGcmEncrypt(key, nonce, padded, concatBytes(PAYLOAD_AAD, transcript));
    return encodeBase64(concatBytes(nonce, sealed));
  } finally {
    wipe(padded);
  }
}

/**
 * Opens a payload sealed by sealPairingPayload. A wrong key or transcript (a substituted key)
 * is ClientError pairing_mismatch; an authentic but malformed payload is protocol_mismatch.
 */
export function openPairingPayload(
  key: Uint8Array,
  transcript: Uint8Array,
  ciphertext: string,
  provider: CryptoProvider = getDefaultProvider(),
): LinkedKeys {
  const mismatch = (cause?: unknown) =>
    new ClientError(
      ClientErrorCode.PAIRING_MISMATCH,
      'The keys from the other device could not be decrypted: the devices did not agree on a key (substituted on the way)',
      undefined,
      { cause },
    );
  let sealed: Uint8Array;
  try {
    sealed = decodeBase64(ciphertext, 'ciphertext');
  } catch (error) {
    throw mismatch(error);
  }
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw mismatch();
  let padded: Uint8Array;
  try {
    padded = provider.aesGcmDecrypt(key, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES), concatBytes(PAYLOAD_AAD, transcript));
  } catch (error) {
    throw mismatch(error);
  }
  const malformed = (cause?: unknown) => new ClientError(ClientErrorCode.PROTOCOL_MISMATCH, 'The linking payload is malformed', undefined, { cause });
  let json: Uint8Array | undefined;
  try {
    json = unpadPlaintext(padded);
    const value = JSON.parse(utf8Decode(json)) as Record<string, unknown>;
    if (typeof value !== 'object' || value === null || value.v !== PAYLOAD_VERSION) throw malformed();
    const { user_id: userId, email, username } = value;
    if (typeof userId !== 'string' || !UUID.test(userId) || typeof email !== 'string' || email.length === 0 || typeof username !== 'string' || username.length === 0) {
      throw malformed();
    }
    const identitySeed = decodeBase64(value.identity_seed, 'identity_seed', { exactBytes: SEED_BYTES });
    const loginSeed = decodeBase64(value.login_seed, 'login_seed', { exactBytes: SEED_BYTES });
    return { userId, email, username, identitySeed, loginSeed };
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw malformed(error);
  } finally {
    wipe(padded, json);
  }
}

function checkLinkedKeys(keys: LinkedKeys): void {
  if (!(keys.identitySeed instanceof Uint8Array) || keys.identitySeed.length !== SEED_BYTES) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `The identity seed must be ${SEED_BYTES} bytes`);
  }
  if (!(keys.loginSeed instanceof Uint8Array) || keys.loginSeed.length !== SEED_BYTES) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `The login seed must be ${SEED_BYTES} bytes`);
  }
  if (typeof keys.userId !== 'string' || !UUID.test(keys.userId) || typeof keys.email !== 'string' || typeof keys.username !== 'string') {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Linked keys need a user id (UUID), an email and a username');
  }
}

// ---- wire responses ----------------------------------------------------------------------------

interface StartResponse {
  pairing_id: string;
  code: string;
  poll_token: string;
  expires_at: number;
  server_time: number;
}

interface ClaimResponse {
  pairing_id: string;
  new_device_commitment: string;
  expires_at: number;
  server_time: number;
}

interface NewDevicePoll {
  status: 'waiting' | 'claimed' | 'ready';
  approver_ephemeral_public?: string;
  ciphertext?: string;
}

interface ApproverPoll {
  status: 'claimed' | 'ready';
  new_device_ephemeral_public?: string;
}

function protocolError(what: string, cause?: unknown): ClientError {
  return new ClientError(ClientErrorCode.PROTOCOL_MISMATCH, `The server sent an unexpected ${what}`, undefined, { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function serverKey(value: unknown, what: string): Uint8Array {
  try {
    return decodeBase64(value, what, { exactBytes: PAIRING_KEY_BYTES });
  } catch (error) {
    throw protocolError(what, error);
  }
}

/** The local time at which a server time `at` arrives, given the server's clock at `serverNow`. */
function toLocalTime(at: number, serverNow: number): number {
  return Date.now() + (at - serverNow);
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function retryAfterMs(error: unknown): number | undefined {
  const source = error as { details?: { retry_after_ms?: unknown }; retry_after_ms?: unknown } | undefined;
  const value = source?.details?.retry_after_ms ?? source?.retry_after_ms;
  return typeof value === 'number' && value >= 0 ? value : undefined;
}

const TRANSIENT = new Set<string>([ClientErrorCode.NOT_CONNECTED, ClientErrorCode.CONNECTION_CLOSED, ClientErrorCode.REQUEST_TIMEOUT]);

function goneError(): ClientError {
  return new ClientError(WireErrorCode.NOT_FOUND, 'Device linking was cancelled on the other device or has expired', { reason: 'gone' });
}

function expiredError(): ClientError {
  return new ClientError(ClientErrorCode.REQUEST_TIMEOUT, 'Device linking expired; start again', { reason: 'expired' });
}

function cancelledError(): ClientError {
  return new ClientError(WireErrorCode.NOT_FOUND, 'Device linking was cancelled', { reason: 'cancelled' });
}

function mismatchError(message: string): ClientError {
  return new ClientError(ClientErrorCode.PAIRING_MISMATCH, message);
}

/** Best-effort pairing_cancel: the pairing may already be gone. */
async function cancelQuietly(transport: PairingTransport, fields: Record<string, unknown>): Promise<void> {
  try {
    await transport.request('pairing_cancel', fields);
  } catch {
    // Nothing to undo: a pairing that cannot be cancelled has expired or was deleted already.
  }
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Failures are also reported through the promise the caller awaits; this keeps one the caller
  // never looked at (a SAS nobody asked for) from becoming an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * Polls with `poll` every `intervalMs` until it returns a value, `deadline` passes or `stopped()`.
 * Connection hiccups and `rate_limited` answers are waited out; `not_found` means the pairing is
 * gone; any other error ends the loop.
 */
async function pollUntil<T>(
  poll: () => Promise<T | undefined>,
  options: { intervalMs: number; deadline: number; stopped: () => boolean; sleep: (ms: number) => Promise<void> },
): Promise<T> {
  // The other side needs a moment before there can be anything new: wait first, then ask.
  let wait = options.intervalMs;
  for (;;) {
    if (Date.now() > options.deadline) throw expiredError();
    await options.sleep(Math.min(wait, Math.max(0, options.deadline - Date.now()) + 1));
    if (options.stopped()) throw cancelledError();
    if (Date.now() > options.deadline) throw expiredError();
    wait = options.intervalMs;
    try {
      const result = await poll();
      if (result !== undefined) return result;
    } catch (error) {
      const code = errorCode(error);
      if (code === WireErrorCode.NOT_FOUND) throw options.stopped() ? cancelledError() : goneError();
      if (code === WireErrorCode.RATE_LIMITED) wait = Math.min(MAX_RATE_LIMIT_WAIT_MS, Math.max(wait, retryAfterMs(error) ?? wait));
      else if (code === undefined || !TRANSIENT.has(code)) throw error;
    }
    if (options.stopped()) throw cancelledError();
  }
}

/** A sleep that `wake()` ends early (on cancel). */
function interruptibleSleep(): { sleep: (ms: number) => Promise<void>; wake: () => void } {
  const sleepers = new Set<() => void>();
  return {
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        sleepers.add(done);
      }),
    wake: () => {
      for (const done of [...sleepers]) done();
    },
  };
}

function pollInterval(options: LinkingOptions | undefined): number {
  const value = options?.pollIntervalMs ?? DEFAULT_PAIRING_POLL_INTERVAL_MS;
  if (!Number.isFinite(value) || value < 0) throw new RangeError('pollIntervalMs must be a non-negative number');
  return value;
}

// ---- the new device ----------------------------------------------------------------------------

/**
 * Starts linking this (not logged-in) device: shows `code` / `qrText`, resolves `sas` once an
 * approving device has answered, and `receive()` returns the account keys after the approving
 * device sent them. Polling stops on success, cancel, expiry or failure; `sas` and `receive()`
 * then reject with a ClientError: `pairing_mismatch` (keys were substituted), `not_found`
 * (cancelled on either device), `request_timeout` (expired).
 */
export async function startNewDeviceLinking(
  transport: PairingTransport,
  provider: CryptoProvider = getDefaultProvider(),
  options: LinkingOptions = {},
): Promise<NewDeviceLinking> {
  const intervalMs = pollInterval(options);
  const ephemeral = provider.x25519KeyPair();
  let started: StartResponse;
  try {
    started = await transport.request<StartResponse>('pairing_start', { commitment: encodeBase64(pairingCommitment(ephemeral.publicKey, provider)) });
    if (
      !isRecord(started) ||
      typeof started.pairing_id !== 'string' ||
      !UUID.test(started.pairing_id) ||
      typeof started.code !== 'string' ||
      !CODE.test(started.code) ||
      typeof started.poll_token !== 'string' ||
      !POLL_TOKEN.test(started.poll_token) ||
      !isTime(started.expires_at) ||
      !isTime(started.server_time)
    ) {
      throw protocolError('pairing_start answer');
    }
  } catch (error) {
    wipe(ephemeral.privateKey);
    throw error;
  }

  const pairingId = started.pairing_id;
  const code = started.code;
  const identity = { pairing_id: pairingId, poll_token: started.poll_token };
  const expiresAt = toLocalTime(started.expires_at, started.server_time);
  const sas = deferred<string>();
  const payload = deferred<string>();
  const { sleep, wake } = interruptibleSleep();
  let stopped = false;
  let failure: unknown;
  let approverKey: Uint8Array | undefined;
  let secrets: PairingSecrets | undefined;
  let transcript: Uint8Array | undefined;
  let received: Promise<LinkedKeys> | undefined;
  let delivered = false;
  let revealed = false;

  const wipeSecrets = () => {
    wipe(ephemeral.privateKey, secrets?.key);
  };

  const fail = (error: unknown) => {
    if (failure !== undefined) return;
    failure = error;
    stopped = true;
    wake();
    wipeSecrets();
    sas.reject(error);
    payload.reject(error);
  };

  /**
   * Handles the approver's key: fixed the first time it is seen (a different one later is a
   * substitution), then this device opens its commitment and shows the SAS.
   */
  const acceptApproverKey = async (encoded: string, mayReveal: boolean): Promise<void> => {
    const key = serverKey(encoded, 'approver_ephemeral_public');
    if (approverKey === undefined) {
      approverKey = key;
      transcript = pairingTranscript({ pairingId, code, newDevicePublic: ephemeral.publicKey, approverPublic: key });
      try {
        secrets = derivePairingSecrets(ephemeral.privateKey, key, transcript, provider);
      } catch (error) {
        throw new ClientError(ClientErrorCode.PAIRING_MISMATCH, 'The approving device\'s key is not usable: keys were substituted on the way', undefined, { cause: error });
      } finally {
        // The shared secret is derived: the private key has done its job (L6).
        wipe(ephemeral.privateKey);
      }
    } else if (!constantTimeEqual(approverKey, key)) {
      throw mismatchError('The approving device\'s key changed during linking: keys were substituted on the way');
    }
    // Only now, with the approver's key fixed, does this device open its commitment. Once the
    // payload is there the server no longer needs it.
    if (!revealed && mayReveal) {
      try {
        await transport.request('pairing_reveal', { ...identity, ephemeral_public: encodeBase64(ephemeral.publicKey) });
      } catch (error) {
        // `conflict`: an earlier reveal arrived although its answer was lost.
        if (errorCode(error) !== WireErrorCode.CONFLICT) throw error;
      }
      revealed = true;
    }
    sas.resolve(secrets!.sas);
  };

  const pollOnce = async (): Promise<string | undefined> => {
    const answer = await transport.request<NewDevicePoll>('pairing_poll', identity);
    if (!isRecord(answer) || (answer.status !== 'waiting' && answer.status !== 'claimed' && answer.status !== 'ready')) throw protocolError('pairing_poll answer');
    if (answer.approver_ephemeral_public !== undefined) await acceptApproverKey(answer.approver_ephemeral_public, answer.status !== 'ready');
    if (answer.status !== 'ready') return undefined;
    if (approverKey === undefined || typeof answer.ciphertext !== 'string') throw protocolError('pairing_poll answer');
    return answer.ciphertext;
  };

  void pollUntil(pollOnce, { intervalMs, deadline: expiresAt + EXPIRY_GRACE_MS, stopped: () => stopped, sleep }).then(
    (ciphertext) => {
      stopped = true;
      delivered = true;
      payload.resolve(ciphertext);
    },
    async (error: unknown) => {
      // A detected substitution also ends the pairing on the server.
      if (errorCode(error) === ClientErrorCode.PAIRING_MISMATCH) await cancelQuietly(transport, identity);
      fail(error);
    },
  );

  return {
    code,
    qrText: encodeLinkQr({ pairingId, code, ephemeralPublic: ephemeral.publicKey }),
    expiresAt,
    sas: sas.promise,
    receive() {
      received ??= (async () => {
        const ciphertext = await payload.promise;
        if (failure !== undefined) throw failure;
        try {
          return openPairingPayload(secrets!.key, transcript!, ciphertext, provider);
        } finally {
          wipeSecrets();
        }
      })();
      return received;
    },
    async cancel() {
      if (failure !== undefined) return;
      if (delivered) {
        // The server deleted the pairing when it handed over the payload; only local secrets remain.
        if (received === undefined) fail(cancelledError());
        return;
      }
      fail(cancelledError());
      await cancelQuietly(transport, identity);
    },
  };
}

// ---- the approving device ----------------------------------------------------------------------

/**
 * Approves linking a new device to this account. `input` is the code typed by the user or the
 * scanned QR text. Resolves once both ephemeral keys are settled, with the SAS to compare; then
 * `confirm()` sends `keys` (only after the user confirmed the SAS matches) or `cancel()` ends it.
 *
 * Rejects with ClientError `pairing_mismatch` when the server's answers contradict the QR code or
 * the new device's commitment (the pairing is cancelled and nothing is sent), `not_found` when the
 * code is wrong, expired or used, `request_timeout` when the new device never answered in time.
 */
export async function approveDeviceLinking(
  transport: PairingTransport,
  input: string,
  keys: LinkedKeys,
  provider: CryptoProvider = getDefaultProvider(),
  options: LinkingOptions = {},
): Promise<DeviceLinkingApproval> {
  const intervalMs = pollInterval(options);
  checkLinkedKeys(keys);
  const parsed = parseLinkInput(input);
  const code = parsed.kind === 'qr' ? parsed.qr.code : parsed.code;

  const claim = await transport.request<ClaimResponse>('pairing_claim', { code });
  if (!isRecord(claim) || typeof claim.pairing_id !== 'string' || !UUID.test(claim.pairing_id) || !isTime(claim.expires_at) || !isTime(claim.server_time)) {
    throw protocolError('pairing_claim answer');
  }
  const pairingId = claim.pairing_id;
  const identity = { pairing_id: pairingId };
  const deadline = toLocalTime(claim.expires_at, claim.server_time) + EXPIRY_GRACE_MS;
  const ephemeral = provider.x25519KeyPair();
  const { sleep, wake } = interruptibleSleep();
  let stopped = false;

  let secrets: PairingSecrets;
  let transcript: Uint8Array;
  try {
    const commitment = serverKey(claim.new_device_commitment, 'new_device_commitment');
    if (parsed.kind === 'qr') {
      const expected = pairingCommitment(parsed.qr.ephemeralPublic, provider);
      if (pairingId !== parsed.qr.pairingId || !constantTimeEqual(commitment, expected)) {
        throw mismatchError('The server\'s answer does not match the QR code: the new device\'s key was substituted. Nothing was sent.');
      }
    }

    // The new device's key is committed to now, so publishing ours cannot help anyone choose theirs.
    await transport.request('pairing_reveal', { ...identity, ephemeral_public: encodeBase64(ephemeral.publicKey) });

    let newDeviceKey: Uint8Array;
    if (parsed.kind === 'qr') {
      newDeviceKey = parsed.qr.ephemeralPublic;
    } else {
      newDeviceKey = await pollUntil(
        async () => {
          const answer = await transport.request<ApproverPoll>('pairing_poll', identity);
          if (!isRecord(answer)) throw protocolError('pairing_poll answer');
          if (answer.new_device_ephemeral_public === undefined) return undefined;
          return serverKey(answer.new_device_ephemeral_public, 'new_device_ephemeral_public');
        },
        { intervalMs, deadline, stopped: () => stopped, sleep },
      );
      if (!constantTimeEqual(pairingCommitment(newDeviceKey, provider), commitment)) {
        throw mismatchError('The new device\'s key does not match its commitment: it was substituted on the way. Nothing was sent.');
      }
    }

    transcript = pairingTranscript({ pairingId, code, newDevicePublic: newDeviceKey, approverPublic: ephemeral.publicKey });
    try {
      secrets = derivePairingSecrets(ephemeral.privateKey, newDeviceKey, transcript, provider);
    } catch (error) {
      throw new ClientError(ClientErrorCode.PAIRING_MISMATCH, 'The new device\'s key is not usable: it was substituted on the way. Nothing was sent.', undefined, {
        cause: error,
      });
    }
  } catch (error) {
    stopped = true;
    wake();
    await cancelQuietly(transport, identity);
    throw error;
  } finally {
    // The shared secret is derived (or linking failed): the private key has done its job (L6).
    wipe(ephemeral.privateKey);
  }

  let outcome: 'open' | 'sent' | 'cancelled' = 'open';
  let sending: Promise<void> | undefined;
  return {
    sas: secrets.sas,
    confirm() {
      if (outcome === 'cancelled') return Promise.reject(cancelledError());
      sending ??= (async () => {
        try {
          const ciphertext = sealPairingPayload(secrets.key, transcript, keys, provider);
          await transport.request('pairing_send', { ...identity, ciphertext });
          outcome = 'sent';
          wipe(secrets.key);
        } catch (error) {
          const code = errorCode(error);
          if (code !== undefined && TRANSIENT.has(code)) {
            // The connection failed: the user may confirm again once it is back.
            sending = undefined;
            throw error;
          }
          wipe(secrets.key);
          if (code === WireErrorCode.NOT_FOUND) throw goneError();
          throw error;
        }
      })();
      return sending;
    },
    async cancel() {
      if (outcome !== 'open') return;
      outcome = 'cancelled';
      wipe(secrets.key);
      await cancelQuietly(transport, identity);
    },
  };
}
