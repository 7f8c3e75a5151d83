/**
 * The client's plugin host: the client hook set (tapable, as on the server; the renderer never
 * loads this module) and the `ClientPluginApi` each plugin's client part receives.
 *
 * - `outgoingPayload` (SyncWaterfall): decorate a plaintext payload before it is encrypted.
 * - `incomingPayload` (SyncBail): a tap returning true swallows a decrypted payload (a control
 *   payload the plugin handled); it then never becomes a visible message.
 * - `identityKeySeen` (SyncWaterfall): refine the TOFU status of an identity key.
 * - `events` (HookMap of SyncHook by push type): plugins' push listeners (`api.on`).
 * - `api.onReady` listeners: run after every login (the first, and each one after a reconnect).
 *
 * Every tap is wrapped with its plugin's name: a throwing tap is reported as an `error` event
 * naming the plugin, and the other taps go on (a waterfall keeps the value it had). A plugin's
 * client part is activated only when the server's hello lists the plugin, and gated off again if
 * a later hello (after a reconnect) no longer does; a plugin the server has but this client does
 * not know is simply ignored.
 */
import tapable from 'tapable';
import { KecalekError, StartupErrorCode } from '../errors.js';
import type { AnyPluginDefinition } from '../plugin/define.js';
import type {
  ClientHookTaps,
  ClientPluginApi,
  DecoratedMessage,
  IdentityKeyContext,
  IdentityKeyStatus,
  IncomingContext,
  MessagePayload,
  OutgoingContext,
  PluginClientFacade,
  ReadyContext,
  TerminalCommand,
  TerminalDecoration,
} from '../plugin/client-api.js';
import type { PluginCommands, ServerInfo } from './types.js';

const { SyncWaterfallHook, SyncBailHook, SyncHook, HookMap } = tapable;

type EventHook = InstanceType<typeof SyncHook<[unknown]>>;

export interface ClientPluginHostOptions {
  /** Reports a plugin failure (the client emits it as an `error` event). */
  readonly report: (error: Error) => void;
  /** `api.emit` (the client emits a `plugin` event). */
  readonly emitPlugin: (plugin: string, type: string, data: unknown) => void;
  /** What `api.client` gives plugins. */
  readonly facade: PluginClientFacade;
  /** Whether a failure is a lost connection or similar, which the next login retries (not reported). */
  readonly transient?: (error: unknown) => boolean;
}

interface PluginRecord {
  readonly definition: AnyPluginDefinition;
  started: boolean;
  exposed: Record<string, unknown> | undefined;
  readonly commands: TerminalCommand[];
  readonly decorators: Array<Parameters<ClientPluginApi['decorate']>[0]>;
  readonly readyListeners: Array<Parameters<ClientPluginApi['onReady']>[0]>;
}

export class PluginFailure extends KecalekError {
  constructor(
    readonly plugin: string,
    where: string,
    cause: unknown,
  ) {
    super(StartupErrorCode.PLUGIN_START_FAILED, `Plugin ${plugin} failed in ${where}: ${cause instanceof Error ? cause.message : String(cause)}`, { plugin, where }, { cause });
  }
}

export class ClientPluginHost {
  readonly hooks = {
    outgoingPayload: new SyncWaterfallHook<[MessagePayload, OutgoingContext]>(['payload', 'context']),
    incomingPayload: new SyncBailHook<[MessagePayload, IncomingContext], true | undefined>(['payload', 'context']),
    identityKeySeen: new SyncWaterfallHook<[IdentityKeyStatus, IdentityKeyContext]>(['status', 'context']),
    events: new HookMap<EventHook>(() => new SyncHook<[unknown]>(['data'])),
  };
  private readonly records = new Map<string, PluginRecord>();
  private readonly active = new Set<string>();

  constructor(
    definitions: readonly AnyPluginDefinition[],
    private readonly options: ClientPluginHostOptions,
  ) {
    for (const definition of definitions) {
      if (typeof definition.client !== 'function' || this.records.has(definition.name)) continue;
      this.records.set(definition.name, { definition, started: false, exposed: undefined, commands: [], decorators: [], readyListeners: [] });
    }
  }

  /**
   * Activates the client parts of the plugins the server advertises (each runs once), gates off
   * those it no longer advertises. Returns the names active afterwards.
   */
  async activate(server: ServerInfo): Promise<string[]> {
    const advertised = new Set(server.plugins.map((plugin) => plugin.name));
    for (const [name, record] of this.records) {
      if (!advertised.has(name)) {
        this.active.delete(name);
        continue;
      }
      this.active.add(name);
      if (record.started) continue;
      record.started = true;
      try {
        await record.definition.client!(this.apiFor(record, server.pluginSettings[name] ?? {}));
      } catch (error) {
        this.active.delete(name);
        this.options.report(new PluginFailure(name, 'its client part', error));
      }
    }
    return [...this.active];
  }

  isActive(name: string): boolean {
    return this.active.has(name);
  }

