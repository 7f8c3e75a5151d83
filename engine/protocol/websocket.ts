/**
 * The same frames over WebSocket: one JSON frame per text message; a frame that announces
 * `body_bytes` N > 0 is followed by exactly one binary message of N bytes. Browser-safe (the
 * renderer bundles it): Uint8Array and TextDecoder only, no Node APIs.
 *
 * Transport note for the server: set the `ws` server's `maxPayload` to at least
 * max(maxFrameBytes, maxBodyBytes) so that ws itself refuses larger messages before buffering them.
 */
import { WireErrorCode } from '../errors.js';
import { BODY_BYTES_FIELD } from './constants.js';
import {
  ProtocolError,
  echoableRequestId,
  findRequestIdInBytes,
  findRequestIdInText,
  frameTooLarge,
  parseFrameBytes,
  parseFrameText,
  resolveFrameLimits,
  utf8ByteLength,
  type Frame,
  type FrameLimits,
  type ParsedFrame,
  type ResolvedFrameLimits,
} from './parse.js';

/** What a WebSocket delivers: `ws` gives Buffers (Uint8Array), the browser strings and ArrayBuffers. */
export type WsMessageData = Uint8Array | ArrayBuffer | string;

export interface WsFrameDecoderOptions extends FrameLimits {
  /** Called for every valid frame; `body` is set when the frame announced one (N = 0 gives an empty body). */
  onFrame: (frame: Frame, body: Uint8Array | undefined) => void;
  /**
   * Called for every frame that cannot be read. Non-fatal (invalid_json, invalid_frame for a bad
   * frame): the decoder goes on. Fatal (frame_too_large, body_too_large, a missing, unexpected or
   * wrong-sized binary message, a connection closed before an announced body): the decoder stops;
   * close the connection.
   */
  onError: (error: ProtocolError, fatal: boolean) => void;
}

/**
 * Decodes WebSocket messages into frames. Feed every message with `push(data, isBinary)` (with
 * `ws`: `socket.on('message', (data, isBinary) => decoder.push(data, isBinary))`; in the browser:
 * `push(event.data, typeof event.data !== 'string')` with `binaryType = 'arraybuffer'`), and call
 * `end()` when the socket closes. Callbacks run synchronously inside push() and must not throw.
 */
export class WsFrameDecoder {
  private readonly limits: ResolvedFrameLimits;
  private readonly onFrame: WsFrameDecoderOptions['onFrame'];
  private readonly onError: WsFrameDecoderOptions['onError'];
  private pending: ParsedFrame | undefined;
  private stopped = false;

  constructor(options: WsFrameDecoderOptions) {
    this.limits = resolveFrameLimits(options);
    this.onFrame = options.onFrame;
    this.onError = options.onError;
  }

  /** True after a fatal error or end(). */
  get closed(): boolean {
    return this.stopped;
  }

  /** True while a frame waits for its binary message. */
  get awaitingBody(): boolean {
    return this.pending !== undefined;
  }

  push(data: WsMessageData, isBinary: boolean): void {
    if (this.stopped) return;
    const pending = this.pending;
    if (pending !== undefined) {
      this.pending = undefined;
      if (!isBinary || typeof data === 'string') {
        this.fail(this.bodyError(pending, `Expected a binary message of ${pending.bodyBytes} bytes after the frame, got a text message`));
        return;
      }
      const body = toBytes(data);
      if (body.length !== pending.bodyBytes) {
        this.fail(this.bodyError(pending, `Expected a binary message of ${pending.bodyBytes} bytes after the frame, got ${body.length} bytes`));
        return;
      }
      this.deliver(pending, body);
      return;
    }
    if (isBinary) {
      this.fail(new ProtocolError(WireErrorCode.INVALID_FRAME, 'Unexpected binary message: no frame announced a body', { fatal: true }));
      return;
    }
    const parsed = this.parseText(data);
    if (parsed === undefined) return;
    if (parsed.error?.fatal) {
      this.fail(parsed.error);
      return;
    }
    if (parsed.bodyBytes > 0) {
      this.pending = parsed;
      return;
    }
    this.deliver(parsed, parsed.bodyBytes === 0 ? new Uint8Array(0) : undefined);
  }

