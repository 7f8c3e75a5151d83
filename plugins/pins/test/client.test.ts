/**
 * The pins plugin's client part with real ChatClients against real servers: pin / unpin / list,
 * the other user's cached `extra.pinned_at` / `extra.pinned_by` kept current live, after re-opening
 * the conversation and after a client restart, list() repairing what missed pushes left stale, the
 * notice on others' pins, the terminal commands and the 📌 badge (through a stand-in
 * TerminalCommandContext), and both mixed cases: a client without the plugin on a server with it,
 * and a client with it on a server without it.
 */
import { expect } from 'chai';
import type { TerminalCommand, TerminalCommandContext } from '../../../engine/plugin/index.js';
import {
  closeAll,
  forEachBackend,
  loginUser,
  registerUser,
  removeHomes,
  startTestServer,
  waitFor,
  waitForText,
  type TestServer,
  type User,
} from '../../../engine/testing/index.js';
import type { PinsMethods } from '../client.js';
import pins from '../index.js';

const methodsOf = (user: User) => user.client.plugins.pins as unknown as PinsMethods;

async function cached(user: User, conversationId: string, messageId: string) {
  return (await user.client.getCachedMessages(conversationId)).find((m) => m.id === messageId);
}

/** Waits until the user's cached copy of the message says it is pinned by `pinnedBy` (or not pinned, for null). */
function waitForPin(user: User, conversationId: string, messageId: string, pinnedBy: string | null) {
  return waitFor(`${pinnedBy === null ? 'no pin' : 'a pin'} on ${user.username}'s copy`, async () => {
    const message = await cached(user, conversationId, messageId);
    if (!message) return undefined;
    const { pinned_at: pinnedAt, pinned_by: by } = message.extra;
    const matches = pinnedBy === null ? (pinnedAt ?? null) === null && (by ?? null) === null : typeof pinnedAt === 'number' && by === pinnedBy;
    return matches ? message : undefined;
  });
}

