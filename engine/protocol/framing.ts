/**
 * Newline-delimited JSON frames over a byte stream (TCP+TLS), each optionally followed by a raw
 * binary body that its `body_bytes` field announces. Node-only (Buffer, streams); the browser
 * renderer speaks the same frames over WebSocket (websocket.ts).
 *
 * The decoder enforces the frame cap while reading: a line that grows past the cap without a
 * newline is refused as soon as the cap is crossed, so one peer can make it hold at most about
 * one cap of line data (plus one announced body, itself capped).
 */
import { finished, type Readable, type Writable } from 'node:stream';
import { KecalekError, ClientErrorCode, WireErrorCode } from '../errors.js';
import { BODY_BYTES_FIELD } from './constants.js';
import {
  ProtocolError,
  echoableRequestId,
  findRequestIdInBytes,
  frameTooLarge,
  parseFrameBytes,
  resolveFrameLimits,
  type Frame,
  type FrameLimits,
  type ParsedFrame,
  type ResolvedFrameLimits,
} from './parse.js';

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
/** A line buffer larger than this is released after its frame instead of being kept for reuse. */
const KEEP_LINE_BUFFER_BYTES = 64 * 1024;
const MIN_LINE_BUFFER_BYTES = 4 * 1024;

export interface FrameDecoderOptions extends FrameLimits {
  /**
   * Called for every valid frame, in stream order. `body` is set when the frame announced one
   * (`body_bytes` N >= 0; N = 0 gives an empty Buffer); the `body_bytes` field stays in the frame.
   */
  onFrame: (frame: Frame, body: Buffer | undefined) => void;
  /**
   * Called for every frame that cannot be read, in stream order. After a non-fatal error the
   * decoder goes on with the next frame; after a fatal one (frame_too_large, body_too_large, or a
   * stream that ended inside a frame) it stops and ignores further input: close the connection.
   * `error.requestId` / `error.frameType` are set when they could be recovered.
   */
  onError: (error: ProtocolError, fatal: boolean) => void;
}

/**
 * Incremental decoder: feed it chunks as they arrive with `push()`, call `end()` when the stream
 * ends. Frames and errors are reported synchronously through the callbacks, from inside push().
 * The callbacks must not throw and must not call push() (if one throws, the decoder stops and the
 * exception propagates out of push()). Line bytes are copied into one growing buffer (never a
 * list of tiny chunks, which a peer sending one byte at a time could inflate); only new bytes are
 * scanned for '\n'. A chunk that is exactly one body is delivered as that body without copying:
 * do not modify chunks after pushing them.
 */
export class FrameDecoder {
  private readonly limits: ResolvedFrameLimits;
  private readonly onFrame: FrameDecoderOptions['onFrame'];
  private readonly onError: FrameDecoderOptions['onError'];

  /** Bytes of the current, unfinished line (only used when a line spans chunks). */
  private line: Buffer | undefined;
  private lineLength = 0;

  /** The frame (or error) whose body is being read, and the body so far. */
  private pending: ParsedFrame | undefined;
  private body: Buffer | undefined;
  private bodyReceived = 0;

  private stopped = false;
  private pushing = false;

  constructor(options: FrameDecoderOptions) {
    this.limits = resolveFrameLimits(options);
    this.onFrame = options.onFrame;
    this.onError = options.onError;
  }

  /** Bytes held for unfinished frames and bodies. Never more than about maxFrameBytes + maxBodyBytes. */
  get bufferedBytes(): number {
    return this.lineLength + this.bodyReceived;
  }

  /** True after a fatal error or end(): further input is ignored. */
  get closed(): boolean {
    return this.stopped;
  }

