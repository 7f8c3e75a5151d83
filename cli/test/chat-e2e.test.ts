import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../engine/testing/index.js';
import { readOutboxCode } from '../../engine/testing/accounts.js';
import { ChatProcess } from './chat-process.js';

const PASSWORD = 'correct horse battery';
// A stack trace line, as Node prints them.
const STACK_LINE = /^\s+at .+\(.*:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

let sequence = 0;
function uniqueUser(prefix: string): { username: string; email: string } {
  sequence += 1;
  const username = `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${sequence}`;
  return { username, email: `${username}@example.org` };
}

describe('cli: kecalek chat (the terminal client as a child process)', function () {
  this.timeout(120_000);
  let server: TestServer;
  let scratch: string;
  const running: ChatProcess[] = [];

  before(async () => {
    server = await startTestServer();
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-chat-'));
  });

  after(async () => {
    for (const chat of running.splice(0)) chat.kill();
    await server?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  afterEach(function () {
    // A failed test leaves its processes running: stop them so the next test starts clean.
    if (this.currentTest?.state === 'failed') for (const chat of running.splice(0)) chat.kill();
  });

  function chat(name: string, home: string, extra: readonly string[] = []): ChatProcess {
    const process_ = new ChatProcess(name, ['--server', `${server.host}:${server.port}`, '--insecure-dev', '--home', home, ...extra]);
    running.push(process_);
    return process_;
  }

  /** Registers through the start screen's prompts, reading the mailed code from the dev outbox. */
  async function register(terminal: ChatProcess, user: { username: string; email: string }): Promise<void> {
    await terminal.waitFor(/Choose \[r\]: /);
    terminal.send('r');
    await terminal.waitFor(/Username: /);
    terminal.send(user.username);
    await terminal.waitFor(/Email: /);
    terminal.send(user.email);
    await terminal.waitFor(/Password for this device \(at least 8 characters\): /);
    terminal.send(PASSWORD);
    await terminal.waitFor(/Repeat the password: /);
    terminal.send(PASSWORD);
    await terminal.waitFor(/A 6-digit code was sent to .+\.\nCode from the email: /);
    terminal.send(await readOutboxCode(server, user.email));
    await terminal.waitFor(new RegExp(`Welcome, ${user.username}! Your account is ready and you are logged in\\.`));
  }

  it('registers through the prompts, warns about --insecure-dev, and logs in again with --email', async () => {
    const home = join(scratch, 'first');
    const user = uniqueUser('reg');
    const first = chat('first', home);
    await first.waitFor(/Connected to 127\.0\.0\.1:\d+ over TLS/);
    expect(first.stderr).to.match(/warning: --insecure-dev: the certificate of 127\.0\.0\.1:\d+ is NOT checked/);
    await register(first, user);
    await first.waitFor(/You have no conversations yet/);
    expect(await first.quit()).to.equal(0);

    // The account is remembered under --home: offered on the start screen, or picked with --email.
    const menu = chat('menu', home);
    await menu.waitFor(new RegExp(`Log in:\\n  1\\. ${user.email}\\n`));
    menu.send('1');
    await menu.waitFor(new RegExp(`Password for ${user.email}: `));
    menu.send('not the password');
    await menu.waitFor(/Wrong password\. You can try again in \d+ seconds?\./);
    menu.send('');
    await menu.waitFor(/Choose \[1\]: /);
    menu.send('q');
    expect(await menu.exited).to.equal(0);

    const again = chat('again', home, ['--email', user.email]);
    await again.waitFor(new RegExp(`Password for ${user.email}: `));
    again.send(PASSWORD);
    await again.waitFor(new RegExp(`Logged in as ${user.username} <${user.email}>\\.`));
    again.send('/whoami');
    await again.waitFor(new RegExp(`${user.username} <${user.email}>\\n  device   [0-9a-f-]{36}\\n  server   127\\.0\\.0\\.1:\\d+ \\(Kecalek `));
    expect(await again.quit()).to.equal(0);
    for (const run of [first, menu, again]) expect(run.stdout + run.stderr).to.not.match(STACK_LINE);
  });

  it('chats live between two terminals: DM, unread count in /list, reply, delete', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const a = chat('alice', join(scratch, 'alice'));
    const b = chat('bob', join(scratch, 'bob'));
    await Promise.all([register(a, alice), register(b, bob)]);

    a.send(`/dm ${bob.email}`);
    await a.waitFor(new RegExp(`══ ${bob.username} \\(direct[^)]*\\) ══`));
    await a.waitFor(/\[no messages yet: type one and press Enter\]/);
    a.send('hi bob, are you there?');
    await a.waitFor(/\d\d:\d\d #1 you: hi bob, are you there\?\n/);

    // Bob has nothing open: a one-line notice with the unread count, then /list shows it.
    await b.waitFor(new RegExp(`» ${alice.username}: hi bob, are you there\\? \\(1 unread — /open 1\\)`));
    b.send('/list');
    await b.waitFor(new RegExp(` 1\\. [●○] ${alice.username}\\s+1 unread\\s+\\d\\d:\\d\\d\\s+${alice.username}: hi bob, are you there\\?`));
    b.send('/open 1');
    await b.waitFor(new RegExp(`══ ${alice.username} \\(direct[^)]*\\) ══\\n── \\w+ \\d+ \\w+ \\d{4} ──\\n\\d\\d:\\d\\d #1 ${alice.username}: hi bob, are you there\\?\\n`));
    b.send('yes! hello alice');
    await b.waitFor(/#2 you: yes! hello alice\n/);

    // The reply arrives live in alice's open conversation.
    await a.waitFor(new RegExp(`\\d\\d:\\d\\d #2 ${bob.username}: yes! hello alice\\n`));
    a.send('/reply #2 great to see you');
    await a.waitFor(/#3 you: great to see you\n\s+↳ re [^:]+: yes! hello alice\n/);
    await b.waitFor(new RegExp(`#3 ${alice.username}: great to see you\\n\\s+↳ re you: yes! hello alice\\n`));

    // Deleting: only one's own messages, and the other side sees it go.
    a.send('/del #2');
    await a.waitFor(/#2 is not your message: you can only delete your own\./);
    a.send('/del #3');
    await a.waitFor(/\[your message #3 was deleted\]/);
    await b.waitFor(new RegExp(`\\[${alice.username}'s message #3 was deleted\\]`));

    // Bob's list shows nothing unread now, alice's conversation from her side.
    b.send('/list');
    await b.waitFor(new RegExp(`▸1\\. [●○] ${alice.username}\\s+\\d\\d:\\d\\d`));
    b.send('/members');
    const members = await b.waitFor(new RegExp(`${alice.username}: 2 members\\n((?: {2}\\d\\. \\S+(?: \\((?:you|online)\\))?\\n){2})`));
    expect(members[1]).to.include(`${bob.username} (you)`).and.include(alice.username);

    expect(await a.quit()).to.equal(0);
    await b.waitFor(new RegExp(`\\[${alice.username} is offline\\]`));
    expect(await b.quit()).to.equal(0);
    for (const run of [a, b]) expect(run.stdout + run.stderr).to.not.match(STACK_LINE);
  });

  it('links a new device with the code and the security code, which then reads and sends', async () => {
    const alice = uniqueUser('link');
    const bob = uniqueUser('peer');
    const laptop = chat('laptop', join(scratch, 'link-laptop'));
    const peer = chat('peer', join(scratch, 'link-peer'));
    await Promise.all([register(laptop, alice), register(peer, bob)]);
    laptop.send(`/dm ${bob.email}`);
    await laptop.waitFor(/\[no messages yet/);
    laptop.send('written before the phone was linked');
    await laptop.waitFor(/#1 you: written before the phone was linked\n/);

    const phone = chat('phone', join(scratch, 'link-phone'));
    await phone.waitFor(/Choose \[r\]: /);
    phone.send('l');
    const code = await phone.waitFor(/type \/link and enter this code:\n\n {4}(\d{4} \d{4})\n/);
    await phone.waitFor(/QR text: kecalek-link:1:[0-9a-f-]{36}:\d{8}:[A-Za-z0-9_-]+\n/);
    await phone.waitFor(/Waiting for the other device… \(the code expires at \d\d:\d\d; Ctrl\+C cancels\)/);

    laptop.send(`/link ${code[1]}`);
    const sas = await laptop.waitFor(/Security code: (\d{3} \d{3})\nDoes the new device show exactly the same security code\? \[y\/N\] /);
    await phone.waitFor(new RegExp(`Security code: ${sas[1]}\nDoes the other device show exactly the same security code\\? \\[y/N\\] `));
    laptop.send('y');
    phone.send('y');
    await laptop.waitFor(/\[keys sent: the new device finishes linking now\]/);
    await phone.waitFor(/Choose a password for your keys on this device\.\nPassword for this device \(at least 8 characters\): /);
    phone.send(PASSWORD);
    await phone.waitFor(/Repeat the password: /);
    phone.send(PASSWORD);
    await phone.waitFor(new RegExp(`This device is linked: you are ${alice.username} <${alice.email}>\\.`));

    // History from before the link (through the account's self copies), then live messages both ways.
    phone.send('/open 1');
    await phone.waitFor(/#1 you: written before the phone was linked\n/);
    phone.send('hello from the phone');
    await phone.waitFor(/#2 you: hello from the phone\n/);
    await laptop.waitFor(/#2 you: hello from the phone\n/);
    await peer.waitFor(new RegExp(`» ${alice.username}: hello from the phone`));
    laptop.send('/devices');
    await laptop.waitFor(/^2 devices:\n {2}1\. .+ — this device · online · added .+\n {2}2\. .+ — online · added /m);

    for (const run of [laptop, peer, phone]) expect(await run.quit()).to.equal(0);
    for (const run of [laptop, peer, phone]) expect(run.stdout + run.stderr).to.not.match(STACK_LINE);
  });

  it('answers mistakes with one helpful line, never a stack trace', async () => {
    const user = uniqueUser('oops');
    // Over WebSocket this time.
    const terminal = new ChatProcess('oops', ['--server', `${server.host}:${server.wsPort}`, '--ws', '--insecure-dev', '--home', join(scratch, 'oops')]);
    running.push(terminal);
    await terminal.waitFor(/Connected to 127\.0\.0\.1:\d+ over WebSocket/);
    await register(terminal, user);
    terminal.send('/frobnicate');
    await terminal.waitFor(/^Unknown command \/frobnicate\. Type \/help to see all commands\.$/m);
    terminal.send('/lsit');
    await terminal.waitFor(/^Unknown command \/lsit\. Did you mean \/list\? Type \/help to see all commands\.$/m);
    terminal.send('text with nothing open');
    await terminal.waitFor(/^No conversation is open: \/open <n> opens one/m);
    terminal.send('/open 7');
    await terminal.waitFor(/^There is no conversation 7: you have 0 \(see \/list\)\.$/m);
    terminal.send('/dm not-an-address');
    await terminal.waitFor(/^"not-an-address" is not an email address\.$/m);
    terminal.send('/reply #1 hi');
    await terminal.waitFor(/^No conversation is open: \/open <n> first/m);
    terminal.send('/help dm');
    await terminal.waitFor(/^\/dm <email>\n {2}start \(or open\) a direct conversation with someone\n/m);
    terminal.send('/help');
    await terminal.waitFor(/^ {2}\/reset-session <username>\s+start a fresh encrypted session/m);
    expect(await terminal.quit()).to.equal(0);
    expect(terminal.stdout + terminal.stderr).to.not.match(STACK_LINE);
  });

  it('exits with code 1 and one clear line when the server cannot be reached', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolveListen) => probe.listen(0, '127.0.0.1', resolveListen));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolveClose) => probe.close(resolveClose));

    const terminal = new ChatProcess('unreachable', ['--server', `127.0.0.1:${port}`, '--home', join(scratch, 'nowhere')]);
    running.push(terminal);
    expect(await terminal.exited).to.equal(1);
    expect(terminal.stderr).to.equal(`kecalek: Cannot reach the server at 127.0.0.1:${port}: connection refused — is the server running?\n`);
    expect(terminal.stdout).to.equal('');
  });
});
