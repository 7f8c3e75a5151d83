/**
 * core-pairing over real sockets against a real server, on SQLite and (when configured) MariaDB:
 * the whole exchange, codes, poll tokens (M11), the poll cap, who may reveal, send and cancel,
 * expiry and maintenance, live-code uniqueness and rate limits.
 */
import { createHash, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { x25519KeyPair, type KeyPair } from '../../../crypto/index.js';
import { encodeBase64 } from '../../../protocol/base64.js';
import { pairingCommitmentMessage } from '../../../protocol/pairing.js';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { createAccount, login, type TestAccount } from '../../../testing/accounts.js';
import { insertPairing } from '../../db/pairing.js';
import { isUniqueViolation } from '../../db/dialect.js';
import { PAIRING_CLAIM_PER_MINUTE, PAIRING_MAX_POLLS, PAIRING_TTL_MS } from '../pairing.js';

const b64 = encodeBase64;

function commitment(publicKey: Uint8Array): string {
  return b64(createHash('sha256').update(pairingCommitmentMessage(publicKey)).digest());
}

interface Started {
  pairing_id: string;
  code: string;
  poll_token: string;
  expires_at: number;
  server_time: number;
}

interface Pairing {
  readonly ephemeral: KeyPair;
  readonly started: Started;
}

async function start(connection: TestConnection): Promise<Pairing> {
  const ephemeral = x25519KeyPair();
  const started = await connection.expectOk<Started>('pairing_start', { commitment: commitment(ephemeral.publicKey) });
  return { ephemeral, started };
}

function knexOf(server: TestServer) {
  return server.server.database.knex;
}

/** A random 32-byte value in base64 (a stand-in ciphertext or key). */
function randomKey(): string {
  return b64(x25519KeyPair().publicKey);
}

/** A code different from `code`. */
function otherCode(code: string): string {
  return String((Number(code) + 1) % 100_000_000).padStart(8, '0');
}

forEachBackend('core-pairing', (backend) => {
  let server: TestServer;
  let anon: TestConnection;
  let approver: TestAccount;

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
  });

  after(async () => {
    await server?.close();
  });

  beforeEach(async () => {
    anon = await server.connect();
    approver = await createAccount(server);
  });

  afterEach(async () => {
    await anon.close();
    await approver.connection.close();
  });

  /** Start, claim and approver reveal: the state in which the new device sees the approver's key. */
  async function claimedAndRevealed(): Promise<Pairing & { approverKey: string }> {
    const pairing = await start(anon);
    await approver.connection.expectOk('pairing_claim', { code: pairing.started.code });
    const approverKey = randomKey();
    await approver.connection.expectOk('pairing_reveal', { pairing_id: pairing.started.pairing_id, ephemeral_public: approverKey });
    return { ...pairing, approverKey };
  }

  describe('the exchange', () => {
    it('relays commitment, both keys and one payload in order, then forgets the pairing', async () => {
      const { ephemeral, started } = await start(anon);
      const id = started.pairing_id;
      const token = started.poll_token;
      expect(started.code).to.match(/^[0-9]{8}$/);
      expect(token).to.match(/^[0-9a-f]{32}$/);
      expect(started.expires_at - started.server_time).to.equal(PAIRING_TTL_MS);

      expect(await anon.expectOk('pairing_poll', { pairing_id: id, poll_token: token })).to.deep.equal({ status: 'waiting', expires_at: started.expires_at });

      const claim = await approver.connection.expectOk<Record<string, unknown>>('pairing_claim', { code: started.code });
      expect(claim).to.include({ pairing_id: id, new_device_commitment: commitment(ephemeral.publicKey), expires_at: started.expires_at });

      // Claimed, but the approver has not published its key yet.
      expect(await anon.expectOk('pairing_poll', { pairing_id: id, poll_token: token })).to.deep.equal({ status: 'claimed', expires_at: started.expires_at });
      expect(await approver.connection.expectOk('pairing_poll', { pairing_id: id })).to.deep.equal({ status: 'claimed', expires_at: started.expires_at });

      const approverKey = randomKey();
      await approver.connection.expectOk('pairing_reveal', { pairing_id: id, ephemeral_public: approverKey });
      expect(await anon.expectOk('pairing_poll', { pairing_id: id, poll_token: token })).to.deep.equal({
        status: 'claimed',
        approver_ephemeral_public: approverKey,
        expires_at: started.expires_at,
      });

      await anon.expectOk('pairing_reveal', { pairing_id: id, poll_token: token, ephemeral_public: b64(ephemeral.publicKey) });
      expect(await approver.connection.expectOk('pairing_poll', { pairing_id: id })).to.deep.equal({
        status: 'claimed',
        new_device_ephemeral_public: b64(ephemeral.publicKey),
        expires_at: started.expires_at,
      });

      const ciphertext = b64(new Uint8Array(1100).fill(7));
      await approver.connection.expectOk('pairing_send', { pairing_id: id, ciphertext });
      expect(await anon.expectOk('pairing_poll', { pairing_id: id, poll_token: token })).to.deep.equal({
        status: 'ready',
        approver_ephemeral_public: approverKey,
        ciphertext,
        expires_at: started.expires_at,
      });
      // Delivered once: the payload is gone from the server.
      expect(await knexOf(server)('pairing_sessions').where({ id }).first()).to.equal(undefined);
      await anon.expectError('pairing_poll', { pairing_id: id, poll_token: token }, 'not_found');
    });

    it('stores neither the code nor the poll token in the clear', async () => {
      const { started } = await start(anon);
      const row = (await knexOf(server)('pairing_sessions').where({ id: started.pairing_id }).first()) as Record<string, unknown>;
      const stored = JSON.stringify(row);
      expect(stored).to.not.include(started.code);
      expect(stored).to.not.include(started.poll_token);
      expect(row.code_hash).to.match(/^[0-9a-f]{64}$/);
      expect(row.poll_token_hash).to.match(/^[0-9a-f]{64}$/);
      expect(row.new_device_ephemeral).to.equal(null);
    });

    it('refuses a malformed commitment, code, id or poll token, naming the field', async () => {
      expect((await anon.expectError('pairing_start', { commitment: 'not base64' }, 'bad_request')).field).to.equal('commitment');
      expect((await anon.expectError('pairing_start', { commitment: b64(new Uint8Array(16)) }, 'invalid_base64')).field).to.equal('commitment');
      expect((await approver.connection.expectError('pairing_claim', { code: '1234567' }, 'bad_request')).field).to.equal('code');
      expect((await anon.expectError('pairing_poll', { pairing_id: 'nope', poll_token: 'a'.repeat(32) }, 'bad_request')).field).to.equal('pairing_id');
      expect((await anon.expectError('pairing_poll', { pairing_id: randomUUID(), poll_token: 'A'.repeat(32) }, 'bad_request')).field).to.equal('poll_token');
    });
  });

  describe('pairing_claim', () => {
    it('needs a login', async () => {
      const { started } = await start(anon);
      await anon.expectError('pairing_claim', { code: started.code }, 'not_authenticated');
    });

    it('answers not_found for a wrong, an expired and an already claimed code', async () => {
      const { started } = await start(anon);
      await approver.connection.expectError('pairing_claim', { code: otherCode(started.code) }, 'not_found');

      const second = await createAccount(server);
      try {
        await approver.connection.expectOk('pairing_claim', { code: started.code });
        await second.connection.expectError('pairing_claim', { code: started.code }, 'not_found');
        await approver.connection.expectError('pairing_claim', { code: started.code }, 'not_found');
      } finally {
        await second.connection.close();
      }

      const expiring = await start(anon);
      await knexOf(server)('pairing_sessions').where({ id: expiring.started.pairing_id }).update({ expires_at: Date.now() - 1 });
      await approver.connection.expectError('pairing_claim', { code: expiring.started.code }, 'not_found');
    });
  });

  describe('pairing_poll', () => {
    it('needs the poll token, compared exactly; a wrong token reveals nothing and costs no poll', async () => {
      const { started } = await start(anon);
      const id = started.pairing_id;
      const wrong = started.poll_token.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      await anon.expectError('pairing_poll', { pairing_id: id, poll_token: wrong }, 'not_found');
      // Without a token an anonymous connection is not the claimer either.
      await anon.expectError('pairing_poll', { pairing_id: id }, 'not_found');
      await anon.expectError('pairing_poll', { pairing_id: randomUUID(), poll_token: started.poll_token }, 'not_found');
      const row = (await knexOf(server)('pairing_sessions').where({ id }).first()) as { poll_count: unknown };
      expect(Number(row.poll_count)).to.equal(0);
    });

    it(`allows ${PAIRING_MAX_POLLS} polls, then removes the pairing`, async () => {
      const { started } = await start(anon);
      const fields = { pairing_id: started.pairing_id, poll_token: started.poll_token };
      for (let i = 0; i < PAIRING_MAX_POLLS; i++) await anon.expectOk('pairing_poll', fields);
      await anon.expectError('pairing_poll', fields, 'not_found');
      expect(await knexOf(server)('pairing_sessions').where({ id: started.pairing_id }).first()).to.equal(undefined);
      await approver.connection.expectError('pairing_claim', { code: started.code }, 'not_found');
    });

    it('shows the approver view only to the claiming device', async () => {
      const { started } = await start(anon);
      await approver.connection.expectOk('pairing_claim', { code: started.code });
      const otherDevice = await login(server, approver, { uploadPreKeys: false });
      const stranger = await createAccount(server);
      try {
        await otherDevice.connection.expectError('pairing_poll', { pairing_id: started.pairing_id }, 'not_found');
        await stranger.connection.expectError('pairing_poll', { pairing_id: started.pairing_id }, 'not_found');
        await approver.connection.expectOk('pairing_poll', { pairing_id: started.pairing_id });
      } finally {
        await otherDevice.connection.close();
        await stranger.connection.close();
      }
    });
  });

  describe('pairing_reveal', () => {
    it('lets the new device open its commitment only after the approver published its key', async () => {
      const { ephemeral, started } = await start(anon);
      const fields = { pairing_id: started.pairing_id, poll_token: started.poll_token, ephemeral_public: b64(ephemeral.publicKey) };
      await anon.expectError('pairing_reveal', fields, 'conflict');
      await approver.connection.expectOk('pairing_claim', { code: started.code });
      await anon.expectError('pairing_reveal', fields, 'conflict');
      await approver.connection.expectOk('pairing_reveal', { pairing_id: started.pairing_id, ephemeral_public: randomKey() });
      await anon.expectOk('pairing_reveal', fields);
      await anon.expectError('pairing_reveal', fields, 'conflict');
    });

    it('refuses a new-device key that does not match the commitment, and a wrong poll token', async () => {
      const { started } = await claimedAndRevealed();
      const error = await anon.expectError(
        'pairing_reveal',
        { pairing_id: started.pairing_id, poll_token: started.poll_token, ephemeral_public: randomKey() },
        'bad_request',
      );
      expect(error.field).to.equal('ephemeral_public');
      await anon.expectError('pairing_reveal', { pairing_id: started.pairing_id, poll_token: 'f'.repeat(32), ephemeral_public: randomKey() }, 'not_found');
    });

    it('takes the approver key once, from the claiming device only', async () => {
      const { started } = await start(anon);
      const id = started.pairing_id;
      // Before anyone claimed it, nobody is the approver.
      await approver.connection.expectError('pairing_reveal', { pairing_id: id, ephemeral_public: randomKey() }, 'not_found');
      await approver.connection.expectOk('pairing_claim', { code: started.code });
      await anon.expectError('pairing_reveal', { pairing_id: id, ephemeral_public: randomKey() }, 'not_found');
      const otherDevice = await login(server, approver, { uploadPreKeys: false });
      try {
        await otherDevice.connection.expectError('pairing_reveal', { pairing_id: id, ephemeral_public: randomKey() }, 'not_found');
      } finally {
        await otherDevice.connection.close();
      }
      const key = randomKey();
      await approver.connection.expectOk('pairing_reveal', { pairing_id: id, ephemeral_public: key });
      await approver.connection.expectError('pairing_reveal', { pairing_id: id, ephemeral_public: randomKey() }, 'conflict');
      const row = (await knexOf(server)('pairing_sessions').where({ id }).first()) as { approver_ephemeral: string };
      expect(row.approver_ephemeral).to.equal(key);
    });
  });

  describe('pairing_send', () => {
    it('accepts the payload only from the claiming device, after its reveal, and only once', async () => {
      const { started } = await start(anon);
      const id = started.pairing_id;
      const payload = { pairing_id: id, ciphertext: randomKey() };
      await approver.connection.expectError('pairing_send', payload, 'not_found');
      await approver.connection.expectOk('pairing_claim', { code: started.code });
      await approver.connection.expectError('pairing_send', payload, 'conflict');
      await approver.connection.expectOk('pairing_reveal', { pairing_id: id, ephemeral_public: randomKey() });

      const stranger = await createAccount(server);
      const otherDevice = await login(server, approver, { uploadPreKeys: false });
      try {
        await stranger.connection.expectError('pairing_send', payload, 'not_found');
        await otherDevice.connection.expectError('pairing_send', payload, 'not_found');
      } finally {
        await stranger.connection.close();
        await otherDevice.connection.close();
      }
      await anon.expectError('pairing_send', payload, 'not_authenticated');

      await approver.connection.expectOk('pairing_send', payload);
      await approver.connection.expectError('pairing_send', { pairing_id: id, ciphertext: randomKey() }, 'conflict');
      const row = (await knexOf(server)('pairing_sessions').where({ id }).first()) as { ciphertext: string; status: string };
      expect(row).to.include({ ciphertext: payload.ciphertext, status: 'ready' });
    });

    it('refuses an oversized payload and an expired pairing', async () => {
      const { started } = await claimedAndRevealed();
      const id = started.pairing_id;
      const error = await approver.connection.expectError('pairing_send', { pairing_id: id, ciphertext: b64(new Uint8Array(5000)) }, 'bad_request');
      expect(error.field).to.equal('ciphertext');
      await knexOf(server)('pairing_sessions').where({ id }).update({ expires_at: Date.now() - 1 });
      await approver.connection.expectError('pairing_send', { pairing_id: id, ciphertext: randomKey() }, 'not_found');
    });
  });

  describe('pairing_cancel', () => {
    it('lets the new device cancel with its poll token', async () => {
      const { started } = await claimedAndRevealed();
      await anon.expectError('pairing_cancel', { pairing_id: started.pairing_id, poll_token: '0'.repeat(32) }, 'not_found');
      await anon.expectOk('pairing_cancel', { pairing_id: started.pairing_id, poll_token: started.poll_token });
      expect(await knexOf(server)('pairing_sessions').where({ id: started.pairing_id }).first()).to.equal(undefined);
      await approver.connection.expectError('pairing_send', { pairing_id: started.pairing_id, ciphertext: randomKey() }, 'not_found');
    });

    it('lets the claiming device cancel, and nobody else', async () => {
      const { started } = await start(anon);
      await approver.connection.expectError('pairing_cancel', { pairing_id: started.pairing_id }, 'not_found');
      await approver.connection.expectOk('pairing_claim', { code: started.code });
      const stranger = await createAccount(server);
      try {
        await stranger.connection.expectError('pairing_cancel', { pairing_id: started.pairing_id }, 'not_found');
        await anon.expectError('pairing_cancel', { pairing_id: started.pairing_id }, 'not_found');
      } finally {
        await stranger.connection.close();
      }
      await approver.connection.expectOk('pairing_cancel', { pairing_id: started.pairing_id });
      await anon.expectError('pairing_poll', { pairing_id: started.pairing_id, poll_token: started.poll_token }, 'not_found');
    });
  });

  describe('expiry', () => {
    it('answers not_found once a pairing has expired, and maintenance deletes expired rows only', async () => {
      const expired = await start(anon);
      const live = await start(anon);
      const knex = knexOf(server);
      await knex('pairing_sessions').where({ id: expired.started.pairing_id }).update({ expires_at: Date.now() - 1 });
      await anon.expectError('pairing_poll', { pairing_id: expired.started.pairing_id, poll_token: expired.started.poll_token }, 'not_found');
      await anon.expectError('pairing_cancel', { pairing_id: expired.started.pairing_id, poll_token: expired.started.poll_token }, 'not_found');

      await server.server.hooks.maintenance.promise({ now: Date.now() });
      expect(await knex('pairing_sessions').where({ id: expired.started.pairing_id }).first()).to.equal(undefined);
      expect(await knex('pairing_sessions').where({ id: live.started.pairing_id }).first()).to.not.equal(undefined);
    });

    it('keeps a live code unique and reuses the code of an expired pairing', async () => {
      const knex = knexOf(server);
      const now = Date.now();
      const codeHash = createHash('sha256').update(randomUUID()).digest('hex');
      const row = (id: string, createdAt: number) => ({
        id,
        codeHash,
        pollTokenHash: 'ab'.repeat(32),
        newDeviceCommitment: randomKey(),
        createdAt,
        expiresAt: createdAt + PAIRING_TTL_MS,
      });
      const first = randomUUID();
      await insertPairing(knex, row(first, now));
      let error: unknown;
      try {
        await insertPairing(knex, row(randomUUID(), now + 1));
      } catch (caught) {
        error = caught;
      }
      expect(isUniqueViolation(error), 'a second live pairing with the same code').to.equal(true);

      // Once the first has expired, its code may be handed out again; the expired row makes way.
      const second = randomUUID();
      await insertPairing(knex, row(second, now + PAIRING_TTL_MS));
      expect(await knex('pairing_sessions').where({ id: first }).first()).to.equal(undefined);
      expect(await knex('pairing_sessions').where({ id: second }).first()).to.not.equal(undefined);
    });
  });
});

