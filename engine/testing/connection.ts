/**
 * A raw protocol client for tests: connects over TLS (or plain TCP) or WebSocket, keeps the hello,
 * correlates responses by request_id, buffers pushes. It speaks frames, not features: tests (and
 * plugin authors) drive handlers with it directly.
 */
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { ClientError, ClientErrorCode, isWireErrorCode, type WireErrorCode } from '../errors.js';
import {
  FrameDecoder,
  WsFrameDecoder,
  encodeFrame,
  encodeWsMessages,
  newRequestId,
  parseHello,
  type ErrorData,
  type HelloData,
  type ResponseFrame,
} from '../protocol/index.js';

export type TestTransport = 'tls' | 'tcp' | 'ws' | 'wss';

export interface TestConnectOptions {
  readonly transport: TestTransport;
  readonly host: string;
  readonly port: number;
  /** WebSocket path (ws/wss). */
  readonly path?: string;
  /** Certificate(s) to trust (TLS/WSS); verification always stays on. */
  readonly ca?: string;
  /** Name checked against the certificate (default localhost). */
  readonly servername?: string;
  /** Extra options for tls.connect (e.g. maxVersion) when testing the handshake itself. */
  readonly tlsOptions?: tls.ConnectionOptions;
  /** How long to wait for the hello frame (default 10 s). */
  readonly helloTimeoutMs?: number;
}

/** A response, with the binary body that followed it, if any. */
export type TestResponse<T = unknown> = ResponseFrame<T> & { body?: Uint8Array };

/** A push frame (or any frame that is not a response to a request), with its body, if any. */
export interface ReceivedPush<T = unknown> {
  readonly type: string;
  readonly data: T;
  readonly frame: Record<string, unknown>;
  readonly body: Uint8Array | undefined;
}

/** What the harness sends and receives through; one per transport. */
interface Wire {
  send(frame: Record<string, unknown>, body?: Uint8Array): void;
  sendRaw(data: Uint8Array | string, binary: boolean): Promise<void>;
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
}

/** Client-side caps: generous, the server's own caps are what the tests exercise. */
const CLIENT_LIMITS = { maxFrameBytes: 256 * 1024 * 1024, maxBodyBytes: 1024 * 1024 * 1024 };

interface Waiter {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class TestConnection {
  /** The server's hello frame data. */
  hello!: HelloData;
  /** Every push received (never consumed; see nextPush for consuming). */
  readonly pushes: ReceivedPush[] = [];
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>;
  /** Set if the transport failed (reset, TLS error). */
  error: Error | undefined;

  private wire!: Wire;
  private isClosedFlag = false;
  private resolveClosed!: () => void;
  private readonly unread: ReceivedPush[] = [];
  private readonly responses = new Map<string, TestResponse>();
  private readonly responseWaiters = new Map<string, Waiter>();
  private readonly pushWaiters: Array<{ type: string; waiter: Waiter }> = [];
  private helloWaiter: Waiter | undefined;

