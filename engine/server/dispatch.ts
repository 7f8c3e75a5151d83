/**
 * One dispatch for every transport. For each request frame:
 *   shutting down? -> connection rate -> route (unknown_type) -> login required? -> body size ->
 *   schema (bad_request) -> the route's rate limits -> beforeRequest hook -> handler.
 * Requests on one connection are handled one after another (their order is the client's order);
 * when too many are queued the server stops reading from that connection until it catches up.
 * A handler that throws anything but a WireError answers internal_error, logged with its plugin's
 * name; the connection and the server go on.
 */
import type { Logger } from 'pino';
import { KecalekError, WireError, WireErrorCode, errors } from '../errors.js';
import { errorResponse, okResponse, protocolErrorFrame } from '../protocol/envelope.js';
import type { ProtocolError } from '../protocol/index.js';
import type { Capabilities, RateLimitRule, RequestContext, Session, TransportKind } from '../plugin/server-types.js';
import type { ServerHooks } from '../plugin/server-hooks.js';
import type { Connection, ConnectionHandler } from './connection.js';
import type { ConnectionRegistry } from './registry.js';
import type { Router, Route } from './router.js';
import type { Limiter, LimiterFactory } from './limits.js';
import type { LimitsConfig, KeepaliveConfig } from './config-types.js';
import { who } from './logger.js';

export interface DispatcherOptions {
  readonly router: Router;
  readonly registry: ConnectionRegistry;
  readonly hooks: ServerHooks;
  readonly limits: LimitsConfig;
  readonly keepalive: KeepaliveConfig;
  readonly limiters: LimiterFactory;
  readonly log: Logger;
  /** The hello frame's data (after the capabilities hook). */
  readonly capabilities: () => Capabilities;
}

interface QueuedRequest {
  readonly frame: Record<string, unknown>;
  readonly body: Uint8Array | undefined;
}

interface ConnectionState {
  readonly queue: QueuedRequest[];
  running: boolean;
  paused: boolean;
  /** The connection's place in the login-deadline queue. */
  deadlineTicket: number;
}

const REQUEST_ID_MAX = 64;

/**
 * Closes connections that have not logged in within the login timeout, with ONE timer for all of
 * them. Every connection gets the same timeout, so deadlines come in connection order: a FIFO
 * queue, and a timer set for its head. A timer per connection (a Timeout, its closure and
 * context, ~250 bytes, alive for the whole timeout even after the login) was the largest
 * per-connection item of the dispatcher in the heap snapshot of a server holding 19,952 idle
 * connections (bench/connections.ts); a queue slot is 8 bytes.
 */
class LoginDeadlines {
  /** Connections by ticket - dropped; a closed connection's slot is emptied so it is not retained. */
  private queue: Array<Connection | undefined> = [];
  private head = 0;
  /** Tickets consumed and cut off the front of `queue`. */
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly expire: (connection: Connection) => void,
  ) {}

  /** Queues a new connection; returns its ticket for remove(). */
  add(connection: Connection): number {
    this.queue.push(connection);
    if (this.timer === undefined) this.schedule();
    return this.dropped + this.queue.length - 1;
  }

  /** Forgets a connection that closed before its deadline. */
  remove(ticket: number): void {
    const index = ticket - this.dropped;
    if (index >= this.head && index < this.queue.length) this.queue[index] = undefined;
  }

  private schedule(): void {
    while (this.head < this.queue.length && this.queue[this.head] === undefined) this.head++;
    const next = this.queue[this.head];
    if (next === undefined) {
      this.timer = undefined;
      this.compact();
      return;
    }
    const wait = Math.max(0, next.connectedAt + this.timeoutMs - Date.now());
    this.timer = setTimeout(() => this.fire(), wait);
    this.timer.unref();
  }

  private fire(): void {
    const now = Date.now();
    while (this.head < this.queue.length) {
      const connection = this.queue[this.head];
      if (connection !== undefined && connection.connectedAt + this.timeoutMs > now) break;
      this.queue[this.head++] = undefined;
      if (connection !== undefined && !connection.session && !connection.closed) this.expire(connection);
    }
    this.compact();
    this.schedule();
  }

  /** Cuts the consumed front off now and then instead of shifting on every expiry. */
  private compact(): void {
    if (this.head === this.queue.length) {
      this.dropped += this.head;
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.dropped += this.head;
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dropped += this.queue.length;
    this.queue = [];
    this.head = 0;
  }
}

