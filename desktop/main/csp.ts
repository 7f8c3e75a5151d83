/**
 * The renderer's Content Security Policy, sent as a response header with every file (Electron's
 * app:// handler and the web host alike): scripts and styles only from the app itself, no eval,
 * no inline code, no plugins, no frames, images only from the app or data: URLs (the linking QR
 * code), connections only to the app itself (and, in the web host, its own bridge WebSocket).
 */
export const APP_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The web host's policy: the same, with connect-src allowing its own bridge WebSocket. */
export function webHostCsp(port: number): string {
  return APP_CSP.replace("connect-src 'self'", `connect-src 'self' ws://127.0.0.1:${port}`);
}

/** Headers every renderer file is served with (besides the CSP). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-cache',
});
