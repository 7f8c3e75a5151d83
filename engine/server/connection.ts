/**
 * A client connection as the engine sees it, whatever the transport (TLS, plain TCP in
 * development, WebSocket). Transports implement it; the dispatcher and pushes use only this.
 */
import type { ConnectionInfo, Session, TransportKind } from '../plugin/server-types.js';
import type { WireError } from '../errors.js';
import type { ProtocolError } from '../protocol/index.js';

/** A frame serialized once and pushed to many connections (group fan-out). */
export interface EncodedFrame {
  /** The frame's JSON text, without the trailing newline. */
  readonly encoded: string;
}

export function encodeFrameOnce(frame: Record<string, unknown>): EncodedFrame {
  return { encoded: JSON.stringify(frame) };
}

export function isEncodedFrame(value: unknown): value is EncodedFrame {
  return typeof value === 'object' && value !== null && typeof (value as { encoded?: unknown }).encoded === 'string';
}

export interface Connection extends ConnectionInfo {
  /** Set by login, cleared by logout. */
  session: Session | undefined;
  readonly closed: boolean;
  /** Per-connection state owned by handlers (a pending login challenge, ...). */
  readonly state: Map<string, unknown>;
  /** Writes a frame (and its binary body) in order; resolves once the socket accepted it, honouring backpressure. */
  send(frame: Record<string, unknown>, body?: Uint8Array): Promise<void>;
  /**
   * Queues a push without waiting. Returns false when the connection is closed; a client that
   * stops reading until its buffer passes the cap is disconnected (it will reconnect and sync).
   */
  push(frame: Record<string, unknown> | EncodedFrame): boolean;
  /** Stops reading requests (too many queued) / starts again. */
  pauseReading(): void;
  resumeReading(): void;
  /** Flushes what is queued, then closes. */
  close(): Promise<void>;
  /** Closes at once. */
  destroy(): void;
}

/** What a transport calls into. One instance (the dispatcher) serves every transport. */
export interface ConnectionHandler {
  /** Called before a socket becomes a Connection; a WireError refuses it (sent, then closed). */
  admit(ip: string, transport: TransportKind): WireError | undefined;
  opened(connection: Connection): void;
  frame(connection: Connection, frame: Record<string, unknown>, body: Uint8Array | undefined): void;
  /** A frame could not be decoded; `fatal` means the transport closes the connection after answering. */
  decodeError(connection: Connection, error: ProtocolError, fatal: boolean): void;
  closed(connection: Connection): void;
}
