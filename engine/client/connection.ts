/**
 * One connection to a Kecalek server, over TLS (node:tls, newline-delimited JSON frames with
 * optional raw binary bodies) or WebSocket (`ws`, one frame per message), behind one interface:
 *
 * - the `hello` frame is read first: its protocol version is checked (ClientError
 *   protocol_mismatch), its plugins, their public settings and the limits are recorded;
 * - requests are correlated by request_id, with a timeout (ClientError request_timeout); an
 *   error response rejects with ClientError(code, message, details) carrying the server's code;
 * - push frames are delivered as `push` events;
 * - when the connection goes away, every pending request fails at once with connection_closed;
 * - TLS sockets use TCP keepalive (25 s), so a dead path through a NAT is noticed.
 *
 * Certificates: the system's CAs plus `ca` are trusted; verification is turned off only with
 * `insecureDev` (a development server with a generated certificate).
 */
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { ClientError, ClientErrorCode, isWireErrorCode } from '../errors.js';
import {
  FrameDecoder,
  WsFrameDecoder,
  encodeFrame,
  encodeWsMessages,
  newRequestId,
  parseHello,
  PROTOCOL_VERSION,
  LIMIT_MAX_BODY_BYTES,
  LIMIT_MAX_FRAME_BYTES,
  type ErrorData,
  type FrameLimits,
  type HelloData,
} from '../protocol/index.js';
import { TypedEmitter } from './emitter.js';
import type { ServerAddress, ServerInfo } from './types.js';

/** TCP keepalive idle time on TLS sockets (the original's 25 s). */
export const KEEPALIVE_MS = 25_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_HELLO_TIMEOUT_MS = 15_000;
export const DEFAULT_WS_PATH = '/ws';

/** What this client reads at most: generous, but bounded even against a hostile server. */
const READ_LIMITS = { maxFrameBytes: 64 * 1024 * 1024, maxBodyBytes: 256 * 1024 * 1024 };

export interface PushEvent {
  readonly type: string;
  readonly data: unknown;
  readonly body: Uint8Array | undefined;
}

export interface ConnectionEvents {
  push: [push: PushEvent];
  /** The connection is gone; `error` says why when it was not closed on purpose. */
  close: [error: Error | undefined];
}

export interface ConnectionOptions {
  readonly requestTimeoutMs?: number;
  readonly helloTimeoutMs?: number;
}

export interface RequestOptions {
  /** A raw binary body sent after the frame (file transfer). */
  readonly body?: Uint8Array;
  readonly timeoutMs?: number;
}

export interface Response<T> {
  readonly data: T;
  /** The binary body that followed the response, if any. */
  readonly body: Uint8Array | undefined;
}

interface Pending {
  readonly type: string;
  resolve(response: Response<unknown>): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface Wire {
  send(frame: Record<string, unknown>, body: Uint8Array | undefined, limits: FrameLimits): void;
  end(): void;
  destroy(): void;
}

/** A readable "host:port" for messages. */
function where(address: ServerAddress): string {
  return `${address.host}:${address.port}`;
}

function trustedCas(address: ServerAddress): string[] | undefined {
  if (address.ca === undefined) return undefined;
  const extra = Array.isArray(address.ca) ? address.ca : [address.ca];
  return [...tls.rootCertificates, ...extra.map((ca) => (typeof ca === 'string' ? ca : ca.toString('utf8')))];
}

function servernameOf(address: ServerAddress): string | undefined {
  if (address.servername !== undefined) return address.servername;
  return net.isIP(address.host) === 0 ? address.host : undefined;
}

/** Turns a socket-level failure into a ClientError that says what went wrong. */
export function unreachable(address: ServerAddress, error: Error): ClientError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ECONNREFUSED'
      ? 'connection refused (is the server running?)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'the host name does not resolve'
        : code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
          ? 'the host cannot be reached'
          : code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
            ? "the server's TLS certificate is not trusted"
            : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
              ? "the server's TLS certificate is for another name"
              : error.message;
  return new ClientError(ClientErrorCode.NOT_CONNECTED, `Cannot reach the Kecalek server at ${where(address)}: ${reason}`, code ? { reason: code } : undefined, {
    cause: error,
  });
}

export class Connection extends TypedEmitter<ConnectionEvents> {
  hello!: HelloData;
  private wire!: Wire;
  private readonly pending = new Map<string, Pending>();
  private readonly requestTimeoutMs: number;
  private writeLimits: FrameLimits = {};
  private helloWaiter: { resolve(frame: unknown): void; reject(error: Error): void } | undefined;
  private isClosed = false;
  private failure: Error | undefined;
  private closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  private constructor(
    readonly address: ServerAddress,
    options: ConnectionOptions,
  ) {
    super();
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.closedPromise = new Promise<void>((resolve) => (this.resolveClosed = resolve));
  }