  /** `client.plugins`: what active plugins exposed, by plugin name. */
  exposed(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const [name, record] of this.records) if (this.active.has(name) && record.exposed) out[name] = record.exposed;
    return out;
  }

  /** Merged terminal decorations of a message from the active plugins (a failing decorator is reported and skipped). */
  decorations(message: DecoratedMessage, self: { userId: string; username: string } | undefined): Required<TerminalDecoration> {
    const merged = { badges: [] as string[], notes: [] as string[], highlights: [] as Array<{ text: string; strong?: boolean }> };
    for (const [name, record] of this.records) {
      if (!this.active.has(name)) continue;
      for (const decorator of record.decorators) {
        try {
          const decoration = decorator(message, self);
          if (!decoration) continue;
          merged.badges.push(...(decoration.badges ?? []));
          merged.notes.push(...(decoration.notes ?? []));
          merged.highlights.push(...(decoration.highlights ?? []));
        } catch (error) {
          this.options.report(new PluginFailure(name, 'its terminal decorator', error));
        }
      }
    }
    return merged;
  }

  /** The terminal commands of the active plugins. */
  commands(): PluginCommands[] {
    const out: PluginCommands[] = [];
    for (const [name, record] of this.records) if (this.active.has(name)) for (const command of record.commands) out.push({ plugin: name, command });
    return out;
  }

  outgoing(payload: MessagePayload, context: OutgoingContext): MessagePayload {
    return this.hooks.outgoingPayload.call(payload, context);
  }

  /** True when a plugin swallowed the payload. */
  incoming(payload: MessagePayload, context: IncomingContext): boolean {
    return this.hooks.incomingPayload.call(payload, context) === true;
  }

  identityStatus(status: IdentityKeyStatus, context: IdentityKeyContext): IdentityKeyStatus {
    return this.hooks.identityKeySeen.call(status, context);
  }

  /**
   * Runs the active plugins' `onReady` listeners (after a login); resolves when every listener has
   * settled. A failure is reported naming the plugin (a transient one, such as the connection
   * dropping again, is not: the next login runs the listener again).
   */
  async ready(context: ReadyContext): Promise<void> {
    const running: Array<Promise<void>> = [];
    for (const [name, record] of this.records) {
      if (!this.active.has(name)) continue;
      for (const listener of record.readyListeners) {
        running.push(
          (async () => {
            try {
              await listener(context);
            } catch (error) {
              if (this.options.transient?.(error)) return;
              this.options.report(new PluginFailure(name, 'onReady', error));
            }
          })(),
        );
      }
    }
    await Promise.all(running);
  }

  /** Hands a push event to the plugins listening to its type. */
  dispatch(type: string, data: unknown): void {
    this.hooks.events.get(type)?.call(data);
  }

  private guard<A extends unknown[], R>(name: string, where: string, fallback: (...args: A) => R, fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => {
      if (!this.active.has(name)) return fallback(...args);
      try {
        return fn(...args);
      } catch (error) {
        this.options.report(new PluginFailure(name, where, error));
        return fallback(...args);
      }
    };
  }

  private apiFor(record: PluginRecord, config: Record<string, unknown>): ClientPluginApi {
    const name = record.definition.name;
    const hooks = this.hooks;
    const taps: ClientHookTaps = {
      outgoingPayload: {
        tap: (fn) =>
          hooks.outgoingPayload.tap(
            name,
            this.guard<[MessagePayload, OutgoingContext], MessagePayload>(name, 'outgoingPayload', (payload) => payload, (payload: MessagePayload, context: OutgoingContext) => fn(payload, context) ?? payload),
          ),
      },
      incomingPayload: {
        tap: (fn) =>
          hooks.incomingPayload.tap(
            name,
            this.guard<[MessagePayload, IncomingContext], true | undefined>(name, 'incomingPayload', () => undefined, (payload: MessagePayload, context: IncomingContext) => (fn(payload, context) === true ? true : undefined)),
          ),
      },
      identityKeySeen: {
        tap: (fn) =>
          hooks.identityKeySeen.tap(
            name,
            this.guard<[IdentityKeyStatus, IdentityKeyContext], IdentityKeyStatus>(name, 'identityKeySeen', (status) => status, (status: IdentityKeyStatus, context: IdentityKeyContext) => fn(status, context) ?? status),
          ),
      },
    };
    return {
      name,
      config: Object.freeze({ ...config }),
      client: this.options.facade,
      hooks: taps,
      expose: (methods) => {
        record.exposed = { ...(record.exposed ?? {}), ...methods };
      },
      on: (eventType, listener) => {
        hooks.events.for(eventType).tap(name, this.guard<[unknown], void>(name, `its "${eventType}" listener`, () => undefined, (data: unknown) => listener(data)));
      },
      emit: (eventType, data) => {
        if (this.active.has(name)) this.options.emitPlugin(name, eventType, data);
      },
      command: (command) => {
        record.commands.push(command);
      },
      decorate: (decorator) => {
        record.decorators.push(decorator);
      },
      onReady: (listener) => {
        record.readyListeners.push(listener);
      },
    };
  }
}
