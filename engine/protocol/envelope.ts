/**
 * The shapes of frames on the wire, and constructors that always produce well-formed ones.
 * Browser-safe.
 *
 * - request:  `{type, request_id, ...fields}`
 * - response: `{type, request_id, status: "ok", data}` or `{type, request_id, status: "error", data: {code, message, ...details}}`
 * - push:     `{type, data}` (no request_id); the first frame on every connection is the `hello` push.
 */
import { ClientError, ClientErrorCode, KecalekError, WireErrorCode, isWireErrorCode } from '../errors.js';
import { HELLO_TYPE, PROTOCOL_ERROR_EVENT } from './constants.js';
import type { ProtocolError } from './parse.js';

export interface RequestFrame {
  type: string;
  request_id: string;
  [field: string]: unknown;
}

/** The `data` of an error response: a stable code, a message for people, and wire-safe details. */
export interface ErrorData {
  /** A WireErrorCode when we build it; a received one may carry a code newer than this build knows. */
  code: string;
  message: string;
  [detail: string]: unknown;
}

export interface OkResponseFrame<T = unknown> {
  type: string;
  request_id: string;
  status: 'ok';
  data: T;
}

export interface ErrorResponseFrame {
  type: string;
  /** null only when answering a frame that carried no usable request_id (nobody waits for it). */
  request_id: string | null;
  status: 'error';
  data: ErrorData;
}

export type ResponseFrame<T = unknown> = OkResponseFrame<T> | ErrorResponseFrame;

export interface PushFrame<T = unknown> {
  type: string;
  data: T;
}

export interface PluginInfo {
  name: string;
  version: string;
  [extra: string]: unknown;
}

export interface HelloData {
  protocol_version: number;
  server_version: string;
  plugins: PluginInfo[];
  /** Numeric limits, e.g. `max_frame_bytes`, `max_body_bytes` (see constants.ts). */
  limits: Record<string, number>;
  [extra: string]: unknown;
}

export interface HelloFrame {
  type: typeof HELLO_TYPE;
  data: HelloData;
}

/** Something errorResponse can describe: a KecalekError, a `{code, message, details}` object, or anything thrown. */
export type ErrorLike = KecalekError | { code: string; message: string; details?: Record<string, unknown> } | unknown;

/** The message sent for any failure that is not a deliberate wire error. Never the exception's own text. */
export const INTERNAL_ERROR_MESSAGE = 'Internal server error';

export function okResponse<T>(type: string, requestId: string, data: T): OkResponseFrame<T> {
  return { type, request_id: requestId, status: 'ok', data };
}

/**
 * An error response. Only deliberate wire errors keep their code, message and details: a
 * KecalekError (or `{code, message, details}` object) whose code is a wire code. Anything else (a
 * TypeError, a database error, a crypto or startup error) becomes `internal_error` with a generic
 * message, so no exception text, stack or internal detail ever reaches the peer; log the original.
 * Details are reduced to JSON data (strings, finite numbers, booleans, null, arrays and plain
 * objects, at most 4 levels deep); they cannot override `code` or `message`.
 */
export function errorResponse(type: string, requestId: string | null, error: ErrorLike): ErrorResponseFrame {
  return { type, request_id: requestId, status: 'error', data: errorData(error) };
}

/** The `data` of an error response for `error`, with the same rules as errorResponse. */
export function errorData(error: ErrorLike): ErrorData {
  let code: unknown;
  let message: unknown;
  let details: unknown;
  if (error instanceof KecalekError) {
    ({ code, message, details } = error);
  } else if (typeof error === 'object' && error !== null && !(error instanceof Error)) {
    ({ code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown });
  }
  if (!isWireErrorCode(code) || typeof message !== 'string') {
    return { code: WireErrorCode.INTERNAL_ERROR, message: INTERNAL_ERROR_MESSAGE };
  }
  const data: ErrorData = { code, message };
  const safe = wireSafe(details, 0);
  if (isPlainObject(safe)) {
    for (const [key, value] of Object.entries(safe)) {
      if (key !== 'code' && key !== 'message' && key !== '__proto__') data[key] = value;
    }
  }
  return data;
}

