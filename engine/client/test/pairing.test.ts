/**
 * Device linking on the client: the pure helpers (QR text, SAS, payload sealing), and the whole
 * flow between a new device and a logged-in one against a real server, on SQLite and (when
 * configured) MariaDB — including a malicious server that substitutes either ephemeral key,
 * simulated by rewriting the pairing row in the server's database while the devices talk.
 */
import { expect } from 'chai';
import { ClientError, ClientErrorCode, CryptoErrorCode, type WireErrorCode } from '../../errors.js';
import { ed25519PublicKey, nobleProvider, nodeProvider, x25519KeyPair, type KeyPair } from '../../crypto/index.js';
import { encodeBase64 } from '../../protocol/base64.js';
import type { ErrorData } from '../../protocol/index.js';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../testing/index.js';
import { createAccount, login, type TestAccount } from '../../testing/accounts.js';
import {
  approveDeviceLinking,
  derivePairingSecrets,
  encodeLinkQr,
  formatSas,
  openPairingPayload,
  pairingCommitment,
  pairingTranscript,
  parseLinkInput,
  parseLinkQr,
  sealPairingPayload,
  startNewDeviceLinking,
  type LinkedKeys,
  type NewDeviceLinking,
  type PairingTransport,
} from '../pairing.js';

const PAIRING_ID = '0f8e4a52-3c1d-4b7e-9a6f-2d5c8b1e7a90';