  /** Connects, reads the hello frame and checks the protocol version. */
  static async open(address: ServerAddress, options: ConnectionOptions = {}): Promise<Connection> {
    const connection = new Connection(address, options);
    const helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    const hello = new Promise<unknown>((resolve, reject) => (connection.helloWaiter = { resolve, reject }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ClientError(ClientErrorCode.NOT_CONNECTED, `Cannot reach the Kecalek server at ${where(address)}: no answer within ${helloTimeoutMs} ms`)),
        helloTimeoutMs,
      );
    });
    try {
      connection.wire = address.transport === 'ws' ? connection.openWebSocket() : connection.openStream();
      const frame = await Promise.race([hello, timeout]);
      const data = parseHello(frame);
      if (data.protocol_version !== PROTOCOL_VERSION) {
        throw new ClientError(
          ClientErrorCode.PROTOCOL_MISMATCH,
          `The server speaks protocol version ${data.protocol_version}; this client speaks version ${PROTOCOL_VERSION}`,
          { server_protocol_version: data.protocol_version, client_protocol_version: PROTOCOL_VERSION },
        );
      }
      connection.hello = data;
      const maxFrame = data.limits[LIMIT_MAX_FRAME_BYTES];
      const maxBody = data.limits[LIMIT_MAX_BODY_BYTES];
      connection.writeLimits = {
        ...(maxFrame !== undefined && maxFrame >= 1 ? { maxFrameBytes: Math.floor(maxFrame) } : {}),
        ...(maxBody !== undefined && maxBody >= 0 ? { maxBodyBytes: Math.floor(maxBody) } : {}),
      };
      return connection;
    } catch (error) {
      connection.wire?.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The hello frame as the client types describe it. */
  get serverInfo(): ServerInfo {
    const hello = this.hello;
    const settings = hello.plugin_settings;
    return {
      protocolVersion: hello.protocol_version,
      serverVersion: hello.server_version,
      plugins: hello.plugins.map((plugin) => ({ name: plugin.name, version: plugin.version })),
      pluginSettings: typeof settings === 'object' && settings !== null ? (settings as Record<string, Record<string, unknown>>) : {},
      limits: { ...hello.limits },
    };
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Resolves once the connection has closed, for whatever reason. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /** Sends a request and resolves with its `data`; rejects with ClientError on an error response. */
  async request<T = unknown>(type: string, fields: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<T> {
    return (await this.exchange<T>(type, fields, options)).data;
  }

  /** Like request(), also returning the binary body that followed the response. */
  exchange<T = unknown>(type: string, fields: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<Response<T>> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const requestId = newRequestId();
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise<Response<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(requestId)) {
          reject(new ClientError(ClientErrorCode.REQUEST_TIMEOUT, `The server did not answer "${type}" within ${timeoutMs} ms`, { type }));
        }
      }, timeoutMs);
      this.pending.set(requestId, { type, resolve: resolve as (r: Response<unknown>) => void, reject, timer });
      try {
        this.wire.send({ ...fields, type, request_id: requestId }, options.body, this.writeLimits);
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Closes politely (pending requests fail with connection_closed) and waits until closed. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.wire.end();
    const timer = setTimeout(() => this.wire.destroy(), 2000);
    timer.unref?.();
    await this.closedPromise;
    clearTimeout(timer);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.wire?.destroy();
  }

  // ---- receiving -------------------------------------------------------------------------------

  private receive(frame: Record<string, unknown>, body: Uint8Array | undefined): void {
    if (this.helloWaiter) {
      const waiter = this.helloWaiter;
      this.helloWaiter = undefined;
      if (frame.type === 'error' && typeof frame.data === 'object' && frame.data !== null) {
        const data = frame.data as ErrorData;
        const code = isWireErrorCode(data.code) ? data.code : ClientErrorCode.PROTOCOL_MISMATCH;
        waiter.reject(new ClientError(code, `The server refused the connection: ${data.message}`, detailsOf(data)));
      } else {
        waiter.resolve(frame);
      }
      return;
    }
    const requestId = frame.request_id;
    if (typeof requestId === 'string' && (frame.status === 'ok' || frame.status === 'error')) {
      const pending = this.pending.get(requestId);
      if (!pending) return; // timed out earlier: nobody waits any more
      this.pending.delete(requestId);
      clearTimeout(pending.timer);
      if (frame.status === 'ok') {
        pending.resolve({ data: frame.data, body });
      } else {
        const data = (typeof frame.data === 'object' && frame.data !== null ? frame.data : {}) as Partial<ErrorData>;
        const code = isWireErrorCode(data.code) ? data.code : 'internal_error';
        const message = typeof data.message === 'string' ? data.message : `"${pending.type}" failed`;
        pending.reject(new ClientError(code, message, detailsOf(data)));
      }
      return;
    }
    if (frame.request_id === null && frame.status === 'error') return; // an answer to an unreadable frame of ours
    this.emit('push', { type: String(frame.type), data: frame.data, body });
  }

  private onTransportClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const error = this.closedError();
    this.helloWaiter?.reject(this.failure ? unreachable(this.address, this.failure) : error);
    this.helloWaiter = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.resolveClosed();
    this.emit('close', this.failure);
  }

  private onTransportError(error: Error): void {
    this.failure ??= error;
    if (this.helloWaiter) {
      const waiter = this.helloWaiter;
      this.helloWaiter = undefined;
      waiter.reject(error instanceof ClientError ? error : unreachable(this.address, error));
    }
  }

  private protocolFailure(message: string): void {
    this.failure ??= new Error(`The server sent an unreadable frame: ${message}`);
    this.wire.destroy();
  }

  private closedError(): ClientError {
    return new ClientError(
      ClientErrorCode.CONNECTION_CLOSED,
      `The connection to ${where(this.address)} is closed${this.failure ? ` (${this.failure.message})` : ''}`,
    );
  }

  // ---- transports ------------------------------------------------------------------------------

  private openStream(): Wire {
    const address = this.address;
    const secure = address.tls !== false;
    const socket = secure
      ? tls.connect({
          host: address.host,
          port: address.port,
          servername: servernameOf(address),
          ca: trustedCas(address),
          rejectUnauthorized: address.insecureDev !== true,
        })
      : net.connect({ host: address.host, port: address.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const decoder = new FrameDecoder({
      ...READ_LIMITS,
      onFrame: (frame, body) => this.receive(frame, body),
      onError: (error) => this.protocolFailure(error.message),
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', (error) => this.onTransportError(error));
    socket.on('close', () => this.onTransportClosed());
    return {
      send: (frame, body, limits) => {
        if (socket.destroyed || !socket.writable) throw this.closedError();
        const parts = encodeFrame(frame, body, limits);
        if (parts.length === 1) {
          socket.write(parts[0]!);
        } else {
          socket.cork();
          for (const part of parts) socket.write(part);
          socket.uncork();
        }
      },
      end: () => socket.end(),
      destroy: () => socket.destroy(),
    };
  }

  private openWebSocket(): Wire {
    const address = this.address;
    const secure = address.tls !== false;
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    const url = `${secure ? 'wss' : 'ws'}://${host}:${address.port}${address.path ?? DEFAULT_WS_PATH}`;
    // ws hands the TLS options on to https.request / tls.connect.
    const wsOptions: ClientOptions & tls.ConnectionOptions = {
      ca: secure ? trustedCas(address) : undefined,
      servername: secure ? servernameOf(address) : undefined,
      rejectUnauthorized: address.insecureDev !== true,
      perMessageDeflate: false,
      maxPayload: READ_LIMITS.maxBodyBytes,
    };
    const socket = new WebSocket(url, wsOptions);
    socket.on('upgrade', (response) => {
      const raw = response.socket as net.Socket | undefined;
      raw?.setKeepAlive(true, KEEPALIVE_MS);
    });
    const decoder = new WsFrameDecoder({
      ...READ_LIMITS,
      onFrame: (frame, body) => this.receive(frame, body),
      onError: (error) => this.protocolFailure(error.message),
    });
    socket.on('message', (data: Buffer, isBinary: boolean) => decoder.push(data, isBinary));
    socket.on('error', (error) => this.onTransportError(error));
    socket.on('close', () => {
      decoder.end();
      this.onTransportClosed();
    });
    return {
      send: (frame, body, limits) => {
        if (socket.readyState !== WebSocket.OPEN) throw this.closedError();
        for (const message of encodeWsMessages(frame, body, limits)) socket.send(message.data as string | Buffer, { binary: message.binary });
      },
      end: () => {
        if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
        else socket.close(1000);
      },
      destroy: () => socket.terminate(),
    };
  }
}

function detailsOf(data: Partial<ErrorData>): Record<string, unknown> | undefined {
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) if (key !== 'code' && key !== 'message') details[key] = value;
  return Object.keys(details).length > 0 ? details : undefined;
}
