/**
 * The polls plugin through real servers and real ChatClients, on every database backend: the
 * server loads it by path, as a deployment's plugin list would name it. Creating, voting,
 * changing a vote, results, closing, pushes, refusals, the terminal commands, the conversation
 * deletion cascade — and the end-to-end property: the question and the options never reach the
 * server's database.
 */
import { expect } from 'chai';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TerminalCommand, TerminalCommandContext } from 'kecalek/plugin';
import { closeAll, forEachBackend, registerUser, removeHomes, startTestServer, waitFor, waitForText, type TestServer, type User } from 'kecalek/testing';
import polls, { type PollsMethods } from '../index.js';

const PLUGIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root: the deployment directory the plugin path is relative to. */
const DEPLOYMENT = resolve(PLUGIN_DIR, '..', '..');

function pollsOf(user: User): PollsMethods {
  return user.client.plugins.polls as unknown as PollsMethods;
}

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

/** Every row of every table, as text: what someone who copies the database could read. */
async function databaseDump(server: TestServer): Promise<string> {
  const knex = server.server.database.knex;
  const tables =
    server.server.database.kind === 'sqlite'
      ? ((await knex.raw("select name from sqlite_master where type = 'table'")) as Array<{ name: string }>).map((row) => row.name)
      : ((await knex.raw('select table_name as name from information_schema.tables where table_schema = database()')) as [Array<{ name: string }>])[0].map(
          (row) => row.name,
        );
  let dump = '';
  for (const table of tables) dump += JSON.stringify(await knex(table).select('*'));
  return dump;
}

