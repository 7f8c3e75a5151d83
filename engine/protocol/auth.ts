/**
 * The byte strings that get signed during login and login-key rotation. Server and clients build
 * them here, so both sides sign and verify exactly the same bytes. Each starts with its own
 * domain tag (name, NUL, version, NUL), so a signature made for one purpose can never be replayed
 * as another: a login signature is not a rotation signature and neither is a pre-key signature.
 * Browser-safe (no Node built-ins).
 */

const encoder = new TextEncoder();

const LOGIN_DOMAIN = encoder.encode('KecalekLogin\x00v1\x00');
const ROTATE_LOGIN_KEY_DOMAIN = encoder.encode('KecalekRotateLoginKey\x00v1\x00');

/** Length of the random login challenge the server hands out in `login_start`. */
export const LOGIN_CHALLENGE_BYTES = 32;

/** How the server compares addresses: surrounding whitespace removed, lowercased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * What the login key signs in `login_finish`:
 * `"KecalekLogin\0v1\0" || challenge || utf8(normalized email)`.
 */
export function loginChallengeMessage(challenge: Uint8Array, email: string): Uint8Array {
  return concat(LOGIN_DOMAIN, challenge, encoder.encode(normalizeEmail(email)));
}

/**
 * What the IDENTITY key signs in `rotate_keys` to vouch for a new login key:
 * `"KecalekRotateLoginKey\0v1\0" || newLoginKey || utf8(userId)`.
 */
export function rotateLoginKeyMessage(newLoginKey: Uint8Array, userId: string): Uint8Array {
  return concat(ROTATE_LOGIN_KEY_DOMAIN, newLoginKey, encoder.encode(userId));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
