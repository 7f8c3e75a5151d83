/**
 * The client's ciphertext format: what goes inside `recipients[].body` and the group `body` of
 * `send_message` (the server relays it untouched). Documented in docs/PROTOCOL.md, "Client ciphertexts and payloads".
 *
 *   pairwise prekey message  01 | 01 | len u8 | X3DH header (len) | ratchet header (41) | ciphertext
 *   pairwise ratchet message 01 | 02 | ratchet header (41) | ciphertext
 *   self copy                01 | 03 | nonce (12) | AES-256-GCM ciphertext + tag
 *   group (sender-key) body  01 | 04 | sender-key message (engine/crypto/sender-keys.ts)
 *
 * Every plaintext is a JSON object (a MessagePayload, or an engine control payload) padded with
 * padPlaintext before encryption, on every path.
 *
 * Associated data: the Double Ratchet binds IK_initiator || IK_responder (both Ed25519 identity
 * keys) into every message; the client adds the body's prefix (version, type and, for a prekey
 * message, the whole X3DH header) and the conversation id, so a header cannot be swapped and a
 * ciphertext cannot be replayed into another conversation. A self copy binds the conversation,
 * the original sender and the sender's device.
 */
import { ClientError, CryptoError, CryptoErrorCode, WireErrorCode } from '../errors.js';
import {
  HEADER_LENGTH,
  concatBytes,
  decodeHeader,
  encodeHeader,
  openLocal,
  padPlaintext,
  sealLocal,
  unpadPlaintext,
  utf8Decode,
  utf8Encode,
  wipe,
  type CryptoProvider,
  type RatchetHeader,
} from '../crypto/index.js';
import type { MessagePayload } from '../plugin/client-api.js';

export const CIPHERTEXT_VERSION = 1;

export const BodyType = {
  PREKEY: 1,
  RATCHET: 2,
  SELF_COPY: 3,
  GROUP: 4,
} as const;
export type BodyType = (typeof BodyType)[keyof typeof BodyType];

export type DecodedBody =
  | { type: typeof BodyType.PREKEY; prefix: Uint8Array; x3dhHeader: Uint8Array; header: RatchetHeader; ciphertext: Uint8Array }
  | { type: typeof BodyType.RATCHET; prefix: Uint8Array; header: RatchetHeader; ciphertext: Uint8Array }
  | { type: typeof BodyType.SELF_COPY; sealed: Uint8Array }
  | { type: typeof BodyType.GROUP; message: Uint8Array };

function malformed(): CryptoError {
  return new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Malformed ciphertext');
}

/** The bytes before the ratchet header of a pairwise message (they are bound as associated data). */
export function pairwisePrefix(x3dhHeader?: Uint8Array): Uint8Array {
  if (x3dhHeader === undefined) return Uint8Array.of(CIPHERTEXT_VERSION, BodyType.RATCHET);
  if (x3dhHeader.length > 255) throw malformed();
  return concatBytes(Uint8Array.of(CIPHERTEXT_VERSION, BodyType.PREKEY, x3dhHeader.length), x3dhHeader);
}

/** The associated data a pairwise message carries into the ratchet (besides the identity keys). */
export function pairwiseAd(prefix: Uint8Array, conversationId: string): Uint8Array {
  return concatBytes(prefix, utf8Encode(`\u0000${conversationId}`));
}

export function encodePairwise(prefix: Uint8Array, header: RatchetHeader, ciphertext: Uint8Array): Uint8Array {
  return concatBytes(prefix, encodeHeader(header), ciphertext);
}

export function encodeGroupBody(senderKeyMessage: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(CIPHERTEXT_VERSION, BodyType.GROUP), senderKeyMessage);
}

