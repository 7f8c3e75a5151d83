/**
 * Every error Kecalek reports has a stable code, defined here and nowhere else (like Fastify's
 * FST_ERR_* codes). Wire codes travel in error responses `{code, message}`; the others are raised
 * inside a process (start-up, crypto, client) and are never renamed once released.
 */

/** Codes that a server may send in an error response. */
export const WireErrorCode = {
  /** A request failed schema validation; `details.field` names the failing field. */
  BAD_REQUEST: 'bad_request',
  /** No handler for this type (unknown, or its plugin is disabled on this deployment). */
  UNKNOWN_TYPE: 'unknown_type',
  /** The request needs a logged-in connection. */
  NOT_AUTHENTICATED: 'not_authenticated',
  /** Logged in, but not allowed (not a member, not the creator, not the sender). */
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  /** The change conflicts with the current state (already a member, already exists). */
  CONFLICT: 'conflict',
  /** A limit was exceeded; `details.retry_after_ms` says when to try again. */
  RATE_LIMITED: 'rate_limited',
  /** The server refuses a new connection: per-IP or global connection cap reached. */
  TOO_MANY_CONNECTIONS: 'too_many_connections',
  /** Login failed. Deliberately generic: never says whether the account exists. */
  INVALID_CREDENTIALS: 'invalid_credentials',
  /** Registration code wrong or expired. */
  INVALID_CODE: 'invalid_code',
  /** Client or protocol version below what the server accepts. */
  UNSUPPORTED_VERSION: 'unsupported_version',
  /** A value is larger than the server accepts (message, upload, name). */
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  /** A send did not cover exactly the recipients' current devices; `details` lists the difference. */
  DEVICE_MISMATCH: 'device_mismatch',
  /**
   * `login_finish` named a device of this account that was removed (`remove_device`): it can never
   * log in as that device again. Only answered after the login signature verified. The device must
   * be linked again (it then becomes a new device).
   */
  DEVICE_REMOVED: 'device_removed',
  /** A frame exceeded the frame cap while being read; the connection is closed after this answer. */
  FRAME_TOO_LARGE: 'frame_too_large',
  /** A binary body exceeded its cap. */
  BODY_TOO_LARGE: 'body_too_large',
  /** A frame was not valid JSON (or not valid UTF-8). */
  INVALID_JSON: 'invalid_json',
  /** A frame was JSON but not a request object (no string `type`, not an object). */
  INVALID_FRAME: 'invalid_frame',
  /** A base64 field did not decode; `details.field` names it. */
  INVALID_BASE64: 'invalid_base64',
  /** The server is shutting down and takes no new requests. */
  SHUTTING_DOWN: 'shutting_down',
  /** A handler failed unexpectedly. Logged with the plugin's name; the connection goes on. */
  INTERNAL_ERROR: 'internal_error',
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/** Codes raised when a server or client cannot start. Reported as one clear line. */
export const StartupErrorCode = {
  CONFIG_INVALID: 'config_invalid',
  TLS_REQUIRED: 'tls_required',
  PLUGIN_NOT_FOUND: 'plugin_not_found',
  PLUGIN_INVALID: 'plugin_invalid',
  PLUGIN_API_VERSION: 'plugin_api_version',
  PLUGIN_DEPENDENCY_MISSING: 'plugin_dependency_missing',
  PLUGIN_DEPENDENCY_CYCLE: 'plugin_dependency_cycle',
  PLUGIN_DUPLICATE: 'plugin_duplicate',
  PLUGIN_CONFIG_INVALID: 'plugin_config_invalid',
  PLUGIN_START_FAILED: 'plugin_start_failed',
  MIGRATION_FAILED: 'migration_failed',
  DATABASE_UNAVAILABLE: 'database_unavailable',
} as const;
export type StartupErrorCode = (typeof StartupErrorCode)[keyof typeof StartupErrorCode];

/** Codes raised by engine/crypto. None of them carries key material or plaintext. */
export const CryptoErrorCode = {
  /** Authentication failed: tampered ciphertext or header, wrong key. State is unchanged. */
  DECRYPT_FAILED: 'decrypt_failed',
  /** A signature did not verify (signed pre-key, sender-key message, pairing payload). */
  BAD_SIGNATURE: 'bad_signature',
  /** A message would skip more keys than allowed in one chain. State is unchanged. */
  MAX_SKIP_EXCEEDED: 'max_skip_exceeded',
  /** A message key was already used (replay or duplicate delivery). */
  DUPLICATE_MESSAGE: 'duplicate_message',
  /** A key or encoded structure has the wrong length or form. */
  INVALID_KEY: 'invalid_key',
  INVALID_MESSAGE: 'invalid_message',
  INVALID_PADDING: 'invalid_padding',
  /** A password envelope did not open with this password. */
  WRONG_PASSWORD: 'wrong_password',
  /** A password envelope is malformed or was modified. */
  ENVELOPE_CORRUPT: 'envelope_corrupt',
  /** A password envelope has an unknown version or KDF. */
  ENVELOPE_UNSUPPORTED: 'envelope_unsupported',
  /** A sender-key message names a chain this state does not hold. */
  UNKNOWN_CHAIN: 'unknown_chain',
  /**
   * The session or sender-key state cannot do this (a ratchet that has not received its first
   * message asked to send, a received sender key asked to encrypt), or exported state bytes are
   * malformed.
   */
  INVALID_STATE: 'invalid_state',
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

/** Codes raised by the client core (engine/client) to its front ends. */
export const ClientErrorCode = {
  NOT_CONNECTED: 'not_connected',
  CONNECTION_CLOSED: 'connection_closed',
  REQUEST_TIMEOUT: 'request_timeout',
  PROTOCOL_MISMATCH: 'protocol_mismatch',
  /** Too many wrong passwords; `details.retry_after_ms` says how long to wait. */
  LOCKED_OUT: 'locked_out',
  NO_ACCOUNT: 'no_account',
  NOT_LOGGED_IN: 'not_logged_in',
  STORE_CORRUPT: 'store_corrupt',
  /** A device-linking confirmation did not match: keys were substituted on the way. */
  PAIRING_MISMATCH: 'pairing_mismatch',
  /** The peer's identity key changed since it was first seen. */
  IDENTITY_CHANGED: 'identity_changed',
  FEATURE_UNAVAILABLE: 'feature_unavailable',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export type ErrorCode = WireErrorCode | StartupErrorCode | CryptoErrorCode | ClientErrorCode;

export type ErrorDetails = Record<string, unknown>;

/** The base of every error Kecalek raises on purpose. `code` is stable; `message` is for people. */
export class KecalekError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** An error that is answered on the wire with its code (and only safe details). */
export class WireError extends KecalekError {
  declare readonly code: WireErrorCode;
  constructor(code: WireErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** A reason the server (or a plugin) cannot start; printed as one line naming the culprit. */
export class StartupError extends KecalekError {
  declare readonly code: StartupErrorCode;
  constructor(code: StartupErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

export class CryptoError extends KecalekError {
  declare readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

export class ClientError extends KecalekError {
  declare readonly code: ClientErrorCode | WireErrorCode;
  constructor(code: ClientErrorCode | WireErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

const wireCodes = new Set<string>(Object.values(WireErrorCode));

export function isWireErrorCode(code: unknown): code is WireErrorCode {
  return typeof code === 'string' && wireCodes.has(code);
}

/** Shorthands for the wire errors handlers raise most. */
export const errors = {
  badRequest: (field: string, message: string) => new WireError(WireErrorCode.BAD_REQUEST, message, { field }),
  forbidden: (message = 'Not allowed') => new WireError(WireErrorCode.FORBIDDEN, message),
  notFound: (message = 'Not found') => new WireError(WireErrorCode.NOT_FOUND, message),
  conflict: (message: string) => new WireError(WireErrorCode.CONFLICT, message),
  notAuthenticated: () => new WireError(WireErrorCode.NOT_AUTHENTICATED, 'Log in first'),
  payloadTooLarge: (field: string, limit: number) =>
    new WireError(WireErrorCode.PAYLOAD_TOO_LARGE, `${field} is larger than ${limit}`, { field, limit }),
  rateLimited: (retryAfterMs: number) =>
    new WireError(WireErrorCode.RATE_LIMITED, 'Too many requests, slow down', { retry_after_ms: Math.max(0, Math.ceil(retryAfterMs)) }),
  invalidCredentials: () => new WireError(WireErrorCode.INVALID_CREDENTIALS, 'Invalid credentials'),
} as const;