  push(chunk: Uint8Array): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.pushing) throw new Error('FrameDecoder.push() must not be called from its own callbacks');
    this.pushing = true;
    try {
      this.consume(toBuffer(chunk));
    } catch (error) {
      this.stop();
      throw error;
    } finally {
      this.pushing = false;
    }
  }

  /** The stream has ended. A frame or body cut off by the end is reported as a fatal invalid_frame. */
  end(): void {
    if (this.stopped) return;
    if (this.pending !== undefined) {
      const announced = this.pending.bodyBytes;
      this.fail(new ProtocolError(WireErrorCode.INVALID_FRAME, `Stream ended inside a binary body (${this.bodyReceived} of ${announced} bytes)`, {
        fatal: true,
        requestId: this.pending.frame ? echoableRequestId(this.pending.frame.request_id) : this.pending.error?.requestId,
        frameType: this.pending.frame?.type ?? this.pending.error?.frameType,
      }));
      return;
    }
    if (this.lineLength > 0) {
      const line = this.line!.subarray(0, this.lineLength);
      this.fail(new ProtocolError(WireErrorCode.INVALID_FRAME, 'Stream ended inside a frame', {
        fatal: true,
        requestId: findRequestIdInBytes(line),
      }));
      return;
    }
    this.stop();
  }

  private consume(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.stopped) {
      if (this.pending !== undefined) {
        pos = this.consumeBody(chunk, pos);
        continue;
      }
      const newline = chunk.indexOf(NEWLINE, pos);
      if (newline === -1) {
        this.bufferPartialLine(chunk, pos);
        return;
      }
      const segment = chunk.subarray(pos, newline);
      pos = newline + 1;
      this.completeLine(segment);
    }
  }

  /** Keeps the start of a line that has no newline yet, refusing it once it passes the cap. */
  private bufferPartialLine(chunk: Buffer, pos: number): void {
    const rest = chunk.subarray(pos);
    const total = this.lineLength + rest.length;
    const cap = this.limits.maxFrameBytes;
    // One byte of grace for a '\r' whose '\n' is still on the way.
    if (total > cap && !(total === cap + 1 && rest[rest.length - 1] === CARRIAGE_RETURN)) {
      const head = this.lineLength > 0 ? this.line!.subarray(0, this.lineLength) : rest;
      this.fail(frameTooLarge(cap, findRequestIdInBytes(head)));
      return;
    }
    this.appendToLine(rest, total);
  }

  private completeLine(segment: Buffer): void {
    const total = this.lineLength + segment.length;
    const lastByte = segment.length > 0 ? segment[segment.length - 1] : total > 0 ? this.line![this.lineLength - 1] : undefined;
    const contentLength = lastByte === CARRIAGE_RETURN ? total - 1 : total;
    if (contentLength > this.limits.maxFrameBytes) {
      const head = this.lineLength > 0 ? this.line!.subarray(0, this.lineLength) : segment;
      this.fail(frameTooLarge(this.limits.maxFrameBytes, findRequestIdInBytes(head)));
      return;
    }
    let bytes: Buffer;
    if (this.lineLength === 0) {
      bytes = segment;
    } else {
      this.appendToLine(segment, total);
      bytes = this.line!;
    }
    const content = bytes.subarray(0, contentLength);
    // Parsing produces strings only, so the line buffer can be reused or released right away.
    const parsed = contentLength === 0 ? undefined : parseFrameBytes(content, this.limits);
    this.resetLine();
    if (parsed !== undefined) this.handleParsed(parsed);
  }

  /** Appends to the line buffer, growing it geometrically (bounded by the cap, checked by callers). */
  private appendToLine(bytes: Buffer, total: number): void {
    if (this.line === undefined || this.line.length < total) {
      let size = Math.max(MIN_LINE_BUFFER_BYTES, this.line?.length ?? 0);
      while (size < total) size *= 2;
      size = Math.min(size, Math.max(total, this.limits.maxFrameBytes + 2));
      const grown = Buffer.allocUnsafeSlow(size);
      if (this.line !== undefined && this.lineLength > 0) this.line.copy(grown, 0, 0, this.lineLength);
      this.line = grown;
    }
    bytes.copy(this.line, this.lineLength);
    this.lineLength = total;
  }

  private resetLine(): void {
    this.lineLength = 0;
    if (this.line !== undefined && this.line.length > KEEP_LINE_BUFFER_BYTES) this.line = undefined;
  }

  private handleParsed(parsed: ParsedFrame): void {
    if (parsed.error?.fatal) {
      this.fail(parsed.error);
      return;
    }
    if (parsed.bodyBytes > 0) {
      this.pending = parsed;
      this.body = undefined;
      this.bodyReceived = 0;
      return;
    }
    this.deliver(parsed, parsed.bodyBytes === 0 ? Buffer.alloc(0) : undefined);
  }

  private consumeBody(chunk: Buffer, pos: number): number {
    const pending = this.pending!;
    const wanted = pending.bodyBytes - this.bodyReceived;
    const available = chunk.length - pos;
    if (this.bodyReceived === 0 && pos === 0 && available === wanted) {
      // The chunk is exactly the body: hand it over without copying.
      this.body = chunk;
      this.bodyReceived = wanted;
      pos = chunk.length;
    } else {
      this.body ??= Buffer.allocUnsafeSlow(pending.bodyBytes);
      const take = Math.min(wanted, available);
      chunk.copy(this.body, this.bodyReceived, pos, pos + take);
      this.bodyReceived += take;
      pos += take;
      if (this.bodyReceived < pending.bodyBytes) return pos;
    }
    const body = this.body!;
    this.pending = undefined;
    this.body = undefined;
    this.bodyReceived = 0;
    this.deliver(pending, body);
    return pos;
  }

  private deliver(parsed: ParsedFrame, body: Buffer | undefined): void {
    if (parsed.frame !== undefined) this.onFrame(parsed.frame, body);
    else if (parsed.error !== undefined) this.onError(parsed.error, false);
  }

  private fail(error: ProtocolError): void {
    this.stop();
    this.onError(error, true);
  }

  private stop(): void {
    this.stopped = true;
    this.line = undefined;
    this.lineLength = 0;
    this.pending = undefined;
    this.body = undefined;
    this.bodyReceived = 0;
  }
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export interface DecodedFrame {
  frame: Frame;
  /** Present when the frame announced a binary body. */
  body?: Buffer;
}

