/**
 * Invitations the invitee did not hear about: after the first login the client says how many are
 * pending (`invitations` event with a notice), and after logging in again following a lost
 * connection it announces one that arrived meanwhile as if its push had come (`invitation`,
 * `recovered: true`) and one withdrawn meanwhile as `invitation_removed` (api.onReady).
 */
import { expect } from 'chai';
import { closeAll, loginUser, offlineSwitch, registerUser, removeHomes, startTestServer, waitFor, type TestServer, type User } from '../../../engine/testing/index.js';
import invitations from '../index.js';
import type { InvitationsMethods } from '../client.js';

const plugins = [invitations];

function events(user: User, type: string): Array<Record<string, unknown>> {
  return user.events
    .of('plugin')
    .filter(([info]) => info.plugin === 'invitations' && info.type === type)
    .map(([info]) => info.data as Record<string, unknown>);
}

describe('invitations plugin: invitations missed while offline', function () {
  this.timeout(90_000);
  const offline = offlineSwitch();
  let server: TestServer;
  let alice: User;
  let carol: User;
  let carolAgain: User | undefined;
  const methods = (user: User) => user.client.plugins.invitations as unknown as InvitationsMethods;

  before(async () => {
    server = await startTestServer({ plugins: [invitations, offline.plugin] });
    alice = await registerUser(server, { username: 'alice', plugins });
    carol = await registerUser(server, { username: 'carol', plugins });
  });

  after(async () => {
    if (carol) offline.bringOnline(carol);
    await closeAll(alice, carol, carolAgain);
    await server?.close();
    await removeHomes();
  });

  it('announces an invitation sent while offline, and one withdrawn meanwhile, after the reconnect', async () => {
    const withdrawn = await alice.client.createGroup('Withdrawn', [carol.email]);
    await waitFor('the live invitation', () => events(carol, 'invitation').some((e) => e.conversationId === withdrawn.id));
    expect(methods(carol).pending().map((i) => i.conversationId)).to.deep.equal([withdrawn.id]);

    await offline.takeOffline(server, carol);
    const missed = await alice.client.createGroup('Missed', [carol.email]);
    await methods(alice).cancel(withdrawn.id, carol.self.userId);
    expect(events(carol, 'invitation').some((e) => e.conversationId === missed.id)).to.equal(false);
    offline.bringOnline(carol);

    const recovered = await waitFor('the recovered invitation', () => events(carol, 'invitation').find((e) => e.conversationId === missed.id));
    expect(recovered).to.deep.include({ conversationName: 'Missed', invitedBy: alice.self.userId, invitedByUsername: 'alice', recovered: true, notice: 'alice invited you to Missed — /invites' });
    const removed = await waitFor('the removed invitation', () => events(carol, 'invitation_removed').find((e) => e.conversationId === withdrawn.id));
    expect(removed).to.deep.equal({ conversationId: withdrawn.id, reason: 'gone' });
    expect(methods(carol).pending().map((i) => i.conversationId)).to.deep.equal([missed.id]);
  });

  it('says how many invitations wait after the first login', async () => {
    await carol.client.close();
    carolAgain = await loginUser(server, carol, { home: carol.home, plugins });
    const [summary] = await waitFor('the summary', () => (events(carolAgain!, 'invitations').length > 0 ? events(carolAgain!, 'invitations') : undefined));
    expect(summary!.notice).to.equal('You have 1 pending group invitation — /invites');
    expect((summary!.invitations as Array<{ conversationName: string }>).map((i) => i.conversationName)).to.deep.equal(['Missed']);
  });
});
