/**
 * The Connection the engine sees, over a byte stream (TLS or plain TCP) or a WebSocket. Both share
 * one life cycle: `handler.opened` once, frames and decode errors in stream order, exactly one
 * `handler.closed` when the transport is gone, whatever ended it (peer, error, close, destroy).
 *
 * Writes never interleave: a frame and its body leave back to back, in call order. `send` honours
 * backpressure (the dispatcher waits); `push` never waits, and a client whose unsent bytes pass
 * `maxWriteBufferBytes` is disconnected as a slow consumer (it reconnects and syncs) instead of
 * making the server buffer without bound — the original's dead-writer cleanup.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { ClientErrorCode, KecalekError, WireErrorCode } from '../../errors.js';
import {
  FrameDecoder,
  FrameWriter,
  ProtocolError,
  WsFrameDecoder,
  encodeWsMessages,
  type Frame,
} from '../../protocol/index.js';
import type { Session, TransportKind } from '../../plugin/server-types.js';
import { isEncodedFrame, type Connection, type ConnectionHandler, type EncodedFrame } from '../connection.js';
import type { LimitsConfig } from '../config-types.js';

/** How long close() waits for the peer before destroying the transport. */
export const CLOSE_TIMEOUT_MS = 5_000;

export interface ConnectionOptions {
  readonly handler: ConnectionHandler;
  readonly log: Logger;
  readonly limits: Pick<LimitsConfig, 'maxFrameBytes' | 'maxBodyBytes' | 'maxWriteBufferBytes'>;
  readonly ip: string;
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is `1.2.3.4`, so per-IP caps count it once. */
export function normaliseIp(address: string | undefined): string {
  if (!address) return 'unknown';
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

function connectionClosed(cause?: unknown): KecalekError {
  return new KecalekError(ClientErrorCode.CONNECTION_CLOSED, 'Connection is closed', undefined, cause === undefined ? undefined : { cause });
}

/** One fan-out frame encoded to bytes once, shared by every connection it is pushed to. */
const encodedLines = new WeakMap<EncodedFrame, Buffer>();

function encodedLine(frame: EncodedFrame): Buffer {
  let line = encodedLines.get(frame);
  if (line === undefined) {
    line = Buffer.from(`${frame.encoded}\n`, 'utf8');
    encodedLines.set(frame, line);
  }
  return line;
}

/**
 * A connection id: a UUID as one flat string. randomUUID() assembles its result from about twenty
 * concatenated pieces, which V8 keeps as a tree of cons strings for as long as the string lives:
 * the heap snapshot of a server holding 19,952 idle connections (bench/connections.ts) showed
 * 280,000 cons strings (~14 per connection id, ~450 bytes each id) against ~60 bytes for a flat copy.
 */
function connectionId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}

abstract class BaseConnection implements Connection {
  readonly id: string = connectionId();
  readonly ip: string;
  abstract readonly transport: TransportKind;
  readonly connectedAt: number = Date.now();
  session: Session | undefined = undefined;
  readonly state = new Map<string, unknown>();

  protected readonly handler: ConnectionHandler;
  protected readonly log: Logger;
  protected readonly limits: ConnectionOptions['limits'];

  private closing: Promise<void> | undefined;
  private destroyed = false;
  private transportClosed = false;
  private opened = false;
  /**
   * Resolves when the transport has closed, made on first use: only close() waits for it, and an
   * idle connection that is never closed by the server should not carry a promise, its resolver
   * and their context (~100 bytes each of 20,000 connections in the benchmark's heap snapshot).
   */
  private goneSignal: { promise: Promise<void>; resolve: () => void } | undefined;

  protected constructor(options: ConnectionOptions) {
    this.handler = options.handler;
    this.log = options.log;
    this.limits = options.limits;
    this.ip = options.ip;
  }

  /** Resolves when the transport has closed, however that happened. */
  protected get gone(): Promise<void> {
    if (this.transportClosed) return Promise.resolve();
    if (this.goneSignal === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.goneSignal = { promise, resolve };
    }
    return this.goneSignal.promise;
  }

  get closed(): boolean {
    return this.closing !== undefined || this.destroyed || this.transportClosed;
  }

  abstract send(frame: Record<string, unknown>, body?: Uint8Array): Promise<void>;
  abstract pauseReading(): void;
  abstract resumeReading(): void;
  protected abstract writePush(frame: Record<string, unknown> | EncodedFrame): void;
  /** Bytes accepted for sending that the peer has not taken yet. */
  protected abstract get unsentBytes(): number;
  /** Starts an orderly close after everything queued has been written. */
  protected abstract endTransport(): void;
  protected abstract destroyTransport(): void;

