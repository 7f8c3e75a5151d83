/**
 * Started plugins on the server: builds each plugin's `api`, keeps its on/off gate, the services
 * it provides, its timers and its shutdown tasks. Core modules are started through exactly the
 * same path as feature plugins.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { TSchema } from 'typebox';
import { StartupError, StartupErrorCode } from '../errors.js';
import type { AnyPluginDefinition } from '../plugin/define.js';
import type { ServerPluginApi, DevicePush, PushOptions } from '../plugin/server-api.js';
import { createPluginHookTaps, type ServerHooks } from '../plugin/server-hooks.js';
import { createKeyValueStore } from '../plugin/kv.js';
import { tokenOwner, type Token } from '../plugin/tokens.js';
import type { BlobStore } from '../plugin/blobs.js';
import type { CoreServices } from '../plugin/core-services.js';
import type { HandlerOptions, PluginSummary, RequestContext } from '../plugin/server-types.js';
import type { Router } from './router.js';
import type { PushBus } from './push.js';
import { CORE_TOKENS } from './core/tokens.js';

export interface RuntimeContext {
  readonly db: Knex;
  readonly hooks: ServerHooks;
  readonly router: Router;
  readonly push: PushBus;
  readonly log: Logger;
  readonly limits: Readonly<Record<string, number>>;
  readonly blobs: (plugin: string) => BlobStore;
}

export interface StartedPlugin {
  readonly definition: AnyPluginDefinition;
  readonly config: Readonly<Record<string, unknown>>;
  /** Core modules cannot be disabled and are not advertised as plugins. */
  readonly core: boolean;
  enabled: boolean;
}

interface Timer {
  readonly plugin: StartedPlugin;
  readonly intervalMs: number;
  readonly task: () => Promise<void> | void;
  handle: NodeJS.Timeout | undefined;
  running: boolean;
}

export class PluginRuntime {
  private readonly started: StartedPlugin[] = [];
  private readonly services = new Map<string, { owner: string; value: unknown }>();
  private readonly timers: Timer[] = [];
  private readonly shutdownTasks: Array<{ plugin: string; task: () => Promise<void> | void }> = [];
  private timersRunning = false;

  constructor(private readonly context: RuntimeContext) {}

  /** Starts one plugin (call in dependency order). A failure stops start-up naming the plugin. */
  async start(definition: AnyPluginDefinition, config: Readonly<Record<string, unknown>>, core = false): Promise<StartedPlugin> {
    const plugin: StartedPlugin = { definition, config, core, enabled: true };
    this.started.push(plugin);
    if (!definition.server) return plugin;
    try {
      await definition.server(this.createApi(plugin));
    } catch (error) {
      if (error instanceof StartupError) throw error;
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new StartupError(StartupErrorCode.PLUGIN_START_FAILED, `Plugin "${definition.name}" failed to start: ${reason}`, {
        plugin: definition.name,
      }, { cause: error });
    }
    return plugin;
  }

  /** Feature plugins (not core modules) with their versions, as `hello` lists them. */
  enabledPlugins(): PluginSummary[] {
    return this.started.filter((p) => !p.core && p.enabled).map((p) => ({ name: p.definition.name, version: p.definition.version }));
  }

  /** Public settings per enabled feature plugin (the keys named in `publicConfig`). */
  publicSettings(): Record<string, Record<string, unknown>> {
    const result: Record<string, Record<string, unknown>> = {};
    for (const plugin of this.started) {
      if (plugin.core || !plugin.enabled || !plugin.definition.publicConfig?.length) continue;
      const settings: Record<string, unknown> = {};
      for (const key of plugin.definition.publicConfig) if (key in plugin.config) settings[key] = plugin.config[key];
      result[plugin.definition.name] = settings;
    }
    return result;
  }

  find(name: string): StartedPlugin | undefined {
    return this.started.find((p) => p.definition.name === name);
  }

  /**
   * The gate: a disabled plugin's types answer unknown_type, its taps pass through, its timers
   * pause, it disappears from hello. Its data stays.
   */
  setEnabled(name: string, enabled: boolean): void {
    const plugin = this.find(name);
    if (!plugin) throw new Error(`No plugin named "${name}" is loaded`);
    if (plugin.core) throw new Error(`"${name}" is part of the engine and cannot be disabled`);
    if (!enabled) {
      const dependant = this.started.find((p) => p.enabled && p !== plugin && (p.definition.dependsOn ?? []).includes(name));
      if (dependant) throw new Error(`"${dependant.definition.name}" depends on "${name}"; disable it first`);
    }
    plugin.enabled = enabled;
  }

