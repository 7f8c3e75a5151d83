import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { ChatClient } from '../../engine/client/index.js';
import { definePlugin, PLUGIN_API_VERSION, type AnyPluginDefinition } from '../../engine/plugin/index.js';
import { forEachBackend, startTestServer, type TestServer } from '../../engine/testing/index.js';
import { createAccount, readOutboxCode } from '../../engine/testing/accounts.js';
import { ChatApp } from '../chat/app.js';
import { Terminal } from '../chat/prompt.js';
import { createStyle } from '../chat/style.js';

const PASSWORD = 'correct horse battery';
const FAST_ENVELOPE = { kdf: 'argon2id', argon2id: { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 } } as const;

/** A plugin with only a client part: three terminal commands. */
const shout = definePlugin({
  name: 'shout',
  version: '1.0.0',
  apiVersion: PLUGIN_API_VERSION,
  client(api) {
    api.command({
      name: 'shout',
      usage: '<text>',
      help: 'send a message in capitals',
      needsConversation: true,
      async run(args, context) {
        await api.client.sendPayload(context.conversationId!, { text: args.join(' ').toUpperCase() });
        context.print(`shouted ${args.length} words`);
      },
    });
    api.command({
      name: 'quote',
      usage: '<#n>',
      help: 'print the id of a message',
      needsConversation: true,
      run(args, context) {
        context.print(`message id ${context.resolveMessage(args[0] ?? '')}`);
      },
    });
    api.command({
      name: 'list',
      help: 'a name the core already has',
      run(_args, context) {
        context.error('the plugin list ran');
      },
    });
  },
}) as AnyPluginDefinition;

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

/** A ChatClient of the test server over `home`. */
function clientOf(server: TestServer, home: string, plugins: readonly AnyPluginDefinition[] = []): ChatClient {
  return new ChatClient({
    server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
    home,
    plugins,
    keyEnvelope: FAST_ENVELOPE,
  });
}

/** The chat app in this process, on a registered account, with stdin/stdout replaced by streams. */
async function startApp(server: TestServer, home: string, plugins: readonly AnyPluginDefinition[]) {
  const client = clientOf(server, home, plugins);
  const email = `p${process.pid.toString(36)}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.org`;
  await client.connect();
  await client.register({ username: 'plugger', email, password: PASSWORD });
  await client.confirmRegistration(await readOutboxCode(server, email), { email, password: PASSWORD });
  await client.logout();
  const input = new PassThrough();
  const screen = new Screen();
  const terminal = new Terminal({ input, output: screen as unknown as NodeJS.WriteStream, interactive: false });
  const app = new ChatApp({ client, terminal, style: createStyle(false), home, serverLabel: `${server.host}:${server.port}`, email });
  const running = app.run();
  input.write(`${PASSWORD}\n`);
  await screen.waitFor(/Logged in as plugger/);
  return { app, input, screen, running, send: (line: string) => input.write(`${line}\n`) };
}

