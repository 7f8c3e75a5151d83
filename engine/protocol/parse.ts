/**
 * Turning one frame's bytes into a frame object: the checks shared by the stream decoder
 * (framing.ts) and the WebSocket decoder (websocket.ts). Browser-safe: no Node APIs.
 */
import { WireError, WireErrorCode } from '../errors.js';
import { BODY_BYTES_FIELD, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FRAME_BYTES } from './constants.js';

/** The decoder error codes. All of them are wire codes, so the server can answer with them. */
export type ProtocolErrorCode =
  | typeof WireErrorCode.FRAME_TOO_LARGE
  | typeof WireErrorCode.BODY_TOO_LARGE
  | typeof WireErrorCode.INVALID_JSON
  | typeof WireErrorCode.INVALID_FRAME;

export interface ProtocolErrorOptions {
  /** True when the stream cannot be read any further: the connection must be closed. */
  fatal?: boolean;
  /** The request_id of the offending frame, when it could be read (so it can be answered). */
  requestId?: string | undefined;
  /** The type of the offending frame, when it could be read. */
  frameType?: string | undefined;
  /** Wire-safe details (for example `limit`). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * A frame could not be read, or cannot be written. `fatal` errors end the stream; after a
 * non-fatal one the decoder goes on with the next frame. `requestId` / `frameType` are set when
 * they could be recovered from the offending frame. Neither is part of `details`: they belong on
 * the response frame itself (see `protocolErrorFrame` in envelope.ts).
 */
export class ProtocolError extends WireError {
  declare readonly code: ProtocolErrorCode;
  readonly fatal: boolean;
  readonly requestId: string | undefined;
  readonly frameType: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, options: ProtocolErrorOptions = {}) {
    super(code, message, options.details, options.cause === undefined ? undefined : { cause: options.cause });
    this.fatal = options.fatal ?? false;
    this.requestId = options.requestId;
    this.frameType = options.frameType;
  }
}

/** A decoded frame: a JSON object with a string `type`. Other fields are not checked here. */
export type Frame = { type: string } & Record<string, unknown>;

export interface FrameLimits {
  /** Largest frame in bytes (JSON text without the line terminator). */
  maxFrameBytes?: number;
  /** Largest announced binary body in bytes. */
  maxBodyBytes?: number;
}

export interface ResolvedFrameLimits {
  maxFrameBytes: number;
  maxBodyBytes: number;
}

export function resolveFrameLimits(limits: FrameLimits = {}): ResolvedFrameLimits {
  const maxFrameBytes = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxBodyBytes = limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw new RangeError(`maxFrameBytes must be a positive integer, got ${String(maxFrameBytes)}`);
  }
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new RangeError(`maxBodyBytes must be a non-negative integer, got ${String(maxBodyBytes)}`);
  }
  return { maxFrameBytes, maxBodyBytes };
}

/**
 * The outcome of reading one frame's text:
 * - `frame`: a valid frame to deliver (after its body, when `bodyBytes >= 0`);
 * - `error`: a problem to report (after the body has been skipped, when `bodyBytes >= 0`);
 * - `bodyBytes`: how many raw bytes follow this frame, or -1 for none. A frame that is otherwise
 *   invalid but announces a valid body still has its body consumed, so the stream stays in step.
 */
export interface ParsedFrame {
  frame: Frame | undefined;
  error: ProtocolError | undefined;
  bodyBytes: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** Request ids we are willing to recover from broken text: short printable ASCII, no quote or backslash. */
const REQUEST_ID_IN_TEXT = /"request_id"\s*:\s*"([\x20\x21\x23-\x5b\x5d-\x7e]{1,128})"/;
const MAX_ECHOED_REQUEST_ID = 128;

/** A request_id that is safe to echo in an error answer, or undefined. */
export function echoableRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ECHOED_REQUEST_ID ? value : undefined;
}

/**
 * Best effort: find `"request_id": "..."` in text that did not parse, so the sender's request can
 * still be answered with an error instead of timing out.
 */
export function findRequestIdInText(text: string): string | undefined {
  const match = REQUEST_ID_IN_TEXT.exec(text);
  return match === null ? undefined : match[1];
}

/** Same as findRequestIdInText, for raw bytes that may be cut anywhere or not be valid UTF-8. */
export function findRequestIdInBytes(bytes: Uint8Array, maxScan = 4096): string | undefined {
  const head = bytes.length > maxScan ? bytes.subarray(0, maxScan) : bytes;
  return findRequestIdInText(lenientUtf8.decode(head));
}

/** Parses the UTF-8 bytes of one frame (no line terminator). */
export function parseFrameBytes(bytes: Uint8Array, limits: ResolvedFrameLimits): ParsedFrame {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    return {
      frame: undefined,
      error: new ProtocolError(WireErrorCode.INVALID_JSON, 'Frame is not valid UTF-8', {
        requestId: findRequestIdInBytes(bytes),
        cause,
      }),
      bodyBytes: -1,
    };
  }
  return parseFrameText(text, limits);
}

/** Parses the text of one frame. The size cap must have been checked by the caller. */
export function parseFrameText(text: string, limits: ResolvedFrameLimits): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return {
      frame: undefined,
      error: new ProtocolError(WireErrorCode.INVALID_JSON, 'Frame is not valid JSON', {
        requestId: findRequestIdInText(text),
        cause,
      }),
      bodyBytes: -1,
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      frame: undefined,
      error: new ProtocolError(WireErrorCode.INVALID_FRAME, 'Frame must be a JSON object'),
      bodyBytes: -1,
    };
  }
  const object = value as Record<string, unknown>;
  const requestId = echoableRequestId(object.request_id);
  const frameType = typeof object.type === 'string' ? object.type : undefined;

  let bodyBytes = -1;
  if (Object.prototype.hasOwnProperty.call(object, BODY_BYTES_FIELD)) {
    const announced = object[BODY_BYTES_FIELD];
    if (typeof announced !== 'number' || !Number.isSafeInteger(announced) || announced < 0) {
      return {
        frame: undefined,
        error: new ProtocolError(WireErrorCode.INVALID_FRAME, `${BODY_BYTES_FIELD} must be a non-negative integer`, {
          requestId,
          frameType,
        }),
        bodyBytes: -1,
      };
    }
    if (announced > limits.maxBodyBytes) {
      return {
        frame: undefined,
        error: new ProtocolError(
          WireErrorCode.BODY_TOO_LARGE,
          `Binary body of ${announced} bytes is larger than the limit of ${limits.maxBodyBytes}`,
          { fatal: true, requestId, frameType, details: { limit: limits.maxBodyBytes } },
        ),
        bodyBytes: -1,
      };
    }
    bodyBytes = announced;
  }

  if (frameType === undefined) {
    return {
      frame: undefined,
      error: new ProtocolError(WireErrorCode.INVALID_FRAME, 'Frame has no string "type"', { requestId }),
      bodyBytes,
    };
  }
  return { frame: object as Frame, error: undefined, bodyBytes };
}

/** The error for a frame above the cap. Fatal: the rest of the stream cannot be trusted. */
export function frameTooLarge(maxFrameBytes: number, requestId?: string, frameType?: string): ProtocolError {
  return new ProtocolError(WireErrorCode.FRAME_TOO_LARGE, `Frame is larger than the limit of ${maxFrameBytes} bytes`, {
    fatal: true,
    requestId,
    frameType,
    details: { limit: maxFrameBytes },
  });
}

/** Number of bytes `text` takes in UTF-8, without encoding it. Lone surrogates count as U+FFFD (3 bytes). */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair: 2 UTF-16 units, 4 UTF-8 bytes.
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
