/**
 * Reactions given or taken back while a client was offline: the pushes are lost, and the client
 * part refreshes the messages shown most recently as soon as it has logged in again (api.onReady),
 * so the cached reactions — and the note under the message — are right without showing it again.
 */
import { expect } from 'chai';
import { closeAll, offlineSwitch, registerUser, removeHomes, startTestServer, waitFor, waitForText, type TestServer, type User } from '../../../engine/testing/index.js';
import reactions from '../index.js';
import type { ReactionsMethods } from '../client.js';
import { readReactions } from '../shared.js';

describe('reactions plugin: reactions missed while offline', function () {
  this.timeout(60_000);
  const offline = offlineSwitch();
  let server: TestServer;
  let alice: User;
  let bob: User;
  const methods = (user: User) => user.client.plugins.reactions as unknown as ReactionsMethods;
  const reactionsAt = async (user: User, conversationId: string, messageId: string) =>
    readReactions((await user.client.getCachedMessages(conversationId)).find((m) => m.id === messageId)?.extra.reactions).map((r) => `${r.user_id === alice.self.userId ? 'alice' : 'bob'}:${r.reaction}`);

  before(async () => {
    server = await startTestServer({ plugins: [reactions, offline.plugin] });
    alice = await registerUser(server, { username: 'alice', plugins: [reactions] });
    bob = await registerUser(server, { username: 'bob', plugins: [reactions] });
  });

  after(async () => {
    if (bob) offline.bringOnline(bob);
    await closeAll(alice, bob);
    await server?.close();
    await removeHomes();
  });

  it('brings the cached reactions up to date after the reconnect', async () => {
    const dm = await alice.client.createDm(bob.email);
    const first = await alice.client.sendMessage(dm.id, 'react to me');
    const second = await alice.client.sendMessage(dm.id, 'and to me');
    await waitForText(bob, dm.id, 'and to me');
    await methods(alice).react(dm.id, second.id, 'heart');
    await waitFor('the live reaction at bob', async () => (await reactionsAt(bob, dm.id, second.id)).length === 1);

    await offline.takeOffline(server, bob);
    await methods(alice).react(dm.id, first.id, 'thumbsup');
    await methods(alice).unreact(dm.id, second.id, 'heart');
    await methods(alice).react(dm.id, second.id, 'laugh');
    expect(await reactionsAt(bob, dm.id, first.id)).to.deep.equal([]);
    offline.bringOnline(bob);

    await waitFor('the missed reactions at bob', async () => (await reactionsAt(bob, dm.id, first.id)).length === 1 && (await reactionsAt(bob, dm.id, second.id)).join() === 'alice:laugh');
    expect(await reactionsAt(bob, dm.id, first.id)).to.deep.equal(['alice:thumbsup']);
    const shown = (await bob.client.getCachedMessages(dm.id)).find((m) => m.id === second.id)!;
    expect(bob.client.terminalDecorations(shown).notes).to.deep.equal(['😂 1']);
  });
});
