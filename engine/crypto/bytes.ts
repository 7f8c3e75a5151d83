/**
 * Byte helpers shared by the crypto module. Portable (no Buffer, no node:*), so the pure-JS
 * provider and everything above the provider layer run unchanged outside Node.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
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

/**
 * Compares two byte arrays in time that depends only on their lengths, never on where they
 * differ. Arrays of different lengths are unequal (lengths are not secret here).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** True when every byte is zero; runs through the whole array whatever it holds. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** Overwrites secret bytes with zeros (best effort: JS cannot promise no other copy exists). */
export function wipe(...arrays: Array<Uint8Array | null | undefined>): void {
  for (const bytes of arrays) bytes?.fill(0);
}

/** A fresh copy that shares no memory with the input. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a string as UTF-8. */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, refusing malformed input with CryptoError invalid_message. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch (err) {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Bytes are not valid UTF-8', undefined, { cause: err });
  }
}

const HEX_DIGITS = '0123456789abcdef';
const BYTE_TO_HEX: string[] = Array.from({ length: 256 }, (_, i) => HEX_DIGITS[i >> 4]! + HEX_DIGITS[i & 15]!);

/** Lower-case hexadecimal. */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_HEX[bytes[i]!];
  return out;
}

/** Parses hexadecimal (either case); CryptoError invalid_message on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Not a hexadecimal string');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Writes an unsigned 32-bit big-endian integer at `offset`. */
export function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

/** Reads an unsigned 32-bit big-endian integer at `offset` (the caller checks bounds). */
export function readU32(source: Uint8Array, offset: number): number {
  return ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
}

/** True for an integer in 0 .. 2^32 - 1. */
export function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/** Throws CryptoError invalid_key unless `bytes` is a Uint8Array of exactly `length` bytes. */
export function assertKeyLength(bytes: unknown, length: number, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new CryptoError(CryptoErrorCode.INVALID_KEY, `${what} must be ${length} bytes`);
  }
}

/** Throws CryptoError invalid_message unless `bytes` is a Uint8Array. */
export function assertBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, `${what} must be a Uint8Array`);
  }
}

/**
 * A cursor over encoded bytes for the binary formats of this module (state exports, headers).
 * Every read checks bounds and throws the error the caller chose, so a truncated or padded
 * encoding is refused instead of read past its end.
 */
export class ByteReader {
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fail: () => CryptoError,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(): number {
    if (this.remaining < 1) throw this.fail();
    return this.bytes[this.offset++]!;
  }

  u16(): number {
    if (this.remaining < 2) throw this.fail();
    const value = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    this.offset += 2;
    return value;
  }

  u32(): number {
    if (this.remaining < 4) throw this.fail();
    const value = readU32(this.bytes, this.offset);
    this.offset += 4;
    return value;
  }

  /** A copy of the next `length` bytes. */
  take(length: number): Uint8Array {
    if (this.remaining < length) throw this.fail();
    const out = new Uint8Array(length);
    out.set(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return out;
  }

  /** Throws unless everything was read. */
  end(): void {
    if (this.remaining !== 0) throw this.fail();
  }
}

/** Builds a binary encoding piece by piece (used for exports, not on hot paths). */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];

  u8(value: number): this {
    this.parts.push(Uint8Array.of(value & 0xff));
    return this;
  }

  u16(value: number): this {
    this.parts.push(Uint8Array.of((value >>> 8) & 0xff, value & 0xff));
    return this;
  }

  u32(value: number): this {
    const out = new Uint8Array(4);
    writeU32(out, 0, value);
    this.parts.push(out);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.parts.push(value);
    return this;
  }

  finish(): Uint8Array {
    return concatBytes(...this.parts);
  }
}
