/**
 * Plaintext padding before encryption, so ciphertext lengths reveal only a size class.
 *
 * Layout: 0x01 || plaintext || zero fill || plaintext length (u32 big-endian).
 * Total length: the smallest bucket >= length + 5 from PADDING_BUCKETS; above 64 KiB the Padmé
 * rule (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", 2019): a length L with E = floor(log2 L) is rounded up to a multiple of
 * 2^(E - floor(log2 E) - 1), so at most O(log log L) bits of L remain and the overhead stays
 * below 12%.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { copyBytes, readU32, writeU32 } from './bytes.js';

export const PADDING_BUCKETS: readonly number[] = Object.freeze([64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);

const MARKER = 0x01;
const OVERHEAD = 5;
/** Largest plaintext the 4-byte length field can describe with room for the overhead. */
export const MAX_PADDED_PLAINTEXT = 0xffffffff - OVERHEAD;

function padme(length: number): number {
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

/** The padded size of a plaintext of `plaintextLength` bytes. */
export function paddedLength(plaintextLength: number): number {
  if (!Number.isInteger(plaintextLength) || plaintextLength < 0 || plaintextLength > MAX_PADDED_PLAINTEXT) {
    throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Plaintext length out of range for padding');
  }
  const needed = plaintextLength + OVERHEAD;
  for (const bucket of PADDING_BUCKETS) if (needed <= bucket) return bucket;
  return padme(needed);
}

export function padPlaintext(plaintext: Uint8Array): Uint8Array {
  if (!(plaintext instanceof Uint8Array)) throw new CryptoError(CryptoErrorCode.INVALID_MESSAGE, 'Plaintext must be a Uint8Array');
  const out = new Uint8Array(paddedLength(plaintext.length));
  out[0] = MARKER;
  out.set(plaintext, 1);
  writeU32(out, out.length - 4, plaintext.length);
  return out;
}

/** Inverse of padPlaintext; CryptoError invalid_padding unless `padded` is exactly a padded plaintext. */
export function unpadPlaintext(padded: Uint8Array): Uint8Array {
  const invalid = () => new CryptoError(CryptoErrorCode.INVALID_PADDING, 'Invalid padding');
  if (!(padded instanceof Uint8Array) || padded.length < PADDING_BUCKETS[0]! || padded[0] !== MARKER) throw invalid();
  const length = readU32(padded, padded.length - 4);
  if (length > padded.length - OVERHEAD || paddedLength(length) !== padded.length) throw invalid();
  let fill = 0;
  for (let i = 1 + length; i < padded.length - 4; i++) fill |= padded[i]!;
  if (fill !== 0) throw invalid();
  return copyBytes(padded.subarray(1, 1 + length));
}
