/**
 * The renderer's bridge client (desktop/renderer/bridge): the WebSocket bridge against a scripted
 * wire server (request ids, timeouts, reconnection with backoff, event dispatch) and against the
 * real web host; connectBridge's choice of Electron's preload.
 */
import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { FAST_ENVELOPE, removeHomes, startTestServer, tempHome, waitFor, type TestServer } from '../../engine/testing/index.js';
import {
  BridgeCallError,
  bridgeUrlFor,
  connectBridge,
  createWebSocketBridge,
  type WebSocketBridge,
  type WebSocketConstructorLike,
} from '../renderer/bridge/index.js';
import type { BridgeState, BridgeWireRequest, KecalekBridge } from '../shared/bridge.js';
import { startWebHost, type WebHost } from '../web-host/web-host.js';

const Socket = WebSocket as unknown as WebSocketConstructorLike;

/** A wire server whose answers the test decides. */
class ScriptedHost {
  readonly server: WebSocketServer;
  readonly requests: BridgeWireRequest[] = [];
  connections = 0;
  /** Answers a request (undefined: never answer). */
  answer: (request: BridgeWireRequest) => unknown = (request) => ({ id: request.id, ok: true, result: { method: request.method } });

  constructor() {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.server.on('connection', (ws) => {
      this.connections += 1;
      ws.on('message', (raw) => {
        const request = JSON.parse(raw.toString()) as BridgeWireRequest;
        this.requests.push(request);
        const reply = this.answer(request);
        if (reply !== undefined) ws.send(JSON.stringify(reply));
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/bridge?token=t`;
  }

  broadcast(message: unknown): void {
    for (const ws of this.server.clients) ws.send(JSON.stringify(message));
  }

  dropConnections(): void {
    for (const ws of this.server.clients) ws.terminate();
  }

  close(): Promise<void> {
    for (const ws of this.server.clients) ws.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function rejection(promise: Promise<unknown>): Promise<BridgeCallError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(BridgeCallError);
    return error as BridgeCallError;
  }
  throw new Error('expected a rejection');
}

describe('desktop: renderer bridge client', function () {
  this.timeout(60_000);
  let host: ScriptedHost;
  const bridges: WebSocketBridge[] = [];

  const open = async (options: Partial<Parameters<typeof createWebSocketBridge>[0]> = {}): Promise<WebSocketBridge> => {
    const bridge = createWebSocketBridge({ url: host.url, WebSocket: Socket, reconnectInitialMs: 20, reconnectMaxMs: 100, ...options });
    bridges.push(bridge);
    await bridge.ready;
    return bridge;
  };

  beforeEach(async () => {
    host = new ScriptedHost();
    await new Promise((resolve) => host.server.once('listening', resolve));
  });
  afterEach(async () => {
    for (const bridge of bridges.splice(0)) bridge.close();
    await host.close();
  });

  it('numbers requests and resolves each with its own reply', async () => {
    const bridge = await open();
    const [a, b] = await Promise.all([bridge.invoke('listDevices', {}), bridge.invoke('onlineUsers', {})]);
    expect(a).to.deep.equal({ method: 'listDevices' });
    expect(b).to.deep.equal({ method: 'onlineUsers' });
    expect(host.requests.map((r) => r.id)).to.deep.equal([1, 2]);
    expect(host.requests[0]).to.deep.equal({ id: 1, method: 'listDevices', args: {} });
  });

  it('rejects with BridgeCallError carrying code, message and details', async () => {
    host.answer = (request) => ({ id: request.id, ok: false, error: { code: 'rate_limited', message: 'Slow down', details: { retry_after_ms: 500 } } });
    const bridge = await open();
    const error = await rejection(bridge.invoke('createDm', { email: 'a@b.test' }));
    expect(error.code).to.equal('rate_limited');
    expect(error.message).to.equal('Slow down');
    expect(error.details).to.deep.equal({ retry_after_ms: 500 });
  });

  it('refuses unknown methods locally', async () => {
    const bridge = await open();
    const error = await rejection(bridge.invoke('eval' as 'getState', {}));
    expect(error.code).to.equal('unknown_method');
    expect(host.requests).to.have.length(0);
  });

  it('times a call out (bridge_timeout) and ignores its late reply', async () => {
    host.answer = () => undefined;
    const bridge = await open({ methodTimeoutsMs: { listDevices: 100 } });
    const error = await rejection(bridge.invoke('listDevices', {}));
    expect(error.code).to.equal('bridge_timeout');
    host.broadcast({ id: 1, ok: true, result: 'late' });
    host.answer = (request) => ({ id: request.id, ok: true, result: 'fresh' });
    expect(await bridge.invoke('onlineUsers', {})).to.equal('fresh');
  });

  it('dispatches events to their listeners, unsubscribes, and ignores unknown events', async () => {
    const bridge = await open();
    const seen: unknown[] = [];
    const off = bridge.on('message_deleted', (data) => seen.push(data));
    host.broadcast({ event: 'message_deleted', data: { messageId: 'm1', conversationId: 'c1' } });
    host.broadcast({ event: 'whatever', data: {} });
    await waitFor('the event', () => seen.length === 1);
    off();
    host.broadcast({ event: 'message_deleted', data: { messageId: 'm2', conversationId: 'c1' } });
    await bridge.invoke('getState', {});
    expect(seen).to.deep.equal([{ messageId: 'm1', conversationId: 'c1' }]);
    expect(() => bridge.on('bogus' as 'state', () => undefined)).to.throw(TypeError);
  });

  it('reconnects with backoff: calls in flight fail, calls made meanwhile wait, a fresh state follows', async () => {
    const changes: boolean[] = [];
    const bridge = await open({ onConnectionChange: (up) => changes.push(up) });
    const states: BridgeState[] = [];
    bridge.on('state', (state) => states.push(state));
    host.answer = (request) => (request.method === 'listDevices' ? undefined : { id: request.id, ok: true, result: { method: request.method } });
    const inFlight = bridge.invoke('listDevices', {});
    await waitFor('the request to arrive', () => host.requests.length === 1);
    host.dropConnections();
    expect((await rejection(inFlight)).code).to.equal('bridge_unavailable');
    const queued = bridge.invoke('onlineUsers', {});
    expect(await queued).to.deep.equal({ method: 'onlineUsers' });
    expect(host.connections).to.equal(2);
    expect(bridge.connected).to.equal(true);
    await waitFor('the state after reconnecting', () => states.length === 1);
    expect(states[0]).to.deep.equal({ method: 'getState' });
    expect(changes).to.deep.equal([true, false, true]);
  });

  it('keeps trying while the host is away', async () => {
    const bridge = await open();
    const url = host.url;
    const port = Number(new URL(url).port);
    await host.close();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(bridge.connected).to.equal(false);
    // afterEach closes `host`: give it a fresh one that is not in the way.
    host = new ScriptedHost();
    const revived = new WebSocketServer({ host: '127.0.0.1', port });
    try {
      let served = 0;
      revived.on('connection', (ws) =>
        ws.on('message', (raw) => {
          const request = JSON.parse(raw.toString()) as BridgeWireRequest;
          served += 1;
          ws.send(JSON.stringify({ id: request.id, ok: true, result: 'back' }));
        }),
      );
      expect(await bridge.invoke('onlineUsers', {})).to.equal('back');
      expect(served).to.be.greaterThan(0);
    } finally {
      bridge.close();
      for (const ws of revived.clients) ws.terminate();
      await new Promise((resolve) => revived.close(() => resolve(undefined)));
    }
  });

  it('fails pending calls when closed', async () => {
    host.answer = () => undefined;
    const bridge = await open();
    const pending = bridge.invoke('listDevices', {});
    bridge.close();
    expect((await rejection(pending)).code).to.equal('bridge_unavailable');
    expect((await rejection(bridge.invoke('getState', {}))).code).to.equal('bridge_unavailable');
  });

  it('builds the bridge URL from the page location and its token', () => {
    expect(bridgeUrlFor({ protocol: 'http:', host: '127.0.0.1:4000', search: '?token=abc_-1' })).to.equal('ws://127.0.0.1:4000/bridge?token=abc_-1');
    expect(bridgeUrlFor({ protocol: 'https:', host: 'x:1', search: '?a=1&token=t%2B' })).to.equal('wss://x:1/bridge?token=t%2B');
    expect(() => bridgeUrlFor({ protocol: 'http:', host: '127.0.0.1:4000', search: '' })).to.throw(BridgeCallError);
  });

  it('uses window.kecalek (the Electron preload) when present, with failures as BridgeCallError', async () => {
    const calls: unknown[] = [];
    const exposed: KecalekBridge = {
      invoke: (async (method: string, args: unknown) => {
        calls.push([method, args]);
        if (method === 'login') throw { code: 'invalid_credentials', message: 'Wrong password', details: { failed_attempts: 1 } };
        return { via: 'preload' };
      }) as KecalekBridge['invoke'],
      on: () => () => undefined,
    };
    const global = globalThis as { window?: unknown };
    const before = global.window;
    global.window = { kecalek: exposed, location: { protocol: 'http:', host: 'unused', search: '' } };
    try {
      const bridge = await connectBridge();
      expect(await bridge.invoke('getState', {})).to.deep.equal({ via: 'preload' });
      const error = await rejection(bridge.invoke('login', { email: 'a@b.test', password: 'x' }));
      expect(error.code).to.equal('invalid_credentials');
      expect(error.details).to.deep.equal({ failed_attempts: 1 });
      expect(calls).to.have.length(2);
    } finally {
      global.window = before;
    }
  });
});

describe('desktop: renderer bridge client against the web host', function () {
  this.timeout(60_000);
  let server: TestServer;
  let webHost: WebHost;

  before(async () => {
    server = await startTestServer();
    webHost = await startWebHost({
      server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
      home: await tempHome(),
      client: { keyEnvelope: FAST_ENVELOPE },
    });
  });
  after(async () => {
    await webHost?.close();
    await server?.close();
    await removeHomes();
  });

  it('connects with the page token and calls through to the client core', async () => {
    const url = bridgeUrlFor({ protocol: 'http:', host: `127.0.0.1:${webHost.port}`, search: new URL(webHost.url).search });
    const bridge = createWebSocketBridge({ url, WebSocket: Socket });
    try {
      await bridge.ready;
      const state = await bridge.invoke('getState', {});
      expect(state.self).to.equal(undefined);
      expect(state.serverAddress).to.equal(`${server.host}:${server.port}`);
      const error = await rejection(bridge.invoke('getCachedMessages', { conversationId: 'c1' }));
      expect(error.code).to.equal('not_logged_in');
    } finally {
      bridge.close();
    }
  });

  it('gives up at once when the web host refuses the token', async () => {
    const bridge = createWebSocketBridge({ url: `ws://127.0.0.1:${webHost.port}/bridge?token=wrong`, WebSocket: Socket });
    const error = await rejection(bridge.ready);
    expect(error.code).to.equal('bridge_unavailable');
    expect((await rejection(bridge.invoke('getState', {}))).code).to.equal('bridge_unavailable');
  });
});
