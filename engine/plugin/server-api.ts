/**
 * What a plugin's server part receives. Everything a feature needs goes through here: handlers,
 * hooks, its database tables, its key-value store, pushes, shared services, timers and blobs.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { TSchema, Static } from 'typebox';
import type { PluginHookTaps } from './server-hooks.js';
import type { Token } from './tokens.js';
import type { KeyValueStore } from './kv.js';
import type { AuthedRequestContext, HandlerOptions, RequestContext } from './server-types.js';
import type { BlobStore } from './blobs.js';
import type { CoreServices } from './core-services.js';

export type Handler<Request, Context> = (request: Request, context: Context) => unknown | Promise<unknown>;

export interface PushOptions {
  /** Connection id to leave out (usually the connection that caused the push). */
  readonly exceptConnectionId?: string;
}

export interface DevicePush {
  readonly userId: string;
  readonly deviceId: string;
  readonly data: unknown;
}

export interface ServerPluginApi<Config = unknown> {
  readonly name: string;
  /** This plugin's validated settings, defaults applied. */
  readonly config: Readonly<Config>;
  /** A child logger tagged with the plugin's name. Never log plaintext, keys, codes or emails. */
  readonly log: Logger;
  /** The engine's database. A plugin's tables are prefixed with its name (`reactions_...`). */
  readonly db: Knex;
  /** A small namespaced key-value store for plugins that need no tables. */
  readonly kv: KeyValueStore;
  /** The server hook set, wrapped with this plugin's name, failure policy and gate. */
  readonly hooks: PluginHookTaps;
  /** Read-only engine services: users, conversations, messages, presence. */
  readonly core: CoreServices;
  /** Blob storage under UPLOAD_DIR (attachments, avatars). */
  readonly blobs: BlobStore;
  /** Engine limits and settings that plugins may read (frame cap, message size, ...). */
  readonly limits: Readonly<Record<string, number>>;

  /**
   * Registers a request handler for `type` (validated against `schema` before the handler runs).
   * The handler's return value is the response's `data`; a thrown WireError becomes an error
   * response with its code; anything else thrown becomes internal_error (logged with this name).
   */
  handle<S extends TSchema>(
    type: string,
    schema: S,
    handler: Handler<Static<S>, AuthedRequestContext>,
    options?: HandlerOptions & { auth?: true },
  ): void;
  handle<S extends TSchema>(
    type: string,
    schema: S,
    handler: Handler<Static<S>, RequestContext>,
    options: HandlerOptions & { auth: false },
  ): void;

  /** Pushes one event to every connected device of these users. */
  notify(userIds: Iterable<string>, type: string, data: unknown, options?: PushOptions): void;
  /** Pushes per-device events (each device gets its own data). */
  notifyDevices(entries: Iterable<DevicePush>, type: string, options?: PushOptions): void;

  /** Shares a service with plugins that depend on this one. The token's id must start with this plugin's name. */
  provide<T>(token: Token<T>, value: T): void;
  /** Uses a service provided by a plugin this one declares in `dependsOn`. */
  use<T>(token: Token<T>): T;

  /** Runs `task` every `intervalMs` while the server runs (failures are logged, never fatal; runs never overlap). */
  every(intervalMs: number, task: () => Promise<void> | void): void;

  /** Runs `task` when the server shuts down, after connections stopped sending and before the database closes (reverse start order). */
  onShutdown(task: () => Promise<void> | void): void;
}
