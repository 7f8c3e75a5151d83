/**
 * Running `kecalek chat`: connects to the server (an unreachable server is one line on stderr
 * and exit code 1), then hands the terminal to the ChatApp until the user quits.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ChatClient, DEFAULT_HOME } from '../../engine/client/index.js';
import type { AnyPluginDefinition } from '../../engine/plugin/define.js';
import { ChatApp } from './app.js';
import { addressLabel, serverAddress, type ChatCommandOptions } from './command.js';
import { describeConnectionFailure, describeError, errorDetails } from './errors.js';
import { Terminal } from './prompt.js';
import { colourWanted, createStyle } from './style.js';

import { loadClientPlugins } from '../../engine/client/plugin-loader.js';

/** Runs the terminal chat; resolves with the exit code. */
export async function runChat(options: ChatCommandOptions): Promise<number> {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const address = serverAddress(options);
  const where = addressLabel(address);
  const home = resolve(options.home ?? DEFAULT_HOME);
  const style = createStyle(colourWanted(process.stdout));
  const debug = options.debug === true;

  if (options.insecureDev) {
    process.stderr.write(
      `kecalek: warning: --insecure-dev: the certificate of ${where} is NOT checked. Use it only with your own development server.\n`,
    );
  }

  // The built-in plugins' client parts and those named with --plugin; each activates only if the
  // server enables it. A --plugin that cannot be loaded stops here with one line.
  let plugins: AnyPluginDefinition[];
  try {
    plugins = await loadClientPlugins(options.plugin ?? [], {
      warn: (line) => {
        if (debug || line.includes('no client part')) process.stderr.write(`kecalek: ${line}\n`);
      },
    });
  } catch (error) {
    process.stderr.write(`kecalek: ${error instanceof Error ? error.message : String(error)}\n`);
    if (debug) process.stderr.write(`${errorDetails(error)}\n`);
    return 1;
  }

  const client = new ChatClient({
    server: address,
    home,
    plugins,
    deviceName: `kecalek chat on ${hostname()}`,
  });
  try {
    await client.connect();
  } catch (error) {
    const line = describeConnectionFailure(error, where) ?? describeError(error);
    process.stderr.write(`kecalek: ${line}\n`);
    if (debug) process.stderr.write(`${errorDetails(error)}\n`);
    await client.close().catch(() => undefined);
    return 1;
  }

  const terminal: Terminal = new Terminal({
    input: process.stdin,
    output: process.stdout,
    // Called on Tab only, so never before `app` below exists.
    completer: (line: string): [string[], string] => app.complete(line),
  });
  const info = client.serverInfo;
  terminal.print(
    style.dim(
      `Connected to ${where} over ${address.transport === 'ws' ? 'WebSocket' : 'TLS'}${info ? ` (Kecalek ${info.serverVersion})` : ''}. Your messages are end-to-end encrypted.`,
    ),
  );
  const app: ChatApp = new ChatApp({ client, terminal, style, home, serverLabel: where, email: options.email, debug });
  const stop = (): void => app.quit();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  try {
    await app.run();
  } catch (error) {
    process.stderr.write(`kecalek: ${describeError(error)}\n`);
    if (debug) process.stderr.write(`${errorDetails(error)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
  }
  return 0;
}