describe('cli: the chat app in-process (plugin commands, failed sends, reconnecting)', function () {
  this.timeout(60_000);
  let scratch: string;
  const servers: TestServer[] = [];

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-chat-plugins-'));
  });
  after(async () => {
    for (const server of servers.splice(0)) await server.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('offers the commands of plugins the server enabled, in /help with the plugin name', async () => {
    const server = await startTestServer({ plugins: [shout] });
    servers.push(server);
    const peer = await createAccount(server);
    const chat = await startApp(server, join(scratch, 'enabled'), [shout]);

    chat.send('/help');
    await chat.screen.waitFor(/Commands of the plugins this server has enabled:\n {2}\/shout <text>\s+send a message in capitals {2}\(shout\)\n {2}\/quote <#n>\s+print the id of a message {2}\(shout\)\n {2}\/shout:list\s+a name the core already has {2}\(shout\)\n/);
    chat.send('/help shout');
    await chat.screen.waitFor(/^\/shout <text>\n {2}send a message in capitals \(from the shout plugin\)\n {2}Needs an open conversation\.\n/m);

    // A plugin command that needs a conversation says so, like the core ones.
    chat.send('/shout hello');
    await chat.screen.waitFor(/^No conversation is open: \/open <n> first/m);
    chat.send(`/dm ${peer.email}`);
    await chat.screen.waitFor(/\[no messages yet: type one and press Enter\]/);
    chat.send('/shout hello there');
    await chat.screen.waitFor(/#1 you: HELLO THERE\n/);
    await chat.screen.waitFor(/^shouted 2 words$/m);
    chat.send('/quote #1');
    await chat.screen.waitFor(/^message id [0-9a-f-]{36}$/m);
    chat.send('/quote #9');
    await chat.screen.waitFor(/^There is no message #9 in \S+: use the #number shown before a message\.$/m);

    // The core keeps its name; the plugin's command of the same name is reachable with its prefix.
    chat.send('/shout:list');
    await chat.screen.waitFor(/^the plugin list ran$/m);
    // The peer is online, and known to be since the DM made them contacts.
    chat.send('/list');
    await chat.screen.waitFor(/^▸1\. ● \S+/m);

    chat.send('/quit');
    await chat.running;
  });

  it('marks a message the server refuses, says why once, and offers /retry', async () => {
    const server = await startTestServer({ config: { limits: { maxMessageBytes: 2048 } } });
    servers.push(server);
    const peer = await createAccount(server);
    const chat = await startApp(server, join(scratch, 'refused'), []);
    chat.send(`/dm ${peer.email}`);
    await chat.screen.waitFor(/\[no messages yet/);
    chat.send('x'.repeat(5000));
    await chat.screen.waitFor(/#1 you: x+ {2}✗ not sent\n/);
    await chat.screen.waitFor(/^✗ "x+…" was not sent to \S+: That is too long for this server\.$/m);
    chat.send('/retry #1');
    await chat.screen.waitFor(/^✗ "x+…" was not sent/m);
    chat.send('/retry #7');
    await chat.screen.waitFor(/^There is no message #7/m);
    chat.send('short and fine');
    await chat.screen.waitFor(/#\d you: short and fine\n/);
    chat.send('/quit');
    await chat.running;
    expect(chat.screen.text).to.not.match(/⚠/);
  });

  it('shows the connection dropping and coming back, and goes on chatting', async () => {
    const dataDir = join(scratch, 'restarted-server');
    const first = await startTestServer({ config: { dataDir } });
    servers.push(first);
    const peer = await createAccount(first);
    const chat = await startApp(first, join(scratch, 'reconnecting'), []);
    chat.send(`/dm ${peer.email}`);
    await chat.screen.waitFor(/\[no messages yet/);
    await peer.connection.close();
    await first.close();
    await chat.screen.waitFor(/^\[reconnecting…\]$/m);
    chat.send('sent while the server is down');
    await chat.screen.waitFor(/^\[not connected: the message goes out when the connection is back\]$/m);
    const second = await startTestServer({ config: { dataDir, port: first.port } });
    servers.push(second);
    await chat.screen.waitFor(/^\[connected\]$/m);
    await chat.screen.waitFor(/#1 you: sent while the server is down\n/);
    chat.send('and after it');
    await chat.screen.waitFor(/#2 you: and after it\n/);
    chat.send('/quit');
    await chat.running;
  });

  it('does not offer them when the server has the plugin switched off', async () => {
    const server = await startTestServer();
    servers.push(server);
    const chat = await startApp(server, join(scratch, 'disabled'), [shout]);
    chat.send('/help');
    await chat.screen.waitFor(/\/help <command> explains one command/);
    expect(chat.screen.text).to.not.include('Commands of the plugins');
    expect(chat.screen.text).to.not.include('/shout');
    chat.send('/shout hi');
    await chat.screen.waitFor(/^Unknown command \/shout\. Type \/help to see all commands\.$/m);
    chat.send('/quit');
    await chat.running;
  });
});

forEachBackend('cli: the chat app when this device is removed from the account', (backend) => {
  let server: TestServer;
  let scratch: string;

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-chat-removed-'));
  });
  after(async () => {
    await server?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('prints one clear line, leaves the chat loop for the start screen, and refuses the next login with the same line', async function () {
    this.timeout(60_000);
    const chat = await startApp(server, join(scratch, 'removed'), []);
    const removedDeviceId = chat.app.client.self!.deviceId;
    // Another device of the account, linked from this one, removes it.
    const other = clientOf(server, join(scratch, 'other'));
    try {
      const request = await other.startLinking();
      const approval = await chat.app.client.approveLinking(request.code);
      const accepted = request.accept(PASSWORD);
      await approval.confirm();
      await accepted;
      await other.removeDevice(removedDeviceId);

      const line = /^This device was removed from your account; link it again with \/link from another device\.$/m;
      await chat.screen.waitFor(line);
      await chat.screen.waitFor(/^Log in:\n {2}1\. \S+@example\.org\n/m);
      expect(chat.app.client.self).to.equal(undefined);
      chat.send('1');
      await chat.screen.waitFor(/Password for \S+: /);
      chat.send(PASSWORD);
      await chat.screen.waitFor(line);
      await chat.screen.waitFor(/Choose \[1\]: /);
      chat.send('q');
      await chat.running;
      expect(chat.screen.text.match(new RegExp(line.source, 'gm'))).to.have.length(2);
      expect((await other.listDevices()).map((device) => device.deviceId)).to.not.include(removedDeviceId);
    } finally {
      await other.close();
    }
  });
});
