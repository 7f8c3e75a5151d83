/**
 * `npm run desktop:web`: the desktop renderer in your browser. Builds the renderer if it is
 * missing, starts the web host on 127.0.0.1 and prints the address to open (it carries the
 * bridge token: treat it like a password while the host runs).
 *
 *   --server host:port   the Kecalek server (default: remembered from the last run, first run 127.0.0.1:7443)
 *   --insecure-dev       accept a development server's certificate without checking it
 *   --ca file.pem        an extra CA certificate to trust
 *   --home folder        key stores and desktop-settings.json (default ~/.kecalek)
 *   --port n             the web host's port on 127.0.0.1 (default: any free port)
 *   --plugin p           a third-party plugin's client part, by path or package name (repeatable)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addressLabel } from '../main/address.js';
import { loadClientPlugins } from '../../engine/client/plugin-loader.js';
import { resolveDesktopConfig } from '../main/config.js';
import { DEFAULT_RENDERER_DIR, startWebHost } from './web-host.js';

const USAGE = 'usage: npm run desktop:web -- [--server host:port] [--insecure-dev] [--ca file.pem] [--home folder] [--port n] [--plugin path|package]...';

function fail(message: string): never {
  process.stderr.write(`kecalek web host: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        server: { type: 'string' },
        'insecure-dev': { type: 'boolean' },
        ca: { type: 'string' },
        home: { type: 'string' },
        port: { type: 'string' },
        plugin: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number, got "${values.port}"`);

  // Before the build: a plugin that cannot be loaded is reported at once, in one line.
  let plugins;
  try {
    plugins = await loadClientPlugins(values.plugin ?? [], { warn: (line) => process.stderr.write(`kecalek web host: ${line}\n`) });
  } catch (error) {
    fail((error as Error).message);
  }

  if (!existsSync(join(DEFAULT_RENDERER_DIR, 'index.html'))) {
    process.stdout.write('Building the desktop renderer (npm run desktop:build)...\n');
    const script = fileURLToPath(new URL('../../scripts/build-desktop.mjs', import.meta.url));
    const built = spawnSync(process.execPath, [script], { stdio: 'inherit' });
    if (built.status !== 0) fail('the build failed');
    if (!existsSync(join(DEFAULT_RENDERER_DIR, 'index.html'))) {
      process.stderr.write('kecalek web host: warning: there is no renderer bundle yet (desktop/renderer/index.ts is missing); the page will say so.\n');
    }
  }

  let config;
  try {
    config = await resolveDesktopConfig({
      ...(values.server !== undefined ? { server: values.server } : {}),
      insecureDev: values['insecure-dev'] === true,
      ...(values.ca !== undefined ? { caFile: values.ca } : {}),
      ...(values.home !== undefined ? { home: values.home } : {}),
    });
  } catch (error) {
    fail((error as Error).message);
  }
  if (config.server.insecureDev) {
    process.stderr.write(
      `kecalek web host: warning: --insecure-dev: the certificate of ${addressLabel(config.server)} is NOT checked. Use it only with your own development server.\n`,
    );
  }
  const host = await startWebHost({
    port,
    server: config.server,
    home: config.home,
    plugins,
    deviceName: `Kecalek web on ${hostname()}`,
    onInternalError: (error, where) => process.stderr.write(`kecalek web host: ${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`),
  });
  process.stdout.write(`Kecalek web host for ${addressLabel(config.server)} is running. Open:\n\n  ${host.url}\n\nThe address carries the bridge token: do not share it. Ctrl+C stops the host.\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    host.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`kecalek web host: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
