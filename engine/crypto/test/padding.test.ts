import { expect } from 'chai';
import { CryptoErrorCode } from '../../errors.js';
import { PADDING_BUCKETS, nodeProvider, padPlaintext, paddedLength, unpadPlaintext } from '../index.js';
import { expectCryptoError, flipped, hex } from './helpers.js';

describe('crypto/padding', () => {
  it('uses the buckets 64 .. 65536', () => {
    expect([...PADDING_BUCKETS]).to.deep.equal([64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);
    expect(paddedLength(0)).to.equal(64);
    expect(paddedLength(59)).to.equal(64);
    expect(paddedLength(60)).to.equal(128);
    expect(paddedLength(100)).to.equal(128);
    expect(paddedLength(65531)).to.equal(65536);
  });

  it('round-trips at and around every bucket boundary', () => {
    for (const bucket of PADDING_BUCKETS) {
      for (const length of [bucket - 6, bucket - 5, bucket - 4]) {
        const plaintext = nodeProvider.randomBytes(length);
        const padded = padPlaintext(plaintext);
        expect(padded.length, `length ${length}`).to.equal(length + 5 <= bucket ? bucket : paddedLength(length));
        expect(padded.length).to.be.at.least(length + 5);
        expect(padded[0]).to.equal(0x01);
        expect(hex(unpadPlaintext(padded))).to.equal(hex(plaintext));
      }
    }
    for (let length = 0; length < 300; length++) expect(unpadPlaintext(padPlaintext(new Uint8Array(length).fill(7)))).to.have.length(length);
  });

  it('lays out marker, plaintext, zero fill and a big-endian length', () => {
    const padded = padPlaintext(Uint8Array.of(0xaa, 0xbb, 0xcc));
    expect(padded).to.have.length(64);
    expect(hex(padded.subarray(0, 4))).to.equal('01aabbcc');
    expect(padded.subarray(4, 60).every((b) => b === 0)).to.equal(true);
    expect(hex(padded.subarray(60))).to.equal('00000003');
  });

  it('above 64 KiB rounds to Padmé lengths', () => {
    // L = 65537: E = 16, S = 5, so multiples of 2^11.
    expect(paddedLength(65532)).to.equal(67584);
    expect(paddedLength(67579)).to.equal(67584);
    expect(paddedLength(67580)).to.equal(69632);
    // L = 1,000,005: E = 19, S = 5, multiples of 2^14.
    expect(paddedLength(1_000_000)).to.equal(1_015_808);
    let previous = 65536;
    for (let length = 65532; length < 50_000_000; length = Math.floor(length * 1.37) + 11) {
      const padded = paddedLength(length);
      const needed = length + 5;
      const e = Math.floor(Math.log2(needed));
      const lowBits = e - (Math.floor(Math.log2(e)) + 1);
      expect(padded).to.be.at.least(needed);
      expect(padded % 2 ** lowBits, `length ${length}`).to.equal(0);
      expect(padded / needed).to.be.below(1.12);
      expect(padded).to.be.at.least(previous);
      previous = padded;
    }
    const big = nodeProvider.randomBytes(200_000);
    const padded = padPlaintext(big);
    expect(padded.length).to.equal(paddedLength(200_000));
    expect(hex(unpadPlaintext(padded))).to.equal(hex(big));
  });

  it('refuses invalid padding with invalid_padding', () => {
    const padded = padPlaintext(Uint8Array.of(1, 2, 3));
    expectCryptoError(() => unpadPlaintext(flipped(padded, 0)), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => unpadPlaintext(flipped(padded, 30)), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => unpadPlaintext(flipped(padded, 63)), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => unpadPlaintext(flipped(padded, 60, 0x80)), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => unpadPlaintext(padded.subarray(0, 63)), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => unpadPlaintext(new Uint8Array(0)), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => unpadPlaintext(new Uint8Array(64)), CryptoErrorCode.INVALID_PADDING);
    // A length that belongs in a smaller bucket than the one used.
    const oversized = new Uint8Array(128);
    oversized[0] = 1;
    oversized[127] = 3;
    expectCryptoError(() => unpadPlaintext(oversized), CryptoErrorCode.INVALID_PADDING);
    // Not a bucket size at all.
    const odd = new Uint8Array(100);
    odd[0] = 1;
    expectCryptoError(() => unpadPlaintext(odd), CryptoErrorCode.INVALID_PADDING);
    // Largest length field.
    const huge = Uint8Array.from(padded);
    huge.set([0xff, 0xff, 0xff, 0xff], 60);
    expectCryptoError(() => unpadPlaintext(huge), CryptoErrorCode.INVALID_PADDING);
    expectCryptoError(() => paddedLength(-1), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => paddedLength(2 ** 32), CryptoErrorCode.INVALID_MESSAGE);
  });
});
