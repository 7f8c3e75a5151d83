/**
 * Third-party plugins in the terminal client: `kecalek chat --plugin <path|package>` (repeatable)
 * loads a plugin's client part next to the built-in ones, active only where the server runs it.
 * The polls example is loaded by path into the chat app against a server running polls (also by
 * path) and reactions: its commands work with the terminal's `#n` numbers, and what plugins show
 * under a message is shown again when it changes (a vote, a reaction arriving).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Command } from 'commander';
import { ChatClient } from '../../engine/client/index.js';
import type { AnyPluginDefinition } from '../../engine/plugin/index.js';
import { closeAll, readOutboxCode, registerUser, removeHomes, startTestServer, waitFor, type TestServer, type User } from '../../engine/testing/index.js';
import { ChatApp } from '../chat/app.js';
import { registerChatCommand, type ChatCommandOptions } from '../chat/command.js';
import { loadClientPlugins } from '../../engine/client/plugin-loader.js';
import { Terminal } from '../chat/prompt.js';
import { createStyle } from '../chat/style.js';
import reactions from '../../plugins/reactions/index.js';
import type { ReactionsMethods } from '../../plugins/reactions/client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const POLLS_PATH = './examples/kecalek-plugin-polls';
const PASSWORD = 'correct horse battery';
const FAST_ENVELOPE = { kdf: 'argon2id', argon2id: { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 } } as const;

interface PollsMethods {
  vote(pollId: string, optionIndexes: readonly number[]): Promise<unknown>;
  pollOfMessage(messageId: string): string | undefined;
}

class Screen extends Writable {
  text = '';
  private cursor = 0;
  isTTY = false;
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }

  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.text.slice(this.cursor);
      const match = pattern.exec(rest);
      if (match) {
        this.cursor += match.index + match[0].length;
        return match;
      }
      if (Date.now() > deadline) throw new Error(`waiting for ${pattern}: nothing matched within ${timeoutMs} ms.\n--- output ---\n${rest.slice(-3000)}`);
      await new Promise((resolveTick) => setTimeout(resolveTick, 20));
    }
  }
}

/** The chat app in this process with these plugin definitions, on a new account, logged in through the prompt. */
async function startApp(server: TestServer, home: string, plugins: readonly AnyPluginDefinition[]) {
  const client = new ChatClient({
    server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
    home,
    plugins,
    keyEnvelope: FAST_ENVELOPE,
  });
  const email = `t${process.pid.toString(36)}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.org`;
  await client.connect();
  await client.register({ username: 'terminal', email, password: PASSWORD });
  await client.confirmRegistration(await readOutboxCode(server, email), { email, password: PASSWORD });
  await client.logout();
  const input = new PassThrough();
  const screen = new Screen();
  const terminal = new Terminal({ input, output: screen as unknown as NodeJS.WriteStream, interactive: false });
  const app = new ChatApp({ client, terminal, style: createStyle(false), home, serverLabel: `${server.host}:${server.port}`, email });
  const running = app.run();
  input.write(`${PASSWORD}\n`);
  await screen.waitFor(/Logged in as terminal/);
  return { client, email, screen, running, send: (line: string) => input.write(`${line}\n`) };
}

