/**
 * Disabling the pins plugin gates it without touching its data: a server restarted on the same
 * database without the plugin answers its types `unknown_type`, leaves it out of hello and
 * get_messages, and works for everything else; restarted with it again, the old pins are back.
 */
import { expect } from 'chai';
import { forEachBackend, startTestServer, type TestServer } from '../../../engine/testing/index.js';
import pins from '../index.js';
import type { PinAnswer, PinEntry } from '../shared.js';
import { closeOpened, createDm, getMessages, persistentDataDir, person, relogin, sendDm, type Person } from '../../../engine/testing/people.js';

interface Hello {
  plugins: Array<{ name: string }>;
  plugin_settings: Record<string, unknown>;
}

forEachBackend('pins plugin: disable and re-enable', (backend) => {
  let server: TestServer | undefined;
  let data: Awaited<ReturnType<typeof persistentDataDir>> | undefined;

  after(async function () {
    this.timeout(30_000);
    await closeOpened();
    await server?.close();
    await data?.remove();
  });

  it('keeps the pins while the plugin is off and shows them again when it is back', async function () {
    this.timeout(60_000);
    data = await persistentDataDir('pins');
    const start = (withPins: boolean) => startTestServer({ databaseUrl: backend.databaseUrl, plugins: withPins ? [pins] : [], config: { dataDir: data!.dir } });
    const again = async (who: Person): Promise<Person> => ({ ...who, devices: [await relogin(server!, who.account, who.devices[0]!.deviceId)] });

    server = await start(true);
    let alice = await person(server);
    let bob = await person(server);
    const dm = await createDm(alice.devices[0]!, bob);
    const kept = await sendDm(alice.devices[0]!, dm, [alice, bob]);
    const answer = await bob.devices[0]!.connection.expectOk<PinAnswer>('pin_message', { message_id: kept, pinned: true });
    await closeOpened();
    await server.close();

    server = await start(false);
    alice = await again(alice);
    bob = await again(bob);
    const hello = alice.devices[0]!.connection.hello as unknown as Hello;
    expect(hello.plugins.map((p) => p.name)).not.to.include('pins');
    expect(hello.plugin_settings).not.to.have.property('pins');
    await bob.devices[0]!.connection.expectError('pin_message', { message_id: kept, pinned: false }, 'unknown_type');
    await bob.devices[0]!.connection.expectError('get_pinned_messages', { conversation_id: dm }, 'unknown_type');
    const meanwhile = await sendDm(bob.devices[0]!, dm, [alice, bob]);
    const offline = await getMessages(alice.devices[0]!, dm);
    expect(offline.map((m) => m.id)).to.deep.equal([kept, meanwhile]);
    for (const message of offline) {
      expect(message).not.to.have.property('pinned_at');
      expect(message).not.to.have.property('pinned_by');
    }
    await closeOpened();
    await server.close();

    server = await start(true);
    alice = await again(alice);
    bob = await again(bob);
    const back = new Map((await getMessages(alice.devices[0]!, dm)).map((m) => [m.id, m]));
    expect(back.get(kept)).to.deep.include({ pinned_at: answer.pinned_at, pinned_by: bob.userId });
    expect(back.get(meanwhile)).to.deep.include({ pinned_at: null, pinned_by: null });
    const list = (await alice.devices[0]!.connection.expectOk<{ pins: PinEntry[] }>('get_pinned_messages', { conversation_id: dm })).pins;
    expect(list.map((p) => p.message_id)).to.deep.equal([kept]);
  });
});