/**
 * What the server sends when a frame could not be read: an error response when the frame's
 * request_id could be recovered (so the request does not time out), else a `protocol_error` push.
 */
export function protocolErrorFrame(error: ProtocolError): ErrorResponseFrame | PushFrame<ErrorData> {
  if (error.requestId !== undefined) return errorResponse(error.frameType ?? PROTOCOL_ERROR_EVENT, error.requestId, error);
  return pushFrame(PROTOCOL_ERROR_EVENT, errorData(error));
}

export function pushFrame<T>(type: string, data: T): PushFrame<T> {
  return { type, data };
}

export function helloFrame(data: HelloData): HelloFrame {
  return { type: HELLO_TYPE, data };
}

/** A response to one of our requests (has request_id and status). */
export function isResponseFrame(value: unknown): value is ResponseFrame {
  if (!isPlainObject(value)) return false;
  if (typeof value.type !== 'string' || !('data' in value)) return false;
  if (typeof value.request_id !== 'string' && !(value.request_id === null && value.status === 'error')) return false;
  if (value.status === 'ok') return true;
  if (value.status !== 'error' || !isPlainObject(value.data)) return false;
  return typeof value.data.code === 'string' && typeof value.data.message === 'string';
}

/** A push event (no request_id). The hello frame is one. */
export function isPushFrame(value: unknown): value is PushFrame {
  return isPlainObject(value) && typeof value.type === 'string' && value.request_id === undefined && value.status === undefined;
}

export function isErrorResponse(value: ResponseFrame): value is ErrorResponseFrame {
  return value.status === 'error';
}

/**
 * Reads the server's first frame. Returns its data (unknown extra fields kept, for forward
 * compatibility); throws ClientError `protocol_mismatch` if it is not a well-formed hello. Whether
 * the protocol_version is acceptable is the caller's decision.
 */
export function parseHello(frame: unknown): HelloData {
  const fail = (why: string): never => {
    throw new ClientError(ClientErrorCode.PROTOCOL_MISMATCH, `The server did not greet with a valid hello frame: ${why}`);
  };
  if (!isPlainObject(frame) || frame.type !== HELLO_TYPE) return fail('the first frame is not "hello"');
  const data = frame.data;
  if (!isPlainObject(data)) return fail('no data');
  if (typeof data.protocol_version !== 'number' || !Number.isSafeInteger(data.protocol_version) || data.protocol_version < 0) {
    return fail('protocol_version must be a non-negative integer');
  }
  if (typeof data.server_version !== 'string') return fail('server_version must be a string');
  if (!Array.isArray(data.plugins)) return fail('plugins must be an array');
  for (const plugin of data.plugins) {
    if (!isPlainObject(plugin) || typeof plugin.name !== 'string' || typeof plugin.version !== 'string') {
      return fail('every plugin needs a string name and version');
    }
  }
  if (!isPlainObject(data.limits)) return fail('limits must be an object');
  for (const value of Object.values(data.limits)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) return fail('limits must be numbers');
  }
  return data as HelloData;
}

/** A request id for a new request: a random UUID (v4). Works in insecure browser contexts too. */
export function newRequestId(): string {
  const webCrypto = globalThis.crypto;
  if (typeof webCrypto.randomUUID === 'function') {
    try {
      return webCrypto.randomUUID();
    } catch {
      // randomUUID exists but is refused outside secure contexts in some browsers.
    }
  }
  const bytes = webCrypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

const MAX_DETAIL_DEPTH = 4;

/** JSON data only: drops functions, symbols, bigints, undefined, non-finite numbers, class instances (errors included). */
function wireSafe(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : undefined;
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_DETAIL_DEPTH) return undefined;
      if (Array.isArray(value)) {
        const items: unknown[] = [];
        for (const item of value) {
          const safe = wireSafe(item, depth + 1);
          if (safe !== undefined) items.push(safe);
        }
        return items;
      }
      if (!isPlainObject(value)) return undefined;
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const safe = wireSafe(item, depth + 1);
        // JSON.parse makes "__proto__" an own key; assigning it would set the prototype instead.
        if (safe !== undefined && key !== '__proto__') out[key] = safe;
      }
      return out;
    }
    default:
      return undefined;
  }
}
