/**
 * A bad third-party plugin stops start-up with ONE clear line naming the culprit — through
 * startServer (a StartupError with a stable code) and through the real command line
 * (`kecalek server --dev` as a child process: exactly one `kecalek: ...` line on stderr, exit
 * code 1). The bad plugins are small fixture packages in ./fixtures, named by path or package.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StartupError } from '../../engine/errors.js';
import { startTestServer } from '../../engine/testing/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = './test/platform/fixtures';

interface Case {
  readonly title: string;
  readonly plugins: readonly string[];
  readonly settings?: Record<string, unknown>;
  readonly code: string;
  readonly message: string | RegExp;
}

const CASES: readonly Case[] = [
  {
    title: 'a missing dependency',
    plugins: [`${FIXTURES}/missing-dependency`],
    code: 'plugin_dependency_missing',
    message: 'Plugin "needs-weather" depends on "weather", which is not enabled',
  },
  {
    title: 'a dependency cycle',
    plugins: [`${FIXTURES}/cycle-a`, `${FIXTURES}/cycle-b`],
    code: 'plugin_dependency_cycle',
    message: 'Plugins depend on each other in a cycle: cycle-a -> cycle-b -> cycle-a',
  },
  {
    title: 'an invalid setting',
    plugins: [`${FIXTURES}/invalid-config`],
    settings: { greeter: { repeat: 9 } },
    code: 'plugin_config_invalid',
    message: 'Invalid setting greeter.repeat: must be <= 5',
  },
  {
    title: 'a failing migration',
    plugins: [`${FIXTURES}/failing-migration`],
    code: 'migration_failed',
    message: /^Migration broken-schema\/0002_again failed: .*broken_schema_items.*$/,
  },
  {
    title: 'an unknown package name',
    plugins: ['kecalek-plugin-does-not-exist'],
    code: 'plugin_not_found',
    message: /^Plugin "kecalek-plugin-does-not-exist" cannot be found: .*kecalek-plugin-does-not-exist.*$/,
  },
  {
    title: 'a path that does not export a plugin',
    plugins: [`${FIXTURES}/not-a-plugin`],
    code: 'plugin_invalid',
    message: `Plugin "${FIXTURES}/not-a-plugin" does not export a plugin definition (default export or \`plugin\`)`,
  },
  {
    title: 'a path where there is nothing',
    plugins: [`${FIXTURES}/nothing-here`],
    code: 'plugin_not_found',
    message: /^Plugin "\.\/test\/platform\/fixtures\/nothing-here" cannot be loaded: .*nothing-here.*$/,
  },
  {
    title: 'a wrong apiVersion',
    plugins: [`${FIXTURES}/wrong-api`],
    code: 'plugin_api_version',
    message: 'Plugin "from-the-future" needs plugin API version 99; this engine supports 1',
  },
  {
    title: 'a message type that is already taken',
    plugins: [`${FIXTURES}/duplicate-type`],
    code: 'plugin_invalid',
    message: 'Message type "send_message" is registered by both "core-messages" and "copycat"',
  },
  {
    title: 'an unknown built-in name',
    plugins: ['weather'],
    code: 'plugin_not_found',
    message: /^Unknown plugin "weather": not a built-in plugin \(.*\); third-party plugins are named by package \(kecalek-plugin-\*\) or path$/,
  },
  {
    title: 'settings for a plugin that is not enabled',
    plugins: [],
    settings: { greeter: { repeat: 2 } },
    code: 'plugin_config_invalid',
    message: 'Settings are given for plugin "greeter", which is not enabled',
  },
];

function matches(actual: string, expected: string | RegExp): void {
  if (typeof expected === 'string') expect(actual).to.equal(expected);
  else expect(actual).to.match(expected);
}

describe('platform: start-up errors of bad plugins (startServer)', function () {
  this.timeout(30_000);
  for (const testCase of CASES) {
    it(`names ${testCase.title} in one line`, async () => {
      let failure: unknown;
      try {
        const server = await startTestServer({ plugins: testCase.plugins, settings: testCase.settings, config: { cwd: ROOT } });
        await server.close();
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(StartupError);
      const error = failure as StartupError;
      expect(error.code).to.equal(testCase.code);
      expect(error.message).not.to.include('\n');
      matches(error.message, testCase.message);
    });
  }
});

describe('platform: start-up errors of bad plugins (kecalek server, a child process)', function () {
  this.timeout(60_000);
  let folder: string;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'kecalek-platform-cli-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  for (const [index, testCase] of CASES.entries()) {
    it(`prints one "kecalek:" line for ${testCase.title} and exits 1`, async () => {
      const env: Record<string, string> = {
        PLUGINS: testCase.plugins.join(','),
        DATA_DIR: join(folder, `data-${index}`),
        SERVER_PORT: '0',
        WS_PORT: '0',
        KECALEK_CONFIG: '',
        DATABASE_URL: '',
        ENVIRONMENT: '',
      };
      if (testCase.settings) {
        const file = join(folder, `config-${index}.json`);
        await writeFile(file, JSON.stringify({ settings: testCase.settings }));
        env.KECALEK_CONFIG = file;
      }
      const { code, stderr } = await runServer(env);
      expect(code).to.equal(1);
      const lines = stderr.split('\n');
      expect(lines, stderr).to.have.length(2);
      expect(lines[1]).to.equal('');
      expect(lines[0]!.startsWith('kecalek: ')).to.equal(true);
      matches(lines[0]!.slice('kecalek: '.length), testCase.message);
    });
  }
});

function runServer(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'kecalek.mjs'), 'server', '--dev'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}