  /** The socket has closed. A frame still waiting for its body is reported as a fatal invalid_frame. */
  end(): void {
    if (this.stopped) return;
    const pending = this.pending;
    if (pending !== undefined) {
      this.fail(this.bodyError(pending, `Connection closed before the binary body of ${pending.bodyBytes} bytes`));
      return;
    }
    this.stopped = true;
  }

  /** Parses a text message, or reports frame_too_large and returns undefined. */
  private parseText(data: WsMessageData): ParsedFrame | undefined {
    const cap = this.limits.maxFrameBytes;
    if (typeof data === 'string') {
      // Every UTF-16 unit is at least one UTF-8 byte and at most three: count only when it matters.
      if (data.length > cap || (data.length * 3 > cap && utf8ByteLength(data) > cap)) {
        this.fail(frameTooLarge(cap, findRequestIdInText(data.slice(0, 4096))));
        return undefined;
      }
      return parseFrameText(data, this.limits);
    }
    const bytes = toBytes(data);
    if (bytes.length > cap) {
      this.fail(frameTooLarge(cap, findRequestIdInBytes(bytes)));
      return undefined;
    }
    return parseFrameBytes(bytes, this.limits);
  }

  private bodyError(pending: ParsedFrame, message: string): ProtocolError {
    return new ProtocolError(WireErrorCode.INVALID_FRAME, message, {
      fatal: true,
      requestId: pending.frame !== undefined ? echoableRequestId(pending.frame.request_id) : pending.error?.requestId,
      frameType: pending.frame?.type ?? pending.error?.frameType,
    });
  }

  private deliver(parsed: ParsedFrame, body: Uint8Array | undefined): void {
    if (parsed.frame !== undefined) this.onFrame(parsed.frame, body);
    else if (parsed.error !== undefined) this.onError(parsed.error, false);
  }

  private fail(error: ProtocolError): void {
    this.stopped = true;
    this.pending = undefined;
    this.onError(error, true);
  }
}

function toBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** One WebSocket message to send: `ws.send(message.data, { binary: message.binary })`, or `socket.send(message.data)` in the browser. */
export interface WsMessage {
  data: string | Uint8Array;
  binary: boolean;
}

/**
 * Encodes a frame as WebSocket messages: the JSON text message, then the body as a binary message
 * when there is a non-empty body (`body_bytes` is set automatically). Refuses a frame or body above
 * the given caps (the peer's; defaults as in constants.ts) with a non-fatal ProtocolError before
 * anything is sent. Send the messages in order, back to back.
 */
export function encodeWsMessages(frame: object, body?: Uint8Array, limits?: FrameLimits): WsMessage[] {
  const { maxFrameBytes, maxBodyBytes } = resolveFrameLimits(limits);
  const record = frame as Record<string, unknown>;
  const requestId = echoableRequestId(record.request_id);
  const frameType = typeof record.type === 'string' ? record.type : undefined;
  let value: object = frame;
  if (body !== undefined) {
    if (body.length > maxBodyBytes) {
      throw new ProtocolError(WireErrorCode.BODY_TOO_LARGE, `Binary body of ${body.length} bytes is larger than the limit of ${maxBodyBytes}`, {
        requestId,
        frameType,
        details: { limit: maxBodyBytes },
      });
    }
    value = { ...frame, [BODY_BYTES_FIELD]: body.length };
  } else if (Object.prototype.hasOwnProperty.call(frame, BODY_BYTES_FIELD)) {
    throw new ProtocolError(WireErrorCode.INVALID_FRAME, `Frame sets ${BODY_BYTES_FIELD} but no body was given`);
  }
  const json = JSON.stringify(value);
  if (typeof json !== 'string') throw new TypeError('Frame does not serialise to JSON');
  if (json.length > maxFrameBytes || (json.length * 3 > maxFrameBytes && utf8ByteLength(json) > maxFrameBytes)) {
    throw new ProtocolError(WireErrorCode.FRAME_TOO_LARGE, `Frame is larger than the peer's limit of ${maxFrameBytes} bytes`, {
      requestId,
      frameType,
      details: { limit: maxFrameBytes },
    });
  }
  const messages: WsMessage[] = [{ data: json, binary: false }];
  if (body !== undefined && body.length > 0) messages.push({ data: body, binary: true });
  return messages;
}