  push(frame: Record<string, unknown> | EncodedFrame): boolean {
    if (this.closed) return false;
    try {
      this.writePush(frame);
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.log.warn({ connection: this.id, code: error.code }, 'push not sent: larger than the frame limit');
      }
      return false;
    }
    return !this.dropIfBacklogged();
  }

  /**
   * Disconnects a peer whose unsent bytes passed the cap (a client that stopped reading). Returns
   * true when it did. Responses wait for drain, so only a client that does not read gets here.
   */
  protected dropIfBacklogged(): boolean {
    const unsent = this.unsentBytes;
    if (unsent <= this.limits.maxWriteBufferBytes) return false;
    this.log.warn(
      { connection: this.id, unsentBytes: unsent, limit: this.limits.maxWriteBufferBytes },
      'disconnecting a slow consumer: it stopped reading while frames piled up',
    );
    this.destroy();
    return true;
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      if (this.transportClosed || this.destroyed) {
        this.closing = this.gone;
      } else {
        this.closing = new Promise<void>((resolve) => {
          const timer = setTimeout(() => this.destroy(), CLOSE_TIMEOUT_MS);
          timer.unref();
          void this.gone.then(() => {
            clearTimeout(timer);
            resolve();
          });
          try {
            this.endTransport();
          } catch (error) {
            this.log.debug({ err: error, connection: this.id }, 'ending the connection failed; destroying it');
            this.destroy();
          }
        });
      }
    }
    return this.closing;
  }

  destroy(): void {
    if (this.destroyed || this.transportClosed) return;
    this.destroyed = true;
    this.destroyTransport();
  }

  /** Subclasses call this once their events are wired. */
  protected open(): void {
    this.opened = true;
    try {
      this.handler.opened(this);
    } catch (error) {
      this.log.error({ err: error, connection: this.id }, 'connection handler failed on open');
      this.destroy();
    }
  }

  protected deliverFrame(frame: Frame, body: Uint8Array | undefined): void {
    if (this.closed) return;
    try {
      this.handler.frame(this, frame, body);
    } catch (error) {
      this.log.error({ err: error, connection: this.id }, 'connection handler failed on a frame');
    }
  }

  protected deliverError(error: ProtocolError, fatal: boolean): void {
    if (this.closed) return;
    try {
      this.handler.decodeError(this, error, fatal);
    } catch (failure) {
      this.log.error({ err: failure, connection: this.id }, 'connection handler failed on a decode error');
    }
    // The answer is queued; close after it has been flushed (C1: an oversized frame ends the connection).
    if (fatal) void this.close();
  }

  protected transportError(error: Error): void {
    // ECONNRESET, EPIPE, TLS alerts: routine for a network server, never fatal for the process.
    this.log.debug({ connection: this.id, code: (error as NodeJS.ErrnoException).code, message: error.message }, 'connection error');
  }

  /** The transport is gone. Runs once; tells the handler exactly once. */
  protected transportGone(): void {
    if (this.transportClosed) return;
    this.transportClosed = true;
    this.goneSignal?.resolve();
    if (!this.opened) return;
    try {
      this.handler.closed(this);
    } catch (error) {
      this.log.error({ err: error, connection: this.id }, 'connection handler failed on close');
    }
  }
}

/** Frames over a byte stream: TLS, or plain TCP in development. */
export class StreamConnection extends BaseConnection {
  readonly transport: TransportKind;
  private readonly socket: Socket;
  private readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;

  constructor(socket: Socket, transport: 'tls' | 'tcp', options: ConnectionOptions) {
    super(options);
    this.transport = transport;
    this.socket = socket;
    const limits = { maxFrameBytes: options.limits.maxFrameBytes, maxBodyBytes: options.limits.maxBodyBytes };
    this.writer = new FrameWriter(socket, limits);
    this.decoder = new FrameDecoder({
      ...limits,
      onFrame: (frame, body) => this.deliverFrame(frame, body),
      onError: (error, fatal) => this.deliverError(error, fatal),
    });
    socket.on('data', (chunk: Buffer) => {
      // After close() began, or after a fatal error, input is read and dropped so the peer's FIN
      // (not a reset) ends the connection and it still reads our last answer.
      if (!this.closed) this.decoder.push(chunk);
    });
    socket.on('error', (error) => this.transportError(error));
    socket.on('close', () => this.transportGone());
    this.open();
  }

