/**
 * The web host: the desktop renderer in an ordinary browser. It serves the renderer bundle over
 * HTTP on 127.0.0.1 only (same CSP as the app, with connect-src allowing its own bridge
 * WebSocket) and carries the bridge over a WebSocket at `/bridge?token=...` (BridgeWireRequest /
 * BridgeWireReply / BridgeWireEvent as JSON text frames). One ClientBridge per web host: a single
 * user, like the Electron app.
 *
 * The token (32 random bytes, base64url) is the only key to the bridge: the page learns it from
 * its own URL (`/?token=...`), a WebSocket without it, with a wrong one (compared in constant
 * time) or with a foreign Origin is answered 403 and closed. Requests with a foreign Host header
 * are refused too (DNS rebinding).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { ServerAddress } from '../../engine/client/types.js';
import type { AnyPluginDefinition } from '../../engine/plugin/define.js';
import type { BridgeWireEvent, BridgeWireReply } from '../shared/bridge.js';
import { ClientBridge, type ClientBridgeOptions } from '../main/bridge.js';
import { SECURITY_HEADERS, webHostCsp } from '../main/csp.js';
import { resolveStatic } from '../main/static-files.js';

export const DEFAULT_RENDERER_DIR = fileURLToPath(new URL('../dist/renderer/', import.meta.url));
export const BRIDGE_PATH = '/bridge';
/** The largest bridge request accepted (plugin calls may carry small files). */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

export interface WebHostOptions {
  /** Port on 127.0.0.1 (default 0: any free port). */
  readonly port?: number;
  /** Only loopback: the bridge holds the signed-in account. */
  readonly host?: '127.0.0.1';
  /** Where the client core connects. */
  readonly server: ServerAddress;
  /** Key stores and desktop-settings.json. */
  readonly home: string;
  /** The bridge token (default: 32 random bytes, base64url). */
  readonly token?: string;
  /** The renderer bundle (default desktop/dist/renderer). */
  readonly rendererDir?: string;
  readonly plugins?: readonly AnyPluginDefinition[];
  readonly deviceName?: string;
  readonly client?: ClientBridgeOptions['client'];
  readonly onInternalError?: ClientBridgeOptions['onInternalError'];
}

export interface WebHost {
  /** `http://127.0.0.1:<port>/?token=<token>`: what to open in the browser. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly bridge: ClientBridge;
  close(): Promise<void>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison (hashes first, so the lengths do not leak either). */
function tokenMatches(expected: string, given: string | null): boolean {
  if (given === null) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function isWireRequest(value: unknown): value is { id: number; method: string; args: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { id, method } = value as { id?: unknown; method?: unknown };
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && typeof method === 'string';
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  if (options.host !== undefined && options.host !== '127.0.0.1') throw new Error('The web host listens on 127.0.0.1 only');
  const token = options.token ?? randomBytes(32).toString('base64url');
  if (token.length < 16) throw new Error('The web host token must be at least 16 characters');
  const rendererDir = options.rendererDir ?? DEFAULT_RENDERER_DIR;
  const bridge = new ClientBridge({
    server: options.server,
    home: options.home,
    ...(options.plugins ? { plugins: options.plugins } : {}),
    ...(options.deviceName !== undefined ? { deviceName: options.deviceName } : {}),
    ...(options.client ? { client: options.client } : {}),
    ...(options.onInternalError ? { onInternalError: options.onInternalError } : {}),
  });
  await bridge.start();

  let port = 0;
  const allowedHosts = (): string[] => [`127.0.0.1:${port}`, `localhost:${port}`];
  const allowedOrigins = (): string[] => [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  const headers = (): Record<string, string> => ({ 'Content-Security-Policy': webHostCsp(port), ...SECURITY_HEADERS });

  const plain = (response: ServerResponse, status: number, text: string): void => {
    response.writeHead(status, { ...headers(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    response.end(text);
  };

  const serveFile = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (!allowedHosts().includes(request.headers.host ?? '')) return plain(response, 403, 'Forbidden');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return plain(response, 405, 'Method not allowed');
    }
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === BRIDGE_PATH) return plain(response, 426, 'Upgrade required');
    const found = await resolveStatic(rendererDir, url.pathname);
    if (found.kind === 'forbidden') return plain(response, 403, 'Forbidden');
    if (found.kind === 'not_found') {
      if (url.pathname === '/' || url.pathname === '/index.html') {
        const built = await access(rendererDir).then(() => true, () => false);
        return plain(response, 503, built ? 'The renderer has no index.html.' : 'The renderer is not built: run `npm run desktop:build`.');
      }
      return plain(response, 404, 'Not found');
    }
    response.writeHead(200, { ...headers(), 'Content-Type': found.contentType, 'Content-Length': found.size });
    if (request.method === 'HEAD') return void response.end();
    const stream = createReadStream(found.path);
    stream.on('error', () => response.destroy());
    stream.pipe(response);
  };

  const server = createServer((request, response) => {
    serveFile(request, response).catch(() => {
      if (!response.headersSent) plain(response, 500, 'Internal error');
      else response.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_REQUEST_BYTES, perMessageDeflate: false });

  const refuse = (socket: Duplex, status: number): void => {
    socket.on('error', () => undefined);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== BRIDGE_PATH) return refuse(socket, 404);
    const origin = request.headers.origin;
    if (!allowedHosts().includes(request.headers.host ?? '')) return refuse(socket, 403);
    if (origin !== undefined && !allowedOrigins().includes(origin)) return refuse(socket, 403);
    if (!tokenMatches(token, url.searchParams.get('token'))) return refuse(socket, 403);
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  const send = (ws: WebSocket, message: BridgeWireReply | BridgeWireEvent): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  };

  wss.on('connection', (ws: WebSocket) => {
    const unsubscribe = bridge.subscribe((event, data) => send(ws, { event, data }));
    ws.on('close', unsubscribe);
    ws.on('error', () => ws.terminate());
    ws.on('message', (raw: RawData, isBinary: boolean) => {
      if (isBinary) return ws.close(1003, 'Text frames only');
      let request: unknown;
      try {
        request = JSON.parse(raw.toString());
      } catch {
        return ws.close(1007, 'Invalid JSON');
      }
      if (!isWireRequest(request)) return ws.close(1008, 'Not a bridge request');
      const { id } = request;
      void bridge.invoke(request.method, request.args).then((reply) => send(ws, { id, ...reply }));
    });
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  }).catch(async (error: unknown) => {
    await bridge.close();
    throw error;
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    bridge,
    close() {
      closing ??= (async () => {
        const open = [...wss.clients];
        const gone = open.map((ws) => new Promise<void>((resolveGone) => (ws.readyState === WebSocket.CLOSED ? resolveGone() : ws.once('close', () => resolveGone()))));
        for (const ws of open) ws.close(1001, 'The web host is stopping');
        // A browser that does not answer the close handshake is cut off after a second.
        const grace = setTimeout(() => open.forEach((ws) => ws.terminate()), 1000);
        await Promise.all(gone);
        clearTimeout(grace);
        await new Promise<void>((resolveClose) => wss.close(() => resolveClose()));
        server.closeAllConnections();
        await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
        await bridge.close();
      })();
      return closing;
    },
  };
}
