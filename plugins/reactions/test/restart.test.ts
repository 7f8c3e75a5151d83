/**
 * Disabling the reactions plugin gates it without touching its data: a server restarted on the
 * same database without the plugin answers its types `unknown_type`, leaves it out of hello and
 * get_messages, and works for everything else; restarted with it again, the old reactions are back.
 */
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestServer } from '../../../engine/testing/index.js';
import reactions from '../index.js';
import type { ReactAnswer, ReactionEntry } from '../shared.js';
import { closeOpened, createDm, getMessages, persistentDataDir, person, relogin, sendDm, type Person } from '../../../engine/testing/people.js';

interface Hello {
  plugins: Array<{ name: string }>;
  plugin_settings: Record<string, unknown>;
}

forEachBackend('reactions plugin: disable and re-enable', (backend) => {
  let server: TestServer | undefined;
  let data: Awaited<ReturnType<typeof persistentDataDir>> | undefined;

  after(async function () {
    this.timeout(30_000);
    await closeOpened();
    await server?.close();
    await data?.remove();
  });

  it('keeps the reactions while the plugin is off and shows them again when it is back', async function () {
    this.timeout(60_000);
    data = await persistentDataDir('reactions');
    const start = (withReactions: boolean) =>
      startTestServer({ databaseUrl: backend.databaseUrl, plugins: withReactions ? [reactions] : [], config: { dataDir: data!.dir } });
    const again = async (who: Person): Promise<Person> => ({ ...who, devices: [await relogin(server!, who.account, who.devices[0]!.deviceId)] });

    server = await start(true);
    let alice = await person(server);
    let bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const reacted = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    await bob.devices[0]!.connection.expectOk<ReactAnswer>('react_message', { message_id: reacted, reaction: 'heart', action: 'add' });
    await alice.devices[0]!.connection.expectOk<ReactAnswer>('react_message', { message_id: reacted, reaction: 'thumbsup', action: 'add' });
    await closeOpened();
    await server.close();

    // Off: unknown types, absent from hello, no reactions field; messaging goes on.
    server = await start(false);
    alice = await again(alice);
    bob = await again(bob);
    const hello = alice.devices[0]!.connection.hello as unknown as Hello;
    expect(hello.plugins.map((p) => p.name)).not.to.include('reactions');
    expect(hello.plugin_settings).not.to.have.property('reactions');
    const unknown = await bob.devices[0]!.connection.expectError('react_message', { message_id: reacted, reaction: 'laugh', action: 'add' }, 'unknown_type');
    expect(unknown.code).to.equal('unknown_type');
    await bob.devices[0]!.connection.expectError('get_reactions', { conversation_id: dm, message_ids: [reacted] }, 'unknown_type');
    const meanwhile = await sendDm(bob.devices[0]!, dm, [alice, bob]);
    const offline = await getMessages(alice.devices[0]!, dm);
    expect(offline.map((m) => m.id)).to.deep.equal([reacted, meanwhile]);
    for (const message of offline) expect(message).not.to.have.property('reactions');
    await closeOpened();
    await server.close();

    // On again: the old reactions are back, and new ones work.
    server = await start(true);
    alice = await again(alice);
    bob = await again(bob);
    expect((alice.devices[0]!.connection.hello as unknown as Hello).plugins.map((p) => p.name)).to.include('reactions');
    const back = new Map((await getMessages(alice.devices[0]!, dm)).map((m) => [m.id, m.reactions as ReactionEntry[]]));
    expect(back.get(reacted)!.map((r) => `${r.user_id}:${r.reaction}`)).to.have.members([`${bob.userId}:heart`, `${alice.userId}:thumbsup`]);
    expect(back.get(meanwhile)).to.deep.equal([]);
    const added = await bob.devices[0]!.connection.expectOk<ReactAnswer>('react_message', { message_id: meanwhile, reaction: 'laugh', action: 'add' });
    expect(added.changed).to.equal(true);
  });
});
