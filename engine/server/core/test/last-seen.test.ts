/**
 * The written-behind last_seen_at (core/last-seen.ts) against a real server's database: touches of
 * several devices land in one batch, a later touch of a device replaces an earlier one, close()
 * writes what is pending, and nothing is taken after close.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { insertDevice } from '../../db/devices.js';
import { createLogger } from '../../logger.js';
import { startTestServer, type TestServer } from '../../../testing/index.js';
import { createAccount } from '../../../testing/accounts.js';
import { LastSeenRecorder } from '../last-seen.js';

describe('core/last-seen: written-behind last_seen_at', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  const lastSeen = async (deviceId: string): Promise<number> =>
    Number((await server.server.database.knex('devices').where({ id: deviceId }).first()).last_seen_at);

  it('writes the latest touch of each device, all pending touches at close, none after', async () => {
    const knex = server.server.database.knex;
    const owner = await createAccount(server);
    // Devices nobody logs in on, so that the server's own recorder never touches them.
    const alice = { userId: owner.userId, deviceId: randomUUID() };
    const bob = { userId: owner.userId, deviceId: randomUUID() };
    for (const { userId, deviceId } of [alice, bob]) await insertDevice(knex, { id: deviceId, userId, name: null, createdAt: 1, lastSeenAt: 1 });
    // A delay far beyond the test: only flush()/close() write.
    const recorder = new LastSeenRecorder(knex, createLogger({ level: 'silent' }), 3_600_000);
    recorder.touch(alice.userId, alice.deviceId, 10);
    recorder.touch(alice.userId, alice.deviceId, 20);
    recorder.touch(bob.userId, bob.deviceId, 30);
    expect(await lastSeen(alice.deviceId)).to.equal(1);
    await recorder.flush();
    expect(await lastSeen(alice.deviceId)).to.equal(20);
    expect(await lastSeen(bob.deviceId)).to.equal(30);
    recorder.touch(bob.userId, bob.deviceId, 40);
    await recorder.close();
    expect(await lastSeen(bob.deviceId)).to.equal(40);
    recorder.touch(bob.userId, bob.deviceId, 50);
    await recorder.flush();
    expect(await lastSeen(bob.deviceId)).to.equal(40);
  });

  it('ignores a touch of a device that no longer exists', async () => {
    const knex = server.server.database.knex;
    const recorder = new LastSeenRecorder(knex, createLogger({ level: 'silent' }), 3_600_000);
    recorder.touch('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 5);
    await recorder.close();
    expect(await knex('devices').where({ id: '00000000-0000-4000-8000-000000000002' }).first()).to.equal(undefined);
  });
});
