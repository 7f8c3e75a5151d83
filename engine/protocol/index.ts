/**
 * engine/protocol: frames over TCP+TLS (framing.ts, Node-only) and WebSocket (websocket.ts),
 * envelopes, base64 and request validation. The renderer imports './browser.js' instead, which
 * leaves the Node-only stream code out.
 */
export * from './browser.js';
export * from './framing.js';
