/**
 * The WebSocket transport (browsers and the desktop renderer): the same frames, one per message,
 * on WS_PORT at WS_PATH — over HTTPS with the same certificate as the TLS port, plain HTTP only in
 * development with ALLOW_PLAINTEXT. Every other path answers 404.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorData } from '../../protocol/envelope.js';
import { CLOSE_TIMEOUT_MS, WS_CLOSE, WsConnection, normaliseIp } from './connection-impl.js';
import { listen, stopListening } from './tcp.js';
import type { TransportOptions, TransportServer } from './types.js';

/** Room above the largest frame or body for WebSocket framing overhead. */
const MAX_PAYLOAD_SLACK = 1024;

export async function listenWebSocket(options: TransportOptions): Promise<TransportServer> {
  const { config, log, handler, tls } = options;
  if (config.wsPort === undefined) throw new Error('listenWebSocket needs config.wsPort');
  const kind = tls ? 'wss' : 'ws';
  const path = config.wsPath;

  const server: http.Server = tls ? https.createServer(tls.serverOptions) : http.createServer();
  const wss = new WebSocketServer({
    noServer: true,
    // ws refuses (and never buffers) a message above this; the decoder applies the exact caps.
    maxPayload: Math.max(config.limits.maxFrameBytes, config.limits.maxBodyBytes) + MAX_PAYLOAD_SLACK,
    // Compression next to encrypted, attacker-influenced data is a known leak (CRIME/BREACH); ciphertext does not compress anyway.
    perMessageDeflate: false,
    clientTracking: false,
    // Text messages reach the frame decoder as bytes, which checks UTF-8 itself and answers
    // invalid_json (the connection goes on) where ws would drop the whole connection.
    skipUTF8Validation: true,
  });

  const live = new Set<WsConnection>();
  let pinger: NodeJS.Timeout | undefined;
  const track = (connection: WsConnection, socket: WebSocket): void => {
    live.add(connection);
    socket.once('close', () => {
      live.delete(connection);
      if (live.size === 0 && pinger) {
        clearInterval(pinger);
        pinger = undefined;
      }
    });
    if (!pinger) {
      pinger = setInterval(() => {
        for (const each of live) each.heartbeat();
      }, config.keepalive.wsPingMs);
      pinger.unref();
    }
  };

  // Slow HTTP clients must not hold sockets open before they even ask to upgrade.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.on('connection', (raw: Socket) => {
    raw.setNoDelay(true);
    raw.setKeepAlive(true, config.keepalive.idleMs);
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const status = pathOf(request) === path ? 426 : 404;
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    response.end(status === 426 ? 'This endpoint speaks WebSocket only\n' : 'Not found\n');
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    if (pathOf(request) !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const ip = normaliseIp(request.socket.remoteAddress);
      try {
        const refusal = handler.admit(ip, 'ws');
        if (refusal) {
          log.debug({ ip, code: refusal.code, transport: kind }, 'connection refused');
          ws.on('error', () => undefined);
          ws.send(JSON.stringify({ type: 'error', data: errorData(refusal) }));
          ws.close(WS_CLOSE.TRY_AGAIN_LATER, refusal.code);
          const timer = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
          timer.unref();
          ws.once('close', () => clearTimeout(timer));
          return;
        }
        const connection = new WsConnection(ws, { handler, log, limits: config.limits, ip });
        track(connection, ws);
      } catch (error) {
        log.error({ err: error, transport: kind }, 'could not accept a connection');
        ws.terminate();
      }
    });
  });
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    log.debug({ code: error.code, message: error.message }, 'bad HTTP request on the WebSocket port');
    socket.destroy();
  });
  if (tls) {
    server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
      log.debug({ code: error.code, message: error.message, ip: normaliseIp(socket.remoteAddress) }, 'TLS handshake failed');
    });
  }

  await listen(server, config.wsPort, config.host);
  server.on('error', (error) => log.error({ err: error }, 'WebSocket listener error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host: config.host, port, path, transport: kind }, 'listening');
  return {
    kind,
    port,
    host: config.host,
    async stopAccepting() {
      await stopListening(server);
      // Idle keep-alive HTTP connections would otherwise linger; upgraded sockets are not affected.
      server.closeIdleConnections();
      wss.close();
    },
  };
}

function pathOf(request: IncomingMessage): string {
  try {
    return new URL(request.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '';
  }
}