export interface ReadFramesOptions extends FrameLimits {
  /**
   * Receives non-fatal errors (a bad frame that was skipped). Without it, a non-fatal error ends
   * the iteration like a fatal one: a stream we only read from (a client reading its server)
   * should never carry malformed frames.
   */
  onError?: (error: ProtocolError) => void;
  /** Destroy the stream when the loop is left early (break/return/throw). Default true, like Node's iterator. */
  destroyOnReturn?: boolean;
}

/**
 * Reads frames from a binary stream as an async iterable. Frames are pulled one chunk at a time,
 * so a slow consumer applies backpressure to the stream. Protocol errors end the iteration by
 * throwing the ProtocolError (after every frame that preceded it); stream errors are thrown as
 * they are; a stream that ends inside a frame throws a fatal invalid_frame.
 */
export async function* readFrames(stream: Readable, options: ReadFramesOptions = {}): AsyncGenerator<DecodedFrame, void, undefined> {
  type Item = DecodedFrame | { error: ProtocolError };
  let queue: Item[] = [];
  const decoder = new FrameDecoder({
    maxFrameBytes: options.maxFrameBytes,
    maxBodyBytes: options.maxBodyBytes,
    onFrame: (frame, body) => queue.push(body === undefined ? { frame } : { frame, body }),
    onError: (error, fatal) => {
      if (!fatal && options.onError !== undefined) options.onError(error);
      else queue.push({ error });
    },
  });
  function* drain(): Generator<DecodedFrame, void, undefined> {
    const items = queue;
    queue = [];
    for (const item of items) {
      if ('error' in item) throw item.error;
      yield item;
    }
  }
  for await (const chunk of stream.iterator({ destroyOnReturn: options.destroyOnReturn ?? true })) {
    if (typeof chunk === 'string') throw new TypeError('readFrames needs a binary stream (do not call setEncoding on it)');
    decoder.push(chunk as Uint8Array);
    yield* drain();
    if (decoder.closed) return;
  }
  decoder.end();
  yield* drain();
}

