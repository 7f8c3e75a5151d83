import { expect } from 'chai';
import { InvalidArgumentError } from 'commander';
import { ClientError, KecalekError, WireError } from '../../engine/errors.js';
import { commandHelpLines, CORE_COMMANDS, findCoreCommand, findHelpEntry, helpLines, unknownCommandMessage } from '../chat/commands/index.js';
import type { HelpEntry } from '../chat/commands/types.js';
import { parseServer, serverAddress } from '../chat/command.js';
import { ChatInputError, describeConnectionFailure, describeError, isExpectedError, isTransientError, usageError } from '../chat/errors.js';
import { editDistance, parseIndex, parseInput, parseMessageNumber, splitFirst, suggest, tokenize } from '../chat/parse.js';

describe('chat input parsing', () => {
  it('tells messages, commands and empty lines apart', () => {
    expect(parseInput('')).to.deep.equal({ kind: 'empty' });
    expect(parseInput('   ')).to.deep.equal({ kind: 'empty' });
    expect(parseInput('hello there')).to.deep.equal({ kind: 'text', text: 'hello there' });
    expect(parseInput('  indented stays  ')).to.deep.equal({ kind: 'text', text: '  indented stays  ' });
    expect(parseInput('/list')).to.deep.equal({ kind: 'command', name: 'list', args: [], rest: '' });
    expect(parseInput('/OPEN  2 ')).to.deep.equal({ kind: 'command', name: 'open', args: ['2'], rest: '2' });
    expect(parseInput('/reply #3  see you  there')).to.deep.equal({ kind: 'command', name: 'reply', args: ['#3', 'see', 'you', 'there'], rest: '#3  see you  there' });
  });

  it('sends a line starting with // as text with one slash', () => {
    expect(parseInput('//shrug')).to.deep.equal({ kind: 'text', text: '/shrug' });
    expect(parseInput('/ oops')).to.deep.equal({ kind: 'command', name: '', args: ['oops'], rest: 'oops' });
  });

  it('keeps quoted arguments together', () => {
    expect(tokenize('"Team chat" a@example.org  b@example.org')).to.deep.equal(['Team chat', 'a@example.org', 'b@example.org']);
    expect(tokenize("'it''s' x")).to.deep.equal(['its', 'x']);
    expect(tokenize('"say \\"hi\\"" ""')).to.deep.equal(['say "hi"', '']);
    expect(tokenize('"unterminated quote')).to.deep.equal(['unterminated quote']);
    expect(tokenize('   ')).to.deep.equal([]);
  });

  it('splits off the first argument and keeps the rest raw', () => {
    expect(splitFirst('#3 see  you')).to.deep.equal(['#3', 'see  you']);
    expect(splitFirst('  #3')).to.deep.equal(['#3', '']);
    expect(splitFirst('')).to.deep.equal(['', '']);
  });

  it('reads message numbers and list positions', () => {
    expect(parseMessageNumber('#12')).to.equal(12);
    expect(parseMessageNumber('12')).to.equal(12);
    expect(parseMessageNumber('#0')).to.equal(undefined);
    expect(parseMessageNumber('#x')).to.equal(undefined);
    expect(parseMessageNumber('1e3')).to.equal(undefined);
    expect(parseIndex('3')).to.equal(3);
    expect(parseIndex('#3')).to.equal(undefined);
    expect(parseIndex('bob')).to.equal(undefined);
  });

  it('suggests the closest command names', () => {
    expect(editDistance('lsit', 'list')).to.equal(1);
    expect(editDistance('open', 'open')).to.equal(0);
    expect(editDistance('kitten', 'sitting')).to.equal(3);
    expect(suggest('lst', ['list', 'leave', 'link'])).to.deep.equal(['list']);
    expect(suggest('dev', ['devices', 'del'])).to.deep.equal(['devices', 'del']);
    expect(suggest('memebrs', ['members', 'remove'])).to.deep.equal(['members']);
    expect(suggest('foo', ['who', 'open'])).to.deep.equal([]);
    expect(suggest('zzzzzz', ['list'])).to.deep.equal([]);
  });
});

