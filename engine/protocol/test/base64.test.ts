import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url, portableBase64, base64Length } from '../base64.js';
import { WireError } from '../../errors.js';

function failure(fn: () => unknown): WireError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(WireError);
  return caught as WireError;
}

describe('protocol/base64', () => {
  it('round-trips every length from 0 to 64, matching Node\'s encoder, on both code paths', () => {
    for (let length = 0; length <= 64; length++) {
      for (let round = 0; round < 8; round++) {
        const bytes = new Uint8Array(randomBytes(length));
        const standard = encodeBase64(bytes);
        const url = encodeBase64Url(bytes);
        expect(standard).to.equal(Buffer.from(bytes).toString('base64'));
        expect(url).to.equal(Buffer.from(bytes).toString('base64url'));
        expect(standard.length).to.equal(base64Length(length));
        expect(portableBase64.encode(bytes)).to.equal(standard);
        expect(portableBase64.encodeUrl(bytes)).to.equal(url);

        const decoded = decodeBase64(standard, 'f');
        expect(decoded.constructor).to.equal(Uint8Array);
        expect([...decoded]).to.deep.equal([...bytes]);
        expect([...decodeBase64Url(url, 'f')]).to.deep.equal([...bytes]);
        expect([...portableBase64.decode(standard, length, false)]).to.deep.equal([...bytes]);
        expect([...portableBase64.decode(url, length, true)]).to.deep.equal([...bytes]);
      }
    }
  });

  it('round-trips large values on both code paths', () => {
    const bytes = new Uint8Array(randomBytes(100_003));
    const text = encodeBase64(bytes);
    expect(portableBase64.encode(bytes)).to.equal(text);
    expect(Buffer.from(decodeBase64(text, 'big')).equals(Buffer.from(bytes))).to.equal(true);
    expect(Buffer.from(portableBase64.decode(text, bytes.length, false)).equals(Buffer.from(bytes))).to.equal(true);
  });

  it('encodes a view into a larger buffer correctly', () => {
    const backing = Uint8Array.of(1, 2, 3, 4, 5, 6);
    expect(encodeBase64(backing.subarray(2, 4))).to.equal(Buffer.from([3, 4]).toString('base64'));
  });

  it('rejects invalid characters', () => {
    for (const value of ['ab$d', 'ab d', 'ab\nd', 'YW-_', 'YWJj\n', ' YWJj', 'YWJ\u00e9', 'YW.j']) {
      const error = failure(() => decodeBase64(value, 'identity_key'));
      expect(error.code).to.equal('invalid_base64');
      expect(error.details).to.deep.equal({ field: 'identity_key' });
      expect(error.message).to.contain('identity_key');
    }
    for (const value of ['YW+j', 'YW/j', 'YW=j', 'Y W']) {
      expect(failure(() => decodeBase64Url(value, 'token')).code).to.equal('invalid_base64');
    }
  });

  it('rejects wrong length and bad padding', () => {
    for (const value of ['Q', 'QQ', 'QUI', 'QQ=', 'Q===', '====', '=QQQ', 'QQ=Q', 'QQ==QQ==', 'QUJD=', 'QUJDRA=']) {
      expect(failure(() => decodeBase64(value, 'f')).code, value).to.equal('invalid_base64');
    }
    for (const value of ['Q', 'QUJDR', 'QQ==', 'QUI=']) {
      expect(failure(() => decodeBase64Url(value, 'f')).code, value).to.equal('invalid_base64');
    }
  });

  it('rejects non-canonical encodings (unused bits set)', () => {
    expect([...decodeBase64('QQ==', 'f')]).to.deep.equal([0x41]);
    expect(failure(() => decodeBase64('QR==', 'f')).code).to.equal('invalid_base64');
    expect(failure(() => decodeBase64('QX==', 'f')).code).to.equal('invalid_base64');
    expect([...decodeBase64('QUI=', 'f')]).to.deep.equal([0x41, 0x42]);
    expect(failure(() => decodeBase64('QUJ=', 'f')).code).to.equal('invalid_base64');
    expect([...decodeBase64Url('QQ', 'f')]).to.deep.equal([0x41]);
    expect(failure(() => decodeBase64Url('QR', 'f')).code).to.equal('invalid_base64');
    expect(failure(() => decodeBase64Url('QUJ', 'f')).code).to.equal('invalid_base64');
  });

  it('rejects values that are not strings', () => {
    for (const value of [undefined, null, 42, true, {}, [], Uint8Array.of(1)]) {
      const error = failure(() => decodeBase64(value, 'signature'));
      expect(error.code).to.equal('invalid_base64');
      expect(error.details).to.deep.equal({ field: 'signature' });
      expect(failure(() => decodeBase64Url(value, 'token')).details).to.deep.equal({ field: 'token' });
    }
  });

  it('enforces maxBytes with payload_too_large and exactBytes with invalid_base64, naming the field', () => {
    const ten = encodeBase64(new Uint8Array(10));
    expect(decodeBase64(ten, 'f', { maxBytes: 10 })).to.have.length(10);
    const tooLarge = failure(() => decodeBase64(ten, 'avatar', { maxBytes: 9 }));
    expect(tooLarge.code).to.equal('payload_too_large');
    expect(tooLarge.details).to.deep.equal({ field: 'avatar', limit: 9 });

    expect(decodeBase64(encodeBase64(new Uint8Array(32)), 'key', { exactBytes: 32 })).to.have.length(32);
    for (const size of [31, 33]) {
      const wrong = failure(() => decodeBase64(encodeBase64(new Uint8Array(size)), 'key', { exactBytes: 32 }));
      expect(wrong.code).to.equal('invalid_base64');
      expect(wrong.details).to.deep.equal({ field: 'key', expected_bytes: 32 });
    }
    const urlTooLarge = failure(() => decodeBase64Url(encodeBase64Url(new Uint8Array(17)), 'token', { maxBytes: 16 }));
    expect(urlTooLarge.code).to.equal('payload_too_large');
    expect(decodeBase64Url(encodeBase64Url(new Uint8Array(16)), 'token', { exactBytes: 16 })).to.have.length(16);

    // A huge value is refused by its length, before anything is scanned or decoded.
    const huge = 'A'.repeat(40 * 1024 * 1024);
    expect(failure(() => decodeBase64(huge, 'blob', { maxBytes: 1024 })).code).to.equal('payload_too_large');
  });
});