export class Dispatcher implements ConnectionHandler {
  private readonly states = new WeakMap<Connection, ConnectionState>();
  private readonly loginDeadlines: LoginDeadlines;
  private readonly connectionRate: Limiter;
  private readonly routeLimiters = new Map<string, Limiter>();
  private shuttingDown = false;
  /** Hook calls fired by connection events (connection, disconnect), awaited at shutdown. */
  private readonly pendingHooks = new Set<Promise<unknown>>();
  private inFlight = 0;
  private inFlightDrained: (() => void) | undefined;

  constructor(private readonly options: DispatcherOptions) {
    // A connection that never logs in does not hold a slot forever.
    this.loginDeadlines = new LoginDeadlines(options.keepalive.loginTimeoutMs, (connection) => {
      this.options.log.debug({ connection: connection.id }, 'closing a connection that did not log in');
      void connection.close();
    });
    this.connectionRate = options.limiters.create({
      name: 'connection',
      points: options.limits.connectionRequestsPerSec,
      durationSec: 1,
      burst: { points: options.limits.connectionBurst, durationSec: 10 },
    });
  }

  // ---- transport callbacks -------------------------------------------------------------------

  admit(ip: string, _transport: TransportKind): WireError | undefined {
    if (this.shuttingDown) return new WireError(WireErrorCode.SHUTTING_DOWN, 'The server is shutting down');
    const { registry, limits } = this.options;
    if (registry.size >= limits.maxConnections) {
      return new WireError(WireErrorCode.TOO_MANY_CONNECTIONS, 'The server has too many connections; try again later');
    }
    if (registry.connectionsFromIp(ip) >= limits.maxConnectionsPerIp) {
      return new WireError(WireErrorCode.TOO_MANY_CONNECTIONS, 'Too many connections from your address');
    }
    return undefined;
  }

  opened(connection: Connection): void {
    this.options.registry.add(connection);
    const state: ConnectionState = { queue: [], running: false, paused: false, deadlineTicket: -1 };
    this.states.set(connection, state);
    connection.push({ type: 'hello', data: this.options.capabilities() });
    state.deadlineTicket = this.loginDeadlines.add(connection);
    this.track(this.options.hooks.connection.promise(connection), 'connection');
  }

  frame(connection: Connection, frame: Record<string, unknown>, body: Uint8Array | undefined): void {
    const state = this.states.get(connection);
    if (!state || connection.closed) return;
    state.queue.push({ frame, body });
    if (!state.paused && state.queue.length >= this.options.limits.maxQueuedRequests) {
      state.paused = true;
      connection.pauseReading();
    }
    if (!state.running) void this.drain(connection, state);
  }

  decodeError(connection: Connection, error: ProtocolError, _fatal: boolean): void {
    // Answers the request when its id could be recovered, otherwise a protocol_error push.
    connection.push(protocolErrorFrame(error) as unknown as Record<string, unknown>);
  }

  closed(connection: Connection): void {
    const state = this.states.get(connection);
    if (state) this.loginDeadlines.remove(state.deadlineTicket);
    const session = connection.session;
    const { lastConnection } = this.options.registry.remove(connection);
    this.track(this.options.hooks.disconnect.promise({ connection, session, lastConnection }), 'disconnect');
  }

  private track(call: Promise<unknown>, hook: string): void {
    const tracked = call.catch((error) => this.options.log.error({ err: error, hook }, 'hook failed'));
    this.pendingHooks.add(tracked);
    void tracked.finally(() => this.pendingHooks.delete(tracked));
  }

  /** Resolves once every connection/disconnect hook call fired so far has finished. */
  async settleHooks(): Promise<void> {
    while (this.pendingHooks.size > 0) await Promise.allSettled([...this.pendingHooks]);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Marks the server as shutting down: new requests get `shutting_down`, new connections are refused. */
  beginShutdown(): void {
    this.shuttingDown = true;
    this.loginDeadlines.stop();
  }

  /** Resolves once no request is being handled (or after `timeoutMs`). */
  async waitForIdle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => (this.inFlightDrained = resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  // ---- the pipeline --------------------------------------------------------------------------

  private async drain(connection: Connection, state: ConnectionState): Promise<void> {
    state.running = true;
    try {
      let next: QueuedRequest | undefined;
      while ((next = state.queue.shift()) !== undefined) {
        if (connection.closed) {
          state.queue.length = 0;
          break;
        }
        if (state.paused && state.queue.length <= this.options.limits.maxQueuedRequests / 2) {
          state.paused = false;
          connection.resumeReading();
        }
        this.inFlight++;
        try {
          await this.handle(connection, next.frame, next.body);
        } finally {
          if (--this.inFlight === 0 && this.inFlightDrained) {
            this.inFlightDrained();
            this.inFlightDrained = undefined;
          }
        }
      }
    } finally {
      state.running = false;
    }
  }

  private async handle(connection: Connection, frame: Record<string, unknown>, body: Uint8Array | undefined): Promise<void> {
    const type = frame.type as string;
    const requestId = frame.request_id;
    if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > REQUEST_ID_MAX) {
      await this.reply(connection, type, null, errors.badRequest('request_id', `request_id must be a string of 1-${REQUEST_ID_MAX} characters`));
      return;
    }
    let route: Route | undefined;
    try {
      route = this.options.router.lookup(type);
      const data = await this.run(connection, route, type, requestId, frame, body);
      await this.send(connection, okResponse(type, requestId, data ?? {}) as unknown as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof WireError)) {
        this.options.log.error(
          { err: error, plugin: route?.plugin ?? 'engine', type, who: who(connection.session) },
          'handler failed',
        );
      }
      await this.reply(connection, type, requestId, error);
    }
  }

