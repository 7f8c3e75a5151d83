/**
 * Where the desktop app connects and which plugins it loads: the environment (Electron), the web
 * host's flags, and the remembered server address.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromEnv, resolveDesktopConfig } from '../main/config.js';
import { SETTINGS_FILE } from '../main/settings.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'desktop', 'web-host', 'cli.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the web host CLI until it prints its URL (then stops it) or exits by itself. */
function runWebHost(args: string[]): Promise<Run> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('?token=')) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('desktop: configuration', function () {
  this.timeout(120_000);
  let home: string;

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'kecalek-desktop-config-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('reads the environment: server, development flag, CA, home and a comma-separated plugin list', () => {
    expect(
      configFromEnv({
        KECALEK_SERVER: 'chat.example.org:7443',
        KECALEK_INSECURE_DEV: '1',
        KECALEK_CA: '/etc/ca.pem',
        KECALEK_HOME: '/home/a/.kecalek',
        KECALEK_PLUGINS: ' kecalek-plugin-polls, ./local/plugin ,,',
      }),
    ).to.deep.equal({
      server: 'chat.example.org:7443',
      insecureDev: true,
      caFile: '/etc/ca.pem',
      home: '/home/a/.kecalek',
      plugins: ['kecalek-plugin-polls', './local/plugin'],
    });
    expect(configFromEnv({})).to.deep.equal({ insecureDev: false });
  });

  it('remembers the server given once and uses it when none is given', async () => {
    const first = await resolveDesktopConfig({ server: 'chat.example.org:8443', home });
    expect(first.server).to.include({ host: 'chat.example.org', port: 8443 });
    expect(JSON.parse(await readFile(join(home, SETTINGS_FILE), 'utf8'))).to.include({ server: 'chat.example.org:8443' });
    const again = await resolveDesktopConfig({ home });
    expect(again.server).to.include({ host: 'chat.example.org', port: 8443 });
  });

  it('refuses a malformed server address with a clear error', async () => {
    const failed = await resolveDesktopConfig({ server: 'not an address', home }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failed?.message).to.match(/server|address/i);
  });

  it('web host: loads a third-party plugin given with --plugin, and stops in one line for one that does not exist', async () => {
    const missing = await runWebHost(['--home', home, '--plugin', './no/such/plugin']);
    expect(missing.code).to.equal(2);
    const lines = missing.stderr.trim().split('\n');
    expect(lines[0]).to.match(/^kecalek web host: Plugin "\.\/no\/such\/plugin" cannot be (found|loaded)/);
    expect(lines.slice(1).join('\n')).to.match(/^usage: npm run desktop:web/);

    const started = await runWebHost(['--home', home, '--server', '127.0.0.1:9', '--plugin', './examples/kecalek-plugin-polls']);
    expect(started.stderr).to.not.include('cannot be');
    expect(started.stdout).to.match(/http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}/);
  });
});