/**
 * Encodes a frame for a byte stream: `[JSON + '\n']`, or `[JSON + '\n', body]` with `body_bytes`
 * set (an empty body gives `body_bytes: 0` and no second part). Throws a non-fatal ProtocolError
 * (frame_too_large / body_too_large) above the given caps (defaults: constants.ts), and
 * invalid_frame if the frame sets body_bytes itself without a body. The result can be sent to many
 * connections with FrameWriter.sendEncoded().
 */
export function encodeFrame(frame: object, body?: Uint8Array, limits?: FrameLimits): Buffer[] {
  return encodeWithLimits(frame, body, resolveFrameLimits(limits));
}

function encodeWithLimits(frame: object, body: Uint8Array | undefined, limits: ResolvedFrameLimits): Buffer[] {
  const record = frame as Record<string, unknown>;
  let value: object = frame;
  if (body !== undefined) {
    if (body.length > limits.maxBodyBytes) {
      throw new ProtocolError(WireErrorCode.BODY_TOO_LARGE, `Binary body of ${body.length} bytes is larger than the limit of ${limits.maxBodyBytes}`, {
        requestId: echoableRequestId(record.request_id),
        frameType: typeof record.type === 'string' ? record.type : undefined,
        details: { limit: limits.maxBodyBytes },
      });
    }
    value = { ...frame, [BODY_BYTES_FIELD]: body.length };
  } else if (Object.prototype.hasOwnProperty.call(frame, BODY_BYTES_FIELD)) {
    throw new ProtocolError(WireErrorCode.INVALID_FRAME, `Frame sets ${BODY_BYTES_FIELD} but no body was given`);
  }
  const json = JSON.stringify(value);
  if (typeof json !== 'string') throw new TypeError('Frame does not serialise to JSON');
  const header = Buffer.from(`${json}\n`, 'utf8');
  if (header.length - 1 > limits.maxFrameBytes) {
    throw new ProtocolError(WireErrorCode.FRAME_TOO_LARGE, `Frame of ${header.length - 1} bytes is larger than the peer's limit of ${limits.maxFrameBytes}`, {
      requestId: echoableRequestId(record.request_id),
      frameType: typeof record.type === 'string' ? record.type : undefined,
      details: { limit: limits.maxFrameBytes },
    });
  }
  if (body === undefined || body.length === 0) return [header];
  return [header, toBuffer(body)];
}

function connectionClosed(cause?: unknown): KecalekError {
  return new KecalekError(ClientErrorCode.CONNECTION_CLOSED, 'Connection is closed', undefined, cause === undefined ? undefined : { cause });
}

/**
 * Writes frames to a Node Writable (a socket, a TLS socket, any byte stream).
 *
 * - Each frame is serialised once, and a frame and its body are written in the same tick, so
 *   frames from different callers never interleave and a body always directly follows its frame.
 *   Frames go out in call order, whether sent with send() or sendNow().
 * - A frame above `maxFrameBytes` or a body above `maxBodyBytes` (the peer's caps) is refused with a
 *   ProtocolError (frame_too_large / body_too_large, not fatal) before anything is written.
 * - A body is written by reference: do not modify it until the send has resolved.
 * - Writing after close() or on a destroyed stream fails with a KecalekError `connection_closed`.
 * - The writer adds no permanent 'error' listener: the stream's owner handles stream errors.
 */
export class FrameWriter {
  private readonly stream: Writable;
  private readonly limits: ResolvedFrameLimits;
  private drainWaiter: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(stream: Writable, options: FrameLimits = {}) {
    this.stream = stream;
    this.limits = resolveFrameLimits(options);
  }

  /** True once close() was called or the stream can no longer be written. */
  get closed(): boolean {
    return this.closing !== undefined || !this.stream.writable;
  }

  /** True while the stream's buffer is above its high-water mark. */
  get congested(): boolean {
    return this.stream.writableNeedDrain;
  }

  /**
   * Writes a frame (and its body) and resolves when the caller may write more: at once when the
   * stream's buffer is below its high-water mark, else after 'drain'. Rejects with
   * `connection_closed` if the stream closes or errors first.
   */
  send(frame: object, body?: Uint8Array): Promise<void> {
    let belowHighWaterMark: boolean;
    try {
      belowHighWaterMark = this.sendNow(frame, body);
    } catch (error) {
      return Promise.reject(error);
    }
    return belowHighWaterMark ? Promise.resolve() : this.waitForDrain();
  }