forEachBackend('core-pairing rate limits', (backend) => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({
      databaseUrl: backend.databaseUrl,
      config: { rateLimits: { pairingStartPerMinute: 3, pairingPollPerMinute: 4 } },
    });
  });

  after(async () => {
    await server?.close();
  });

  it('limits pairing_start and pairing_poll per IP', async () => {
    const connection = await server.connect();
    try {
      const pairing = await start(connection);
      await start(connection);
      await start(connection);
      const limited = await connection.expectError('pairing_start', { commitment: commitment(x25519KeyPair().publicKey) }, 'rate_limited');
      expect(limited.retry_after_ms).to.be.a('number');
      // Another connection from the same address shares the budget.
      const other = await server.connect();
      try {
        await other.expectError('pairing_start', { commitment: commitment(x25519KeyPair().publicKey) }, 'rate_limited');
        const fields = { pairing_id: pairing.started.pairing_id, poll_token: pairing.started.poll_token };
        for (let i = 0; i < 4; i++) await other.expectOk('pairing_poll', fields);
        await connection.expectError('pairing_poll', fields, 'rate_limited');
      } finally {
        await other.close();
      }
    } finally {
      await connection.close();
    }
  });

  it(`limits pairing_claim to ${PAIRING_CLAIM_PER_MINUTE} per account per minute (guessing codes)`, async () => {
    const account = await createAccount(server);
    try {
      for (let i = 0; i < PAIRING_CLAIM_PER_MINUTE; i++) {
        await account.connection.expectError('pairing_claim', { code: String(i).padStart(8, '0') }, 'not_found');
      }
      await account.connection.expectError('pairing_claim', { code: '99999999' }, 'rate_limited');
    } finally {
      await account.connection.close();
    }
  });
});