describe('chat commands and help', () => {
  it('has every core command of the terminal client, each with a summary', () => {
    const names = CORE_COMMANDS.map((command) => command.name);
    for (const name of ['help', 'list', 'open', 'close', 'dm', 'group', 'add', 'remove', 'leave', 'rename', 'delete', 'members', 'reply', 'del', 'retry', 'older', 'devices', 'remove-device', 'link', 'reset-session', 'whoami', 'logout', 'quit']) {
      expect(names, name).to.include(name);
    }
    expect(new Set(names).size).to.equal(names.length);
    const aliases = CORE_COMMANDS.flatMap((command) => command.aliases ?? []);
    for (const alias of aliases) expect(names, alias).to.not.include(alias);
    for (const command of CORE_COMMANDS) expect(command.summary.length, command.name).to.be.greaterThan(5);
    expect(findCoreCommand('exit')?.name).to.equal('quit');
    expect(findCoreCommand('nope')).to.equal(undefined);
  });

  const entries: HelpEntry[] = [
    { name: 'list', summary: 'list your conversations' },
    { name: 'open', usage: '<n|name>', summary: 'open a conversation', details: ['Shows the history.'], aliases: ['o'] },
    { name: 'react', usage: '<#n> <emoji>', summary: 'react to a message', plugin: 'reactions' },
  ];

  it('lists core commands and plugin commands with their plugin', () => {
    const lines = helpLines(entries);
    expect(lines[0]).to.match(/Type a message/);
    expect(lines.some((line) => /^\s+\/open <n\|name>\s+open a conversation$/.test(line))).to.equal(true);
    const pluginHeader = lines.findIndex((line) => line.startsWith('Commands of the plugins'));
    expect(pluginHeader).to.be.greaterThan(0);
    expect(lines[pluginHeader + 1]).to.match(/^\s+\/react <#n> <emoji>\s+react to a message\s+\(reactions\)$/);
    expect(helpLines(entries.slice(0, 2)).some((line) => line.startsWith('Commands of the plugins'))).to.equal(false);
  });

  it('explains one command, found by name or alias', () => {
    expect(findHelpEntry(entries, '/o')?.name).to.equal('open');
    expect(commandHelpLines(findHelpEntry(entries, 'open')!)).to.deep.equal(['/open <n|name>', '  open a conversation', '  Shows the history.', '  Also: /o']);
    expect(commandHelpLines(entries[2]!)[1]).to.equal('  react to a message (from the reactions plugin)');
  });

  it('answers an unknown command with suggestions and a pointer to /help', () => {
    expect(unknownCommandMessage('lst', entries)).to.equal('Unknown command /lst. Did you mean /list? Type /help to see all commands.');
    expect(unknownCommandMessage('xyzzy', entries)).to.equal('Unknown command /xyzzy. Type /help to see all commands.');
    expect(unknownCommandMessage('', entries)).to.match(/^A lone "\/" is not a command\./);
  });
});

describe('chat error lines', () => {
  it('turns server refusals into friendly sentences', () => {
    expect(describeError(new WireError('rate_limited', 'Too many requests', { retry_after_ms: 41_250 }))).to.equal(
      'Slow down: the server limits how often you can do that. Try again in 42 seconds.',
    );
    expect(describeError(new ClientError('locked_out', 'locked', { retry_after_ms: 120_000 }))).to.equal('Too many wrong passwords. Try again in 2 minutes.');
    expect(describeError(new WireError('forbidden', 'Not allowed'))).to.match(/^You are not allowed/);
    expect(describeError(new WireError('not_found', 'Not found'))).to.match(/^Not found: /);
    expect(describeError(new WireError('invalid_credentials', 'Invalid credentials'))).to.match(/^Login failed/);
    expect(describeError(new WireError('conflict', 'Already a member'))).to.equal('That conflicts with the current state: Already a member.');
    expect(describeError(new KecalekError('wrong_password', 'x'))).to.equal('Wrong password.');
  });

  it('prints the user\'s own mistakes as they are written', () => {
    const error = usageError('Usage: /dm <email>');
    expect(error).to.be.instanceOf(ChatInputError).and.instanceOf(KecalekError);
    expect(describeError(error)).to.equal('Usage: /dm <email>');
    expect(isExpectedError(error)).to.equal(true);
  });

  it('tells passing trouble from refusals (only the first is worth a retry)', () => {
    expect(isTransientError(new ClientError('not_connected', 'x'))).to.equal(true);
    expect(isTransientError(new WireError('rate_limited', 'x'))).to.equal(true);
    expect(isTransientError(new WireError('payload_too_large', 'x'))).to.equal(false);
    expect(isTransientError(new WireError('forbidden', 'x'))).to.equal(false);
  });

  it('keeps unexpected errors to one line', () => {
    const error = new TypeError('Cannot read properties of undefined (reading "x")\n    at somewhere');
    expect(describeError(error)).to.equal('Something went wrong: Cannot read properties of undefined (reading "x").');
    expect(isExpectedError(error)).to.equal(false);
  });

  it('explains why a server cannot be reached', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const wrapped = new ClientError('not_connected', 'Cannot reach the Kecalek server at 127.0.0.1:9: connection refused', undefined, { cause: refused });
    expect(describeConnectionFailure(wrapped, '127.0.0.1:9')).to.equal('Cannot reach the server at 127.0.0.1:9: connection refused — is the server running?');
    const selfSigned = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(describeConnectionFailure(selfSigned, 'h:1')).to.match(/not trust.*--insecure-dev/);
    expect(describeConnectionFailure(new Error('other'), 'h:1')).to.equal(undefined);
  });
});

describe('chat server address', () => {
  it('defaults to the development server over TLS, or its WebSocket port', () => {
    expect(serverAddress({})).to.deep.equal({ host: '127.0.0.1', port: 7443, transport: 'tls' });
    expect(serverAddress({ ws: true })).to.deep.equal({ host: '127.0.0.1', port: 7444, transport: 'ws' });
    expect(serverAddress({ server: 'chat.example.org', insecureDev: true })).to.deep.equal({ host: 'chat.example.org', port: 7443, transport: 'tls', insecureDev: true });
  });

  it('reads host:port, IPv6 and URLs', () => {
    expect(parseServer('127.0.0.1:9000')).to.deep.equal({ host: '127.0.0.1', port: 9000, transport: undefined, path: undefined });
    expect(parseServer('[::1]:9000')).to.deep.equal({ host: '::1', port: 9000, transport: undefined, path: undefined });
    expect(parseServer('wss://chat.example.org/kecalek')).to.deep.equal({ host: 'chat.example.org', port: undefined, transport: 'ws', path: '/kecalek' });
    expect(parseServer('tls://chat.example.org:7000')).to.deep.equal({ host: 'chat.example.org', port: 7000, transport: 'tls', path: undefined });
    expect(serverAddress({ server: 'wss://h:8443/ws' })).to.deep.equal({ host: 'h', port: 8443, transport: 'ws', path: '/ws' });
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', 'host:', 'host:99999', 'http://h', 'a b', 'host:0']) {
      expect(() => parseServer(bad), bad).to.throw(InvalidArgumentError);
    }
  });
});