  /**
   * Writes a frame (and its body) without waiting. Returns false when the stream's buffer is now
   * above its high-water mark (like Writable.write): a caller that can wait should then wait for
   * drain (or use send()); a hot path (push fan-out) may choose to drop a slow connection instead.
   * Throws the same errors send() rejects with.
   */
  sendNow(frame: object, body?: Uint8Array): boolean {
    return this.write(encodeWithLimits(frame, body, this.limits));
  }

  /**
   * Writes a frame encoded once with encodeFrame(), for fan-out to many connections without
   * serialising per connection. The parts are written by reference (share them freely, do not
   * modify them). Checked against this writer's caps. Resolves/rejects as send().
   */
  sendEncoded(parts: readonly Uint8Array[]): Promise<void> {
    let belowHighWaterMark: boolean;
    try {
      belowHighWaterMark = this.sendEncodedNow(parts);
    } catch (error) {
      return Promise.reject(error);
    }
    return belowHighWaterMark ? Promise.resolve() : this.waitForDrain();
  }

  /** sendEncoded() without waiting; returns as sendNow(). */
  sendEncodedNow(parts: readonly Uint8Array[]): boolean {
    const [header, body] = parts;
    if (parts.length < 1 || parts.length > 2 || header.length === 0 || header[header.length - 1] !== NEWLINE) {
      throw new TypeError('sendEncoded expects the parts returned by encodeFrame()');
    }
    if (header.length - 1 > this.limits.maxFrameBytes) {
      throw new ProtocolError(WireErrorCode.FRAME_TOO_LARGE, `Frame of ${header.length - 1} bytes is larger than the peer's limit of ${this.limits.maxFrameBytes}`, {
        details: { limit: this.limits.maxFrameBytes },
      });
    }
    if (body !== undefined && body.length > this.limits.maxBodyBytes) {
      throw new ProtocolError(WireErrorCode.BODY_TOO_LARGE, `Binary body of ${body.length} bytes is larger than the limit of ${this.limits.maxBodyBytes}`, {
        details: { limit: this.limits.maxBodyBytes },
      });
    }
    return this.write(parts);
  }

  private write(parts: readonly Uint8Array[]): boolean {
    if (this.closed) throw connectionClosed();
    const stream = this.stream;
    if (parts.length === 1) return stream.write(parts[0]);
    // Frame and body leave in one writev, and nothing can come between them.
    stream.cork();
    stream.write(parts[0]);
    const belowHighWaterMark = stream.write(parts[1]);
    stream.uncork();
    return belowHighWaterMark;
  }

  /** Resolves when the stream's buffer is below its high-water mark again. */
  waitForDrain(): Promise<void> {
    const stream = this.stream;
    if (stream.destroyed) return Promise.reject(connectionClosed());
    if (!stream.writableNeedDrain) return Promise.resolve();
    this.drainWaiter ??= new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.off('drain', onDrain);
        stream.off('close', onClose);
        stream.off('error', onError);
        this.drainWaiter = undefined;
      };
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(connectionClosed());
      };
      const onError = (error: unknown): void => {
        cleanup();
        reject(connectionClosed(error));
      };
      stream.on('drain', onDrain);
      stream.on('close', onClose);
      stream.on('error', onError);
    });
    return this.drainWaiter;
  }

  /**
   * Ends the stream after everything written so far has been flushed. Resolves when the stream has
   * finished or closed (also when it failed: there is nothing left to do then). Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const stream = this.stream;
      if (stream.destroyed || stream.writableFinished) {
        resolve();
        return;
      }
      let cleanup: (() => void) | undefined = undefined;
      cleanup = finished(stream, { readable: false }, () => {
        // finished() leaves its listeners attached after calling back; remove them.
        cleanup?.();
        resolve();
      });
      if (!stream.writableEnded) stream.end();
    });
    return this.closing;
  }
}
