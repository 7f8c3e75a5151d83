/**
 * The stream transport: newline-delimited JSON frames over TLS (or plain TCP in development) on
 * SERVER_HOST:SERVER_PORT.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { encodeFrame } from '../../protocol/framing.js';
import { errorData } from '../../protocol/envelope.js';
import { StreamConnection, normaliseIp, CLOSE_TIMEOUT_MS } from './connection-impl.js';
import type { TransportOptions, TransportServer } from './types.js';

export async function listenTcp(options: TransportOptions): Promise<TransportServer> {
  const { config, log, handler, tls: tlsContext } = options;
  const kind = tlsContext ? 'tls' : 'tcp';

  const accept = (socket: Socket): void => {
    const ip = normaliseIp(socket.remoteAddress);
    try {
      const refusal = handler.admit(ip, kind);
      if (refusal) {
        refuseSocket(socket, { type: 'error', data: errorData(refusal) });
        log.debug({ ip, code: refusal.code, transport: kind }, 'connection refused');
        return;
      }
      new StreamConnection(socket, kind, { handler, log, limits: config.limits, ip });
    } catch (error) {
      // A bug in admission must cost one socket, never the process.
      log.error({ err: error, transport: kind }, 'could not accept a connection');
      socket.destroy();
    }
  };

  const server: net.Server = tlsContext ? tls.createServer(tlsContext.serverOptions, accept) : net.createServer(accept);
  // Socket options go on the raw TCP socket, before any TLS handshake.
  server.on('connection', (raw: Socket) => {
    raw.setNoDelay(true);
    // The original: SO_KEEPALIVE after 25 s idle (then 10 s x 3 probes). Node sets only the idle
    // time; the probe interval and count stay at the operating system's (libuv) defaults.
    raw.setKeepAlive(true, config.keepalive.idleMs);
  });
  if (tlsContext) {
    server.on('tlsClientError', (error: Error & { code?: string }, socket: tls.TLSSocket) => {
      // Port scanners, old clients, handshake timeouts: routine noise, debug level only.
      log.debug({ code: error.code, message: error.message, ip: normaliseIp(socket.remoteAddress) }, 'TLS handshake failed');
    });
  }

  await listen(server, config.port, config.host);
  server.on('error', (error) => log.error({ err: error }, 'TCP listener error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host: config.host, port, transport: kind }, 'listening');
  return {
    kind,
    port,
    host: config.host,
    stopAccepting: () => stopListening(server),
  };
}

/** Writes one frame to a socket that will not become a connection, then ends it. */
function refuseSocket(socket: Socket, frame: Record<string, unknown>): void {
  socket.on('error', () => undefined);
  const timer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
  socket.end(encodeFrame(frame)[0]);
}

export function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host });
  });
}

/** Closes the listening socket; live connections are left to the server's shutdown. */
export function stopListening(server: net.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise<void>((resolve) => {
    // close()'s callback waits for every connection to end; the listening handle is closed at once.
    server.close();
    setImmediate(resolve);
  });
}
