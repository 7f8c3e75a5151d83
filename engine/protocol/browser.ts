/**
 * The browser-safe part of engine/protocol, for the renderer bundle: no Node built-ins (no
 * Buffer, no streams). Speak the protocol over WebSocket with WsFrameDecoder / encodeWsMessages.
 */
export * from './constants.js';
export * from './parse.js';
export * from './websocket.js';
export * from './base64.js';
export * from './envelope.js';
export * from './validation.js';
export * from './auth.js';