  send(frame: Record<string, unknown>, body?: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(connectionClosed());
    const sent = this.writer.send(frame, body);
    // destroy() makes a pending drain wait reject with connection_closed.
    this.dropIfBacklogged();
    return sent;
  }

  protected writePush(frame: Record<string, unknown> | EncodedFrame): void {
    if (isEncodedFrame(frame)) this.writer.sendEncodedNow([encodedLine(frame)]);
    else this.writer.sendNow(frame);
  }

  protected get unsentBytes(): number {
    return this.socket.writableLength;
  }

  pauseReading(): void {
    if (!this.socket.destroyed) this.socket.pause();
  }

  resumeReading(): void {
    if (!this.socket.destroyed) this.socket.resume();
  }

  protected endTransport(): void {
    // Keep reading (and dropping) until the peer closes its side too.
    this.socket.resume();
    void this.writer.close();
  }

  protected destroyTransport(): void {
    this.socket.destroy();
  }
}

/** WebSocket close codes the server uses. */
export const WS_CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
} as const;

/** Frames over WebSocket: one text message per frame, a binary message per body. */
export class WsConnection extends BaseConnection {
  readonly transport: TransportKind = 'ws';
  private readonly socket: WebSocket;
  private readonly decoder: WsFrameDecoder;
  private readonly frameLimits: { maxFrameBytes: number; maxBodyBytes: number };
  /** Whether the peer answered since the last ping. */
  private alive = true;

  constructor(socket: WebSocket, options: ConnectionOptions) {
    super(options);
    this.socket = socket;
    this.frameLimits = { maxFrameBytes: options.limits.maxFrameBytes, maxBodyBytes: options.limits.maxBodyBytes };
    this.decoder = new WsFrameDecoder({
      ...this.frameLimits,
      onFrame: (frame, body) => this.deliverFrame(frame, body),
      onError: (error, fatal) => this.deliverError(error, fatal),
    });
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (this.closed) return;
      this.alive = true;
      this.decoder.push(Array.isArray(data) ? Buffer.concat(data) : data, isBinary);
    });
    socket.on('pong', () => (this.alive = true));
    socket.on('error', (error) => this.transportError(error));
    socket.on('close', () => this.transportGone());
    this.open();
  }

  /**
   * Keepalive round: a peer that has not answered since the previous ping is terminated (a dead
   * connection through NAT never sends a close); otherwise it is pinged again.
   */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.log.debug({ connection: this.id }, 'terminating a WebSocket that missed its pong');
      this.destroy();
      return;
    }
    this.alive = false;
    try {
      this.socket.ping();
    } catch (error) {
      this.transportError(error as Error);
    }
  }

  send(frame: Record<string, unknown>, body?: Uint8Array): Promise<void> {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return Promise.reject(connectionClosed());
    let messages;
    try {
      messages = encodeWsMessages(frame, body, this.frameLimits);
    } catch (error) {
      return Promise.reject(error);
    }
    const sent = new Promise<void>((resolve, reject) => {
      const last = messages.length - 1;
      messages.forEach((message, index) => {
        // Resolve once the last message has been handed to the socket: that is ws's backpressure.
        const done = index === last ? (error?: Error) => (error ? reject(connectionClosed(error)) : resolve()) : undefined;
        this.socket.send(message.data, { binary: message.binary }, done);
      });
    });
    this.dropIfBacklogged();
    return sent;
  }

  protected writePush(frame: Record<string, unknown> | EncodedFrame): void {
    if (this.socket.readyState !== WebSocket.OPEN) throw connectionClosed();
    if (isEncodedFrame(frame)) {
      const line = encodedLine(frame);
      const text = line.subarray(0, line.length - 1);
      if (text.length > this.frameLimits.maxFrameBytes) {
        throw new ProtocolError(WireErrorCode.FRAME_TOO_LARGE, `Frame of ${text.length} bytes is larger than the limit of ${this.frameLimits.maxFrameBytes}`, {
          details: { limit: this.frameLimits.maxFrameBytes },
        });
      }
      this.socket.send(text, { binary: false });
      return;
    }
    for (const message of encodeWsMessages(frame, undefined, this.frameLimits)) this.socket.send(message.data, { binary: message.binary });
  }

  protected get unsentBytes(): number {
    return this.socket.bufferedAmount;
  }

  pauseReading(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.pause();
  }

  resumeReading(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.resume();
  }

  protected endTransport(): void {
    this.socket.resume();
    // The close frame is queued after everything already sent.
    this.socket.close(WS_CLOSE.NORMAL);
  }

  protected destroyTransport(): void {
    this.socket.terminate();
  }
}
