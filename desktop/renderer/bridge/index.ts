/**
 * The renderer's way to the client core (browser code: no Node imports). `connectBridge()` picks
 *
 * - `window.kecalek`, exposed by the Electron preload, when present, or
 * - a WebSocket to the web host (`ws://<host>/bridge?token=...`, the token taken from the page's
 *   own `?token=`), with request ids, per-method timeouts, reconnection with backoff and event
 *   dispatch.
 *
 * Either way a failed call rejects with a BridgeCallError carrying the bridge's `code`, `message`
 * and `details` (engine codes such as `invalid_credentials`, or `bridge_timeout` /
 * `bridge_unavailable` when the transport itself failed).
 */
import {
  BridgeErrorCode,
  isBridgeEvent,
  isBridgeMethod,
  type BridgeError,
  type BridgeEvent,
  type BridgeEvents,
  type BridgeMethod,
  type BridgeMethods,
  type KecalekBridge,
} from '../../shared/bridge.js';

export class BridgeCallError extends Error implements BridgeError {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(error: BridgeError) {
    super(error.message);
    this.name = 'BridgeCallError';
    this.code = error.code;
    this.details = error.details;
  }
}

/** Any rejection value as a BridgeCallError (the preload rejects with plain {code, message, details}). */
export function toBridgeCallError(error: unknown): BridgeCallError {
  if (error instanceof BridgeCallError) return error;
  if (typeof error === 'object' && error !== null) {
    const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      return new BridgeCallError({
        code,
        message,
        ...(typeof details === 'object' && details !== null ? { details: details as Record<string, unknown> } : {}),
      });
    }
  }
  return new BridgeCallError({ code: 'internal_error', message: error instanceof Error ? error.message : 'The call failed' });
}

/** How long a call may take before it is given up, by method (the rest: DEFAULT_TIMEOUT_MS). */
export const DEFAULT_TIMEOUT_MS = 30_000;
export const METHOD_TIMEOUTS_MS: Readonly<Partial<Record<BridgeMethod, number>>> = {
  // Unlocking and sealing the key store runs Argon2id with a large memory cost.
  register: 120_000,
  confirmRegistration: 120_000,
  login: 120_000,
  startLinking: 120_000,
  acceptLinking: 120_000,
  approveLinking: 120_000,
  confirmApproval: 120_000,
  // Waits for the person to enter the code on the other device.
  linkingSas: 15 * 60_000,
  // The core re-sends through reconnects before it answers.
  sendMessage: 120_000,
  retryMessage: 120_000,
  syncConversation: 60_000,
  loadOlder: 60_000,
  pluginCall: 120_000,
};

/** The subset of the browser's WebSocket the bridge uses (the `ws` package's client fits too). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

export interface WebSocketBridgeOptions {
  /** `ws://127.0.0.1:<port>/bridge?token=...` */
  readonly url: string;
  /** Default: the browser's WebSocket. */
  readonly WebSocket?: WebSocketConstructorLike;
  readonly timeoutMs?: number;
  readonly methodTimeoutsMs?: Partial<Record<BridgeMethod, number>>;
  /** Reconnection backoff: the first wait and the longest (defaults 250 ms and 10 s). */
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /** Told whenever the WebSocket opens or closes. */
  readonly onConnectionChange?: (connected: boolean) => void;
}

export interface WebSocketBridge extends KecalekBridge {
  /** Resolves when the first connection is open; rejects when it could not be made (the bridge is then closed). */
  readonly ready: Promise<void>;
  readonly connected: boolean;
  /** Stops reconnecting, closes the socket and fails the calls still waiting. */
  close(): void;
}

const OPEN = 1;

interface Pending {
  readonly method: BridgeMethod;
  readonly frame: string;
  sent: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: BridgeCallError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

type Listeners = Map<BridgeEvent, Set<(data: never) => void>>;

function dispatch(listeners: Listeners, event: BridgeEvent, data: unknown): void {
  for (const listener of [...(listeners.get(event) ?? [])]) {
    try {
      listener(data as never);
    } catch (error) {
      // Reported like an uncaught error, without stopping the other listeners.
      setTimeout(() => {
        throw error;
      });
    }
  }
}

function subscribe<E extends BridgeEvent>(listeners: Listeners, event: E, listener: (data: BridgeEvents[E]) => void): () => void {
  if (!isBridgeEvent(event)) throw new TypeError('The bridge has no such event');
  let set = listeners.get(event);
  if (!set) listeners.set(event, (set = new Set()));
  const entry = listener as (data: never) => void;
  set.add(entry);
  return () => {
    listeners.get(event)?.delete(entry);
  };
}

/** The bridge over the web host's WebSocket. */
export function createWebSocketBridge(options: WebSocketBridgeOptions): WebSocketBridge {
  const Socket = options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructorLike | undefined);
  if (!Socket) throw new Error('This environment has no WebSocket');
  const initialDelay = options.reconnectInitialMs ?? 250;
  const maxDelay = options.reconnectMaxMs ?? 10_000;
  const listeners: Listeners = new Map();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let socket: WebSocketLike | undefined;
  let connected = false;
  let everOpened = false;
  let closed = false;
  let attempt = 0;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let settleReady: { resolve: () => void; reject: (error: BridgeCallError) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => (settleReady = { resolve, reject }));
  ready.catch(() => undefined);

  const unavailable = (message: string): BridgeCallError => new BridgeCallError({ code: BridgeErrorCode.BRIDGE_UNAVAILABLE, message });

  const fail = (id: number, error: BridgeCallError): void => {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    clearTimeout(entry.timer);
    entry.reject(error);
  };

