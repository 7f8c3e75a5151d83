/**
 * The server address of the desktop app (Electron and web host alike): `host`, `host:port`,
 * `[v6]:port`, or a `tls://` / `wss://` URL, as the terminal client's `--server` takes it.
 */
import type { ServerAddress } from '../../engine/client/types.js';

/** Where a first run connects when nothing else is configured. */
export const DEFAULT_SERVER = '127.0.0.1:7443';
export const DEFAULT_TLS_PORT = 7443;
export const DEFAULT_WS_PORT = 7444;

export class AddressError extends Error {
  constructor(value: string) {
    super(`Invalid server address "${value}": expected host:port (like 127.0.0.1:7443), or a tls:// or wss:// address`);
    this.name = 'AddressError';
  }
}

export interface AddressOptions {
  /** Accept the server's certificate without verification (development servers only). */
  readonly insecureDev?: boolean;
  /** Extra CA certificate(s) to trust (PEM). */
  readonly ca?: string;
}

function port(text: string | undefined, value: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const number = Number(text);
  if (!Number.isInteger(number) || number < 1 || number > 65535) throw new AddressError(value);
  return number;
}

export function parseServerAddress(value: string, options: AddressOptions = {}): ServerAddress {
  const text = value.trim();
  const extra = { ...(options.insecureDev ? { insecureDev: true } : {}), ...(options.ca ? { ca: options.ca } : {}) };
  const scheme = /^([a-z]+):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme !== 'tls' && scheme !== 'wss') throw new AddressError(value);
    let url: URL;
    try {
      url = new URL(`https://${text.slice(scheme.length + 3)}`);
    } catch {
      throw new AddressError(value);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') throw new AddressError(value);
    const transport = scheme === 'wss' ? 'ws' : 'tls';
    return {
      host,
      port: port(url.port, value) ?? (transport === 'ws' ? DEFAULT_WS_PORT : DEFAULT_TLS_PORT),
      transport,
      ...(transport === 'ws' && url.pathname !== '/' ? { path: url.pathname } : {}),
      ...extra,
    };
  }
  const match = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/i.exec(text) ?? /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!match) throw new AddressError(value);
  return { host: match[1]!, port: port(match[2], value) ?? DEFAULT_TLS_PORT, transport: 'tls', ...extra };
}

/** `host:port` for people (IPv6 in brackets). */
export function addressLabel(address: Pick<ServerAddress, 'host' | 'port'>): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}
