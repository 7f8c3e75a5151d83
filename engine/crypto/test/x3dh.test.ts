import { expect } from 'chai';
import { CryptoErrorCode } from '../../errors.js';
import {
  concatBytes,
  decodeX3DHHeader,
  encodeX3DHHeader,
  generateOneTimePreKeys,
  generateSignedPreKey,
  nobleProvider,
  nodeProvider,
  signedPreKeySignatureMessage,
  utf8Encode,
  verifySignedPreKey,
  x3dhInitiate,
  x3dhRespond,
  type CryptoProvider,
} from '../index.js';
import { expectCryptoError, flipped, hex } from './helpers.js';

function party(provider: CryptoProvider) {
  const identity = provider.ed25519KeyPair();
  const signedPreKey = generateSignedPreKey(identity.privateKey, 7, provider);
  const oneTimePreKeys = generateOneTimePreKeys(100, 3, provider);
  return { identity, signedPreKey, oneTimePreKeys };
}

describe('crypto/x3dh', () => {
  for (const [aliceProvider, bobProvider] of [
    [nodeProvider, nodeProvider],
    [nobleProvider, nobleProvider],
    [nodeProvider, nobleProvider],
  ] as const) {
    const label = `${aliceProvider.name} -> ${bobProvider.name}`;

    it(`both sides derive the same secret with a one-time pre-key (${label})`, () => {
      const alice = party(aliceProvider);
      const bob = party(bobProvider);
      const opk = bob.oneTimePreKeys[1]!;
      const init = x3dhInitiate(
        {
          identityPrivate: alice.identity.privateKey,
          identityPublic: alice.identity.publicKey,
          remoteIdentityPublic: bob.identity.publicKey,
          remoteSignedPreKey: { keyId: bob.signedPreKey.keyId, publicKey: bob.signedPreKey.publicKey, signature: bob.signedPreKey.signature },
          remoteOneTimePreKey: { keyId: opk.keyId, publicKey: opk.publicKey },
        },
        aliceProvider,
      );
      expect(init.sharedSecret).to.have.length(32);
      expect(hex(init.associatedData)).to.equal(hex(concatBytes(alice.identity.publicKey, bob.identity.publicKey)));
      expect(init.header.signedPreKeyId).to.equal(7);
      expect(init.header.oneTimePreKeyId).to.equal(101);
      expect(hex(init.header.identityKey)).to.equal(hex(alice.identity.publicKey));
      expect(hex(init.header.ephemeralKey)).to.equal(hex(init.ephemeralPublic));

      const resp = x3dhRespond(
        {
          identityPrivate: bob.identity.privateKey,
          identityPublic: bob.identity.publicKey,
          signedPreKeyPrivate: bob.signedPreKey.privateKey,
          oneTimePreKeyPrivate: opk.privateKey,
          remoteIdentityPublic: init.header.identityKey,
          remoteEphemeralPublic: init.header.ephemeralKey,
        },
        bobProvider,
      );
      expect(hex(resp.sharedSecret)).to.equal(hex(init.sharedSecret));
      expect(hex(resp.associatedData)).to.equal(hex(init.associatedData));
    });

    it(`both sides derive the same secret without a one-time pre-key (${label})`, () => {
      const alice = party(aliceProvider);
      const bob = party(bobProvider);
      const init = x3dhInitiate(
        {
          identityPrivate: alice.identity.privateKey,
          identityPublic: alice.identity.publicKey,
          remoteIdentityPublic: bob.identity.publicKey,
          remoteSignedPreKey: bob.signedPreKey,
        },
        aliceProvider,
      );
      expect(init.header.oneTimePreKeyId).to.equal(undefined);
      expect('oneTimePreKeyId' in init.header).to.equal(false);
      const resp = x3dhRespond(
        {
          identityPrivate: bob.identity.privateKey,
          identityPublic: bob.identity.publicKey,
          signedPreKeyPrivate: bob.signedPreKey.privateKey,
          remoteIdentityPublic: alice.identity.publicKey,
          remoteEphemeralPublic: init.ephemeralPublic,
        },
        bobProvider,
      );
      expect(hex(resp.sharedSecret)).to.equal(hex(init.sharedSecret));
    });
  }

  it('the one-time pre-key changes the secret; leaving it out on one side breaks agreement', () => {
    const alice = party(nodeProvider);
    const bob = party(nodeProvider);
    const opk = bob.oneTimePreKeys[0]!;
    const init = x3dhInitiate({
      identityPrivate: alice.identity.privateKey,
      identityPublic: alice.identity.publicKey,
      remoteIdentityPublic: bob.identity.publicKey,
      remoteSignedPreKey: bob.signedPreKey,
      remoteOneTimePreKey: opk,
    });
    const base = {
      identityPrivate: bob.identity.privateKey,
      identityPublic: bob.identity.publicKey,
      signedPreKeyPrivate: bob.signedPreKey.privateKey,
      remoteIdentityPublic: alice.identity.publicKey,
      remoteEphemeralPublic: init.ephemeralPublic,
    };
    expect(hex(x3dhRespond(base).sharedSecret)).to.not.equal(hex(init.sharedSecret));
    expect(hex(x3dhRespond({ ...base, oneTimePreKeyPrivate: bob.oneTimePreKeys[2]!.privateKey }).sharedSecret)).to.not.equal(
      hex(init.sharedSecret),
    );
    expect(hex(x3dhRespond({ ...base, oneTimePreKeyPrivate: opk.privateKey }).sharedSecret)).to.equal(hex(init.sharedSecret));
  });

  it('a wrong identity gives a different secret', () => {
    const alice = party(nodeProvider);
    const bob = party(nodeProvider);
    const mallory = party(nodeProvider);
    const init = x3dhInitiate({
      identityPrivate: alice.identity.privateKey,
      identityPublic: alice.identity.publicKey,
      remoteIdentityPublic: bob.identity.publicKey,
      remoteSignedPreKey: bob.signedPreKey,
    });
    // Bob believes the message came from Mallory.
    const asMallory = x3dhRespond({
      identityPrivate: bob.identity.privateKey,
      identityPublic: bob.identity.publicKey,
      signedPreKeyPrivate: bob.signedPreKey.privateKey,
      remoteIdentityPublic: mallory.identity.publicKey,
      remoteEphemeralPublic: init.ephemeralPublic,
    });
    expect(hex(asMallory.sharedSecret)).to.not.equal(hex(init.sharedSecret));
    expect(hex(asMallory.associatedData)).to.not.equal(hex(init.associatedData));
    // Mallory's identity key cannot stand in for Bob's on the responder side either.
    const wrongResponder = x3dhRespond({
      identityPrivate: mallory.identity.privateKey,
      identityPublic: mallory.identity.publicKey,
      signedPreKeyPrivate: bob.signedPreKey.privateKey,
      remoteIdentityPublic: alice.identity.publicKey,
      remoteEphemeralPublic: init.ephemeralPublic,
    });
    expect(hex(wrongResponder.sharedSecret)).to.not.equal(hex(init.sharedSecret));
  });

  it('refuses a signed pre-key whose signature does not verify (bad_signature)', () => {
    const alice = party(nodeProvider);
    const bob = party(nodeProvider);
    const mallory = party(nodeProvider);
    const params = {
      identityPrivate: alice.identity.privateKey,
      identityPublic: alice.identity.publicKey,
      remoteIdentityPublic: bob.identity.publicKey,
    };
    const spk = bob.signedPreKey;
    for (let i = 0; i < 64; i += 9) {
      expectCryptoError(
        () => x3dhInitiate({ ...params, remoteSignedPreKey: { ...spk, signature: flipped(spk.signature, i) } }),
        CryptoErrorCode.BAD_SIGNATURE,
      );
    }
    // Mallory substitutes her own signed pre-key (signed by her, not by Bob).
    expectCryptoError(() => x3dhInitiate({ ...params, remoteSignedPreKey: mallory.signedPreKey }), CryptoErrorCode.BAD_SIGNATURE);
    // ... or Bob's signature with another key.
    expectCryptoError(
      () => x3dhInitiate({ ...params, remoteSignedPreKey: { ...spk, publicKey: mallory.signedPreKey.publicKey } }),
      CryptoErrorCode.BAD_SIGNATURE,
    );
    // A signature without the domain prefix does not count.
    const undomained = nodeProvider.ed25519Sign(bob.identity.privateKey, spk.publicKey);
    expectCryptoError(() => x3dhInitiate({ ...params, remoteSignedPreKey: { ...spk, signature: undomained } }), CryptoErrorCode.BAD_SIGNATURE);
    expectCryptoError(
      () => x3dhInitiate({ ...params, remoteSignedPreKey: { ...spk, signature: new Uint8Array(10) } }),
      CryptoErrorCode.BAD_SIGNATURE,
    );
  });

  it('signs the domain-separated message that servers verify', () => {
    const identity = nodeProvider.ed25519KeyPair();
    const spk = generateSignedPreKey(identity.privateKey, 1);
    const message = signedPreKeySignatureMessage(spk.publicKey);
    expect(hex(message)).to.equal(hex(concatBytes(utf8Encode('KecalekSignedPreKey\x00'), spk.publicKey)));
    expect(nobleProvider.ed25519Verify(identity.publicKey, message, spk.signature)).to.equal(true);
    expect(verifySignedPreKey(identity.publicKey, spk.publicKey, spk.signature)).to.equal(true);
    expect(verifySignedPreKey(identity.publicKey, spk.publicKey, flipped(spk.signature, 3), nobleProvider)).to.equal(false);
    expect(verifySignedPreKey(identity.publicKey, new Uint8Array(31), spk.signature)).to.equal(false);
    expectCryptoError(() => signedPreKeySignatureMessage(new Uint8Array(33)), CryptoErrorCode.INVALID_KEY);
  });

  it('generates one-time pre-keys with consecutive ids and checks its arguments', () => {
    const keys = generateOneTimePreKeys(0xfffffff0, 16);
    expect(keys.map((k) => k.keyId)).to.deep.equal(Array.from({ length: 16 }, (_, i) => 0xfffffff0 + i));
    expect(new Set(keys.map((k) => hex(k.publicKey))).size).to.equal(16);
    for (const key of keys) expect(hex(nodeProvider.x25519PublicKey(key.privateKey))).to.equal(hex(key.publicKey));
    expect(generateOneTimePreKeys(5, 0)).to.deep.equal([]);
    expectCryptoError(() => generateOneTimePreKeys(0xfffffff0, 17), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => generateOneTimePreKeys(-1, 1), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => generateOneTimePreKeys(1, 1.5), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => generateSignedPreKey(new Uint8Array(32), 2 ** 32), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => generateSignedPreKey(new Uint8Array(31), 1), CryptoErrorCode.INVALID_KEY);
  });

  it('refuses malformed keys and a low-order ephemeral key with invalid_key', () => {
    const alice = party(nodeProvider);
    const bob = party(nodeProvider);
    expectCryptoError(
      () =>
        x3dhInitiate({
          identityPrivate: alice.identity.privateKey,
          identityPublic: alice.identity.publicKey,
          remoteIdentityPublic: bob.identity.publicKey.subarray(1),
          remoteSignedPreKey: bob.signedPreKey,
        }),
      CryptoErrorCode.INVALID_KEY,
    );
    expectCryptoError(
      () =>
        x3dhRespond({
          identityPrivate: bob.identity.privateKey,
          identityPublic: bob.identity.publicKey,
          signedPreKeyPrivate: bob.signedPreKey.privateKey,
          remoteIdentityPublic: alice.identity.publicKey,
          remoteEphemeralPublic: new Uint8Array(32),
        }),
      CryptoErrorCode.INVALID_KEY,
    );
  });

  it('encodes and decodes the X3DH header', () => {
    const alice = party(nodeProvider);
    const bob = party(nodeProvider);
    for (const withOpk of [false, true]) {
      const init = x3dhInitiate({
        identityPrivate: alice.identity.privateKey,
        identityPublic: alice.identity.publicKey,
        remoteIdentityPublic: bob.identity.publicKey,
        remoteSignedPreKey: bob.signedPreKey,
        ...(withOpk ? { remoteOneTimePreKey: bob.oneTimePreKeys[0]! } : {}),
      });
      const encoded = encodeX3DHHeader(init.header);
      expect(encoded).to.have.length(withOpk ? 74 : 70);
      const decoded = decodeX3DHHeader(encoded);
      expect(hex(decoded.identityKey)).to.equal(hex(init.header.identityKey));
      expect(hex(decoded.ephemeralKey)).to.equal(hex(init.header.ephemeralKey));
      expect(decoded.signedPreKeyId).to.equal(init.header.signedPreKeyId);
      expect(decoded.oneTimePreKeyId).to.equal(init.header.oneTimePreKeyId);
      expectCryptoError(() => decodeX3DHHeader(encoded.subarray(0, encoded.length - 1)), CryptoErrorCode.INVALID_MESSAGE);
      expectCryptoError(() => decodeX3DHHeader(concatBytes(encoded, new Uint8Array(1))), CryptoErrorCode.INVALID_MESSAGE);
      expectCryptoError(() => decodeX3DHHeader(flipped(encoded, 0)), CryptoErrorCode.INVALID_MESSAGE);
      expectCryptoError(() => decodeX3DHHeader(flipped(encoded, 69, 0x02)), CryptoErrorCode.INVALID_MESSAGE);
    }
  });
});
