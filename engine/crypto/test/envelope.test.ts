import { expect } from 'chai';
import { CryptoError, CryptoErrorCode } from '../../errors.js';
import {
  DEFAULT_ARGON2ID,
  ENVELOPE_LIMITS,
  concatBytes,
  deriveArgon2idKey,
  inspectEnvelope,
  nativeArgon2Available,
  nobleProvider,
  nodeProvider,
  openWithPassword,
  sealWithPassword,
  utf8Encode,
  type Argon2idParams,
} from '../index.js';
import { expectCryptoErrorAsync, flipped, hex } from './helpers.js';

/** The cheapest parameters the policy allows (OWASP's 19 MiB / 2 passes); a few ms natively. */
const MIN_ARGON2ID: Argon2idParams = { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 };
const SECRET = nodeProvider.randomBytes(64);
const PASSWORD = 'correct horse battery staple';

const ARGON_HEADER = 4 + 1 + 1 + 9 + 16 + 12;
const PBKDF2_HEADER = 4 + 1 + 1 + 4 + 16 + 12;

const TYPED = [CryptoErrorCode.WRONG_PASSWORD, CryptoErrorCode.ENVELOPE_CORRUPT, CryptoErrorCode.ENVELOPE_UNSUPPORTED];

async function openCode(envelope: Uint8Array, password: string | Uint8Array = PASSWORD): Promise<string> {
  try {
    await openWithPassword(envelope, password);
  } catch (err) {
    expect(err).to.be.instanceOf(CryptoError);
    return (err as CryptoError).code;
  }
  return 'opened';
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** An envelope header with arbitrary (possibly out-of-policy) Argon2id parameters. */
function argonEnvelope(memoryKiB: number, iterations: number, parallelism: number): Uint8Array {
  return concatBytes(utf8Encode('KENV'), Uint8Array.of(1, 1), u32(memoryKiB), u32(iterations), Uint8Array.of(parallelism), new Uint8Array(16 + 12 + 32));
}

function pbkdf2Envelope(iterations: number): Uint8Array {
  return concatBytes(utf8Encode('KENV'), Uint8Array.of(1, 2), u32(iterations), new Uint8Array(16 + 12 + 32));
}

describe('crypto/envelope', () => {
  let argonEnvelopeMin: Uint8Array;
  let pbkdf2EnvelopeDefault: Uint8Array;

  before(async () => {
    argonEnvelopeMin = await sealWithPassword(SECRET, PASSWORD, { argon2id: MIN_ARGON2ID });
    pbkdf2EnvelopeDefault = await sealWithPassword(SECRET, PASSWORD, { kdf: 'pbkdf2-sha256' });
  });

  it('reports whether native Argon2id is available, and the native backend agrees', async () => {
    const password = utf8Encode(PASSWORD);
    const salt = nodeProvider.randomBytes(16);
    if (await nativeArgon2Available()) {
      expect(await deriveArgon2idKey(password, salt, MIN_ARGON2ID, 'native')).to.have.length(32);
    } else {
      await expectCryptoErrorAsync(() => deriveArgon2idKey(password, salt, MIN_ARGON2ID, 'native'), CryptoErrorCode.ENVELOPE_UNSUPPORTED);
    }
  });

  it('round-trips with the default parameters (Argon2id, 256 MiB, 4 passes, 2 lanes)', async () => {
    const envelope = await sealWithPassword(SECRET, PASSWORD);
    expect(inspectEnvelope(envelope)).to.deep.equal({ kdf: 'argon2id', params: { ...DEFAULT_ARGON2ID } });
    expect(envelope.length).to.equal(ARGON_HEADER + SECRET.length + 16);
    expect(hex(envelope.subarray(0, 6))).to.equal(hex(concatBytes(utf8Encode('KENV'), Uint8Array.of(1, 1))));
    expect(hex(await openWithPassword(envelope, PASSWORD))).to.equal(hex(SECRET));
  });

  it('round-trips with Argon2id at the minimum parameters and with PBKDF2-SHA256 (600k)', async () => {
    expect(hex(await openWithPassword(argonEnvelopeMin, PASSWORD))).to.equal(hex(SECRET));
    expect(inspectEnvelope(pbkdf2EnvelopeDefault)).to.deep.equal({ kdf: 'pbkdf2-sha256', iterations: 600_000 });
    expect(pbkdf2EnvelopeDefault.length).to.equal(PBKDF2_HEADER + SECRET.length + 16);
    expect(hex(await openWithPassword(pbkdf2EnvelopeDefault, PASSWORD))).to.equal(hex(SECRET));
  });

  it('opens a natively sealed Argon2id envelope with the pure-JS fallback, and vice versa', async () => {
    expect(hex(await openWithPassword(argonEnvelopeMin, PASSWORD, { argon2Backend: 'noble' }))).to.equal(hex(SECRET));
    const sealedByNoble = await sealWithPassword(SECRET, PASSWORD, { argon2id: MIN_ARGON2ID, argon2Backend: 'noble', provider: nobleProvider });
    expect(hex(await openWithPassword(sealedByNoble, PASSWORD))).to.equal(hex(SECRET));
    const params = { memoryKiB: 20 * 1024, iterations: 2, parallelism: 2 };
    const salt = nodeProvider.randomBytes(16);
    const password = utf8Encode(PASSWORD);
    expect(hex(await deriveArgon2idKey(password, salt, params, 'auto'))).to.equal(hex(await deriveArgon2idKey(password, salt, params, 'noble')));
  });

  it('treats a string password as its NFC UTF-8 bytes', async () => {
    const composed = 'heslo-\u00e9';
    const decomposed = 'heslo-e\u0301';
    const envelope = await sealWithPassword(SECRET, composed, { argon2id: MIN_ARGON2ID });
    expect(hex(await openWithPassword(envelope, decomposed))).to.equal(hex(SECRET));
    expect(hex(await openWithPassword(envelope, utf8Encode(composed)))).to.equal(hex(SECRET));
    const bytesPassword = nodeProvider.randomBytes(32);
    const copy = Uint8Array.from(bytesPassword);
    const sealed = await sealWithPassword(SECRET, bytesPassword, { argon2id: MIN_ARGON2ID });
    expect(hex(bytesPassword)).to.equal(hex(copy));
    expect(hex(await openWithPassword(sealed, bytesPassword))).to.equal(hex(SECRET));
  });

  it('a wrong password gives wrong_password (both KDFs)', async () => {
    await expectCryptoErrorAsync(() => openWithPassword(argonEnvelopeMin, 'Correct horse battery staple'), CryptoErrorCode.WRONG_PASSWORD);
    await expectCryptoErrorAsync(() => openWithPassword(pbkdf2EnvelopeDefault, ''), CryptoErrorCode.WRONG_PASSWORD);
  });

  it('any change to an Argon2id envelope header gives a typed error, never a crash or the secret', async () => {
    const seen = new Map<number, string>();
    for (let i = 0; i < ARGON_HEADER; i++) {
      for (const mask of [0x01, 0x80]) {
        const code = await openCode(flipped(argonEnvelopeMin, i, mask));
        expect(TYPED, `byte ${i} mask ${mask}: ${code}`).to.include(code);
        if (mask === 0x01) seen.set(i, code);
      }
    }
    for (let i = 0; i < 4; i++) expect(seen.get(i)).to.equal(CryptoErrorCode.ENVELOPE_CORRUPT);
    expect(seen.get(4)).to.equal(CryptoErrorCode.ENVELOPE_UNSUPPORTED);
    expect(seen.get(5)).to.equal(CryptoErrorCode.ENVELOPE_UNSUPPORTED);
    for (let i = 15; i < ARGON_HEADER; i++) expect(seen.get(i)).to.equal(CryptoErrorCode.WRONG_PASSWORD);
  });

  it('any change to a PBKDF2 envelope header gives a typed error', async () => {
    const expected: Array<[number, string]> = [
      [0, CryptoErrorCode.ENVELOPE_CORRUPT],
      [3, CryptoErrorCode.ENVELOPE_CORRUPT],
      [4, CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [5, CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [6, CryptoErrorCode.ENVELOPE_UNSUPPORTED], // 600,000 -> 17,377,216 iterations: above the maximum
      [7, CryptoErrorCode.ENVELOPE_CORRUPT], // 600,000 -> 534,464: below the minimum
      [8, CryptoErrorCode.ENVELOPE_CORRUPT],
      [9, CryptoErrorCode.WRONG_PASSWORD], // 600,001: in range, but authenticated as associated data
      [10, CryptoErrorCode.WRONG_PASSWORD], // salt
      [29, CryptoErrorCode.WRONG_PASSWORD], // nonce
    ];
    for (const [i, code] of expected) expect(await openCode(flipped(pbkdf2EnvelopeDefault, i)), `byte ${i}`).to.equal(code);
  });

  it('any change to the ciphertext or tag gives wrong_password', async () => {
    for (const i of [ARGON_HEADER, ARGON_HEADER + 1, ARGON_HEADER + 40, argonEnvelopeMin.length - 17, argonEnvelopeMin.length - 1]) {
      expect(await openCode(flipped(argonEnvelopeMin, i))).to.equal(CryptoErrorCode.WRONG_PASSWORD);
    }
  });

  it('truncation gives envelope_corrupt before any KDF work, or wrong_password once the header is whole', async () => {
    for (let length = 0; length < ARGON_HEADER + 16; length++) {
      expect(await openCode(argonEnvelopeMin.subarray(0, length)), `length ${length}`).to.equal(CryptoErrorCode.ENVELOPE_CORRUPT);
    }
    for (let length = 0; length < PBKDF2_HEADER + 16; length += 5) {
      expect(await openCode(pbkdf2EnvelopeDefault.subarray(0, length))).to.equal(CryptoErrorCode.ENVELOPE_CORRUPT);
    }
    expect(await openCode(argonEnvelopeMin.subarray(0, ARGON_HEADER + 16))).to.equal(CryptoErrorCode.WRONG_PASSWORD);
    expect(await openCode(argonEnvelopeMin.subarray(0, argonEnvelopeMin.length - 1))).to.equal(CryptoErrorCode.WRONG_PASSWORD);
    expect(await openCode(concatBytes(argonEnvelopeMin, Uint8Array.of(0)))).to.equal(CryptoErrorCode.WRONG_PASSWORD);
  });

  it('refuses unknown versions and KDFs as envelope_unsupported, a foreign file as envelope_corrupt', async () => {
    const v2 = Uint8Array.from(argonEnvelopeMin);
    v2[4] = 2;
    expect(await openCode(v2)).to.equal(CryptoErrorCode.ENVELOPE_UNSUPPORTED);
    const kdf3 = Uint8Array.from(argonEnvelopeMin);
    kdf3[5] = 3;
    expect(await openCode(kdf3)).to.equal(CryptoErrorCode.ENVELOPE_UNSUPPORTED);
    expect(await openCode(utf8Encode('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA=='))).to.equal(CryptoErrorCode.ENVELOPE_CORRUPT);
    const notBytes = openWithPassword as unknown as (e: unknown, p: string) => Promise<Uint8Array>;
    await expectCryptoErrorAsync(() => notBytes('KENV', PASSWORD), CryptoErrorCode.ENVELOPE_CORRUPT);
  });

  it('refuses absurd parameters before running the KDF (downgrade and DoS)', async () => {
    const limits = ENVELOPE_LIMITS.argon2id;
    const cases: Array<[Uint8Array, string]> = [
      [pbkdf2Envelope(1000), CryptoErrorCode.ENVELOPE_CORRUPT],
      [pbkdf2Envelope(599_999), CryptoErrorCode.ENVELOPE_CORRUPT],
      [pbkdf2Envelope(10_000_001), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [pbkdf2Envelope(0xffffffff), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [argonEnvelope(8 * 1024, 3, 1), CryptoErrorCode.ENVELOPE_CORRUPT],
      [argonEnvelope(19 * 1024, 1, 1), CryptoErrorCode.ENVELOPE_CORRUPT],
      [argonEnvelope(64 * 1024, 0, 1), CryptoErrorCode.ENVELOPE_CORRUPT],
      [argonEnvelope(64 * 1024, 3, 0), CryptoErrorCode.ENVELOPE_CORRUPT],
      [argonEnvelope(limits.maxMemoryKiB + 1, 1, 1), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [argonEnvelope(0xffffffff, 0xffffffff, 255), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [argonEnvelope(64 * 1024, 17, 1), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [argonEnvelope(64 * 1024, 3, 17), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
      [argonEnvelope(1024 * 1024, 5, 1), CryptoErrorCode.ENVELOPE_UNSUPPORTED],
    ];
    // Each of these is refused from the header alone: the salt, nonce and ciphertext are zeros, so
    // reaching the KDF would end in wrong_password instead.
    for (const [envelope, code] of cases) expect(await openCode(envelope)).to.equal(code);
  });

  it('refuses to seal with parameters outside the policy (envelope_unsupported)', async () => {
    await expectCryptoErrorAsync(
      () => sealWithPassword(SECRET, PASSWORD, { argon2id: { memoryKiB: 1024, iterations: 3, parallelism: 1 } }),
      CryptoErrorCode.ENVELOPE_UNSUPPORTED,
    );
    await expectCryptoErrorAsync(() => sealWithPassword(SECRET, PASSWORD, { kdf: 'pbkdf2-sha256', pbkdf2Iterations: 100_000 }), CryptoErrorCode.ENVELOPE_UNSUPPORTED);
    const unknownKdf = { kdf: 'scrypt' } as unknown as { kdf: 'argon2id' };
    await expectCryptoErrorAsync(() => sealWithPassword(SECRET, PASSWORD, unknownKdf), CryptoErrorCode.ENVELOPE_UNSUPPORTED);
  });
});
