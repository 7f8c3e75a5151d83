/**
 * Pins and unpins while a client was offline: the pushes are lost, and the client part lists the
 * pins of the conversations it had listed again as soon as it has logged in again (api.onReady),
 * so the cached pin state — and the 📌 badge — are right without opening them again.
 */
import { expect } from 'chai';
import { closeAll, offlineSwitch, registerUser, removeHomes, startTestServer, waitFor, waitForText, type TestServer, type User } from '../../../engine/testing/index.js';
import pins from '../index.js';
import type { PinsMethods } from '../client.js';
import { PIN_BADGE } from '../shared.js';

describe('pins plugin: pins missed while offline', function () {
  this.timeout(60_000);
  const offline = offlineSwitch();
  let server: TestServer;
  let alice: User;
  let bob: User;
  const methods = (user: User) => user.client.plugins.pins as unknown as PinsMethods;
  const pinnedAt = async (user: User, conversationId: string, messageId: string) =>
    (await user.client.getCachedMessages(conversationId)).find((m) => m.id === messageId)?.extra.pinned_at ?? null;

  before(async () => {
    server = await startTestServer({ plugins: [pins, offline.plugin] });
    alice = await registerUser(server, { username: 'alice', plugins: [pins] });
    bob = await registerUser(server, { username: 'bob', plugins: [pins] });
  });

  after(async () => {
    if (bob) offline.bringOnline(bob);
    await closeAll(alice, bob);
    await server?.close();
    await removeHomes();
  });

  it('lists the pins again after the reconnect', async () => {
    const group = await alice.client.createGroup('Plans', [bob.email]);
    const keep = await alice.client.sendMessage(group.id, 'pinned before');
    const later = await alice.client.sendMessage(group.id, 'pinned while bob is away');
    await waitForText(bob, group.id, 'pinned while bob is away');
    await methods(alice).pin(group.id, keep.id);
    // Bob looked at the pins (as /pins or opening the conversation would).
    await waitFor('bob lists the pin', async () => (await methods(bob).list(group.id)).length === 1);

    await offline.takeOffline(server, bob);
    await methods(alice).unpin(group.id, keep.id);
    const pinned = await methods(alice).pin(group.id, later.id);
    expect(await pinnedAt(bob, group.id, later.id)).to.equal(null);
    offline.bringOnline(bob);

    await waitFor('the missed pin at bob', async () => (await pinnedAt(bob, group.id, later.id)) === pinned.pinnedAt);
    await waitFor('the missed unpin at bob', async () => (await pinnedAt(bob, group.id, keep.id)) === null);
    const shown = (await bob.client.getCachedMessages(group.id)).find((m) => m.id === later.id)!;
    expect(bob.client.terminalDecorations(shown).badges).to.deep.equal([PIN_BADGE]);
  });
});
