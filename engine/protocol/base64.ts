/**
 * Base64 for binary fields on the wire. Browser-safe: uses Node's Buffer for speed when it exists,
 * and a table-driven codec otherwise.
 *
 * Decoding is strict, so one value has exactly one encoding (no smuggling through lenient
 * decoders, no two spellings of one key):
 * - `decodeBase64`: the standard alphabet (RFC 4648 §4) WITH padding; the length is a multiple
 *   of 4. Unpadded input, whitespace, line breaks and URL-safe characters are rejected.
 * - `decodeBase64Url`: the URL-safe alphabet (RFC 4648 §5) WITHOUT padding ('=' is rejected),
 *   for tokens that travel in URLs.
 * - Both reject non-canonical input: the unused low bits of the last character must be zero.
 * Decoded values are plain Uint8Arrays (never a pooled Buffer slice).
 */
import { WireError, WireErrorCode, errors } from '../errors.js';

export interface DecodeBase64Options {
  /** Refuse more than this many decoded bytes with `payload_too_large`. Checked before decoding. */
  maxBytes?: number;
  /** Require exactly this many decoded bytes (a key, a nonce): anything else is `invalid_base64`. */
  exactBytes?: number;
}

type NodeBufferLike = {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): {
    toString(encoding: 'base64' | 'base64url'): string;
    write(value: string, encoding: 'base64' | 'base64url'): number;
  };
};

const NodeBuffer: NodeBufferLike | undefined = (globalThis as { Buffer?: NodeBufferLike }).Buffer;

const STANDARD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const STANDARD_PADDED = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_UNPADDED = /^[A-Za-z0-9_-]*$/;

function reverseTable(alphabet: string): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}
const STANDARD_VALUES = reverseTable(STANDARD_ALPHABET);
const URL_VALUES = reverseTable(URL_ALPHABET);

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return encodePortable(bytes, STANDARD_ALPHABET, true);
}

/** URL-safe base64 without padding (for tokens). */
export function encodeBase64Url(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  return encodePortable(bytes, URL_ALPHABET, false);
}

/**
 * Decodes a standard, padded base64 field. `field` names it in errors:
 * `invalid_base64` (with `details.field`) for a non-string, bad characters, bad length or padding,
 * non-canonical bits or a wrong `exactBytes` size; `payload_too_large` (with `details.field` and
 * `details.limit`) above `maxBytes`.
 */
export function decodeBase64(value: unknown, field: string, options: DecodeBase64Options = {}): Uint8Array {
  if (typeof value !== 'string') throw invalid(field, 'must be a base64 string');
  const length = value.length;
  if (length % 4 !== 0) throw invalid(field, 'is not valid base64 (length must be a multiple of 4, with = padding)');
  const padding = length === 0 ? 0 : value.charCodeAt(length - 1) !== 0x3d ? 0 : value.charCodeAt(length - 2) === 0x3d ? 2 : 1;
  const byteLength = (length / 4) * 3 - padding;
  checkSize(byteLength, field, options);
  if (!STANDARD_PADDED.test(value)) throw invalid(field, 'is not valid base64 (standard alphabet, = padding at the end only)');
  checkCanonical(value, length - padding, padding === 0 ? 0 : padding === 1 ? 0b11 : 0b1111, STANDARD_VALUES, field);
  return decodeValidated(value, byteLength, 'base64', STANDARD_VALUES);
}

/** Decodes URL-safe base64 without padding. Errors as decodeBase64. */
export function decodeBase64Url(value: unknown, field: string, options: DecodeBase64Options = {}): Uint8Array {
  if (typeof value !== 'string') throw invalid(field, 'must be a base64url string');
  const length = value.length;
  const remainder = length % 4;
  if (remainder === 1) throw invalid(field, 'is not valid base64url (impossible length)');
  const byteLength = Math.floor((length * 3) / 4);
  checkSize(byteLength, field, options);
  if (!URL_UNPADDED.test(value)) throw invalid(field, 'is not valid base64url (URL-safe alphabet, no padding)');
  checkCanonical(value, length, remainder === 0 ? 0 : remainder === 2 ? 0b1111 : 0b11, URL_VALUES, field);
  return decodeValidated(value, byteLength, 'base64url', URL_VALUES);
}

/** The length of the base64 (padded) text for `bytes` bytes. */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

function invalid(field: string, message: string): WireError {
  return new WireError(WireErrorCode.INVALID_BASE64, `${field} ${message}`, { field });
}

function checkSize(byteLength: number, field: string, options: DecodeBase64Options): void {
  if (options.exactBytes !== undefined && byteLength !== options.exactBytes) {
    throw new WireError(WireErrorCode.INVALID_BASE64, `${field} must decode to exactly ${options.exactBytes} bytes`, {
      field,
      expected_bytes: options.exactBytes,
    });
  }
  if (options.maxBytes !== undefined && byteLength > options.maxBytes) throw errors.payloadTooLarge(field, options.maxBytes);
}

/** The last data character must not carry bits beyond the encoded bytes. */
function checkCanonical(value: string, dataLength: number, unusedBitsMask: number, table: Int8Array, field: string): void {
  if (unusedBitsMask === 0 || dataLength === 0) return;
  const last = table[value.charCodeAt(dataLength - 1)];
  if ((last & unusedBitsMask) !== 0) throw invalid(field, 'is not canonical base64 (unused bits are set)');
}

function decodeValidated(value: string, byteLength: number, encoding: 'base64' | 'base64url', table: Int8Array): Uint8Array {
  const out = new Uint8Array(byteLength);
  if (byteLength === 0) return out;
  if (NodeBuffer !== undefined) {
    // Decode straight into our own memory: no pooled Buffer escapes.
    NodeBuffer.from(out.buffer, out.byteOffset, out.byteLength).write(value, encoding);
    return out;
  }
  return decodePortable(value, byteLength, table);
}

function encodePortable(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  const pieces: string[] = [];
  const CHUNK = 3 * 4096;
  for (let start = 0; start < bytes.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, bytes.length);
    let piece = '';
    let i = start;
    for (; i + 2 < end; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      piece += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
    }
    const left = end - i;
    if (left === 1) {
      const n = bytes[i] << 16;
      piece += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (pad ? '==' : '');
    } else if (left === 2) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
      piece += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + (pad ? '=' : '');
    }
    pieces.push(piece);
  }
  return pieces.join('');
}

function decodePortable(value: string, byteLength: number, table: Int8Array): Uint8Array {
  const out = new Uint8Array(byteLength);
  let o = 0;
  let bits = 0;
  let accumulator = 0;
  for (let i = 0; i < value.length && o < byteLength; i++) {
    accumulator = ((accumulator << 6) | table[value.charCodeAt(i)]) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (accumulator >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * The codec used where Node's Buffer is absent (the browser renderer). Exported so that its tests
 * run under Node too; callers use encodeBase64/decodeBase64, which validate first.
 */
export const portableBase64 = {
  encode: (bytes: Uint8Array): string => encodePortable(bytes, STANDARD_ALPHABET, true),
  encodeUrl: (bytes: Uint8Array): string => encodePortable(bytes, URL_ALPHABET, false),
  /** Decodes text already validated by decodeBase64 / decodeBase64Url. */
  decode: (value: string, byteLength: number, url: boolean): Uint8Array =>
    decodePortable(value, byteLength, url ? URL_VALUES : STANDARD_VALUES),
};
