/**
 * `kecalek server`: loads the configuration (environment, .env, kecalek.config.json, flags),
 * starts the server, prints where it listens, and shuts down gracefully on SIGINT/SIGTERM (a
 * second signal forces the exit). A start-up problem is one line on stderr, no stack trace.
 */
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { getDefaultProvider, sodiumUnavailableReason } from '../engine/crypto/index.js';
import { KecalekError, StartupError } from '../engine/errors.js';
import { loadServerConfig, type Env } from '../engine/server/config.js';
import type { ServerConfig } from '../engine/server/config-types.js';
import { OUTBOX_FOLDER } from '../engine/server/core/mailer.js';
import { startServer, type KecalekServer } from '../engine/server/server.js';
import { DEV_CERT_FILE, devTlsDir } from '../engine/server/transport/index.js';
import { SERVER_VERSION } from '../engine/server/version.js';

export interface ServerCommandOptions {
  readonly dev?: boolean;
  readonly port?: number;
  readonly wsPort?: number | 'off';
  readonly dataDir?: string;
  readonly plugins?: string;
}

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the Kecalek server (configured by environment variables, .env and kecalek.config.json)')
    .option('--dev', 'development mode: loopback address, self-signed certificate, registration codes in <data-dir>/outbox')
    .option('--port <n>', 'TLS port, overrides SERVER_PORT (0 picks a free port)', parsePort)
    .option('--ws-port <n>', 'WebSocket port, overrides WS_PORT ("off" disables WebSocket)', parseWsPort)
    .option('--data-dir <dir>', 'data folder, overrides DATA_DIR')
    .option('--plugins <list>', 'comma-separated plugins to enable, overrides PLUGINS ("" for none)')
    .action(async (options: ServerCommandOptions) => {
      await runServer(options);
    });
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return Number(value);
}

function parseWsPort(value: string): number | 'off' {
  return value.toLowerCase() === 'off' ? 'off' : parsePort(value);
}

export async function runServer(options: ServerCommandOptions): Promise<void> {
  // A closed terminal or pipe must not turn a status line into a crash.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  // Flags win over the environment, which wins over .env.
  const env: Env = { ...process.env };
  if (options.port !== undefined) env.SERVER_PORT = String(options.port);
  if (options.wsPort !== undefined) env.WS_PORT = String(options.wsPort);
  if (options.dataDir !== undefined) env.DATA_DIR = options.dataDir;
  if (options.plugins !== undefined) env.PLUGINS = options.plugins;

  let config: ServerConfig;
  let server: KecalekServer;
  try {
    config = loadServerConfig({ env, dev: options.dev === true });
    server = await startServer(config);
  } catch (error) {
    process.stderr.write(`kecalek: ${startFailureMessage(error, env)}\n`);
    process.exit(1);
  }
  for (const line of startupLines(server, config)) console.log(line);
  handleSignals(server);
}

/** What the operator reads on stdout once the server runs. */
export function startupLines(server: KecalekServer, config: ServerConfig): string[] {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const secure = server.tls;
  let where = `${secure ? 'tls' : 'tcp'}://${host}:${server.ports.tcp}`;
  if (server.ports.ws !== undefined) where += ` and ${secure ? 'wss' : 'ws'}://${host}:${server.ports.ws}${config.wsPath}`;
  const plugins = server.plugins.length === 0 ? 'none' : server.plugins.map((p) => `${p.name} ${p.version}`).join(', ');
  const lines = [`Kecalek ${SERVER_VERSION} listening on ${where}`, `Database: ${server.database.description}`, `Plugins: ${plugins}`, cryptoLine()];
  if (config.environment !== 'production') {
    const tls =
      config.tls.mode === 'self-signed'
        ? `the TLS certificate is self-signed (${join(devTlsDir(config), DEV_CERT_FILE)}; clients must trust it explicitly)`
        : config.tls.mode === 'plain'
          ? 'TLS is OFF and traffic is NOT encrypted'
          : 'TLS uses the configured certificate files';
    const mail = config.smtp ? `registration codes are mailed through ${config.smtp.host}` : `registration codes go to ${join(config.dataDir, OUTBOX_FOLDER)}`;
    lines.push(`Development mode (ENVIRONMENT=${config.environment}): ${tls}; ${mail}`);
  }
  return lines;
}

/** Which crypto provider verifies logins here; a missing libsodium addon is worth an operator's notice. */
function cryptoLine(): string {
  const provider = getDefaultProvider().name;
  if (provider === 'sodium') return 'Cryptography: libsodium (curves) + node:crypto';
  if (sodiumUnavailableReason !== undefined) return `Cryptography: node:crypto only (${sodiumUnavailableReason}; signatures run at about half the speed)`;
  return `Cryptography: ${provider}`;
}

function startFailureMessage(error: unknown, env: Env): string {
  if (error instanceof StartupError) return firstLine(error.message);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const failure = error as { address?: string; port?: number } | undefined;
  if (code === 'EADDRINUSE') return `port ${failure?.port ?? '?'} on ${failure?.address ?? env.SERVER_HOST ?? 'this host'} is already in use (SERVER_PORT / WS_PORT)`;
  if (code === 'EACCES' && failure?.port !== undefined) return `not allowed to listen on port ${failure.port} (SERVER_PORT / WS_PORT)`;
  if (code === 'EADDRNOTAVAIL') return `SERVER_HOST ${env.SERVER_HOST ?? ''} is not an address of this machine`.replace('  ', ' ');
  const message = error instanceof KecalekError || error instanceof Error ? error.message : String(error);
  return `the server could not start: ${firstLine(message)}`;
}

function handleSignals(server: KecalekServer): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`kecalek: ${signal} again, exiting without finishing the shutdown\n`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal} received: shutting down (send it again to force)`);
    server.close().then(
      () => {
        console.log('Kecalek stopped');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`kecalek: shutdown failed: ${firstLine(error instanceof Error ? error.message : String(error))}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
