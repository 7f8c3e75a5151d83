/**
 * Powers only the engine's own core modules have (they are plugins in every other respect):
 * logging a connection in, disconnecting users and devices, mailing codes.
 */
import type { Session } from '../../plugin/server-types.js';
import type { ServerHooks } from '../../plugin/server-hooks.js';
import type { Connection } from '../connection.js';
import type { ConnectionRegistry } from '../registry.js';
import type { PushBus } from '../push.js';
import type { ServerConfig } from '../config-types.js';
import type { Mailer } from './mailer.js';

export interface EngineInternals {
  readonly config: ServerConfig;
  readonly registry: ConnectionRegistry;
  readonly push: PushBus;
  /** 32 random bytes kept in the data directory: keys registration-code hashes and fake login challenges. */
  readonly serverSecret: Uint8Array;
  readonly mailer: Mailer;
  /** The server hook set itself, for firing hooks (plugins, core modules included, tap them through `api.hooks`). */
  readonly hooks: ServerHooks;
  /** The live connection behind a request context. */
  connection(connectionId: string): Connection | undefined;
  /** Marks a connection as logged in, binds it for pushes, fires `authenticated`. */
  authenticate(connection: Connection, session: Session): Promise<void>;
  /** Forgets a connection's login (logout); fires `disconnect` presence as if it had closed. */
  deauthenticate(connection: Connection): Promise<void>;
  /** Closes every connection of a user, except `exceptConnectionId`. */
  disconnectUser(userId: string, exceptConnectionId?: string): void;
  /** Closes every connection of one device. */
  disconnectDevice(userId: string, deviceId: string): void;
}