  /** Starts the plugins' periodic tasks. */
  startTimers(): void {
    this.timersRunning = true;
    for (const timer of this.timers) this.schedule(timer);
  }

  /** Stops timers, then runs shutdown tasks in reverse start order. Failures are logged. */
  async shutdown(): Promise<void> {
    this.timersRunning = false;
    for (const timer of this.timers) if (timer.handle) clearInterval(timer.handle);
    for (const { plugin, task } of [...this.shutdownTasks].reverse()) {
      try {
        await task();
      } catch (error) {
        this.context.log.error({ plugin, err: error }, 'shutdown task failed');
      }
    }
  }

  private schedule(timer: Timer): void {
    timer.handle = setInterval(() => {
      if (timer.running || !timer.plugin.enabled || !this.timersRunning) return;
      timer.running = true;
      Promise.resolve()
        .then(timer.task)
        .catch((error) => this.context.log.error({ plugin: timer.plugin.definition.name, err: error }, 'periodic task failed'))
        .finally(() => (timer.running = false));
    }, timer.intervalMs);
    timer.handle.unref();
  }

  private createApi(plugin: StartedPlugin): ServerPluginApi<unknown> {
    const name = plugin.definition.name;
    const context = this.context;
    const log = context.log.child({ plugin: name });
    const isEnabled = () => plugin.enabled;
    const dependsOn = new Set(plugin.definition.dependsOn ?? []);
    const services = this.services;
    const use = <T>(token: Token<T>): T => {
      const owner = tokenOwner(token);
      if (owner !== name && !owner.startsWith('core-') && !dependsOn.has(owner)) {
        throw new Error(`Plugin "${name}" uses ${token.id} but does not declare "${owner}" in dependsOn`);
      }
      const entry = services.get(token.id);
      if (!entry) throw new Error(`Plugin "${name}" uses ${token.id}, which nobody provides`);
      return entry.value as T;
    };
    const core: CoreServices = {
      get users() {
        return use(CORE_TOKENS.users);
      },
      get conversations() {
        return use(CORE_TOKENS.conversations);
      },
      get messages() {
        return use(CORE_TOKENS.messages);
      },
      get presence() {
        return use(CORE_TOKENS.presence);
      },
    };
    let blobs: BlobStore | undefined;
    const api: ServerPluginApi<unknown> = {
      name,
      config: plugin.config,
      log,
      db: context.db,
      kv: createKeyValueStore(context.db, name),
      hooks: createPluginHookTaps(context.hooks, { name, isEnabled, log }),
      core,
      get blobs() {
        return (blobs ??= context.blobs(name));
      },
      limits: context.limits,
      handle(type: string, schema: TSchema, handler: (request: never, ctx: never) => unknown, options?: HandlerOptions) {
        context.router.register(name, type, schema, handler as (request: Record<string, unknown>, context: RequestContext) => unknown, options, isEnabled);
      },
      notify(userIds: Iterable<string>, type: string, data: unknown, options?: PushOptions) {
        if (plugin.enabled) context.push.toUsers(userIds, type, data, options?.exceptConnectionId);
      },
      notifyDevices(entries: Iterable<DevicePush>, type: string, options?: PushOptions) {
        if (plugin.enabled) context.push.toDevices(entries, type, options?.exceptConnectionId);
      },
      provide<T>(token: Token<T>, value: T) {
        if (tokenOwner(token) !== name) throw new Error(`Plugin "${name}" cannot provide ${token.id}: tokens are named after their provider`);
        if (services.has(token.id)) throw new Error(`${token.id} is already provided`);
        services.set(token.id, { owner: name, value });
      },
      use,
      every: (intervalMs: number, task: () => Promise<void> | void) => {
        if (!(intervalMs >= 10)) throw new Error(`Plugin "${name}": every() needs an interval of at least 10 ms`);
        const timer: Timer = { plugin, intervalMs, task, handle: undefined, running: false };
        this.timers.push(timer);
        if (this.timersRunning) this.schedule(timer);
      },
      onShutdown: (task: () => Promise<void> | void) => {
        this.shutdownTasks.push({ plugin: name, task });
      },
    } as ServerPluginApi<unknown>;
    return api;
  }
}