export function decodeBody(bytes: Uint8Array): DecodedBody {
  if (bytes.length < 2 || bytes[0] !== CIPHERTEXT_VERSION) throw malformed();
  const type = bytes[1];
  switch (type) {
    case BodyType.PREKEY: {
      if (bytes.length < 3) throw malformed();
      const length = bytes[2]!;
      const headerStart = 3 + length;
      if (bytes.length < headerStart + HEADER_LENGTH) throw malformed();
      return {
        type,
        prefix: bytes.slice(0, headerStart),
        x3dhHeader: bytes.slice(3, headerStart),
        header: decodeHeader(bytes.subarray(headerStart, headerStart + HEADER_LENGTH)),
        ciphertext: bytes.slice(headerStart + HEADER_LENGTH),
      };
    }
    case BodyType.RATCHET: {
      if (bytes.length < 2 + HEADER_LENGTH) throw malformed();
      return {
        type,
        prefix: bytes.slice(0, 2),
        header: decodeHeader(bytes.subarray(2, 2 + HEADER_LENGTH)),
        ciphertext: bytes.slice(2 + HEADER_LENGTH),
      };
    }
    case BodyType.SELF_COPY:
      return { type, sealed: bytes.slice(2) };
    case BodyType.GROUP:
      return { type, message: bytes.slice(2) };
    default:
      throw malformed();
  }
}

// ---- payloads ------------------------------------------------------------------------------------

/** Engine control payloads travel with this field; anything else is a MessagePayload for plugins and front ends. */
export const CONTROL_FIELD = 'kecalek_control';

/** JSON, UTF-8, padded. */
export function encodePayload(payload: MessagePayload | Record<string, unknown>): Uint8Array {
  const json = utf8Encode(JSON.stringify(payload));
  try {
    return padPlaintext(json);
  } finally {
    wipe(json);
  }
}

/** Inverse of encodePayload: the JSON object inside a padded plaintext (CryptoError invalid_message otherwise). */
export function decodePayload(padded: Uint8Array): Record<string, unknown> {
  const json = unpadPlaintext(padded);
  let value: unknown;
  try {
    value = JSON.parse(utf8Decode(json));
  } catch {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'The decrypted payload is not JSON');
  } finally {
    wipe(json);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'The decrypted payload is not an object');
  }
  return value as Record<string, unknown>;
}

// ---- self copies ---------------------------------------------------------------------------------

function selfCopyAad(conversationId: string, senderId: string, senderDeviceId: string): Uint8Array {
  return utf8Encode(`KecalekSelfCopy\u0000v1\u0000${conversationId}\u0000${senderId}\u0000${senderDeviceId}`);
}

/** A self copy of a payload, readable by every device of the account (they share the self-copy key). */
export function sealSelfCopy(
  selfCopyKey: Uint8Array,
  payload: MessagePayload,
  context: { conversationId: string; senderId: string; senderDeviceId: string },
  provider: CryptoProvider,
): Uint8Array {
  const padded = encodePayload(payload);
  try {
    const sealed = sealLocal(selfCopyKey, padded, selfCopyAad(context.conversationId, context.senderId, context.senderDeviceId), provider);
    return concatBytes(Uint8Array.of(CIPHERTEXT_VERSION, BodyType.SELF_COPY), sealed);
  } finally {
    wipe(padded);
  }
}

export function openSelfCopy(
  selfCopyKey: Uint8Array,
  sealed: Uint8Array,
  context: { conversationId: string; senderId: string; senderDeviceId: string },
  provider: CryptoProvider,
): Record<string, unknown> {
  const padded = openLocal(selfCopyKey, sealed, selfCopyAad(context.conversationId, context.senderId, context.senderDeviceId), provider);
  try {
    return decodePayload(padded);
  } finally {
    wipe(padded);
  }
}

/** Checks a ciphertext against the server's advertised size limit (base64 characters). */
export function assertWithinLimit(base64Length: number, maxMessageBytes: number | undefined): void {
  if (maxMessageBytes !== undefined && base64Length > maxMessageBytes) {
    throw new ClientError(WireErrorCode.PAYLOAD_TOO_LARGE, `The message is too large for this server (limit ${maxMessageBytes} bytes of ciphertext)`, {
      limit: maxMessageBytes,
    });
  }
}

