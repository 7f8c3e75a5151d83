/**
 * How a deployment enables kecalek-plugin-polls: by its npm package name (resolved from the
 * deployment's node_modules) and with settings that the server validates at start-up, naming a
 * wrong setting in one line.
 */
import { expect } from 'chai';
import { closeAll, registerUser, removeHomes, startTestServer, waitForText, type TestServer, type User } from 'kecalek/testing';
import polls, { type PollsMethods } from '../index.js';

async function startFailure(settings: Record<string, unknown>): Promise<Error & { code?: string }> {
  try {
    const server = await startTestServer({ plugins: ['kecalek-plugin-polls'], settings: { polls: settings } });
    await server.close();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('the server started although the settings are invalid');
}

describe('kecalek-plugin-polls: loading and settings', function () {
  this.timeout(60_000);
  const users: User[] = [];
  const servers: TestServer[] = [];

  after(async () => {
    await closeAll(...users);
    for (const server of servers) await server.close();
    await removeHomes();
  });

  it('is loaded by package name and works end to end', async () => {
    const server = await startTestServer({ plugins: ['kecalek-plugin-polls'] });
    servers.push(server);
    expect(server.server.plugins).to.deep.equal([{ name: 'polls', version: '1.0.0' }]);
    const alice = await registerUser(server, { plugins: [polls] });
    const bob = await registerUser(server, { plugins: [polls] });
    users.push(alice, bob);
    const dm = await alice.client.createDm(bob.email);
    const { pollId } = await (alice.client.plugins.polls as unknown as PollsMethods).create(dm.id, 'Tea or coffee?', ['tea', 'coffee']);
    await waitForText(bob, dm.id, 'Poll: Tea or coffee?');
    const results = await (bob.client.plugins.polls as unknown as PollsMethods).vote(pollId, [1]);
    expect(results.options.map((o) => [o.text, o.count])).to.deep.equal([
      ['tea', 0],
      ['coffee', 1],
    ]);
    // The defaults of the settings schema are applied and advertised.
    expect(alice.client.serverInfo?.pluginSettings.polls).to.deep.equal({ maxOptions: 10, allowMultipleChoice: true });
  });

  it('switches multiple-choice polls off with allowMultipleChoice: false', async () => {
    const server = await startTestServer({ plugins: ['kecalek-plugin-polls'], settings: { polls: { allowMultipleChoice: false } } });
    servers.push(server);
    const alice = await registerUser(server, { plugins: [polls] });
    const bob = await registerUser(server, { plugins: [polls] });
    users.push(alice, bob);
    const dm = await alice.client.createDm(bob.email);
    const methods = alice.client.plugins.polls as unknown as PollsMethods;
    let refused: unknown;
    try {
      await methods.create(dm.id, 'Several?', ['a', 'b'], { multiple: true });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(RangeError);
    let serverAnswer: (Error & { code?: string; details?: { field?: string } }) | undefined;
    try {
      await alice.client.request('create_poll', { conversation_id: dm.id, poll_id: '3c9a1e2b-7d4f-4a6b-8c5d-9e0f1a2b3c4d', option_count: 2, multiple: true });
    } catch (error) {
      serverAnswer = error as typeof serverAnswer;
    }
    expect(serverAnswer?.code).to.equal('bad_request');
    expect(serverAnswer?.details?.field).to.equal('multiple');
    // Single-choice polls still work.
    expect((await methods.create(dm.id, 'One?', ['a', 'b'])).pollId).to.be.a('string');
  });

  it('refuses invalid settings at start-up, naming the setting', async () => {
    const tooMany = await startFailure({ maxOptions: 50 });
    expect(tooMany.code).to.equal('plugin_config_invalid');
    expect(tooMany.message).to.match(/^Invalid setting polls\.maxOptions: /);
    const tooFew = await startFailure({ maxOptions: 1 });
    expect(tooFew.message).to.match(/^Invalid setting polls\.maxOptions: /);
    const notBoolean = await startFailure({ allowMultipleChoice: 'yes' });
    expect(notBoolean.message).to.match(/^Invalid setting polls\.allowMultipleChoice: /);
    const misspelt = await startFailure({ maxOption: 5 });
    expect(misspelt.code).to.equal('plugin_config_invalid');
    expect(misspelt.message).to.equal('Invalid setting polls.maxOption: is not a setting of this plugin');
    for (const error of [tooMany, tooFew, notBoolean, misspelt]) expect(error.message).not.to.include('\n');
  });
});
