/**
 * The reactions plugin's client part with real ChatClients against real servers: react / unreact /
 * toggle, the other user's cached `extra.reactions` kept current live, after re-opening the
 * conversation and after a client restart (the original lost them), refresh after missed pushes,
 * the notice on reactions to one's own messages, the terminal commands and the note under a
 * message (through a stand-in TerminalCommandContext), and both mixed cases: a client without the
 * plugin on a server with it, and a client with it on a server without it.
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
import type { ReactionsMethods } from '../client.js';
import reactions from '../index.js';
import { DEFAULT_REACTIONS, type ReactionEntry } from '../shared.js';

const methodsOf = (user: User) => user.client.plugins.reactions as unknown as ReactionsMethods;

async function cached(user: User, conversationId: string, messageId: string) {
  return (await user.client.getCachedMessages(conversationId)).find((m) => m.id === messageId);
}

/** `user:reaction` of each entry, sorted (entries of the same millisecond are ordered by user id and name, not by request). */
const brief = (value: unknown) => ((value ?? []) as ReactionEntry[]).map((r) => `${r.user_id}:${r.reaction}`).sort();

/** Waits until the user's cached copy of the message carries exactly these reactions. */
function waitForReactions(user: User, conversationId: string, messageId: string, expected: string[]) {
  return waitFor(`reactions ${JSON.stringify(expected)} on ${user.username}'s copy`, async () => {
    const message = await cached(user, conversationId, messageId);
    return message && JSON.stringify(brief(message.extra.reactions)) === JSON.stringify([...expected].sort()) ? message : undefined;
  });
}

/** A TerminalCommandContext as the terminal gives it, recording what the command prints. */
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
  const found = user.client.commands().find((entry) => entry.plugin === 'reactions' && entry.command.name === name);
  if (!found) throw new Error(`No /${name} command`);
  return found.command;
}