  private constructor() {
    this.closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));
  }

  /**
   * Opens a connection and waits for the hello frame. A refused connection (the server answers
   * `{type: "error"}` instead of hello) rejects with a ClientError carrying the server's code.
   */
  static async open(options: TestConnectOptions): Promise<TestConnection> {
    const connection = new TestConnection();
    const hello = new Promise<unknown>((resolve, reject) => (connection.helloWaiter = { resolve, reject }));
    const timeoutMs = options.helloTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ClientError(ClientErrorCode.REQUEST_TIMEOUT, `No hello from the server within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      connection.wire = options.transport === 'ws' || options.transport === 'wss' ? connection.openWs(options) : connection.openStream(options);
      const frame = await Promise.race([hello, timeout]);
      connection.hello = parseHello(frame);
      return connection;
    } catch (error) {
      connection.wire?.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  get isClosed(): boolean {
    return this.isClosedFlag;
  }

  /** Sends a request and resolves with its response (ok or error: this never throws on an error response). */
  request<T = unknown>(type: string, fields: Record<string, unknown> = {}, body?: Uint8Array): Promise<TestResponse<T>> {
    const requestId = typeof fields.request_id === 'string' ? fields.request_id : newRequestId();
    const response = this.waitForResponse<T>(requestId);
    try {
      this.send({ type, ...fields, request_id: requestId }, body);
    } catch (error) {
      this.responseWaiters.delete(requestId);
      return Promise.reject(error);
    }
    return response;
  }

  /** Sends a request and returns its `data`; throws an Error naming the code and message if it fails. */
  async expectOk<T = Record<string, unknown>>(type: string, fields: Record<string, unknown> = {}, body?: Uint8Array): Promise<T> {
    const response = await this.request<T>(type, fields, body);
    if (response.status !== 'ok') {
      const data = response.data as ErrorData;
      throw new Error(`${type} failed: ${data.code}: ${data.message}`);
    }
    return response.data;
  }

  /** Sends a request that must fail with `code`; returns the error data (code, message, details). */
  async expectError(type: string, fields: Record<string, unknown>, code: WireErrorCode | string, body?: Uint8Array): Promise<ErrorData> {
    const response = await this.request(type, fields, body);
    if (response.status !== 'error') throw new Error(`${type} was expected to fail with ${code} but succeeded: ${JSON.stringify(response.data)}`);
    if (response.data.code !== code) throw new Error(`${type} was expected to fail with ${code} but failed with ${response.data.code}: ${response.data.message}`);
    return response.data;
  }

  /**
   * The response carrying `requestId`, received already or still to come (for requests sent with
   * sendRaw/send). Rejects if the connection closes first or after `timeoutMs`.
   */
  waitForResponse<T = unknown>(requestId: string, timeoutMs = 30_000): Promise<TestResponse<T>> {
    const ready = this.responses.get(requestId);
    if (ready) {
      this.responses.delete(requestId);
      return Promise.resolve(ready as TestResponse<T>);
    }
    if (this.isClosedFlag) return Promise.reject(this.closedError(`the response to ${requestId}`));
    return new Promise<TestResponse<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.responseWaiters.delete(requestId);
        reject(new ClientError(ClientErrorCode.REQUEST_TIMEOUT, `No response to ${requestId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.responseWaiters.set(requestId, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as TestResponse<T>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** The `data` of the next push of this type not yet taken (already received, or waits for it). */
  async nextPush<T = Record<string, unknown>>(type: string, timeoutMs = 5000): Promise<T> {
    return (await this.nextPushFrame<T>(type, timeoutMs)).data;
  }

  /** Like nextPush, with the whole frame and its binary body. */
  nextPushFrame<T = Record<string, unknown>>(type: string, timeoutMs = 5000): Promise<ReceivedPush<T>> {
    const index = this.unread.findIndex((push) => push.type === type);
    if (index >= 0) return Promise.resolve(this.unread.splice(index, 1)[0] as ReceivedPush<T>);
    if (this.isClosedFlag) return Promise.reject(this.closedError(`a "${type}" push`));
    return new Promise<ReceivedPush<T>>((resolve, reject) => {
      const entry = {
        type,
        waiter: {
          resolve: (value: unknown) => {
            clearTimeout(timer);
            resolve(value as ReceivedPush<T>);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        },
      };
      const timer = setTimeout(() => {
        const at = this.pushWaiters.indexOf(entry);
        if (at >= 0) this.pushWaiters.splice(at, 1);
        reject(new ClientError(ClientErrorCode.REQUEST_TIMEOUT, `No "${type}" push within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pushWaiters.push(entry);
    });
  }

  /** Forgets every received push (nextPush then waits for new ones). */
  clearPushes(): void {
    this.pushes.length = 0;
    this.unread.length = 0;
  }

  /** Sends one frame as is (no request_id added) with an optional body. */
  send(frame: Record<string, unknown>, body?: Uint8Array): void {
    if (this.isClosedFlag) throw this.closedError('sending');
    this.wire.send(frame, body);
  }

  /**
   * Sends bytes as they are: on a stream, written to the socket; on WebSocket, one message (text
   * unless `binary`). Resolves once the bytes are handed to the socket (after drain when needed);
   * rejects if the connection is closed.
   */
  sendRaw(data: Uint8Array | string, options: { binary?: boolean } = {}): Promise<void> {
    if (this.isClosedFlag) return Promise.reject(this.closedError('sending'));
    return this.wire.sendRaw(data, options.binary ?? typeof data !== 'string');
  }

  /** Stops reading from the socket (to play a slow consumer) / reads again. */
  pauseReading(): void {
    this.wire.pause();
  }

  resumeReading(): void {
    this.wire.resume();
  }

  /** Closes politely and waits until closed. */
  async close(): Promise<void> {
    if (!this.isClosedFlag) {
      this.wire.end();
      const timer = setTimeout(() => this.wire.destroy(), 2000);
      await this.closed;
      clearTimeout(timer);
    }
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.wire.destroy();
  }

  // ---- receiving -----------------------------------------------------------------------------

  private receive(frame: Record<string, unknown>, body: Uint8Array | undefined): void {
    if (this.helloWaiter) {
      const waiter = this.helloWaiter;
      this.helloWaiter = undefined;
      if (frame.type === 'error' && typeof frame.data === 'object' && frame.data !== null) {
        const data = frame.data as ErrorData;
        const code = isWireErrorCode(data.code) ? data.code : ClientErrorCode.PROTOCOL_MISMATCH;
        waiter.reject(new ClientError(code, `The server refused the connection: ${data.code}: ${data.message}`, { ...data }));
      } else {
        waiter.resolve(frame);
      }
      return;
    }
    const requestId = frame.request_id;
    if (typeof requestId === 'string' && (frame.status === 'ok' || frame.status === 'error')) {
      const response = (body === undefined ? frame : { ...frame, body }) as unknown as TestResponse;
      const waiter = this.responseWaiters.get(requestId);
      if (waiter) {
        this.responseWaiters.delete(requestId);
        waiter.resolve(response);
      } else {
        this.responses.set(requestId, response);
      }
      return;
    }
    const push: ReceivedPush = { type: String(frame.type), data: frame.data, frame, body };
    this.pushes.push(push);
    const at = this.pushWaiters.findIndex((entry) => entry.type === push.type);
    if (at >= 0) this.pushWaiters.splice(at, 1)[0]!.waiter.resolve(push);
    else this.unread.push(push);
  }

  private onClosed(): void {
    if (this.isClosedFlag) return;
    this.isClosedFlag = true;
    const error = this.closedError('a response');
    this.helloWaiter?.reject(this.error ?? new ClientError(ClientErrorCode.CONNECTION_CLOSED, 'The server closed the connection before hello'));
    this.helloWaiter = undefined;
    for (const waiter of this.responseWaiters.values()) waiter.reject(error);
    this.responseWaiters.clear();
    for (const entry of this.pushWaiters.splice(0)) entry.waiter.reject(error);
    this.resolveClosed();
  }

  private closedError(what: string): ClientError {
    return new ClientError(ClientErrorCode.CONNECTION_CLOSED, `The connection closed before ${what}${this.error ? ` (${this.error.message})` : ''}`);
  }

  private protocolFailure(message: string): void {
    this.error ??= new Error(`The server sent an unreadable frame: ${message}`);
    this.wire.destroy();
  }

  // ---- transports ----------------------------------------------------------------------------

  private openStream(options: TestConnectOptions): Wire {
    const socket =
      options.transport === 'tls'
        ? tls.connect({
            host: options.host,
            port: options.port,
            ca: options.ca,
            servername: options.servername ?? 'localhost',
            ...options.tlsOptions,
          })
        : net.connect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    const decoder = new FrameDecoder({
      ...CLIENT_LIMITS,
      onFrame: (frame, body) => this.receive(frame, body),
      onError: (error) => this.protocolFailure(error.message),
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', (error) => {
      this.error ??= error;
      // A handshake failure rejects connect() at once.
      this.helloWaiter?.reject(error);
      this.helloWaiter = undefined;
    });
    socket.on('close', () => this.onClosed());
    const write = (data: Uint8Array | string): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        if (socket.destroyed || !socket.writable) {
          reject(this.closedError('sending'));
          return;
        }
        const flushed = socket.write(data);
        if (flushed) {
          resolve();
          return;
        }
        const onDrain = (): void => {
          socket.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          socket.off('drain', onDrain);
          reject(this.closedError('sending'));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    return {
      send: (frame, body) => {
        for (const part of encodeFrame(frame, body, CLIENT_LIMITS)) socket.write(part);
      },
      sendRaw: (data) => write(data),
      end: () => socket.end(),
      destroy: () => socket.destroy(),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    };
  }

  private openWs(options: TestConnectOptions): Wire {
    const scheme = options.transport === 'wss' ? 'wss' : 'ws';
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    const socket = new WebSocket(`${scheme}://${host}:${options.port}${options.path ?? '/ws'}`, {
      ca: options.ca,
      servername: options.servername ?? 'localhost',
      perMessageDeflate: false,
      maxPayload: CLIENT_LIMITS.maxBodyBytes,
      ...options.tlsOptions,
    });
    const decoder = new WsFrameDecoder({
      ...CLIENT_LIMITS,
      onFrame: (frame, body) => this.receive(frame, body),
      onError: (error) => this.protocolFailure(error.message),
    });
    const opened = new Promise<void>((resolve) => socket.once('open', () => resolve()));
    socket.on('message', (data: Buffer, isBinary: boolean) => decoder.push(data, isBinary));
    socket.on('error', (error) => {
      this.error ??= error;
      this.helloWaiter?.reject(error);
      this.helloWaiter = undefined;
    });
    socket.on('close', () => this.onClosed());
    const sendMessage = (data: Uint8Array | string, binary: boolean): Promise<void> =>
      opened.then(
        () =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== WebSocket.OPEN) {
              reject(this.closedError('sending'));
              return;
            }
            socket.send(data, { binary }, (error) => (error ? reject(error) : resolve()));
          }),
      );
    return {
      send: (frame, body) => {
        for (const message of encodeWsMessages(frame, body, CLIENT_LIMITS)) void sendMessage(message.data, message.binary).catch(() => undefined);
      },
      sendRaw: (data, binary) => sendMessage(data, binary),
      end: () => socket.close(1000),
      destroy: () => socket.terminate(),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    };
  }
}
