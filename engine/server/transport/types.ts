/** What the composition root hands to each transport, and what a transport gives back. */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config-types.js';
import type { ConnectionHandler } from '../connection.js';
import type { TlsContext } from './tls.js';

export interface TransportOptions {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly handler: ConnectionHandler;
  /** undefined: plaintext (development only). */
  readonly tls: TlsContext | undefined;
}

export interface TransportServer {
  readonly kind: 'tls' | 'tcp' | 'ws' | 'wss';
  /** The port actually listened on (the config may ask for 0). */
  readonly port: number;
  readonly host: string;
  /** Closes the listening socket(s); live connections stay (the server closes them at shutdown). */
  stopAccepting(): Promise<void>;
}