function sampleKeys(): LinkedKeys {
  return {
    userId: '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    email: 'ada@example.test',
    username: 'ada',
    identitySeed: nodeProvider.randomBytes(32),
    loginSeed: nodeProvider.randomBytes(32),
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/** Both sides' secrets for one pair of ephemeral keys. */
function bothSides(code = '12345678') {
  const newDevice = x25519KeyPair();
  const approver = x25519KeyPair();
  const transcript = pairingTranscript({ pairingId: PAIRING_ID, code, newDevicePublic: newDevice.publicKey, approverPublic: approver.publicKey });
  return {
    newDevice,
    approver,
    transcript,
    newSide: derivePairingSecrets(newDevice.privateKey, approver.publicKey, transcript),
    approverSide: derivePairingSecrets(approver.privateKey, newDevice.publicKey, transcript),
  };
}

describe('device linking helpers', () => {
  describe('QR text and input', () => {
    it('round-trips a QR text and recognises it as input', () => {
      const key = x25519KeyPair().publicKey;
      const text = encodeLinkQr({ pairingId: PAIRING_ID, code: '01234567', ephemeralPublic: key });
      expect(text).to.match(/^kecalek-link:1:[0-9a-f-]{36}:01234567:[A-Za-z0-9_-]{43}$/);
      const parsed = parseLinkQr(text);
      expect(parsed).to.include({ version: 1, pairingId: PAIRING_ID, code: '01234567' });
      expect(Buffer.from(parsed.ephemeralPublic).equals(key)).to.equal(true);
      const input = parseLinkInput(`  ${text}\n`);
      expect(input.kind).to.equal('qr');
    });

    it('accepts a typed code with spaces or dashes', () => {
      expect(parseLinkInput('1234 5678')).to.deep.equal({ kind: 'code', code: '12345678' });
      expect(parseLinkInput(' 1234-5678 ')).to.deep.equal({ kind: 'code', code: '12345678' });
    });

    it('refuses what is neither a code nor a linking QR', () => {
      for (const input of ['1234567', '123456789', 'abcdefgh', '']) {
        expect(() => parseLinkInput(input), input).to.throw(ClientError).with.property('code', 'bad_request');
      }
      const key = encodeBase64(x25519KeyPair().publicKey);
      for (const text of [
        'kecalek-link:1:not-a-uuid:01234567:AAAA',
        `kecalek-link:1:${PAIRING_ID}:0123:AAAA`,
        `kecalek-link:1:${PAIRING_ID}:01234567:${key}`, // standard base64, not base64url
        `kecalek-link:1:${PAIRING_ID}:01234567`,
      ]) {
        expect(() => parseLinkQr(text), text).to.throw(ClientError).with.property('code', 'bad_request');
      }
      expect(() => parseLinkQr(`kecalek-link:2:${PAIRING_ID}:01234567:x`)).to.throw(ClientError).with.property('code', ClientErrorCode.PROTOCOL_MISMATCH);
    });
  });

  describe('SAS and payload key', () => {
    it('gives both sides the same key and the same 6-digit SAS', () => {
      const { newSide, approverSide } = bothSides();
      expect(newSide.sas).to.match(/^[0-9]{3} [0-9]{3}$/);
      expect(newSide.sas).to.equal(approverSide.sas);
      expect(Buffer.from(newSide.key).equals(approverSide.key)).to.equal(true);
    });

    it('binds the code, the pairing id and the role order of the keys', () => {
      const { newDevice, approver, newSide } = bothSides('12345678');
      const variants = [
        pairingTranscript({ pairingId: PAIRING_ID, code: '12345679', newDevicePublic: newDevice.publicKey, approverPublic: approver.publicKey }),
        pairingTranscript({ pairingId: PAIRING_ID.replace('0f', '1f'), code: '12345678', newDevicePublic: newDevice.publicKey, approverPublic: approver.publicKey }),
        pairingTranscript({ pairingId: PAIRING_ID, code: '12345678', newDevicePublic: approver.publicKey, approverPublic: newDevice.publicKey }),
      ];
      for (const transcript of variants) {
        const other = derivePairingSecrets(newDevice.privateKey, approver.publicKey, transcript);
        expect(Buffer.from(other.key).equals(newSide.key)).to.equal(false);
      }
    });

    it('derives the same values with the node and the noble provider', () => {
      const { newDevice, approver, transcript, newSide } = bothSides();
      const noble = derivePairingSecrets(approver.privateKey, newDevice.publicKey, transcript, nobleProvider);
      expect(noble.sas).to.equal(newSide.sas);
      expect(Buffer.from(noble.key).equals(newSide.key)).to.equal(true);
      expect(Buffer.from(pairingCommitment(newDevice.publicKey, nobleProvider)).equals(pairingCommitment(newDevice.publicKey, nodeProvider))).to.equal(true);
    });

    it('formats six digits from the first 40 bits in two groups of three', () => {
      expect(formatSas(Uint8Array.of(0, 0, 0, 0x03, 0xe8, 0xff))).to.equal('001 000');
      expect(formatSas(Uint8Array.of(0, 0, 0x0f, 0x42, 0x3f))).to.equal('999 999');
      expect(formatSas(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff))).to.equal(String(2 ** 40 - 1).slice(-6).replace(/^(...)/, '$1 '));
    });

    it('refuses a low-order peer key', () => {
      const own = x25519KeyPair();
      const zero = new Uint8Array(32);
      const transcript = pairingTranscript({ pairingId: PAIRING_ID, code: '12345678', newDevicePublic: own.publicKey, approverPublic: zero });
      expect(() => derivePairingSecrets(own.privateKey, zero, transcript)).to.throw().with.property('code', CryptoErrorCode.INVALID_KEY);
    });
  });

  describe('payload', () => {
    it('seals and opens the account keys, also across providers', () => {
      const { transcript, newSide, approverSide } = bothSides();
      const keys = sampleKeys();
      const sealed = sealPairingPayload(approverSide.key, transcript, keys, nobleProvider);
      for (const provider of [nodeProvider, nobleProvider]) {
        const opened = openPairingPayload(newSide.key, transcript, sealed, provider);
        expect(opened).to.include({ userId: keys.userId, email: keys.email, username: keys.username });
        expect(Buffer.from(opened.identitySeed).equals(keys.identitySeed)).to.equal(true);
        expect(Buffer.from(opened.loginSeed).equals(keys.loginSeed)).to.equal(true);
      }
    });

    it('pads, so the length does not tell the address length', () => {
      const { transcript, approverSide } = bothSides();
      const short = sealPairingPayload(approverSide.key, transcript, { ...sampleKeys(), email: 'a@b.test' });
      const long = sealPairingPayload(approverSide.key, transcript, { ...sampleKeys(), email: `${'x'.repeat(60)}@example.test` });
      expect(short.length).to.equal(long.length);
    });

    it('answers pairing_mismatch for another key, another transcript or a modified ciphertext', () => {
      const { transcript, approverSide, newDevice, approver } = bothSides();
      const sealed = sealPairingPayload(approverSide.key, transcript, sampleKeys());
      const other = bothSides();
      const otherTranscript = pairingTranscript({ pairingId: PAIRING_ID, code: '87654321', newDevicePublic: newDevice.publicKey, approverPublic: approver.publicKey });
      const bytes = Buffer.from(sealed, 'base64');
      bytes[bytes.length - 1]! ^= 1;
      for (const [key, bound, text] of [
        [other.newSide.key, transcript, sealed],
        [approverSide.key, otherTranscript, sealed],
        [approverSide.key, transcript, bytes.toString('base64')],
        [approverSide.key, transcript, 'AAAA'],
      ] as const) {
        expect(() => openPairingPayload(key, bound, text)).to.throw(ClientError).with.property('code', ClientErrorCode.PAIRING_MISMATCH);
      }
    });
  });
});

// ---- against a real server ---------------------------------------------------------------------

interface Hooks {
  before?(type: string, fields: Record<string, unknown>): Promise<void> | void;
  after?(type: string, fields: Record<string, unknown>): Promise<void> | void;
  /** Runs the request itself (`send`), e.g. under a lock shared with the other device's requests. */
  wrap?(type: string, send: () => Promise<unknown>): Promise<unknown>;
}

/** Runs tasks one at a time: lets a test make "request + database rewrite" atomic for the other device. */
function serializer(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>) => {
    const result = tail.then(task);
    tail = result.catch(() => undefined);
    return result;
  };
}

