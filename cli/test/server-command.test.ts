import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { TestConnection } from '../../engine/testing/index.js';
import { SERVER_VERSION } from '../../engine/server/version.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'kecalek.mjs');

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<number | null>;
}

function run(args: string[], env: Record<string, string>, cwd: string): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, KECALEK_CONFIG: '', PLUGINS: '', ENVIRONMENT: '', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolveExit) => child.on('exit', (code) => resolveExit(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => (result.stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (result.stderr += chunk.toString('utf8')));
  return result;
}

async function waitFor(runResult: Run, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = runResult.stdout.match(pattern);
    if (match) return match;
    if (runResult.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Did not see ${pattern} (exit ${runResult.child.exitCode}).\nstdout:\n${runResult.stdout}\nstderr:\n${runResult.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('cli: kecalek server (a real child process)', function () {
  this.timeout(60_000);
  let cwd: string;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'kecalek-cli-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(cwd, { recursive: true, force: true });
  });

  it('starts in development mode, prints where it listens, serves TLS, and exits 0 on SIGTERM', async () => {
    const dataDir = join(cwd, 'state');
    const server = run(['server', '--dev'], { DATA_DIR: dataDir, SERVER_PORT: '0', WS_PORT: '0', LOG_LEVEL: 'warn' }, cwd);
    children.push(server.child);
    const listening = await waitFor(server, /^Kecalek (\S+) listening on tls:\/\/127\.0\.0\.1:(\d+) and wss:\/\/127\.0\.0\.1:(\d+)\/ws$/m);
    expect(listening[1]).to.equal(SERVER_VERSION);
    await waitFor(server, /^Development mode.*$/m);
    expect(server.stdout).to.include(`Database: SQLite ${join(dataDir, 'kecalek.db')}\n`);
    expect(server.stdout).to.include('Plugins: none\n');
    // sodium-native comes with npm ci: the server runs on libsodium, and says so.
    expect(server.stdout).to.include('Cryptography: libsodium (curves) + node:crypto\n');
    const devLine = server.stdout.split('\n').find((line) => line.startsWith('Development mode'))!;
    expect(devLine).to.include('self-signed');
    expect(devLine).to.include(join(dataDir, 'outbox'));

    const certificate = await readFile(join(dataDir, 'dev-tls', 'cert.pem'), 'utf8');
    const connection = await TestConnection.open({ transport: 'tls', host: '127.0.0.1', port: Number(listening[2]), ca: certificate });
    expect(connection.hello.server_version).to.equal(SERVER_VERSION);
    const unknown = await connection.request('no_such_type');
    expect(unknown.status === 'error' && unknown.data.code).to.equal('unknown_type');
    const ws = await TestConnection.open({ transport: 'wss', host: '127.0.0.1', port: Number(listening[3]), ca: certificate });
    expect(ws.hello.protocol_version).to.equal(connection.hello.protocol_version);

    server.child.kill('SIGTERM');
    expect(await server.exit).to.equal(0);
    await Promise.all([connection.closed, ws.closed]);
    expect(server.stdout).to.include('Kecalek stopped');
    expect(server.stderr).to.equal('');
  });

  it('forces the exit with code 1 on a second signal during a slow shutdown', async () => {
    const dataDir = join(cwd, 'state');
    const server = run(['server', '--dev', '--port', '0', '--ws-port', 'off', '--data-dir', dataDir], { LOG_LEVEL: 'silent' }, cwd);
    children.push(server.child);
    const listening = await waitFor(server, /^Kecalek \S+ listening on tls:\/\/127\.0\.0\.1:(\d+)$/m);
    const certificate = await readFile(join(dataDir, 'dev-tls', 'cert.pem'), 'utf8');
    // A peer that never closes its side keeps the graceful close waiting.
    const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
      host: '127.0.0.1',
      port: Number(listening[1]),
      ca: certificate,
      servername: 'localhost',
      allowHalfOpen: true,
    };
    const stubborn = tls.connect(options);
    stubborn.on('error', () => undefined);
    await new Promise((r) => stubborn.once('data', r));
    server.child.kill('SIGINT');
    await waitFor(server, /shutting down/);
    await new Promise((r) => setTimeout(r, 200));
    server.child.kill('SIGINT');
    expect(await server.exit).to.equal(1);
    expect(server.stderr).to.match(/^kecalek: SIGINT again/);
    stubborn.destroy();
  });

  it('exits 1 with one "kecalek:" line and no stack trace for a bad plugin', async () => {
    const result = run(['server', '--dev', '--plugins', 'no-such-plugin'], { DATA_DIR: join(cwd, 'data'), SERVER_PORT: '0', WS_PORT: '0' }, cwd);
    children.push(result.child);
    expect(await result.exit).to.equal(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^kecalek: Unknown plugin "no-such-plugin"/);
    expect(result.stderr).to.not.match(/\n\s+at /);
  });

  it('exits 1 with one line when production has no certificate, and for an invalid variable', async () => {
    const production = run(['server'], { DATA_DIR: join(cwd, 'data'), SERVER_PORT: '0', WS_PORT: '0', ENVIRONMENT: 'production' }, cwd);
    children.push(production.child);
    expect(await production.exit).to.equal(1);
    expect(production.stderr).to.match(/^kecalek: TLS certificate required in production: set TLS_CERT_FILE and TLS_KEY_FILE.*\n$/);
    const invalid = run(['server', '--dev'], { DATA_DIR: join(cwd, 'data'), SERVER_PORT: 'seven' }, cwd);
    children.push(invalid.child);
    expect(await invalid.exit).to.equal(1);
    expect(invalid.stderr).to.equal('kecalek: SERVER_PORT must be a whole number from 0 to 65535, got "seven"\n');
  });

  it('prints --version and --help', async () => {
    const version = run(['--version'], {}, cwd);
    expect(await version.exit).to.equal(0);
    expect(version.stdout.trim()).to.equal(SERVER_VERSION);
    const help = run(['--help'], {}, cwd);
    expect(await help.exit).to.equal(0);
    expect(help.stdout).to.match(/Usage: kecalek/);
    expect(help.stdout).to.match(/^\s+server\b/m);
    const serverHelp = run(['server', '--help'], {}, cwd);
    expect(await serverHelp.exit).to.equal(0);
    for (const flag of ['--dev', '--port <n>', '--ws-port <n>', '--data-dir <dir>', '--plugins <list>']) expect(serverHelp.stdout).to.include(flag);
  });
});
