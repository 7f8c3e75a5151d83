/**
 * `kecalek chat`: the interactive terminal client. This module declares the command and its
 * flags and works out the server address; run.ts (loaded only when the command runs, so that
 * `kecalek server` does not load the client core) connects and runs the chat.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { ServerAddress } from '../../engine/client/types.js';
import { DEFAULT_PORT, DEFAULT_WS_PORT } from '../../engine/server/config.js';

export const DEFAULT_SERVER_HOST = '127.0.0.1';

export interface ChatCommandOptions {
  readonly server?: string;
  readonly ws?: boolean;
  readonly insecureDev?: boolean;
  readonly home?: string;
  readonly email?: string;
  readonly debug?: boolean;
  /** --plugin (repeatable): third-party plugins whose client parts to load, by path or package name. */
  readonly plugin?: readonly string[];
}

/** `host`, `host:port`, `[v6]:port`, or a `tls://` / `wss://` URL. */
export interface ParsedServer {
  readonly host: string;
  readonly port: number | undefined;
  readonly transport: 'tls' | 'ws' | undefined;
  readonly path: string | undefined;
}

export function parseServer(value: string): ParsedServer {
  const text = value.trim();
  const fail = (): never => {
    throw new InvalidArgumentError('expected host:port (like 127.0.0.1:7443), or a tls:// or wss:// address.');
  };
  const url = /^([a-z]+):\/\//i.exec(text);
  if (url) {
    const scheme = url[1]!.toLowerCase();
    if (scheme !== 'tls' && scheme !== 'wss') fail();
    let parsed: URL;
    try {
      parsed = new URL(text.replace(/^tls:/i, 'https:').replace(/^wss:/i, 'https:'));
    } catch {
      return fail();
    }
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') fail();
    return {
      host,
      port: parsed.port === '' ? undefined : Number(parsed.port),
      transport: scheme === 'wss' ? 'ws' : 'tls',
      path: scheme === 'wss' && parsed.pathname !== '/' ? parsed.pathname : undefined,
    };
  }
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/i.exec(text);
  const plain = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  const match = bracketed ?? plain;
  if (!match) return fail();
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) fail();
  return { host: match[1]!, port, transport: undefined, path: undefined };
}

/** The address the client connects to, from the flags. */
export function serverAddress(options: Pick<ChatCommandOptions, 'server' | 'ws' | 'insecureDev'>): ServerAddress {
  const parsed = parseServer(options.server ?? DEFAULT_SERVER_HOST);
  const transport = parsed.transport ?? (options.ws ? 'ws' : 'tls');
  return {
    host: parsed.host,
    port: parsed.port ?? (transport === 'ws' ? DEFAULT_WS_PORT : DEFAULT_PORT),
    transport,
    ...(parsed.path !== undefined ? { path: parsed.path } : {}),
    ...(options.insecureDev ? { insecureDev: true } : {}),
  };
}

/** `host:port` for messages. */
export function addressLabel(address: ServerAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

export function registerChatCommand(program: Command): void {
  program
    .command('chat')
    .description('chat in the terminal (end-to-end encrypted)')
    .option('--server <host:port>', `the server (default ${DEFAULT_SERVER_HOST}:${DEFAULT_PORT}, or :${DEFAULT_WS_PORT} with --ws)`, (value: string) => {
      parseServer(value);
      return value;
    })
    .option('--ws', 'connect over WebSocket instead of TLS')
    .option('--insecure-dev', "accept a development server's self-signed certificate without checking it")
    .option('--home <dir>', 'folder for your keys and message cache (default ~/.kecalek)')
    .option('--email <email>', 'log in to this account straight away')
    .option('--debug', 'print details of unexpected errors')
    .option(
      '--plugin <path|package>',
      "load a third-party plugin's client part (a path like ./kecalek-plugin-polls, or a package name); repeatable. It is active only on servers that run the plugin",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .addHelpText(
      'after',
      "\nIn the chat, type /help for the commands (the built-in ones and those of the server's plugins).",
    )
    .action(async (options: ChatCommandOptions) => {
      const { runChat } = await import('./run.js');
      process.exitCode = await runChat(options);
      // Nothing is left to do: do not wait for idle sockets or timers of the client core.
      process.exit();
    });
}