/** A thin PairingTransport over a test connection: error answers become ClientErrors with the wire code; every request type is recorded. */
function transportOf(connection: TestConnection, hooks: Hooks = {}): PairingTransport & { readonly sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    async request<T>(type: string, fields: Record<string, unknown>): Promise<T> {
      await hooks.before?.(type, fields);
      sent.push(type);
      const send = () => connection.request<T>(type, fields);
      const response = (hooks.wrap ? await hooks.wrap(type, send) : await send()) as Awaited<ReturnType<typeof send>>;
      if (response.status !== 'ok') {
        const { code, message, ...details } = response.data as unknown as ErrorData;
        throw new ClientError(code as WireErrorCode, message, details);
      }
      await hooks.after?.(type, fields);
      return response.data;
    },
  };
}

function linkedKeysOf(account: TestAccount): LinkedKeys {
  return {
    userId: account.userId,
    email: account.email,
    username: account.username,
    identitySeed: account.identity.privateKey,
    loginSeed: account.login.privateKey,
  };
}

function keyPairOf(seed: Uint8Array): KeyPair {
  return { privateKey: seed, publicKey: ed25519PublicKey(seed) };
}

const FAST = { pollIntervalMs: 15 };

/**
 * A rewrite of the database that the approver's next request must not overtake: the malicious
 * server never lets the approver see the honest value (its polls wait until the rewrite is done).
 */
function substitution(): { done: Promise<void>; run(rewrite: () => PromiseLike<unknown>): Promise<void> } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    done,
    async run(rewrite) {
      await rewrite();
      finish();
    },
  };
}

