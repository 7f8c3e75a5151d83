/**
 * Byte strings of device linking that the server and clients must build identically (see
 * docs/PROTOCOL.md, "Device linking"). Browser-safe (no Node built-ins).
 */

const encoder = new TextEncoder();

const COMMITMENT_DOMAIN = encoder.encode('KecalekPairingCommit\x00v1\x00');

/** Digits in a pairing code. */
export const PAIRING_CODE_DIGITS = 8;
export const PAIRING_CODE_PATTERN = `^[0-9]{${PAIRING_CODE_DIGITS}}$`;
/** X25519 public keys and SHA-256 commitments are both 32 bytes. */
export const PAIRING_KEY_BYTES = 32;
/** Largest pairing payload ciphertext (nonce, padded plaintext, tag) a server accepts. */
export const PAIRING_MAX_CIPHERTEXT_BYTES = 4096;

/**
 * What the new device hashes (SHA-256) to commit to its ephemeral public key in `pairing_start`:
 * `"KecalekPairingCommit\0v1\0" || ephemeral public key (32 bytes)`.
 */
export function pairingCommitmentMessage(ephemeralPublic: Uint8Array): Uint8Array {
  const out = new Uint8Array(COMMITMENT_DOMAIN.length + ephemeralPublic.length);
  out.set(COMMITMENT_DOMAIN, 0);
  out.set(ephemeralPublic, COMMITMENT_DOMAIN.length);
  return out;
}