forEachBackend('kecalek-plugin-polls', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  let carol: User;
  let groupId: string;

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({
      databaseUrl: backend.databaseUrl,
      plugins: ['./examples/kecalek-plugin-polls'],
      settings: { polls: { maxOptions: 5 } },
      config: { cwd: DEPLOYMENT },
    });
    alice = await registerUser(server, { username: 'alice', plugins: [polls] });
    bob = await registerUser(server, { username: 'bob', plugins: [polls] });
    carol = await registerUser(server, { username: 'carol', plugins: [polls] });
    groupId = (await alice.client.createGroup('Lunch', [bob.email])).id;
  });

  after(async function () {
    this.timeout(30_000);
    await closeAll(alice, bob, carol);
    await server?.close();
    await removeHomes();
  });

  it('is loaded by path and advertised with its public settings', () => {
    expect(server.server.plugins).to.deep.equal([{ name: 'polls', version: '1.0.0' }]);
    expect(alice.client.serverInfo?.pluginSettings.polls).to.deep.equal({ maxOptions: 5, allowMultipleChoice: true });
    expect(alice.client.commands().map((entry) => entry.command.name)).to.deep.equal(['poll', 'vote', 'results', 'close-poll']);
  });

  it('creates a poll, votes, changes a vote, and pushes the counts to the members', async function () {
    this.timeout(60_000);
    const { pollId, messageId } = await pollsOf(alice).create(groupId, 'Where shall we eat?', ['Pizza', 'Sushi', 'Tacos']);

    // Bob receives an ordinary (visible) encrypted message carrying the poll.
    const message = await waitForText(bob, groupId, 'Poll: Where shall we eat?');
    expect(message.id).to.equal(messageId);
    expect(message.payload.poll).to.deep.equal({ poll_id: pollId, question: 'Where shall we eat?', options: ['Pizza', 'Sushi', 'Tacos'], multiple: false });

    const empty = await pollsOf(bob).results(pollId);
    expect(empty).to.deep.include({ pollId, conversationId: groupId, question: 'Where shall we eat?', closed: false, voters: 0, multiple: false, createdBy: alice.self.userId });
    expect(empty.options.map((o) => [o.text, o.count, o.mine])).to.deep.equal([
      ['Pizza', 0, false],
      ['Sushi', 0, false],
      ['Tacos', 0, false],
    ]);

    const first = await pollsOf(bob).vote(pollId, [1]);
    expect(first.options.map((o) => o.count)).to.deep.equal([0, 1, 0]);
    expect(first.options[1]!.mine).to.equal(true);
    const pushed = await waitFor('poll_updated at alice', () =>
      alice.events.of('plugin').find(([info]) => info.type === 'poll_updated' && (info.data as { voters: number }).voters === 1),
    );
    expect(pushed[0]).to.deep.equal({ plugin: 'polls', type: 'poll_updated', data: { pollId, conversationId: groupId, counts: [0, 1, 0], voters: 1, closed: false } });

    // Changing the vote replaces it.
    const changed = await pollsOf(bob).vote(pollId, [2]);
    expect(changed.options.map((o) => o.count)).to.deep.equal([0, 0, 1]);
    expect(changed.voters).to.equal(1);

    const mine = await pollsOf(alice).vote(pollId, [2]);
    expect(mine.options.map((o) => [o.text, o.count, o.mine])).to.deep.equal([
      ['Pizza', 0, false],
      ['Sushi', 0, false],
      ['Tacos', 2, true],
    ]);
    expect(mine.voters).to.equal(2);
    const atBob = await pollsOf(bob).results(pollId);
    expect(atBob.options.map((o) => o.mine)).to.deep.equal([false, false, true]);

    // The counts are kept on the cached poll message, and the terminal shows them under it.
    const cached = await waitFor('the counts on bob’s poll message', async () =>
      (await bob.client.getCachedMessages(groupId)).find((m) => m.id === messageId && (m.extra.poll_results as { voters?: number } | undefined)?.voters === 2),
    );
    const decoration = bob.client.terminalDecorations(cached);
    expect(decoration.badges).to.deep.equal(['[poll]']);
    expect(decoration.notes).to.deep.equal(['1. Pizza — 0 votes', '2. Sushi — 0 votes', '3. Tacos — 2 votes (your vote)', '2 people voted']);

    // Withdrawing: an empty list.
    const withdrawn = await pollsOf(bob).vote(pollId, []);
    expect(withdrawn.options.map((o) => o.count)).to.deep.equal([0, 0, 1]);
    expect(withdrawn.voters).to.equal(1);
  });

  it('lets people choose several options only in a multiple-choice poll, and refuses bad votes', async function () {
    this.timeout(60_000);
    const single = await pollsOf(alice).create(groupId, 'One only?', ['yes', 'no']);
    const multi = await pollsOf(alice).create(groupId, 'Which days?', ['Mon', 'Tue', 'Wed'], { multiple: true });
    await waitForText(bob, groupId, 'Poll: Which days?');

    const several = await pollsOf(bob).vote(multi.pollId, [0, 2]);
    expect(several.options.map((o) => o.count)).to.deep.equal([1, 0, 1]);
    expect(several.voters).to.equal(1);

    const twoOnSingle = await failure(pollsOf(bob).vote(single.pollId, [0, 1]));
    expect(twoOnSingle.code).to.equal('bad_request');
    expect(twoOnSingle.details?.field).to.equal('option_indexes');
    const outOfRange = await failure(pollsOf(bob).vote(single.pollId, [2]));
    expect(outOfRange.code).to.equal('bad_request');
    expect(outOfRange.details?.field).to.equal('option_indexes[0]');
    const negative = await failure(bob.client.request('vote_poll', { poll_id: single.pollId, option_indexes: [-1] }));
    expect(negative.code).to.equal('bad_request');
    const twice = await failure(pollsOf(bob).vote(multi.pollId, [1, 1]));
    expect(twice.code).to.equal('bad_request');
    expect((await pollsOf(bob).results(single.pollId)).voters).to.equal(0);

    // More options than this deployment's maxOptions (5): the client refuses, and so does the server.
    const tooMany = await failure(pollsOf(alice).create(groupId, 'Too many?', ['1', '2', '3', '4', '5', '6']));
    expect(tooMany).to.be.instanceOf(RangeError);
    const direct = await failure(
      alice.client.request('create_poll', { conversation_id: groupId, poll_id: '8d4f2b8e-0c1a-4d7e-9a3b-5f6e7d8c9b0a', option_count: 6, multiple: false }),
    );
    expect(direct.code).to.equal('bad_request');
    expect(direct.details?.field).to.equal('option_count');
    const reused = await failure(
      alice.client.request('create_poll', { conversation_id: groupId, poll_id: single.pollId, option_count: 2, multiple: false }),
    );
    expect(reused.code).to.equal('conflict');
  });

  it('refuses people outside the conversation, and closing by anyone but the creator', async function () {
    this.timeout(60_000);
    const { pollId } = await pollsOf(alice).create(groupId, 'Members only?', ['a', 'b']);
    for (const [type, fields] of [
      ['get_poll_results', { poll_id: pollId }],
      ['vote_poll', { poll_id: pollId, option_indexes: [0] }],
      ['close_poll', { poll_id: pollId }],
      ['create_poll', { conversation_id: groupId, poll_id: '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9', option_count: 2, multiple: false }],
    ] as const) {
      const refused = await failure(carol.client.request(type, fields));
      expect(refused.code, type).to.equal('not_found');
    }
    // A poll that does not exist answers exactly the same.
    expect((await failure(carol.client.request('get_poll_results', { poll_id: '0f0e0d0c-0b0a-4908-8706-050403020100' }))).code).to.equal('not_found');
    expect((await failure(pollsOf(bob).close(pollId))).code).to.equal('forbidden');
  });

  it('closes a poll: pushes it with a notice, refuses further votes, keeps the results', async function () {
    this.timeout(60_000);
    const { pollId } = await pollsOf(alice).create(groupId, 'Close me?', ['sure', 'nope']);
    await waitForText(bob, groupId, 'Poll: Close me?');
    await pollsOf(bob).vote(pollId, [0]);
    const closed = await pollsOf(alice).close(pollId);
    expect(closed.closed).to.equal(true);
    expect(closed.options.map((o) => o.count)).to.deep.equal([1, 0]);
    const [event] = await waitFor('the closing push at bob', () =>
      bob.events.of('plugin').find(([info]) => info.type === 'poll_updated' && (info.data as { pollId: string; closed: boolean }).pollId === pollId && (info.data as { closed: boolean }).closed),
    );
    expect((event.data as { notice?: string }).notice).to.equal('poll closed: Close me?');
    const late = await failure(pollsOf(bob).vote(pollId, [1]));
    expect(late.code).to.equal('conflict');
    const after = await pollsOf(bob).results(pollId);
    expect(after).to.deep.include({ closed: true, voters: 1 });
    // Closing again changes nothing.
    expect((await pollsOf(alice).close(pollId)).closed).to.equal(true);
  });

  it('offers the terminal commands /poll, /vote, /results and /close-poll', async function () {
    this.timeout(60_000);
    const commands = new Map<string, TerminalCommand>(alice.client.commands().map((entry) => [entry.command.name, entry.command]));
    const printed: string[] = [];
    const errorsShown: string[] = [];
    let lastMessageId = '';
    const context: TerminalCommandContext = {
      conversationId: groupId,
      resolveMessage: (reference) => {
        if (reference !== '#7') throw new Error(`unexpected reference ${reference}`);
        return lastMessageId;
      },
      print: (line) => printed.push(line),
      error: (line) => errorsShown.push(line),
    };

    await commands.get('poll')!.run(['--multiple', 'Pick colours', 'red', 'green', 'blue'], context);
    expect(errorsShown).to.deep.equal([]);
    const message = await waitFor('the poll message in alice’s cache', async () =>
      (await alice.client.getCachedMessages(groupId)).find((m) => m.text === 'Poll: Pick colours' && m.status === 'sent'),
    );
    lastMessageId = message.id;
    expect(message.payload.poll).to.deep.include({ question: 'Pick colours', options: ['red', 'green', 'blue'], multiple: true });

    printed.length = 0;
    await commands.get('vote')!.run(['#7', '1,3'], context);
    expect(printed).to.deep.equal(['Pick colours', '  1. red — 1 vote (your vote)', '  2. green — 0 votes', '  3. blue — 1 vote (your vote)', '  1 person voted']);

    printed.length = 0;
    await commands.get('results')!.run(['#7'], context);
    expect(printed[0]).to.equal('Pick colours');
    await commands.get('close-poll')!.run(['#7'], context);
    expect(printed.at(-5)).to.equal('Pick colours (closed)');

    await commands.get('vote')!.run(['#7', 'two'], context);
    expect(errorsShown).to.deep.equal(['"two" is not an option number']);
    await commands.get('poll')!.run(['Only a question'], context);
    expect(errorsShown[1]).to.match(/^Usage: \/poll/);
  });

  it('takes a poll’s texts only from the message its creator sent, not from a copy by another member', async function () {
    this.timeout(60_000);
    const dave = await registerUser(server, { username: 'dave', plugins: [polls] });
    try {
      const team = await alice.client.createGroup('Team', [bob.email, dave.email]);
      const { pollId, messageId } = await pollsOf(alice).create(team.id, 'Real question?', ['real A', 'real B']);
      await waitForText(bob, team.id, 'Poll: Real question?');
      // Bob's client is tampered with: it sends a "poll" reusing Alice's poll id with other texts.
      const fake = await bob.client.sendMessage(team.id, 'Poll: Fake question?', {
        payload: { poll: { poll_id: pollId, question: 'Fake question?', options: ['fake A', 'fake B'], multiple: false } },
      });
      const copy = await waitForText(dave, team.id, 'Poll: Fake question?');
      await waitForText(dave, team.id, 'Poll: Real question?');

      const results = await pollsOf(dave).results(pollId);
      expect(results.question).to.equal('Real question?');
      expect(results.options.map((o) => o.text)).to.deep.equal(['real A', 'real B']);
      expect(dave.client.terminalDecorations(copy)).to.deep.include({ badges: ['[poll?]'], notes: ['This copy of a poll was not sent by the poll’s creator.'] });
      const original = (await dave.client.getCachedMessages(team.id)).find((m) => m.id === messageId)!;
      expect(dave.client.terminalDecorations(original).badges).to.deep.equal(['[poll]']);
      expect(fake.id).not.to.equal(messageId);
    } finally {
      await closeAll(dave);
    }
  });

  it('keeps the question and the options out of the server: its database never holds them', async function () {
    this.timeout(60_000);
    const question = 'Secret plans for the surprise party of Dana?';
    const options = ['Rooftop-bar-Zebra', 'Lakeside-cabin-Quokka'];
    const { pollId } = await pollsOf(alice).create(groupId, question, options);
    await waitForText(bob, groupId, `Poll: ${question}`);
    await pollsOf(bob).vote(pollId, [1]);

    const dump = await databaseDump(server);
    expect(dump).to.include(pollId);
    for (const secret of ['Secret plans', 'surprise party', ...options]) expect(dump).not.to.include(secret);
    const row = await server.server.database.knex('polls_polls').where({ poll_id: pollId }).first();
    expect(row).to.deep.include({ conversation_id: groupId, created_by: alice.self.userId, option_count: 2 });
    const votes = await server.server.database.knex('polls_votes').where({ poll_id: pollId }).select('user_id', 'option_index');
    expect(votes).to.deep.equal([{ user_id: bob.self.userId, option_index: 1 }]);
  });

  it('deletes a conversation’s polls and votes with the conversation', async function () {
    this.timeout(60_000);
    const group = await alice.client.createGroup('Short-lived', [bob.email]);
    const { pollId } = await pollsOf(alice).create(group.id, 'Gone soon?', ['yes', 'no']);
    await pollsOf(alice).vote(pollId, [0]);
    const knex = server.server.database.knex;
    expect(await knex('polls_votes').where({ poll_id: pollId }).count({ n: '*' })).to.deep.equal([{ n: 1 }]);
    await alice.client.deleteConversation(group.id);
    expect(await knex('polls_polls').where({ poll_id: pollId })).to.deep.equal([]);
    expect(await knex('polls_votes').where({ poll_id: pollId })).to.deep.equal([]);
  });
});
