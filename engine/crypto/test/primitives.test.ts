import { expect } from 'chai';
import { CryptoErrorCode } from '../../errors.js';
import {
  concatBytes,
  constantTimeEqual,
  ed25519PrivateToX25519,
  ed25519PublicToX25519,
  getDefaultProvider,
  nobleProvider,
  nodeProvider,
  setDefaultProvider,
  sha256,
  utf8Decode,
  utf8Encode,
} from '../index.js';
import { expectCryptoError, hex, providers, requireSodium, unhex, utf8 } from './helpers.js';

function range(from: number, to: number): Uint8Array {
  return Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// RFC 8032 §7.1, tests 1-3.
const ED25519_VECTORS = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

for (const provider of providers) {
  describe(`crypto primitives: known answers (${provider.name} provider)`, () => {
    it('X25519: RFC 7748 §5.2 test vectors', () => {
      expect(
        hex(
          provider.x25519(
            unhex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
            unhex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
          ),
        ),
      ).to.equal('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
      expect(
        hex(
          provider.x25519(
            unhex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
            unhex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
          ),
        ),
      ).to.equal('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
    });

    it('X25519: RFC 7748 §5.2 iterated test, 1 and 1,000 iterations', () => {
      let k: Uint8Array = unhex('0900000000000000000000000000000000000000000000000000000000000000');
      let u: Uint8Array = Uint8Array.from(k);
      for (let i = 1; i <= 1000; i++) {
        const result = provider.x25519(k, u);
        u = k;
        k = result;
        if (i === 1) expect(hex(k)).to.equal('422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
      }
      expect(hex(k)).to.equal('684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
    });

    it('X25519: RFC 7748 §6.1 Diffie-Hellman', () => {
      const alicePrivate = unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
      const bobPrivate = unhex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
      const alicePublic = provider.x25519PublicKey(alicePrivate);
      const bobPublic = provider.x25519PublicKey(bobPrivate);
      expect(hex(alicePublic)).to.equal('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
      expect(hex(bobPublic)).to.equal('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
      const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
      expect(hex(provider.x25519(alicePrivate, bobPublic))).to.equal(shared);
      expect(hex(provider.x25519(bobPrivate, alicePublic))).to.equal(shared);
    });

    it('X25519: rejects low-order points and wrong lengths with invalid_key', () => {
      const { privateKey } = provider.x25519KeyPair();
      const zero = new Uint8Array(32);
      const one = new Uint8Array(32);
      one[0] = 1;
      expectCryptoError(() => provider.x25519(privateKey, zero), CryptoErrorCode.INVALID_KEY);
      expectCryptoError(() => provider.x25519(privateKey, one), CryptoErrorCode.INVALID_KEY);
      expectCryptoError(() => provider.x25519(privateKey, new Uint8Array(31)), CryptoErrorCode.INVALID_KEY);
      expectCryptoError(() => provider.x25519(new Uint8Array(33), provider.x25519KeyPair().publicKey), CryptoErrorCode.INVALID_KEY);
    });

    it('X25519: fresh key pairs agree and public keys derive from private keys', () => {
      const a = provider.x25519KeyPair();
      const b = provider.x25519KeyPair();
      expect(a.privateKey).to.have.length(32);
      expect(a.publicKey).to.have.length(32);
      expect(hex(provider.x25519PublicKey(a.privateKey))).to.equal(hex(a.publicKey));
      expect(hex(provider.x25519(a.privateKey, b.publicKey))).to.equal(hex(provider.x25519(b.privateKey, a.publicKey)));
    });

    it('Ed25519: RFC 8032 test vectors 1-3 (public key, signature, verification)', () => {
      for (const vector of ED25519_VECTORS) {
        const seed = unhex(vector.seed);
        const message = unhex(vector.message);
        expect(hex(provider.ed25519PublicKey(seed))).to.equal(vector.publicKey);
        expect(hex(provider.ed25519Sign(seed, message))).to.equal(vector.signature);
        expect(provider.ed25519Verify(unhex(vector.publicKey), message, unhex(vector.signature))).to.equal(true);
      }
    });

    it('Ed25519: verification fails, never throws, on wrong or malformed input', () => {
      const vector = ED25519_VECTORS[2]!;
      const publicKey = unhex(vector.publicKey);
      const message = unhex(vector.message);
      const signature = unhex(vector.signature);
      const badSignature = Uint8Array.from(signature);
      badSignature[10]! ^= 0x04;
      expect(provider.ed25519Verify(publicKey, message, badSignature)).to.equal(false);
      expect(provider.ed25519Verify(publicKey, unhex('af83'), signature)).to.equal(false);
      expect(provider.ed25519Verify(unhex(ED25519_VECTORS[0]!.publicKey), message, signature)).to.equal(false);
      expect(provider.ed25519Verify(publicKey, message, signature.subarray(0, 63))).to.equal(false);
      expect(provider.ed25519Verify(publicKey.subarray(0, 31), message, signature)).to.equal(false);
      expect(provider.ed25519Verify(new Uint8Array(32).fill(0xff), message, signature)).to.equal(false);
      expect(provider.ed25519Verify(new Uint8Array(32), message, new Uint8Array(64))).to.equal(false);
      // S >= L (non-canonical) must be refused by every provider.
      const highS = Uint8Array.from(signature);
      highS.fill(0xff, 32);
      expect(provider.ed25519Verify(publicKey, message, highS)).to.equal(false);
      const wrongTypes = provider.ed25519Verify as unknown as (a: unknown, b: unknown, c: unknown) => boolean;
      expect(wrongTypes('key', message, signature)).to.equal(false);
      expect(wrongTypes(publicKey, null, signature)).to.equal(false);
      expect(wrongTypes(publicKey, message, undefined)).to.equal(false);
    });

    it('Ed25519: fresh key pairs sign and verify', () => {
      const pair = provider.ed25519KeyPair();
      expect(hex(provider.ed25519PublicKey(pair.privateKey))).to.equal(hex(pair.publicKey));
      const message = utf8('hello group');
      expect(provider.ed25519Verify(pair.publicKey, message, provider.ed25519Sign(pair.privateKey, message))).to.equal(true);
    });

    it('SHA-256 and SHA-512 of "abc" (FIPS 180-2)', () => {
      expect(hex(provider.sha256(utf8('abc')))).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      expect(hex(provider.sha512(utf8('abc')))).to.equal(
        'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      );
    });

    it('HMAC-SHA256: RFC 4231 test cases 1, 2 and 6', () => {
      expect(hex(provider.hmacSha256(new Uint8Array(20).fill(0x0b), utf8('Hi There')))).to.equal(
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      );
      expect(hex(provider.hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?')))).to.equal(
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      );
      expect(
        hex(provider.hmacSha256(new Uint8Array(131).fill(0xaa), utf8('Test Using Larger Than Block-Size Key - Hash Key First'))),
      ).to.equal('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
    });

    it('HKDF-SHA256: RFC 5869 test cases 1-3', () => {
      expect(hex(provider.hkdfSha256(new Uint8Array(22).fill(0x0b), range(0x00, 0x0c), range(0xf0, 0xf9), 42))).to.equal(
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
      expect(hex(provider.hkdfSha256(range(0x00, 0x4f), range(0x60, 0xaf), range(0xb0, 0xff), 82))).to.equal(
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
      );
      expect(hex(provider.hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), new Uint8Array(0), 42))).to.equal(
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
      );
    });

    it('HKDF-SHA256: refuses output lengths outside 1..8160', () => {
      expectCryptoError(() => provider.hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 0), CryptoErrorCode.INVALID_KEY);
      expectCryptoError(() => provider.hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 8161), CryptoErrorCode.INVALID_KEY);
    });

    it('AES-256-GCM: McGrew-Viega test case 16 (256-bit key, AAD)', () => {
      const key = unhex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
      const nonce = unhex('cafebabefacedbaddecaf888');
      const plaintext = unhex(
        'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
      );
      const aad = unhex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
      const expected =
        '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
        '76fc6ece0f4e1768cddf8853bb2d551b';
      const sealed = provider.aesGcmEncrypt(key, nonce, plaintext, aad);
      expect(hex(sealed)).to.equal(expected);
      expect(hex(provider.aesGcmDecrypt(key, nonce, sealed, aad))).to.equal(hex(plaintext));
    });

    it('AES-256-GCM: any change to ciphertext, tag, nonce or AAD gives decrypt_failed', () => {
      const key = provider.randomBytes(32);
      const nonce = provider.randomBytes(12);
      const aad = utf8('context');
      const sealed = provider.aesGcmEncrypt(key, nonce, utf8('secret message'), aad);
      for (let i = 0; i < sealed.length; i++) {
        const tampered = Uint8Array.from(sealed);
        tampered[i]! ^= 0x01;
        expectCryptoError(() => provider.aesGcmDecrypt(key, nonce, tampered, aad), CryptoErrorCode.DECRYPT_FAILED);
      }
      const otherNonce = Uint8Array.from(nonce);
      otherNonce[0]! ^= 1;
      expectCryptoError(() => provider.aesGcmDecrypt(key, otherNonce, sealed, aad), CryptoErrorCode.DECRYPT_FAILED);
      expectCryptoError(() => provider.aesGcmDecrypt(key, nonce, sealed, utf8('other')), CryptoErrorCode.DECRYPT_FAILED);
      expectCryptoError(() => provider.aesGcmDecrypt(key, nonce, sealed), CryptoErrorCode.DECRYPT_FAILED);
      expectCryptoError(() => provider.aesGcmDecrypt(key, nonce, sealed.subarray(0, 15), aad), CryptoErrorCode.DECRYPT_FAILED);
      expectCryptoError(() => provider.aesGcmDecrypt(provider.randomBytes(32), nonce, sealed, aad), CryptoErrorCode.DECRYPT_FAILED);
      expectCryptoError(() => provider.aesGcmEncrypt(new Uint8Array(16), nonce, utf8('x')), CryptoErrorCode.INVALID_KEY);
      expectCryptoError(() => provider.aesGcmEncrypt(key, new Uint8Array(16), utf8('x')), CryptoErrorCode.INVALID_KEY);
    });

    it('AES-256-GCM: empty plaintext and absent AAD', () => {
      const key = provider.randomBytes(32);
      const nonce = provider.randomBytes(12);
      const sealed = provider.aesGcmEncrypt(key, nonce, new Uint8Array(0));
      expect(sealed).to.have.length(16);
      expect(provider.aesGcmDecrypt(key, nonce, sealed)).to.have.length(0);
    });

    it('PBKDF2-HMAC-SHA256: known vectors', async () => {
      const password = utf8('password');
      const salt = utf8('salt');
      expect(hex(await provider.pbkdf2Sha256(password, salt, 1, 32))).to.equal(
        '120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b',
      );
      expect(hex(await provider.pbkdf2Sha256(password, salt, 2, 32))).to.equal(
        'ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43',
      );
      expect(hex(await provider.pbkdf2Sha256(password, salt, 4096, 32))).to.equal(
        'c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a',
      );
      // RFC 7914 §11.
      expect(hex(await provider.pbkdf2Sha256(utf8('passwd'), salt, 1, 64))).to.equal(
        '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783',
      );
    });

    it('randomBytes returns the requested length and differs between calls', () => {
      const a = provider.randomBytes(32);
      const b = provider.randomBytes(32);
      expect(a).to.have.length(32);
      expect(hex(a)).to.not.equal(hex(b));
      expect(provider.randomBytes(0)).to.have.length(0);
    });

    it('returns plain Uint8Arrays', () => {
      const key = provider.randomBytes(32);
      for (const value of [key, provider.sha256(key), provider.hmacSha256(key, key), provider.x25519KeyPair().publicKey]) {
        expect(Object.getPrototypeOf(value)).to.equal(Uint8Array.prototype);
      }
    });
  });
}

describe('crypto: Ed25519 -> X25519 conversion', () => {
  it('matches libsodium crypto_sign_ed25519_{sk,pk}_to_curve25519 (ed25519_convert test)', () => {
    const seed = unhex('421151a459faeade3d247115f94aedae42318124095afabe4d1451a559faedee');
    for (const provider of providers) {
      const publicKey = provider.ed25519PublicKey(seed);
      expect(hex(publicKey)).to.equal('b5076a8474a832daee4dd5b4040983b6623b5f344aca57d4d6ee4baf3f259e6e');
      expect(hex(ed25519PublicToX25519(publicKey))).to.equal('f1814f0e8ff1043d8a44d25babff3cedcae6c22c3edaa48f857ae70de2baae50');
    }
    expect(hex(ed25519PrivateToX25519(seed))).to.equal('8052030376d47112be7f73ed7a019293dd12ad910b654455798b4667d73de166');
  });

  it('converts RFC 8032 test 1 to the X25519 public key other implementations give', () => {
    expect(hex(ed25519PublicToX25519(unhex(ED25519_VECTORS[0]!.publicKey)))).to.equal(
      'd85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e',
    );
  });

  for (const provider of providers) {
    it(`converted keys of both sides give the same DH result (${provider.name})`, () => {
      const alice = provider.ed25519KeyPair();
      const bob = provider.ed25519KeyPair();
      const alicePrivateX = ed25519PrivateToX25519(alice.privateKey);
      const bobPrivateX = ed25519PrivateToX25519(bob.privateKey);
      const alicePublicX = ed25519PublicToX25519(alice.publicKey);
      const bobPublicX = ed25519PublicToX25519(bob.publicKey);
      expect(hex(provider.x25519PublicKey(alicePrivateX))).to.equal(hex(alicePublicX));
      expect(hex(provider.x25519PublicKey(bobPrivateX))).to.equal(hex(bobPublicX));
      expect(hex(provider.x25519(alicePrivateX, bobPublicX))).to.equal(hex(provider.x25519(bobPrivateX, alicePublicX)));
    });
  }

  it('returns fresh arrays (a caller may wipe one without affecting the next)', () => {
    const { publicKey } = nodeProvider.ed25519KeyPair();
    const first = ed25519PublicToX25519(publicKey);
    const expected = hex(first);
    first.fill(0);
    expect(hex(ed25519PublicToX25519(publicKey))).to.equal(expected);
  });

  it('refuses malformed and low-order Ed25519 public keys with invalid_key', () => {
    expectCryptoError(() => ed25519PublicToX25519(new Uint8Array(31)), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => ed25519PrivateToX25519(new Uint8Array(33)), CryptoErrorCode.INVALID_KEY);
    // y = 2 is not on the curve (no square root for x).
    const notOnCurve = new Uint8Array(32);
    notOnCurve[0] = 2;
    expectCryptoError(() => ed25519PublicToX25519(notOnCurve), CryptoErrorCode.INVALID_KEY);
    // y = 1, the identity point: maps to no valid Montgomery u (division by zero) or is refused.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    expectCryptoError(() => {
      const u = ed25519PublicToX25519(identity);
      nodeProvider.x25519(nodeProvider.x25519KeyPair().privateKey, u);
    }, CryptoErrorCode.INVALID_KEY);
  });
});

describe('crypto: cross-provider interoperability', () => {
  const pairs = providers.flatMap((from) => providers.filter((to) => to !== from).map((to) => [from, to] as const));
  for (const [from, to] of pairs) {
    it(`${from.name} encrypts, ${to.name} decrypts (AES-256-GCM)`, () => {
      const key = from.randomBytes(32);
      const nonce = from.randomBytes(12);
      for (const size of [0, 1, 15, 16, 17, 100, 1000, 65536]) {
        const plaintext = from.randomBytes(size);
        const aad = from.randomBytes(size % 40);
        const sealed = from.aesGcmEncrypt(key, nonce, plaintext, aad);
        expect(hex(to.aesGcmDecrypt(key, nonce, sealed, aad))).to.equal(hex(plaintext));
      }
    });

    it(`${from.name} signs, ${to.name} verifies (Ed25519)`, () => {
      const pair = from.ed25519KeyPair();
      const message = from.randomBytes(150);
      const signature = from.ed25519Sign(pair.privateKey, message);
      expect(to.ed25519Verify(pair.publicKey, message, signature)).to.equal(true);
      expect(hex(to.ed25519Sign(pair.privateKey, message))).to.equal(hex(signature));
      expect(hex(to.ed25519PublicKey(pair.privateKey))).to.equal(hex(pair.publicKey));
    });

    it(`${from.name} and ${to.name} agree on X25519 DH with each other's key pairs`, () => {
      const a = from.x25519KeyPair();
      const b = to.x25519KeyPair();
      expect(hex(from.x25519(a.privateKey, b.publicKey))).to.equal(hex(to.x25519(b.privateKey, a.publicKey)));
      expect(hex(to.x25519PublicKey(a.privateKey))).to.equal(hex(a.publicKey));
    });
  }

  it('node and noble give identical hashes, HMACs and HKDF outputs on random inputs', async () => {
    for (let i = 0; i < 20; i++) {
      const a = nodeProvider.randomBytes(i * 13);
      const b = nodeProvider.randomBytes(64 - i);
      expect(hex(nodeProvider.sha256(a))).to.equal(hex(nobleProvider.sha256(a)));
      expect(hex(nodeProvider.sha512(a))).to.equal(hex(nobleProvider.sha512(a)));
      expect(hex(nodeProvider.hmacSha256(b, a))).to.equal(hex(nobleProvider.hmacSha256(b, a)));
      expect(hex(nodeProvider.hkdfSha256(a, b, a.subarray(0, 7), 1 + i * 17))).to.equal(
        hex(nobleProvider.hkdfSha256(a, b, a.subarray(0, 7), 1 + i * 17)),
      );
    }
    const password = nodeProvider.randomBytes(12);
    const salt = nodeProvider.randomBytes(16);
    expect(hex(await nodeProvider.pbkdf2Sha256(password, salt, 1000, 48))).to.equal(hex(await nobleProvider.pbkdf2Sha256(password, salt, 1000, 48)));
  });
});

describe('crypto: provider key caches', () => {
  it('a wiped or reused X25519 private-key array never yields the previous key (node)', () => {
    const first = nodeProvider.x25519KeyPair();
    const other = nodeProvider.x25519KeyPair();
    const peer = nodeProvider.x25519KeyPair();
    const reused = first.privateKey;
    const expectedFirst = hex(nobleProvider.x25519(first.privateKey, peer.publicKey));
    expect(hex(nodeProvider.x25519(reused, peer.publicKey))).to.equal(expectedFirst);
    reused.set(other.privateKey);
    expect(hex(nodeProvider.x25519(reused, peer.publicKey))).to.equal(hex(nobleProvider.x25519(other.privateKey, peer.publicKey)));
  });

  // Both keep an expanded signing key per seed array.
  for (const provider of [nodeProvider, requireSodium()]) {
    it(`a wiped or reused signing-seed array never signs with the previous key (${provider.name})`, () => {
      const seed = provider.ed25519KeyPair().privateKey;
      const message = utf8('m');
      provider.ed25519Sign(seed, message);
      const replacement = nobleProvider.ed25519KeyPair();
      seed.set(replacement.privateKey);
      expect(hex(provider.ed25519Sign(seed, message))).to.equal(hex(nobleProvider.ed25519Sign(replacement.privateKey, message)));
      expect(hex(provider.ed25519PublicKey(seed))).to.equal(hex(replacement.publicKey));
    });
  }
});

describe('crypto: sodium provider', () => {
  const sodium = requireSodium();

  it('refuses low-order X25519 public keys with invalid_key, as the node provider does', () => {
    const own = sodium.x25519KeyPair().privateKey;
    // u = 0 and u = 1 are points of small order: the shared secret would be all zeros.
    for (const u of [new Uint8Array(32), Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0))]) {
      expectCryptoError(() => sodium.x25519(own, u), CryptoErrorCode.INVALID_KEY);
      expectCryptoError(() => nodeProvider.x25519(own, u), CryptoErrorCode.INVALID_KEY);
    }
  });

  it('verifies to false, never throws, on malformed input', () => {
    const pair = sodium.ed25519KeyPair();
    const signature = sodium.ed25519Sign(pair.privateKey, utf8('x'));
    expect(sodium.ed25519Verify(pair.publicKey.subarray(0, 31), utf8('x'), signature)).to.equal(false);
    expect(sodium.ed25519Verify(pair.publicKey, utf8('x'), signature.subarray(0, 63))).to.equal(false);
    expect(sodium.ed25519Verify(new Uint8Array(32), utf8('x'), signature)).to.equal(false);
    expect(sodium.ed25519Verify(pair.publicKey, 'x' as unknown as Uint8Array, signature)).to.equal(false);
    expect(sodium.ed25519Verify(pair.publicKey, utf8('y'), signature)).to.equal(false);
    expect(sodium.ed25519Verify(pair.publicKey, utf8('x'), signature)).to.equal(true);
  });
});

describe('crypto: default provider and byte helpers', () => {
  it('defaults to the sodium provider (node:crypto where the addon is missing) and can be switched', () => {
    const sodium = requireSodium();
    expect(getDefaultProvider()).to.equal(sodium);
    const previous = setDefaultProvider(nobleProvider);
    try {
      expect(previous).to.equal(sodium);
      expect(getDefaultProvider().name).to.equal('noble');
      expect(hex(sha256(utf8('abc')))).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    } finally {
      setDefaultProvider(previous);
    }
    expect(getDefaultProvider()).to.equal(sodium);
  });

  it('constantTimeEqual, concatBytes and UTF-8 helpers', () => {
    expect(constantTimeEqual(unhex('0102'), unhex('0102'))).to.equal(true);
    expect(constantTimeEqual(unhex('0102'), unhex('0103'))).to.equal(false);
    expect(constantTimeEqual(unhex('0102'), unhex('010203'))).to.equal(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).to.equal(true);
    expect(hex(concatBytes(unhex('01'), new Uint8Array(0), unhex('0203')))).to.equal('010203');
    expect(utf8Decode(utf8Encode('Kecálek ✓'))).to.equal('Kecálek ✓');
    expectCryptoError(() => utf8Decode(unhex('c3')), CryptoErrorCode.INVALID_MESSAGE);
  });
});