forEachBackend('device linking end to end', (backend) => {
  let server: TestServer;
  let newDevice: TestConnection;
  let account: TestAccount;
  const linkings: NewDeviceLinking[] = [];

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
  });

  after(async () => {
    await server?.close();
  });

  beforeEach(async () => {
    newDevice = await server.connect();
    account = await createAccount(server);
  });

  afterEach(async () => {
    // Stops any poller a failed test left behind.
    await Promise.all(linkings.splice(0).map((linking) => linking.cancel()));
    await newDevice.close();
    await account.connection.close();
  });

  const table = () => server.server.database.knex('pairing_sessions');

  async function startLinking(hooks: Hooks = {}): Promise<{ linking: NewDeviceLinking; pairingId: string; transport: ReturnType<typeof transportOf> }> {
    const transport = transportOf(newDevice, hooks);
    const linking = await startNewDeviceLinking(transport, undefined, FAST);
    linkings.push(linking);
    return { linking, pairingId: parseLinkQr(linking.qrText).pairingId, transport };
  }

  /** Logs in with linked keys as a new device: proof that they are the account's keys. */
  async function loginWith(keys: LinkedKeys): Promise<void> {
    const session = await login(server, { email: keys.email, identity: keyPairOf(keys.identitySeed), login: keyPairOf(keys.loginSeed) });
    try {
      expect(session.newDevice).to.equal(true);
      expect(session.deviceId).to.not.equal(account.deviceId);
    } finally {
      await session.connection.close();
    }
  }

  for (const mode of ['code', 'qr'] as const) {
    it(`moves the keys intact with matching SAS values (${mode})`, async () => {
      const { linking, pairingId } = await startLinking();
      expect(linking.code).to.match(/^[0-9]{8}$/);
      expect(linking.expiresAt).to.be.greaterThan(Date.now());
      const approverTransport = transportOf(account.connection);
      const input = mode === 'qr' ? linking.qrText : `${linking.code.slice(0, 4)} ${linking.code.slice(4)}`;
      const [approval, newDeviceSas] = await Promise.all([
        approveDeviceLinking(approverTransport, input, linkedKeysOf(account), undefined, FAST),
        linking.sas,
      ]);
      expect(approval.sas).to.match(/^[0-9]{3} [0-9]{3}$/);
      expect(newDeviceSas).to.equal(approval.sas);
      // The QR already carries the new device's key: the approver never waits for it.
      if (mode === 'qr') expect(approverTransport.sent).to.not.include('pairing_poll');

      await approval.confirm();
      const keys = await linking.receive();
      expect(keys).to.include({ userId: account.userId, email: account.email, username: account.username });
      expect(Buffer.from(keys.identitySeed).equals(account.identity.privateKey)).to.equal(true);
      expect(Buffer.from(keys.loginSeed).equals(account.login.privateKey)).to.equal(true);
      expect(await table().where({ id: pairingId }).first()).to.equal(undefined);
      await loginWith(keys);
    });
  }

  describe('a malicious server', () => {
    it('is caught at once in QR mode when it substitutes the new device\'s key: nothing is revealed or sent', async () => {
      const { linking, pairingId } = await startLinking();
      const evil = x25519KeyPair();
      const approverTransport = transportOf(account.connection, {
        async before(type) {
          if (type === 'pairing_claim') await table().where({ id: pairingId }).update({ new_device_commitment: encodeBase64(pairingCommitment(evil.publicKey)) });
        },
      });
      const error = await rejection(approveDeviceLinking(approverTransport, linking.qrText, linkedKeysOf(account), undefined, FAST));
      expect(error).to.be.instanceOf(ClientError);
      expect(error.code).to.equal(ClientErrorCode.PAIRING_MISMATCH);
      expect(approverTransport.sent).to.deep.equal(['pairing_claim', 'pairing_cancel']);
      expect(await table().where({ id: pairingId }).first()).to.equal(undefined);
      const ended = await rejection(linking.sas);
      expect(ended.code).to.equal('not_found');
    });

    it('gives different SAS values in code mode when it substitutes the new device\'s key, and the new device cannot decrypt', async () => {
      const evil = x25519KeyPair();
      let honestCommitment: string | undefined;
      const swapped = substitution();
      // The server shows the approver a commitment to its own key and then that key; the new
      // device sees its real commitment when it reveals.
      const { linking, pairingId } = await startLinking({
        async before(type) {
          if (type === 'pairing_reveal') await table().where({ id: pairingId }).update({ new_device_commitment: honestCommitment });
        },
        async after(type) {
          if (type === 'pairing_reveal') await swapped.run(() => table().where({ id: pairingId }).update({ new_device_ephemeral: encodeBase64(evil.publicKey) }));
        },
      });
      const approverTransport = transportOf(account.connection, {
        async before(type) {
          if (type === 'pairing_claim') {
            const row = (await table().where({ id: pairingId }).first()) as { new_device_commitment: string };
            honestCommitment = row.new_device_commitment;
            await table().where({ id: pairingId }).update({ new_device_commitment: encodeBase64(pairingCommitment(evil.publicKey)) });
          }
          if (type === 'pairing_poll') await swapped.done;
        },
      });
      const [approval, newDeviceSas] = await Promise.all([
        approveDeviceLinking(approverTransport, linking.code, linkedKeysOf(account), undefined, FAST),
        linking.sas,
      ]);
      expect(newDeviceSas).to.not.equal(approval.sas);
      // Had the user confirmed anyway, the keys would stay sealed.
      await approval.confirm();
      const error = await rejection(linking.receive());
      expect(error.code).to.equal(ClientErrorCode.PAIRING_MISMATCH);
    });

    it('is caught in code mode when the revealed key does not open the commitment: nothing is sent', async () => {
      const evil = x25519KeyPair();
      const swapped = substitution();
      const { linking, pairingId } = await startLinking({
        async after(type) {
          if (type === 'pairing_reveal') await swapped.run(() => table().where({ id: pairingId }).update({ new_device_ephemeral: encodeBase64(evil.publicKey) }));
        },
      });
      const approverTransport = transportOf(account.connection, {
        async before(type) {
          if (type === 'pairing_poll') await swapped.done;
        },
      });
      const error = await rejection(approveDeviceLinking(approverTransport, linking.code, linkedKeysOf(account), undefined, FAST));
      expect(error.code).to.equal(ClientErrorCode.PAIRING_MISMATCH);
      expect(approverTransport.sent).to.not.include('pairing_send');
      expect(approverTransport.sent[approverTransport.sent.length - 1]).to.equal('pairing_cancel');
      expect(await table().where({ id: pairingId }).first()).to.equal(undefined);
    });

    for (const mode of ['code', 'qr'] as const) {
      it(`gives different SAS values when it substitutes the approver's key (${mode}), and the new device cannot decrypt`, async () => {
        const evil = x25519KeyPair();
        let substituted = false;
        // The server stores its own key instead of the approver's before the new device can look.
        const exclusive = serializer();
        const { linking, pairingId } = await startLinking({
          wrap: (type, send) => (type === 'pairing_poll' ? exclusive(send) : send()),
        });
        const approverTransport = transportOf(account.connection, {
          wrap: (type, send) =>
            type !== 'pairing_reveal'
              ? send()
              : exclusive(async () => {
                  const answer = await send();
                  await table().where({ id: pairingId }).update({ approver_ephemeral: encodeBase64(evil.publicKey) });
                  substituted = true;
                  return answer;
                }),
        });
        const input = mode === 'qr' ? linking.qrText : linking.code;
        const [approval, newDeviceSas] = await Promise.all([
          approveDeviceLinking(approverTransport, input, linkedKeysOf(account), undefined, FAST),
          linking.sas,
        ]);
        expect(substituted).to.equal(true);
        expect(newDeviceSas).to.not.equal(approval.sas);
        await approval.confirm();
        const error = await rejection(linking.receive());
        expect(error.code).to.equal(ClientErrorCode.PAIRING_MISMATCH);
      });
    }

    it('is caught when it changes the approver\'s key after the new device saw it', async () => {
      const evil = x25519KeyPair();
      let approved = false;
      let swapped = false;
      // Once both sides agreed on the keys, the server swaps the approver's key under the new device.
      const { linking, pairingId } = await startLinking({
        async before(type) {
          if (type !== 'pairing_poll' || !approved || swapped) return;
          swapped = true;
          await table().where({ id: pairingId }).update({ approver_ephemeral: encodeBase64(evil.publicKey) });
        },
      });
      const approval = await approveDeviceLinking(transportOf(account.connection), linking.code, linkedKeysOf(account), undefined, FAST);
      approved = true;
      expect(await linking.sas).to.equal(approval.sas);
      const error = await rejection(linking.receive());
      expect(error.code).to.equal(ClientErrorCode.PAIRING_MISMATCH);
      expect(await table().where({ id: pairingId }).first()).to.equal(undefined);
    });
  });

  it('rides out a lost answer, a dropped request and a rate limit', async () => {
    let revealAnswers = 0;
    let polls = 0;
    const { linking } = await startLinking({
      async wrap(type, send) {
        if (type === 'pairing_poll' && ++polls === 1) throw new ClientError('rate_limited', 'Too many requests, slow down', { retry_after_ms: 1 });
        if (type === 'pairing_poll' && polls === 2) throw new ClientError(ClientErrorCode.CONNECTION_CLOSED, 'The connection closed');
        const answer = await send();
        // The first reveal reaches the server, but its answer is lost on the way back.
        if (type === 'pairing_reveal' && ++revealAnswers === 1) throw new ClientError(ClientErrorCode.CONNECTION_CLOSED, 'The connection closed');
        return answer;
      },
    });
    const [approval, newDeviceSas] = await Promise.all([
      approveDeviceLinking(transportOf(account.connection), linking.code, linkedKeysOf(account), undefined, FAST),
      linking.sas,
    ]);
    expect(newDeviceSas).to.equal(approval.sas);
    expect(revealAnswers).to.equal(2);
    await approval.confirm();
    expect((await linking.receive()).userId).to.equal(account.userId);
  });

  describe('ending early', () => {
    it('tells the new device when the approver cancels', async () => {
      const { linking, pairingId } = await startLinking();
      const [approval] = await Promise.all([approveDeviceLinking(transportOf(account.connection), linking.code, linkedKeysOf(account), undefined, FAST), linking.sas]);
      await approval.cancel();
      expect(await table().where({ id: pairingId }).first()).to.equal(undefined);
      const error = await rejection(linking.receive());
      expect(error).to.be.instanceOf(ClientError);
      expect(error.code).to.equal('not_found');
      await rejection(approval.confirm());
    });

    it('tells the approver when the new device cancelled, or the code is wrong', async () => {
      const { linking, transport } = await startLinking();
      await linking.cancel();
      expect(transport.sent).to.include('pairing_cancel');
      expect((await rejection(linking.sas)).code).to.equal('not_found');
      expect((await rejection(linking.receive())).code).to.equal('not_found');
      const approverTransport = transportOf(account.connection);
      expect((await rejection(approveDeviceLinking(approverTransport, linking.code, linkedKeysOf(account)))).code).to.equal('not_found');
      expect((await rejection(approveDeviceLinking(approverTransport, 'not a code', linkedKeysOf(account)))).code).to.equal('bad_request');
    });

    it('stops the new device when its pairing expired on the server', async () => {
      const { linking, pairingId } = await startLinking();
      await table().where({ id: pairingId }).update({ expires_at: Date.now() - 1 });
      const error = await rejection(linking.sas);
      expect(error.code).to.equal('not_found');
    });

    it('stops polling on its own once the expiry has passed on this device\'s clock', async () => {
      // A server clock far ahead makes the pairing already expired locally.
      const transport = transportOf(newDevice);
      const skewed: PairingTransport = {
        async request<T>(type: string, fields: Record<string, unknown>): Promise<T> {
          const data = await transport.request<Record<string, unknown>>(type, fields);
          return (type === 'pairing_start' ? { ...data, server_time: Number(data.expires_at) + 60_000 } : data) as T;
        },
      };
      const linking = await startNewDeviceLinking(skewed, undefined, FAST);
      linkings.push(linking);
      const error = await rejection(linking.sas);
      expect(error.code).to.equal(ClientErrorCode.REQUEST_TIMEOUT);
      expect(transport.sent).to.deep.equal(['pairing_start']);
    });
  });
});