function terminal(conversationId: string | undefined, numbers: Record<string, string>) {
  const printed: string[] = [];
  const errors: string[] = [];
  const context: TerminalCommandContext = {
    conversationId,
    resolveMessage(reference) {
      const id = numbers[reference.replace(/^#/, '')];
      if (!id) throw new Error(`There is no message ${reference}`);
      return id;
    },
    print: (line) => void printed.push(line),
    error: (line) => void errors.push(line),
  };
  return { context, printed, errors };
}

function command(user: User, name: string): TerminalCommand {
  const found = user.client.commands().find((entry) => entry.plugin === 'pins' && entry.command.name === name);
  if (!found) throw new Error(`No /${name} command`);
  return found.command;
}

forEachBackend('pins plugin: ChatClient', (backend) => {
  let server: TestServer;
  let without: TestServer;
  const users: User[] = [];

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [pins] });
    without = await startTestServer();
  });

  after(async function () {
    this.timeout(30_000);
    await closeAll(...users);
    await server?.close();
    await without?.close();
    await removeHomes();
  });

  it('keeps extra.pinned_at / pinned_by current: live, after re-opening, after a restart, and through list()', async function () {
    this.timeout(90_000);
    const alice = await registerUser(server, { plugins: [pins] });
    const bob = await registerUser(server, { plugins: [pins] });
    users.push(alice, bob);
    const dm = await alice.client.createDm(bob.email);
    const first = await bob.client.sendMessage(dm.id, 'the plan for saturday');
    const second = await alice.client.sendMessage(dm.id, 'sounds good');
    await waitForText(alice, dm.id, 'the plan for saturday');
    await waitForText(bob, dm.id, 'sounds good');

    const pinned = await methodsOf(bob).pin(dm.id, first.id);
    expect(pinned).to.include({ conversationId: dm.id, messageId: first.id, pinned: true, changed: true, pinnedBy: bob.self.userId });
    expect((await cached(bob, dm.id, first.id))!.extra).to.deep.include({ pinned_at: pinned.pinnedAt, pinned_by: bob.self.userId });
    const atAlice = await waitForPin(alice, dm.id, first.id, bob.self.userId);
    expect(atAlice.extra.pinned_at).to.equal(pinned.pinnedAt);
    expect(methodsOf(alice).isPinned(atAlice)).to.equal(true);
    const [notice] = await waitFor('the notice at Alice', () => alice.events.of('plugin').find(([info]) => info.plugin === 'pins'));
    expect(notice.type).to.equal('pinned');
    expect((notice.data as { notice: string }).notice).to.equal(`${bob.username} pinned "the plan for saturday"`);

    // Alice pins her own message: Bob hears it, Alice gets no notice about herself.
    expect((await methodsOf(alice).pin(dm.id, second.id)).changed).to.equal(true);
    await waitForPin(bob, dm.id, second.id, alice.self.userId);
    expect((await methodsOf(alice).pin(dm.id, second.id)).changed).to.equal(false);

    // list(): newest pin first, with the text where this device has it.
    const list = await methodsOf(alice).list(dm.id);
    expect(list.map((p) => [p.messageId, p.pinnedBy, p.senderId])).to.deep.equal([
      [second.id, alice.self.userId, alice.self.userId],
      [first.id, bob.self.userId, bob.self.userId],
    ]);
    expect(list[1]!.text).to.equal('the plan for saturday');
    expect(list[1]!.pinnedByUsername).to.equal(bob.username);

    // Unpinning reaches the other side; re-opening keeps the state.
    expect((await methodsOf(alice).unpin(dm.id, first.id)).changed).to.equal(true);
    await waitForPin(bob, dm.id, first.id, null);
    await bob.client.syncConversation(dm.id);
    expect((await cached(bob, dm.id, first.id))!.extra).to.deep.include({ pinned_at: null, pinned_by: null });
    expect(typeof (await cached(bob, dm.id, second.id))!.extra.pinned_at).to.equal('number');

    // A restart keeps the cached pins.
    await bob.client.close();
    const bobAgain = await loginUser(server, bob, { home: bob.home, plugins: [pins] });
    users.push(bobAgain);
    expect((await cached(bobAgain, dm.id, second.id))!.extra.pinned_by).to.equal(alice.self.userId);
    expect(bobAgain.client.terminalDecorations((await cached(bobAgain, dm.id, second.id))!).badges).to.deep.equal(['📌']);

    // Changes missed while offline: showing the conversation (cached in an earlier run) lists its
    // pins in the background and brings the cache in line with the server.
    await bobAgain.client.close();
    await methodsOf(alice).unpin(dm.id, second.id);
    await methodsOf(alice).pin(dm.id, first.id);
    const bobThird = await loginUser(server, bob, { home: bob.home, plugins: [pins] });
    users.push(bobThird);
    const stale = (await cached(bobThird, dm.id, second.id))!;
    expect(typeof stale.extra.pinned_at).to.equal('number');
    expect(bobThird.client.terminalDecorations(stale).badges).to.deep.equal(['📌']);
    const unpinnedNow = await waitForPin(bobThird, dm.id, second.id, null);
    expect(bobThird.client.terminalDecorations(unpinnedNow).badges).to.deep.equal([]);
    await waitForPin(bobThird, dm.id, first.id, alice.self.userId);

    // ... and list() does it on request.
    await bobThird.client.close();
    await methodsOf(alice).unpin(dm.id, first.id);
    const bobFourth = await loginUser(server, bob, { home: bob.home, plugins: [pins] });
    users.push(bobFourth);
    expect((await cached(bobFourth, dm.id, first.id))!.extra.pinned_by).to.equal(alice.self.userId);
    expect(await methodsOf(bobFourth).list(dm.id)).to.deep.equal([]);
    expect((await cached(bobFourth, dm.id, first.id))!.extra).to.deep.include({ pinned_at: null, pinned_by: null });
    expect(alice.events.errors).to.deep.equal([]);
    expect(bobThird.events.errors).to.deep.equal([]);
    expect(bob.events.errors).to.deep.equal([]);
  });

  it('offers /pin, /unpin and /pins and shows a 📌 badge in the terminal', async function () {
    this.timeout(90_000);
    const carol = await registerUser(server, { plugins: [pins] });
    const dave = await registerUser(server, { plugins: [pins] });
    users.push(carol, dave);
    const dm = await carol.client.createDm(dave.email);
    const first = await carol.client.sendMessage(dm.id, 'remember the milk, and the eggs, and the bread, and the butter');
    const second = await dave.client.sendMessage(dm.id, 'ok');
    await waitForText(dave, dm.id, first.text);
    await waitForText(carol, dm.id, 'ok');
    expect(dave.client.commands().filter((c) => c.plugin === 'pins').map((c) => c.command.name)).to.deep.equal(['pin', 'unpin', 'pins']);
    const numbers = { '1': first.id, '2': second.id };

    const empty = terminal(dm.id, numbers);
    await command(dave, 'pins').run([], empty.context);
    expect(empty.printed).to.deep.equal(['No pinned messages in this conversation.']);

    const ran = terminal(dm.id, numbers);
    await command(dave, 'pin').run(['#1'], ran.context);
    await command(dave, 'pin').run(['1'], ran.context);
    await command(dave, 'pin').run(['2'], ran.context);
    expect(ran.printed).to.deep.equal(['📌 Pinned #1.', '#1 is pinned already.', '📌 Pinned #2.']);
    const pinnedAtDave = (await cached(dave, dm.id, first.id))!;
    expect(dave.client.terminalDecorations(pinnedAtDave).badges).to.deep.equal(['📌']);
    expect(dave.client.terminalDecorations((await cached(dave, dm.id, second.id))!).badges).to.deep.equal(['📌']);
    const atCarolList = terminal(dm.id, numbers);
    await command(carol, 'pins').run([], atCarolList.context);
    expect(atCarolList.printed[2]).to.equal(`  📌 you: "remember the milk, and the eggs, and th…" — pinned by ${dave.username}`);
    const atCarol = await waitForPin(carol, dm.id, first.id, dave.self.userId);
    expect(carol.client.terminalDecorations(atCarol).badges).to.deep.equal(['📌']);

    const listed = terminal(dm.id, numbers);
    await command(dave, 'pins').run([], listed.context);
    expect(listed.printed).to.deep.equal([
      'Pinned messages (2):',
      '  📌 you: "ok" — pinned by you',
      `  📌 ${carol.username}: "remember the milk, and the eggs, and th…" — pinned by you`,
    ]);

    const unpinned = terminal(dm.id, numbers);
    await command(carol, 'unpin').run(['#1'], unpinned.context);
    await command(carol, 'unpin').run(['#1'], unpinned.context);
    expect(unpinned.printed).to.deep.equal(['Unpinned #1.', '#1 was not pinned.']);
    const unpinnedAtDave = await waitForPin(dave, dm.id, first.id, null);
    expect(dave.client.terminalDecorations(unpinnedAtDave).badges).to.deep.equal([]);

    const usage = terminal(dm.id, numbers);
    await command(dave, 'pin').run([], usage.context);
    await command(dave, 'unpin').run([], usage.context);
    expect(usage.errors).to.deep.equal(['Usage: /pin <#n>', 'Usage: /unpin <#n>']);
    let failure: unknown;
    try {
      await command(dave, 'pin').run(['#9'], terminal(dm.id, numbers).context);
    } catch (error) {
      failure = error;
    }
    expect((failure as Error).message).to.equal('There is no message #9');
    // Deleted messages carry no badge.
    await dave.client.deleteMessage(dm.id, second.id);
    const deleted = await waitFor('the deletion at Carol', async () => {
      const message = await cached(carol, dm.id, second.id);
      return message?.deleted ? message : undefined;
    });
    expect(carol.client.terminalDecorations(deleted).badges).to.deep.equal([]);
  });

  it('gets a pin into the cache even when it arrives while the message is still being received', async function () {
    this.timeout(60_000);
    const ivan = await registerUser(server, { plugins: [pins] });
    const judy = await registerUser(server, { plugins: [pins] });
    users.push(ivan, judy);
    // A first message (X3DH on Judy's side) pinned right away, without waiting for Judy: whichever
    // of the message and the push Judy's client handles first, her cache ends up right.
    const dm = await ivan.client.createDm(judy.email);
    const sent = await ivan.client.sendMessage(dm.id, 'first words');
    await methodsOf(ivan).pin(dm.id, sent.id);
    await waitForText(judy, dm.id, 'first words');
    await waitForPin(judy, dm.id, sent.id, ivan.self.userId);
    expect(judy.events.errors).to.deep.equal([]);
  });

  it('leaves a client without the plugin working on a server that has it', async function () {
    this.timeout(60_000);
    const erin = await registerUser(server);
    const frank = await registerUser(server, { plugins: [pins] });
    users.push(erin, frank);
    expect(erin.client.plugins.pins).to.equal(undefined);
    expect(erin.client.commands()).to.deep.equal([]);
    const dm = await erin.client.createDm(frank.email);
    const sent = await erin.client.sendMessage(dm.id, 'plain client');
    await waitForText(frank, dm.id, 'plain client');
    await methodsOf(frank).pin(dm.id, sent.id);
    await methodsOf(frank).unpin(dm.id, sent.id);
    await frank.client.sendMessage(dm.id, 'after the pin');
    await waitForText(erin, dm.id, 'after the pin');
    expect(erin.events.errors).to.deep.equal([]);
    expect(erin.events.of('plugin')).to.deep.equal([]);
  });

  it('hides the plugin when the server does not have it', async function () {
    this.timeout(60_000);
    const gina = await registerUser(without, { plugins: [pins] });
    const hank = await registerUser(without, { plugins: [pins] });
    users.push(gina, hank);
    expect(gina.client.plugins.pins).to.equal(undefined);
    expect(gina.client.commands()).to.deep.equal([]);
    const dm = await gina.client.createDm(hank.email);
    await gina.client.sendMessage(dm.id, 'no pins here');
    const received = await waitForText(hank, dm.id, 'no pins here');
    expect(received.extra).to.not.have.property('pinned_at');
    expect(hank.client.terminalDecorations(received).badges).to.deep.equal([]);
    expect(gina.events.errors).to.deep.equal([]);
  });
});