  private async run(
    connection: Connection,
    route: Route | undefined,
    type: string,
    requestId: string,
    frame: Record<string, unknown>,
    body: Uint8Array | undefined,
  ): Promise<unknown> {
    if (this.shuttingDown) throw new WireError(WireErrorCode.SHUTTING_DOWN, 'The server is shutting down');
    if (!route?.exemptFromConnectionRate) {
      const decision = await this.connectionRate.consume(connection.id);
      if (!decision.allowed) throw errors.rateLimited(decision.retryAfterMs);
    }
    if (!route) throw new WireError(WireErrorCode.UNKNOWN_TYPE, `Unknown message type "${type}"`, { type });
    const session = connection.session;
    if (route.auth && !session) throw errors.notAuthenticated();
    if (body && body.length > route.maxBodyBytes) {
      throw route.maxBodyBytes === 0
        ? errors.badRequest('body_bytes', `${type} takes no binary body`)
        : new WireError(WireErrorCode.BODY_TOO_LARGE, `The binary body is larger than ${route.maxBodyBytes} bytes`, { limit: route.maxBodyBytes });
    }
    const request = route.validate(frame);
    for (const rule of route.rateLimits) {
      const decision = await this.limiterFor(rule, type).consume(rateKey(rule, connection, session, request));
      if (!decision.allowed) throw errors.rateLimited(decision.retryAfterMs);
    }
    const context = this.context(connection, type, requestId, body, route.plugin);
    if (this.options.hooks.beforeRequest.isUsed()) {
      const refusal = await this.options.hooks.beforeRequest.promise({ type, plugin: route.plugin, request, context });
      if (refusal) throw refusal instanceof WireError ? refusal : errors.forbidden();
    }
    return route.handler(request, context);
  }

  private context(connection: Connection, type: string, requestId: string, body: Uint8Array | undefined, plugin: string): RequestContext {
    const log = this.options.log;
    return {
      type,
      requestId,
      connection,
      get session(): Session | undefined {
        return connection.session;
      },
      ip: connection.ip,
      body,
      get log() {
        return log.child({ plugin, type });
      },
      send: (frame, frameBody) => connection.send(frame, frameBody),
    };
  }

  private limiterFor(rule: RateLimitRule, type: string): Limiter {
    const name = `${rule.name ?? type}:${rule.key}:${rule.points}/${rule.durationSec}`;
    let limiter = this.routeLimiters.get(name);
    if (!limiter) {
      limiter = this.options.limiters.create({ name, points: rule.points, durationSec: rule.durationSec });
      this.routeLimiters.set(name, limiter);
    }
    return limiter;
  }

  private async reply(connection: Connection, type: string, requestId: string | null, error: unknown): Promise<void> {
    const wire = error instanceof WireError ? error : error instanceof KecalekError ? error : undefined;
    await this.send(connection, errorResponse(type, requestId, wire ?? error) as unknown as Record<string, unknown>);
  }

  private async send(connection: Connection, frame: Record<string, unknown>): Promise<void> {
    if (connection.closed) return;
    try {
      await connection.send(frame);
    } catch (error) {
      this.options.log.debug({ err: error, connection: connection.id }, 'could not answer a closing connection');
    }
  }
}

function rateKey(rule: RateLimitRule, connection: Connection, session: Session | undefined, request: Record<string, unknown>): string {
  switch (rule.key) {
    case 'ip':
      return connection.ip;
    case 'connection':
      return connection.id;
    case 'user':
      return session?.userId ?? `ip:${connection.ip}`;
    case 'ip+email': {
      const email = typeof request.email === 'string' ? request.email.trim().toLowerCase() : (session?.userId ?? '');
      return `${connection.ip}|${email}`;
    }
  }
}
