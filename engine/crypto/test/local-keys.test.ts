import { expect } from 'chai';
import { CryptoErrorCode } from '../../errors.js';
import { deriveLocalStorageKey, deriveSelfCopyKey, nobleProvider, nodeProvider, openLocal, sealLocal } from '../index.js';
import { expectCryptoError, flipped, hex, utf8 } from './helpers.js';

describe('crypto/local-keys', () => {
  const seed = nodeProvider.ed25519KeyPair().privateKey;

  it('derives distinct, deterministic keys (the same with every provider)', () => {
    const local = deriveLocalStorageKey(seed);
    const self = deriveSelfCopyKey(seed);
    expect(local).to.have.length(32);
    expect(self).to.have.length(32);
    expect(hex(local)).to.not.equal(hex(self));
    expect(hex(deriveLocalStorageKey(seed))).to.equal(hex(local));
    expect(hex(deriveLocalStorageKey(seed, nobleProvider))).to.equal(hex(local));
    expect(hex(deriveLocalStorageKey(seed, nodeProvider))).to.equal(hex(local));
    expect(hex(deriveSelfCopyKey(seed, nobleProvider))).to.equal(hex(self));
    const other = nodeProvider.ed25519KeyPair().privateKey;
    expect(hex(deriveLocalStorageKey(other))).to.not.equal(hex(local));
    expectCryptoError(() => deriveLocalStorageKey(new Uint8Array(16)), CryptoErrorCode.INVALID_KEY);
  });

  it('seals with a random nonce and opens, also across providers', () => {
    const key = deriveLocalStorageKey(seed);
    const plaintext = utf8('{"sessions":[]}');
    const a = sealLocal(key, plaintext);
    const b = sealLocal(key, plaintext);
    expect(a).to.have.length(12 + plaintext.length + 16);
    expect(hex(a.subarray(0, 12))).to.not.equal(hex(b.subarray(0, 12)));
    expect(hex(openLocal(key, a))).to.equal(hex(plaintext));
    expect(hex(openLocal(key, b, undefined, nobleProvider))).to.equal(hex(plaintext));
    const ad = utf8('sessions/alice.bin');
    expect(hex(openLocal(key, sealLocal(key, plaintext, ad, nobleProvider), ad))).to.equal(hex(plaintext));
    expect(openLocal(key, sealLocal(key, new Uint8Array(0)))).to.have.length(0);
  });

  it('refuses any tampering, truncation, wrong key or wrong aad with decrypt_failed', () => {
    const key = deriveLocalStorageKey(seed);
    const ad = utf8('verification store');
    const sealed = sealLocal(key, utf8('verified contacts'), ad);
    for (let i = 0; i < sealed.length; i++) expectCryptoError(() => openLocal(key, flipped(sealed, i), ad), CryptoErrorCode.DECRYPT_FAILED);
    for (const cut of [0, 11, 12, 27, sealed.length - 1]) {
      expectCryptoError(() => openLocal(key, sealed.subarray(0, cut), ad), CryptoErrorCode.DECRYPT_FAILED);
    }
    expectCryptoError(() => openLocal(deriveSelfCopyKey(seed), sealed, ad), CryptoErrorCode.DECRYPT_FAILED);
    expectCryptoError(() => openLocal(key, sealed), CryptoErrorCode.DECRYPT_FAILED);
    expectCryptoError(() => openLocal(key, sealed, utf8('other store')), CryptoErrorCode.DECRYPT_FAILED);
    expectCryptoError(() => sealLocal(new Uint8Array(31), utf8('x')), CryptoErrorCode.INVALID_KEY);
  });
});