  const flush = (): void => {
    if (!socket || socket.readyState !== OPEN) return;
    for (const entry of pending.values()) {
      if (entry.sent) continue;
      entry.sent = true;
      socket.send(entry.frame);
    }
  };

  const onFrame = (raw: unknown): void => {
    let message: unknown;
    try {
      message = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const frame = message as { id?: unknown; ok?: unknown; result?: unknown; error?: unknown; event?: unknown; data?: unknown };
    if (typeof frame.id === 'number') {
      const entry = pending.get(frame.id);
      if (!entry) return;
      pending.delete(frame.id);
      clearTimeout(entry.timer);
      if (frame.ok === true) entry.resolve(frame.result);
      else entry.reject(toBridgeCallError(frame.error));
      return;
    }
    if (isBridgeEvent(frame.event)) dispatch(listeners, frame.event, frame.data);
  };

  /** After a reconnection the renderer may have missed events: hand it a fresh state. */
  const resync = (): void => {
    invoke('getState', {}).then(
      (state) => dispatch(listeners, 'state', state),
      () => undefined,
    );
  };

  const scheduleReconnect = (): void => {
    if (closed || reconnectTimer !== undefined) return;
    const base = Math.min(maxDelay, initialDelay * 2 ** Math.min(attempt, 16));
    attempt += 1;
    const wait = Math.round(base / 2 + Math.random() * (base / 2));
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      open();
    }, wait);
  };

  const open = (): void => {
    if (closed) return;
    let current: WebSocketLike;
    try {
      current = new Socket(options.url);
    } catch {
      if (!everOpened) return giveUp(unavailable('Cannot open the bridge WebSocket'));
      return scheduleReconnect();
    }
    socket = current;
    current.onopen = () => {
      if (socket !== current) return;
      const reconnected = everOpened;
      connected = true;
      everOpened = true;
      attempt = 0;
      options.onConnectionChange?.(true);
      settleReady?.resolve();
      flush();
      if (reconnected) resync();
    };
    current.onmessage = (event) => {
      if (socket === current) onFrame(event.data);
    };
    current.onerror = () => undefined;
    current.onclose = () => {
      if (socket !== current) return;
      socket = undefined;
      const wasConnected = connected;
      connected = false;
      if (wasConnected) options.onConnectionChange?.(false);
      // Calls already sent may or may not have run: they fail; queued ones wait for the next socket.
      for (const [id, entry] of [...pending]) if (entry.sent) fail(id, unavailable('The connection to the app was lost during the call'));
      if (!everOpened) return giveUp(unavailable('The app refused or did not answer the bridge connection'));
      scheduleReconnect();
    };
  };

  const giveUp = (error: BridgeCallError): void => {
    closed = true;
    for (const id of [...pending.keys()]) fail(id, error);
    settleReady?.reject(error);
  };

  function invoke<M extends BridgeMethod>(method: M, args: BridgeMethods[M]['args']): Promise<BridgeMethods[M]['result']> {
    if (!isBridgeMethod(method)) return Promise.reject(new BridgeCallError({ code: BridgeErrorCode.UNKNOWN_METHOD, message: 'The bridge has no such method' }));
    if (closed) return Promise.reject(unavailable('The bridge is closed'));
    const id = nextId++;
    const timeoutMs = options.methodTimeoutsMs?.[method] ?? METHOD_TIMEOUTS_MS[method] ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<BridgeMethods[M]['result']>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(id, new BridgeCallError({ code: BridgeErrorCode.BRIDGE_TIMEOUT, message: `The app did not answer ${method} in time` })),
        timeoutMs,
      );
      pending.set(id, {
        method,
        frame: JSON.stringify({ id, method, args: args ?? {} }),
        sent: false,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      flush();
    });
  }

  open();

  return {
    ready,
    get connected() {
      return connected;
    },
    invoke,
    on: (event, listener) => subscribe(listeners, event, listener),
    close() {
      if (closed) return;
      clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      const current = socket;
      socket = undefined;
      if (connected) options.onConnectionChange?.(false);
      connected = false;
      giveUp(unavailable('The bridge is closed'));
      current?.close(1000, 'closed');
    },
  };
}

/** The web host's bridge address for a page at `location` (its `?token=` is the bridge token). */
export function bridgeUrlFor(location: { readonly protocol: string; readonly host: string; readonly search: string }): string {
  const token = new URLSearchParams(location.search).get('token');
  if (!token) throw new BridgeCallError({ code: BridgeErrorCode.BRIDGE_UNAVAILABLE, message: 'The page address has no bridge token: open the address the web host printed' });
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/bridge?token=${encodeURIComponent(token)}`;
}

/** Wraps the preload's bridge so that failures are BridgeCallErrors, as with the WebSocket bridge. */
function fromPreload(exposed: KecalekBridge): KecalekBridge {
  return {
    invoke: (method, args) => exposed.invoke(method, args).catch((error: unknown) => Promise.reject(toBridgeCallError(error))),
    on: (event, listener) => exposed.on(event, listener),
  };
}

export interface ConnectBridgeOptions extends Partial<Omit<WebSocketBridgeOptions, 'url'>> {
  /** Default: derived from the page's location. */
  readonly url?: string;
}

/** The bridge of this page: Electron's preload when present, else the web host's WebSocket. */
export async function connectBridge(options: ConnectBridgeOptions = {}): Promise<KecalekBridge> {
  const exposed = (window as unknown as { kecalek?: KecalekBridge }).kecalek;
  if (exposed && typeof exposed.invoke === 'function' && typeof exposed.on === 'function') return fromPreload(exposed);
  const bridge = createWebSocketBridge({ ...options, url: options.url ?? bridgeUrlFor(window.location) });
  await bridge.ready;
  return bridge;
}
