/**
 * A device's life cycle across the core modules, over real sockets against a real server, on
 * SQLite and (when configured) MariaDB: a removed device cannot log in as itself again
 * (`device_removed`, answered only to someone who proves the login key; its tombstone stays), and
 * a new device is announced (`device_added`) to the account's other devices and to the online
 * contacts, nobody else.
 */
import { expect } from 'chai';
import { ed25519KeyPair, ed25519Sign, type KeyPair } from '../../../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../../../protocol/base64.js';
import { loginChallengeMessage, rotateLoginKeyMessage } from '../../../protocol/auth.js';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { login } from '../../../testing/accounts.js';
import { SERVER_VERSION } from '../../version.js';
import { addDevice, closeOpened, createDm, createGroup, person, probePlugin, received, settle, type Device } from './chat-helpers.js';

interface LoginAnswer {
  user_id: string;
  device_id: string;
  new_device: boolean;
}

/** login_start + login_finish signed with `key`; the raw login_finish response. */
async function attemptLogin(connection: TestConnection, email: string, key: KeyPair, extra: Record<string, unknown> = {}) {
  const started = await connection.expectOk<{ challenge: string }>('login_start', { email });
  const challenge = decodeBase64(started.challenge, 'challenge', { exactBytes: 32 });
  return connection.request<LoginAnswer & { code?: string; message?: string }>('login_finish', {
    email,
    signature: encodeBase64(ed25519Sign(key.privateKey, loginChallengeMessage(challenge, email))),
    client_version: SERVER_VERSION,
    ...extra,
  });
}

forEachBackend('core devices: removal tombstones and device_added', (backend) => {
  let server: TestServer;
  let probe: TestConnection;

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [probePlugin] });
    probe = await server.connect();
  });

  afterEach(closeOpened);

  after(async () => {
    await server?.close();
  });

  const knex = () => server.server.database.knex;

  describe('a removed device', () => {
    it('is refused with device_removed, only after the login signature verified; the keys still make a new device', async () => {
      const alice = await person(server, 2);
      const [a0, a1] = alice.devices as [Device, Device];
      const before = Date.now();
      await a0.connection.expectOk('remove_device', { device_id: a1.deviceId });
      await a1.connection.closed;
      const tombstone = await knex()('removed_devices').where({ device_id: a1.deviceId }).first();
      expect(tombstone).to.include({ user_id: alice.userId });
      expect(Number(tombstone.removed_at)).to.be.within(before, Date.now());

      const connection = await server.connect();
      try {
        const refused = await attemptLogin(connection, alice.email, alice.account.login, { device_id: a1.deviceId, device_name: 'back again' });
        expect(refused.status).to.equal('error');
        expect(refused.data).to.include({ code: 'device_removed' });
        await connection.expectError('list_devices', {}, 'not_authenticated');

        // Without the login key nothing is said about the device: the one generic answer.
        const stranger = await attemptLogin(connection, alice.email, ed25519KeyPair(), { device_id: a1.deviceId });
        expect(stranger.data).to.include({ code: 'invalid_credentials' });

        // The refused logins made no device.
        const { devices } = await a0.connection.expectOk<{ devices: Array<{ device_id: string }> }>('list_devices');
        expect(devices.map((d) => d.device_id)).to.deep.equal([a0.deviceId]);

        // Removal is not a revocation: the same login key without a device id is a new device.
        const fresh = await attemptLogin(connection, alice.email, alice.account.login);
        expect(fresh.status).to.equal('ok');
        expect(fresh.data.new_device).to.equal(true);
        expect(fresh.data.device_id).to.not.equal(a1.deviceId);
        // Until the login key is rotated: then the old key logs in nowhere.
        const rotated = ed25519KeyPair();
        await a0.connection.expectOk('rotate_keys', {
          login_key: encodeBase64(rotated.publicKey),
          signature: encodeBase64(ed25519Sign(alice.account.identity.privateKey, rotateLoginKeyMessage(rotated.publicKey, alice.userId))),
        });
        await connection.closed;
        const late = await server.connect();
        try {
          const old = await attemptLogin(late, alice.email, alice.account.login);
          expect(old.data).to.include({ code: 'invalid_credentials' });
        } finally {
          await late.close();
        }
      } finally {
        await connection.close();
      }
    });

    it("does not count as removed for another account: someone else's tombstone is an unknown id", async () => {
      const alice = await person(server, 2);
      const bob = await person(server);
      await alice.devices[0]!.connection.expectOk('remove_device', { device_id: alice.devices[1]!.deviceId });
      const connection = await server.connect();
      try {
        const answer = await attemptLogin(connection, bob.email, bob.account.login, { device_id: alice.devices[1]!.deviceId });
        expect(answer.status).to.equal('ok');
        expect(answer.data.new_device).to.equal(true);
        expect(answer.data.user_id).to.equal(bob.userId);
        expect(answer.data.device_id).to.not.equal(alice.devices[1]!.deviceId);
      } finally {
        await connection.close();
      }
    });
  });

  describe('device_added', () => {
    it("goes to the account's other devices and its online contacts when a new device logs in, not for a known device", async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      const carol = await person(server);
      const dave = await person(server);
      await createDm(alice.devices[0]!, bob);
      await createGroup(bob.devices[0]!, 'Trip', [alice, carol]);
      // Carol is a contact too, but offline: nothing is kept for her (her next bundle fetch shows the device).
      await carol.devices[0]!.connection.close();

      const added = await addDevice(server, alice.account);
      const expected = { user_id: alice.userId, device_id: added.deviceId };
      const announced = (device: Device) => received<{ device_id: string }>(device.connection, 'device_added', (data) => data.device_id === added.deviceId);
      await settle(probe, [...alice.devices, ...bob.devices, added, dave.devices[0]!]);
      for (const device of [...alice.devices, ...bob.devices]) expect(announced(device), device.deviceId).to.deep.equal([expected]);
      expect(received(added.connection, 'device_added')).to.have.length(0);
      expect(received(dave.devices[0]!.connection, 'device_added')).to.have.length(0);

      // A known device logging in again is no news.
      const again = await login(server, alice.account, { deviceId: added.deviceId });
      try {
        expect(again.newDevice).to.equal(false);
        await settle(probe, [...alice.devices, ...bob.devices]);
        for (const device of [...alice.devices, ...bob.devices]) expect(announced(device), device.deviceId).to.have.length(1);
      } finally {
        await again.connection.close();
      }
    });
  });
});
