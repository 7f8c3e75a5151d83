/**
 * core-presence over real sockets against a real server, on SQLite and (when configured) MariaDB:
 * online lists at login, online/offline announcements to contacts only (first and last
 * connection), announcements between people who just became contacts (memberAdded), the presence
 * service, and session_reset relays between people who share a conversation.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestConnection, type TestServer } from '../../../testing/index.js';
import { login } from '../../../testing/accounts.js';
import { closeOpened, createDm, createGroup, expectFailure, person, probePlugin, received, settle, type Device } from './chat-helpers.js';

forEachBackend('core-presence', (backend) => {
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

  const isOnline = async (userId: string) => (await probe.expectOk<{ online: boolean }>('test_is_online', { user_id: userId })).online;

  it('tells a new connection which contacts are online, and the contacts when the user comes online and goes offline', async () => {
    const alice = await person(server);
    const bob = await person(server);
    const carol = await person(server);
    await createDm(alice.devices[0]!, bob);
    const carolDevice = carol.devices[0]!;
    // The DM made them contacts while both were online: each heard about the other.
    expect(await alice.devices[0]!.connection.nextPush('user_online')).to.deep.equal({ user_id: bob.userId });
    expect(await bob.devices[0]!.connection.nextPush('user_online')).to.deep.equal({ user_id: alice.userId });

    // Bob's second device: Alice is online; Bob was online already, so nobody is told.
    const bob2 = await login(server, bob.account);
    expect(await bob2.connection.nextPush('online_users')).to.deep.equal({ user_ids: [alice.userId] });
    await settle(probe, [...alice.devices, carolDevice]);
    expect(received(alice.devices[0]!.connection, 'user_online')).to.have.length(1);

    // Alice's only connection closes: her contacts (both of Bob's devices), and only they, hear it.
    await alice.devices[0]!.connection.close();
    expect(await bob.devices[0]!.connection.nextPush('user_offline')).to.deep.equal({ user_id: alice.userId });
    expect(await bob2.connection.nextPush('user_offline')).to.deep.equal({ user_id: alice.userId });
    expect(await isOnline(alice.userId)).to.equal(false);

    // She comes back: she learns Bob is online, Bob learns she is.
    const back = await login(server, alice.account, { deviceId: alice.devices[0]!.deviceId });
    expect(await back.connection.nextPush('online_users')).to.deep.equal({ user_ids: [bob.userId] });
    expect(await bob.devices[0]!.connection.nextPush('user_online')).to.deep.equal({ user_id: alice.userId });
    expect(await bob2.connection.nextPush('user_online')).to.deep.equal({ user_id: alice.userId });
    expect(await isOnline(alice.userId)).to.equal(true);

    // A second connection is not news; closing one of two is not either.
    const second = await login(server, alice.account);
    await second.connection.nextPush('online_users');
    await second.connection.close();
    const bobs: Device[] = [bob.devices[0]!, { ...bob.devices[0]!, connection: bob2.connection }];
    await settle(probe, [...bobs, carolDevice]);
    expect(received(bob.devices[0]!.connection, 'user_online')).to.have.length(2);
    expect(received(bob.devices[0]!.connection, 'user_offline')).to.have.length(1);

    // Logging out of the last connection is going offline.
    await back.connection.expectOk('logout');
    expect(await bob.devices[0]!.connection.nextPush('user_offline')).to.deep.equal({ user_id: alice.userId });
    await settle(probe, [carolDevice]);
    for (const type of ['user_online', 'user_offline']) expect(received(carolDevice.connection, type), `carol got ${type}`).to.have.length(0);
    await back.connection.close();
    await bob2.connection.close();
  });

  it('tells people who just became contacts that the other is online: a DM, a group, add_member, an accepted invitation', async () => {
    const [alice, bob, carol, dave, erin, frank] = await Promise.all([1, 2, 3, 4, 5, 6].map(() => person(server)));
    const everyone = [alice, bob, carol, dave, erin, frank].map((p) => p.devices[0]!);
    const onlineFrom = (p: { devices: Device[] }) => received<{ user_id: string }>(p.devices[0]!.connection, 'user_online').map((d) => d.user_id).sort();
    const ids = (...people: Array<{ userId: string }>) => people.map((p) => p.userId).sort();

    await createDm(alice.devices[0]!, bob);
    await settle(probe, everyone);
    expect(onlineFrom(alice)).to.deep.equal(ids(bob));
    expect(onlineFrom(bob)).to.deep.equal(ids(alice));

    // Dave is offline: added all the same, but nobody hears about him and he hears nothing.
    await dave.devices[0]!.connection.close();
    const group = await createGroup(alice.devices[0]!, 'Climbing', [bob, carol, dave]);
    const live = everyone.filter((d) => d.userId !== dave.userId);
    await settle(probe, live);
    // Carol is new to both; Alice and Bob knew each other already (the DM), so nothing about that.
    expect(onlineFrom(carol)).to.deep.equal(ids(alice, bob));
    expect(onlineFrom(alice)).to.deep.equal(ids(bob, carol));
    expect(onlineFrom(bob)).to.deep.equal(ids(alice, carol));

    await bob.devices[0]!.connection.expectOk('add_member', { conversation_id: group.id, user_id: erin.userId });
    await settle(probe, live);
    expect(onlineFrom(erin)).to.deep.equal(ids(alice, bob, carol));
    for (const member of [alice, bob, carol]) expect(onlineFrom(member)).to.include(erin.userId);

    // An accepted invitation goes through memberAdded too (reason accept).
    await probe.expectOk('test_add_member', { conversation_id: group.id, user_id: frank.userId, by: alice.userId });
    await settle(probe, live);
    expect(onlineFrom(frank)).to.deep.equal(ids(alice, bob, carol, erin));
    for (const member of [alice, bob, carol, erin]) expect(onlineFrom(member)).to.include(frank.userId);

    // Nobody heard about Dave, and joining again (a DM that exists) is no news.
    for (const member of [alice, bob, carol, erin, frank]) expect(onlineFrom(member)).to.not.include(dave.userId);
    const before = onlineFrom(alice).length;
    await createDm(bob.devices[0]!, alice);
    await settle(probe, live);
    expect(onlineFrom(alice)).to.have.length(before);
  });

  it('lists no one for a user without contacts', async () => {
    const loner = await person(server);
    const again = await login(server, loner.account);
    expect(await again.connection.nextPush('online_users')).to.deep.equal({ user_ids: [] });
    await again.connection.close();
  });

  describe('session_reset', () => {
    it('relays to one device of a peer, or to all of them', async () => {
      const alice = await person(server, 2);
      const bob = await person(server, 2);
      await createDm(alice.devices[0]!, bob);
      const [a0, a1] = alice.devices as [Device, Device];
      const [b0, b1] = bob.devices as [Device, Device];
      expect(await a0.connection.expectOk('session_reset', { user_id: bob.userId, device_id: b1.deviceId })).to.deep.equal({});
      const from = { from_user_id: alice.userId, from_device_id: a0.deviceId };
      expect(await b1.connection.nextPush('session_reset')).to.deep.equal(from);
      await settle(probe, [b0, a1]);
      expect(received(b0.connection, 'session_reset')).to.have.length(0);
      expect(received(a1.connection, 'session_reset')).to.have.length(0);

      await a0.connection.expectOk('session_reset', { user_id: bob.userId });
      expect(await b0.connection.nextPush('session_reset')).to.deep.equal(from);
      expect(await b1.connection.nextPush('session_reset')).to.deep.equal(from);

      // One's own other device (devices of one account have sessions with each other too).
      await a0.connection.expectOk('session_reset', { user_id: alice.userId, device_id: a1.deviceId });
      expect(await a1.connection.nextPush('session_reset')).to.deep.equal(from);
    });

    it('refuses strangers (not_found, as if unknown), foreign or own sending devices, and bad input', async () => {
      const alice = await person(server);
      const bob = await person(server);
      const carol = await person(server);
      await createDm(alice.devices[0]!, bob);
      const a0 = alice.devices[0]!;
      await expectFailure(carol.devices[0]!, 'session_reset', { user_id: bob.userId }, 'not_found');
      await expectFailure(a0, 'session_reset', { user_id: randomUUID() }, 'not_found');
      await expectFailure(a0, 'session_reset', { user_id: bob.userId, device_id: randomUUID() }, 'not_found');
      await expectFailure(a0, 'session_reset', { user_id: bob.userId, device_id: carol.devices[0]!.deviceId }, 'not_found');
      await expectFailure(a0, 'session_reset', { user_id: alice.userId, device_id: a0.deviceId }, 'bad_request', 'device_id');
      await expectFailure(a0, 'session_reset', { user_id: 'x' }, 'bad_request', 'user_id');
      await expectFailure(a0, 'session_reset', {}, 'bad_request', 'user_id');
      await expectFailure(a0, 'session_reset', { user_id: bob.userId, device_id: 7 }, 'bad_request', 'device_id');
      await settle(probe, bob.devices);
      expect(received(bob.devices[0]!.connection, 'session_reset')).to.have.length(0);
      const anonymous = await server.connect();
      await anonymous.expectError('session_reset', { user_id: bob.userId }, 'not_authenticated');
      await anonymous.close();
    });

    it('is limited to 30 per minute per user', async () => {
      const alice = await person(server);
      const bob = await person(server);
      await createDm(alice.devices[0]!, bob);
      for (let i = 0; i < 30; i++) await alice.devices[0]!.connection.expectOk('session_reset', { user_id: bob.userId });
      const limited = await alice.devices[0]!.connection.expectError('session_reset', { user_id: bob.userId }, 'rate_limited');
      expect(limited.retry_after_ms).to.be.a('number');
    });
  });
});
