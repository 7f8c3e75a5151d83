/**
 * The server's transports: TLS (or plain TCP in development) and WebSocket, feeding one
 * ConnectionHandler. See connection-impl.ts for the Connection both provide.
 */
export { listenTcp } from './tcp.js';
export { listenWebSocket } from './websocket.js';
export { resolveTls, devTlsDir, loadOrCreateDevCertificate, DEV_CERT_FILE, DEV_KEY_FILE, TLS_CIPHERS, TLS_MIN_VERSION } from './tls.js';
export type { TlsContext } from './tls.js';
export type { TransportOptions, TransportServer } from './types.js';
export { StreamConnection, WsConnection, normaliseIp, CLOSE_TIMEOUT_MS } from './connection-impl.js';