describe('cli: --plugin loads third-party client parts into the chat', function () {
  this.timeout(90_000);
  let scratch: string;
  const servers: TestServer[] = [];
  const users: User[] = [];

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-chat-third-party-'));
  });

  after(async () => {
    await closeAll(...users);
    for (const server of servers.splice(0)) await server.close();
    await removeHomes();
    await rm(scratch, { recursive: true, force: true });
  });

  it('takes --plugin several times', async () => {
    const program = new Command().exitOverride();
    registerChatCommand(program);
    let seen: ChatCommandOptions | undefined;
    program.commands.find((command) => command.name() === 'chat')!.action((options: ChatCommandOptions) => {
      seen = options;
    });
    await program.parseAsync(['chat', '--plugin', POLLS_PATH, '--plugin', 'kecalek-plugin-other'], { from: 'user' });
    expect(seen?.plugin).to.deep.equal([POLLS_PATH, 'kecalek-plugin-other']);
  });

  it('loads a plugin by path or package name before the built-ins, and refuses one it cannot find in one line', async () => {
    const byPath = await loadClientPlugins([POLLS_PATH], { cwd: ROOT });
    expect(byPath.map((definition) => definition.name)).to.deep.equal(['polls', 'reactions', 'pins', 'mentions', 'invitations']);
    const byPackage = await loadClientPlugins(['kecalek-plugin-polls'], { cwd: ROOT });
    expect(byPackage[0]!.name).to.equal('polls');
    expect((await loadClientPlugins([], { cwd: ROOT })).map((definition) => definition.name)).to.deep.equal(['reactions', 'pins', 'mentions', 'invitations']);
    let failure: Error | undefined;
    try {
      await loadClientPlugins(['./no/such/plugin'], { cwd: ROOT });
    } catch (error) {
      failure = error as Error;
    }
    expect(failure?.message).to.match(/^Plugin "\.\/no\/such\/plugin" cannot be (found|loaded): /);
    expect(failure?.message).to.not.contain('\n');
  });

  it('runs the polls commands with #n numbers, and shows a message again when what plugins add to it changes', async () => {
    const server = await startTestServer({ plugins: [POLLS_PATH, 'reactions'], config: { cwd: ROOT } });
    servers.push(server);
    const plugins = await loadClientPlugins([POLLS_PATH], { cwd: ROOT });
    const polls = plugins.find((definition) => definition.name === 'polls')!;
    const peer = await registerUser(server, { username: 'peer', plugins: [polls, reactions] });
    users.push(peer);
    const chat = await startApp(server, join(scratch, 'polls'), plugins);

    chat.send('/help');
    await chat.screen.waitFor(/\/poll \[--multiple\] "question" "option 1" "option 2" \.\.\.\s+Starts a poll in this conversation .* \(polls\)\n/);
    chat.send(`/dm ${peer.email}`);
    await chat.screen.waitFor(/\[no messages yet/);
    chat.send('/poll "Lunch where?" Pizza "Sushi bar"');
    await chat.screen.waitFor(/#1 you: Poll: Lunch where\? \[poll\]\n\s+1\. Pizza\n\s+2\. Sushi bar\n/);
    await chat.screen.waitFor(/^Poll started with 2 options; vote with \/vote <#n> <option number>$/m);

    chat.send('/vote #1 2');
    await chat.screen.waitFor(/^ {2}2\. Sushi bar — 1 vote \(your vote\)$/m);
    chat.send('/vote 7 1');
    await chat.screen.waitFor(/^There is no message #7 in \S+: use the #number shown before a message\.$/m);

    // The peer votes: the push updates the poll's counts, and the terminal shows it again.
    const dm = (await peer.client.listConversations())[0]!;
    const poll = await waitFor('the poll at the peer', async () => (await peer.client.getCachedMessages(dm.id)).find((m) => m.text === 'Poll: Lunch where?'));
    const pollId = await waitFor('the poll id at the peer', () => (peer.client.plugins.polls as unknown as PollsMethods).pollOfMessage(poll.id));
    await (peer.client.plugins.polls as unknown as PollsMethods).vote(pollId, [0]);
    await chat.screen.waitFor(/^↻ #1 you: Poll: Lunch where\? \[poll\]\n {4}1\. Pizza — 1 vote\n {4}2\. Sushi bar — 1 vote \(your vote\)\n {4}2 people voted\n/m);

    // A reaction arriving is shown under the message too.
    await (peer.client.plugins.reactions as unknown as ReactionsMethods).react(dm.id, poll.id, 'heart');
    await chat.screen.waitFor(/^↻ #1 you: Poll: Lunch where\? \[poll\]\n(?: {4}.*\n)* {4}❤ 1\n/m);
    // Reactions take the same #n.
    chat.send('/react #1 thumbsup');
    await chat.screen.waitFor(/^You reacted 👍 to #1$/m);
    chat.send('/reactions 1');
    await chat.screen.waitFor(/^Reactions on #1:$/m);

    chat.send('/quit');
    await chat.running;
    expect(chat.screen.text).to.not.match(/⚠/);
  });
});