forEachBackend('reactions plugin: ChatClient', (backend) => {
  let server: TestServer;
  let without: TestServer;
  const users: User[] = [];

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [reactions] });
    without = await startTestServer();
  });

  after(async function () {
    this.timeout(30_000);
    await closeAll(...users);
    await server?.close();
    await without?.close();
    await removeHomes();
  });

  it('keeps extra.reactions current: live, after re-opening, after a restart, and by refresh after missed pushes', async function () {
    this.timeout(90_000);
    const alice = await registerUser(server, { plugins: [reactions] });
    const bob = await registerUser(server, { plugins: [reactions] });
    users.push(alice, bob);
    const dm = await alice.client.createDm(bob.email);
    const sent = await alice.client.sendMessage(dm.id, 'hello there');
    await waitForText(bob, dm.id, 'hello there');
    const bobs = methodsOf(bob);
    expect(bobs.allowed()).to.deep.equal([...DEFAULT_REACTIONS]);

    const added = await bobs.react(dm.id, sent.id, 'heart');
    expect(added).to.include({ conversationId: dm.id, messageId: sent.id, reaction: 'heart', action: 'add', changed: true });
    expect(brief((await cached(bob, dm.id, sent.id))!.extra.reactions)).to.have.members([`${bob.self.userId}:heart`]);
    // Live at Alice, through the push.
    await waitForReactions(alice, dm.id, sent.id, [`${bob.self.userId}:heart`]);
    await waitFor('message_updated at Alice', () => alice.events.updates.some((m) => m.id === sent.id && brief(m.extra.reactions).length === 1));
    const [notice] = await waitFor('the notice at Alice', () => alice.events.of('plugin').find(([info]) => info.plugin === 'reactions'));
    expect(notice.type).to.equal('reacted');
    expect((notice.data as { notice: string }).notice).to.equal(`${bob.username} reacted ❤ to your message "hello there"`);

    // toggle: adds what is not there, removes what is.
    expect((await bobs.toggle(dm.id, sent.id, 'thumbsup')).action).to.equal('add');
    expect((await bobs.toggle(dm.id, sent.id, 'heart')).action).to.equal('remove');
    await waitForReactions(alice, dm.id, sent.id, [`${bob.self.userId}:thumbsup`]);
    const alices = methodsOf(alice);
    await alices.react(dm.id, sent.id, 'thumbsup');
    await waitForReactions(bob, dm.id, sent.id, [`${bob.self.userId}:thumbsup`, `${alice.self.userId}:thumbsup`]);
    expect(alices.summary((await cached(alice, dm.id, sent.id))!)).to.deep.equal([{ reaction: 'thumbsup', emoji: '👍', count: 2, mine: true }]);
    expect((await bobs.unreact(dm.id, sent.id, 'thumbsup')).changed).to.equal(true);
    expect((await bobs.unreact(dm.id, sent.id, 'thumbsup')).changed).to.equal(false);
    await waitForReactions(alice, dm.id, sent.id, [`${alice.self.userId}:thumbsup`]);

    // Re-opening the conversation (an incremental sync that does not fetch old messages) keeps them.
    await alice.client.syncConversation(dm.id);
    expect(brief((await cached(alice, dm.id, sent.id))!.extra.reactions)).to.have.members([`${alice.self.userId}:thumbsup`]);

    // A restart keeps them (the cache is on disk).
    await bobs.react(dm.id, sent.id, 'surprised');
    await waitForReactions(alice, dm.id, sent.id, [`${alice.self.userId}:thumbsup`, `${bob.self.userId}:surprised`]);
    await alice.client.close();
    const aliceAgain = await loginUser(server, alice, { home: alice.home, plugins: [reactions] });
    users.push(aliceAgain);
    expect(brief((await cached(aliceAgain, dm.id, sent.id))!.extra.reactions)).to.have.members([`${alice.self.userId}:thumbsup`, `${bob.self.userId}:surprised`]);

    // Pushes missed while offline: showing the message (cached in an earlier run) refreshes it.
    await aliceAgain.client.close();
    await bobs.react(dm.id, sent.id, 'laugh');
    const aliceThird = await loginUser(server, alice, { home: alice.home, plugins: [reactions] });
    users.push(aliceThird);
    const stale = (await cached(aliceThird, dm.id, sent.id))!;
    expect(brief(stale.extra.reactions)).to.have.length(2);
    expect(aliceThird.client.terminalDecorations(stale).notes).to.deep.equal(['👍 1 (you)  😮 1']);
    const expected = [`${alice.self.userId}:thumbsup`, `${bob.self.userId}:surprised`, `${bob.self.userId}:laugh`];
    const shown = await waitForReactions(aliceThird, dm.id, sent.id, expected);
    expect(aliceThird.client.terminalDecorations(shown).notes).to.deep.equal(['👍 1 (you)  😂 1  😮 1']);

    // ... and refresh() does it on request.
    await aliceThird.client.close();
    await bobs.unreact(dm.id, sent.id, 'surprised');
    const aliceFourth = await loginUser(server, alice, { home: alice.home, plugins: [reactions] });
    users.push(aliceFourth);
    expect(brief((await cached(aliceFourth, dm.id, sent.id))!.extra.reactions)).to.have.members(expected);
    const refreshed = await methodsOf(aliceFourth).refresh(dm.id, [sent.id]);
    const now = [`${alice.self.userId}:thumbsup`, `${bob.self.userId}:laugh`];
    expect(brief(refreshed[sent.id])).to.have.members(now);
    expect(brief((await cached(aliceFourth, dm.id, sent.id))!.extra.reactions)).to.have.members(now);
    expect(alice.events.errors).to.deep.equal([]);
    expect(aliceThird.events.errors).to.deep.equal([]);
    expect(bob.events.errors).to.deep.equal([]);
  });

  it('offers /react and /reactions and notes reactions under a message in the terminal', async function () {
    this.timeout(90_000);
    const carol = await registerUser(server, { plugins: [reactions] });
    const dave = await registerUser(server, { plugins: [reactions] });
    users.push(carol, dave);
    const dm = await carol.client.createDm(dave.email);
    const first = await carol.client.sendMessage(dm.id, 'a message worth reacting to, and rather long at that');
    await waitForText(dave, dm.id, first.text);
    expect(dave.client.commands().filter((c) => c.plugin === 'reactions').map((c) => c.command.name)).to.deep.equal(['react', 'reactions']);

    // Carol's terminal shows her message: she remembers its text for the notice.
    expect(carol.client.terminalDecorations((await cached(carol, dm.id, first.id))!).notes).to.deep.equal([]);

    const react = command(dave, 'react');
    const list = terminal(dm.id, { '1': first.id });
    await react.run([], list.context);
    expect(list.printed[0]).to.contain('👍 thumbsup  ❤ heart  😂 laugh  😮 surprised  😢 sad  👎 thumbsdown');
    await react.run(['#1'], list.context);
    expect(list.printed[1]).to.match(/^Reactions: 👍 thumbsup/);

    const unknown = terminal(dm.id, { '1': first.id });
    await react.run(['1', 'rocket'], unknown.context);
    expect(unknown.errors[0]).to.match(/^Unknown reaction "rocket": use one of 👍 thumbsup/);
    let failure: unknown;
    try {
      await react.run(['#7', 'heart'], terminal(dm.id, { '1': first.id }).context);
    } catch (error) {
      failure = error;
    }
    expect((failure as Error).message).to.equal('There is no message #7');

    const ran = terminal(dm.id, { '1': first.id });
    await react.run(['#1', '👍'], ran.context);
    await react.run(['1', ':heart:'], ran.context);
    expect(ran.printed).to.deep.equal(['You reacted 👍 to #1', 'You reacted ❤ to #1']);
    expect(ran.errors).to.deep.equal([]);
    const atDave = await waitForReactions(dave, dm.id, first.id, [`${dave.self.userId}:thumbsup`, `${dave.self.userId}:heart`]);
    expect(dave.client.terminalDecorations(atDave).notes).to.deep.equal(['👍 1 (you)  ❤ 1 (you)']);

    // Carol's notices quote her message; her note counts Dave's reactions.
    const notices = await waitFor('two notices at Carol', () => {
      const found = carol.events.of('plugin').filter(([info]) => info.plugin === 'reactions');
      return found.length === 2 ? found.map(([info]) => (info.data as { notice: string }).notice) : undefined;
    });
    expect(notices).to.deep.equal([
      `${dave.username} reacted 👍 to your message "a message worth reacting to, and rather…"`,
      `${dave.username} reacted ❤ to your message "a message worth reacting to, and rather…"`,
    ]);
    await methodsOf(carol).react(dm.id, first.id, 'heart');
    const atCarol = await waitForReactions(carol, dm.id, first.id, [`${dave.self.userId}:thumbsup`, `${dave.self.userId}:heart`, `${carol.self.userId}:heart`]);
    expect(carol.client.terminalDecorations(atCarol).notes).to.deep.equal(['👍 1  ❤ 2 (you)']);

    // /reactions names who reacted with what (asking the server, so it is current).
    const who = terminal(dm.id, { '1': first.id });
    await command(dave, 'reactions').run(['#1'], who.context);
    expect(who.printed).to.deep.equal(['Reactions on #1:', '  👍 thumbsup: you', `  ❤ heart: you, ${carol.username}`]);

    // /react on a reaction one gave already takes it back.
    const back = terminal(dm.id, { '1': first.id });
    await react.run(['1', 'thumbsup'], back.context);
    expect(back.printed).to.deep.equal(['You took back your 👍 from #1']);
    const none = terminal(dm.id, { '1': first.id, '2': (await carol.client.sendMessage(dm.id, 'second')).id });
    await waitForText(dave, dm.id, 'second');
    await command(dave, 'reactions').run(['2'], none.context);
    expect(none.printed).to.deep.equal(['No reactions on #2.']);
    // Deleted messages carry no note.
    await carol.client.deleteMessage(dm.id, first.id);
    const deleted = await waitFor('the deletion at Dave', async () => {
      const message = await cached(dave, dm.id, first.id);
      return message?.deleted ? message : undefined;
    });
    expect(dave.client.terminalDecorations(deleted).notes).to.deep.equal([]);
  });

  it('names the group in the notice, and stays quiet about others’ messages and removals', async function () {
    this.timeout(60_000);
    const kim = await registerUser(server, { plugins: [reactions] });
    const lee = await registerUser(server, { plugins: [reactions] });
    users.push(kim, lee);
    const group = await kim.client.createGroup('Hiking', [lee.email]);
    const sent = await kim.client.sendMessage(group.id, 'trail at 9?');
    await waitForText(lee, group.id, 'trail at 9?');
    await methodsOf(lee).react(group.id, sent.id, 'thumbsup');
    const [notice] = await waitFor('the notice at Kim', () => kim.events.of('plugin').find(([info]) => info.plugin === 'reactions'));
    expect(notice.data).to.deep.equal({
      notice: `${lee.username} reacted 👍 to your message "trail at 9?" in Hiking`,
      conversation_id: group.id,
      message_id: sent.id,
      user_id: lee.self.userId,
      username: lee.username,
      reaction: 'thumbsup',
    });
    await waitForReactions(kim, group.id, sent.id, [`${lee.self.userId}:thumbsup`]);
    // Reactions to other people's messages and removals: no notice.
    const answer = await lee.client.sendMessage(group.id, 'yes');
    await waitForText(kim, group.id, 'yes');
    await methodsOf(kim).react(group.id, answer.id, 'heart');
    await methodsOf(lee).unreact(group.id, sent.id, 'thumbsup');
    await methodsOf(lee).react(group.id, answer.id, 'laugh');
    await waitForReactions(kim, group.id, answer.id, [`${kim.self.userId}:heart`, `${lee.self.userId}:laugh`]);
    await waitForReactions(kim, group.id, sent.id, []);
    expect(kim.events.of('plugin')).to.have.length(1);
    const atLee = await waitFor('Kim’s notice at Lee', () => lee.events.of('plugin').find(([info]) => info.plugin === 'reactions'));
    expect((atLee[0].data as { notice: string }).notice).to.equal(`${kim.username} reacted ❤ to your message "yes" in Hiking`);
  });

  it('gets a reaction into the cache even when it arrives while the message is still being received', async function () {
    this.timeout(60_000);
    const ivan = await registerUser(server, { plugins: [reactions] });
    const judy = await registerUser(server, { plugins: [reactions] });
    users.push(ivan, judy);
    // A first message (X3DH on Judy's side) and reactions right after it, without waiting for Judy:
    // whichever of the message and the pushes Judy's client handles first, her cache ends up right.
    const dm = await ivan.client.createDm(judy.email);
    const sent = await ivan.client.sendMessage(dm.id, 'first words');
    await methodsOf(ivan).react(dm.id, sent.id, 'heart');
    await methodsOf(ivan).react(dm.id, sent.id, 'laugh');
    await waitForText(judy, dm.id, 'first words');
    await waitForReactions(judy, dm.id, sent.id, [`${ivan.self.userId}:heart`, `${ivan.self.userId}:laugh`]);
    expect(judy.events.errors).to.deep.equal([]);
  });

  it('leaves a client without the plugin working on a server that has it', async function () {
    this.timeout(60_000);
    const erin = await registerUser(server);
    const frank = await registerUser(server, { plugins: [reactions] });
    users.push(erin, frank);
    expect(erin.client.plugins.reactions).to.equal(undefined);
    expect(erin.client.commands()).to.deep.equal([]);
    const dm = await erin.client.createDm(frank.email);
    const sent = await erin.client.sendMessage(dm.id, 'plain client');
    await waitForText(frank, dm.id, 'plain client');
    await methodsOf(frank).react(dm.id, sent.id, 'heart');
    await frank.client.sendMessage(dm.id, 'after the reaction');
    // The push was ignored; messaging goes on.
    await waitForText(erin, dm.id, 'after the reaction');
    expect(erin.events.errors).to.deep.equal([]);
    expect(erin.events.of('plugin')).to.deep.equal([]);
  });

  it('hides the plugin when the server does not have it', async function () {
    this.timeout(60_000);
    const gina = await registerUser(without, { plugins: [reactions] });
    const hank = await registerUser(without, { plugins: [reactions] });
    users.push(gina, hank);
    expect(gina.client.plugins.reactions).to.equal(undefined);
    expect(gina.client.commands()).to.deep.equal([]);
    const dm = await gina.client.createDm(hank.email);
    const sent = await gina.client.sendMessage(dm.id, 'no reactions here');
    const received = await waitForText(hank, dm.id, 'no reactions here');
    expect(received.extra).to.not.have.property('reactions');
    expect(hank.client.terminalDecorations(received).notes).to.deep.equal([]);
    expect(sent.payload).to.deep.equal({ v: 1, text: 'no reactions here' });
    expect(gina.events.errors).to.deep.equal([]);
  });
});
