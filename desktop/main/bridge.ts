/**
 * The desktop's bridge between the renderer and the client core: one ClientBridge owns the
 * ChatClient of this computer's signed-in account and answers every BridgeMethods call, checks
 * the arguments' shapes first, and turns the client's objects and events into the plain Bridge*
 * shapes. The Electron main process (IPC) and the web host (WebSocket) both serve this class; it
 * imports nothing from electron.
 *
 * Every answer is a BridgeReply: `{ok: true, result}` or `{ok: false, error: {code, message, details}}`
 * (KecalekError codes; anything unexpected becomes `internal_error` with a generic message).
 */
import QRCode from 'qrcode';
import { ChatClient, listAccounts } from '../../engine/client/index.js';
import type {
  ChatClientOptions,
  ChatMessage,
  ClientEvents,
  LinkingApproval,
  LinkingRequest,
  SelfInfo,
  ServerAddress,
} from '../../engine/client/types.js';
import { ClientError, WireErrorCode } from '../../engine/errors.js';
import type { AnyPluginDefinition } from '../../engine/plugin/define.js';
import { normalizeEmail } from '../../engine/protocol/auth.js';
import {
  BridgeErrorCode,
  isBridgeMethod,
  type BridgeError,
  type BridgeEvent,
  type BridgeEvents,
  type BridgeMethod,
  type BridgeMethods,
  type BridgeReply,
  type BridgeServerInfo,
  type BridgeState,
} from '../shared/bridge.js';
import { addressLabel } from './address.js';
import { toBridgeConversation, toBridgeDevice, toBridgeMessage, toBridgeSelf } from './convert.js';
import { BridgeFailure, isExpectedError, plainJson, toBridgeError } from './errors.js';
import { validateArgs } from './schemas.js';
import { DesktopSettingsStore } from './settings.js';

export interface ClientBridgeOptions {
  /** Where the client connects (host, port, transport, ca, insecureDev, ...). */
  readonly server: ServerAddress;
  /** The folder holding the accounts' key stores and desktop-settings.json. */
  readonly home: string;
  /** Client parts of the plugins this app knows (each activates only if the server advertises it). */
  readonly plugins?: readonly AnyPluginDefinition[];
  /** The name this device reports at login. */
  readonly deviceName?: string;
  /** Further ChatClient options (timeouts, key envelope cost). */
  readonly client?: Partial<Omit<ChatClientOptions, 'server' | 'home' | 'plugins'>>;
  /** Unexpected failures (not KecalekErrors), for the process's own log; the renderer only sees internal_error. */
  readonly onInternalError?: (error: unknown, where: string) => void;
}

/** Receives every event the bridge forwards to the renderer. */
export type BridgeEventListener = <E extends BridgeEvent>(event: E, data: BridgeEvents[E]) => void;

type Handlers = { readonly [M in BridgeMethod]: (args: BridgeMethods[M]['args']) => Promise<BridgeMethods[M]['result']> };

type SignedIn = BridgeMethods['login']['result'];

/** How many sendMessage idempotency keys are remembered. */
const SEND_KEYS_KEPT = 500;

/** A typed call failed: `error` is what crossed the bridge. */
export class BridgeCallFailure extends Error {
  constructor(readonly error: BridgeError) {
    super(error.message);
    this.name = 'BridgeCallFailure';
  }

  get code(): string {
    return this.error.code;
  }
}

function noLinking(): ClientError {
  return new ClientError(WireErrorCode.CONFLICT, 'No device linking is in progress on this device: start linking first');
}

function noApproval(): ClientError {
  return new ClientError(WireErrorCode.CONFLICT, 'No device linking waits for approval on this device: enter the new device\'s code first');
}

export class ClientBridge {
  readonly client: ChatClient;
  readonly settings: DesktopSettingsStore;
  private readonly listeners = new Set<BridgeEventListener>();
  private readonly detach: Array<() => void> = [];
  private readonly handlers: Handlers;
  private readonly sends = new Map<string, Promise<ChatMessage>>();
  private linking: LinkingRequest | undefined;
  private approval: LinkingApproval | undefined;
  private started: Promise<void> | undefined;
  private lastState = '';
  /**
   * The revision of the last snapshot. It starts at the clock so that a restarted bridge (a web
   * host restarted under an open page) hands out revisions above the previous bridge's.
   */
  private stateRevision = Date.now();
  /** The `state` emissions in progress, one after another (see emitState). */
  private stateQueue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ClientBridgeOptions) {
    this.settings = new DesktopSettingsStore(options.home);
    this.client = new ChatClient({
      ...options.client,
      server: options.server,
      home: options.home,
      plugins: options.plugins ?? [],
      ...(options.deviceName !== undefined ? { deviceName: options.deviceName } : {}),
    });
    this.forwardClientEvents();
    this.handlers = this.createHandlers();
  }

  /** Loads the settings and opens the connection in the background (its hello tells the renderer the server's plugins). Idempotent. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.settings.load();
      this.connectInBackground();
    })();
    return this.started;
  }

  /** Subscribes to every forwarded event; returns the unsubscribe function. */
  subscribe(listener: BridgeEventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Runs one bridge call from the renderer. Never rejects: failures are `{ok: false, error}`. */
  async invoke(method: unknown, args: unknown): Promise<BridgeReply> {
    try {
      if (!isBridgeMethod(method)) {
        throw new BridgeFailure(BridgeErrorCode.UNKNOWN_METHOD, 'The bridge has no such method', typeof method === 'string' ? { method: method.slice(0, 100) } : undefined);
      }
      if (this.closed) throw new ClientError(WireErrorCode.SHUTTING_DOWN, 'The app is shutting down');
      await this.start();
      const valid = validateArgs(method, args);
      const result = await (this.handlers[method] as (args: unknown) => Promise<unknown>)(valid);
      return { ok: true, result: plainJson(result) ?? null };
    } catch (error) {
      if (!isExpectedError(error)) this.options.onInternalError?.(error, typeof method === 'string' ? method.slice(0, 100) : 'invoke');
      return { ok: false, error: toBridgeError(error) };
    }
  }

  /** The typed form of invoke(): resolves with the result or rejects with BridgeCallFailure. */
  async call<M extends BridgeMethod>(method: M, args: BridgeMethods[M]['args']): Promise<BridgeMethods[M]['result']> {
    const reply = await this.invoke(method, args);
    if (!reply.ok) throw new BridgeCallFailure(reply.error);
    return reply.result as BridgeMethods[M]['result'];
  }

  /** The state the renderer starts from (also sent as `state` events when it changes). */
  async state(): Promise<BridgeState> {
    const local = await listAccounts(this.options.home).catch(() => []);
    // Read after the await, so the snapshot is as fresh as the moment it is returned.
    const self = this.client.self;
    const stored = this.settings.current;
    return {
      revision: ++this.stateRevision,
      connection: this.client.state,
      self: self ? toBridgeSelf(self) : undefined,
      server: this.serverInfo(),
      accounts: local.map((account) => ({ email: account.email, username: stored.accounts[account.email] ?? '' })),
      serverAddress: addressLabel(this.options.server),
      serverVerified: this.options.server.insecureDev !== true,
      settings: { ...stored.settings },
    };
  }

  /** Cancels linking in progress and closes the connection (the account stays signed in on this computer). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dropLinking();
    await this.dropApproval();
    for (const off of this.detach.splice(0)) off();
    await this.client.close().catch((error: unknown) => this.options.onInternalError?.(error, 'close'));
    this.listeners.clear();
  }

  // ---- events ------------------------------------------------------------------------------------

  private emit<E extends BridgeEvent>(event: E, data: BridgeEvents[E]): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event, data);
      } catch (error) {
        this.options.onInternalError?.(error, `listener of ${event}`);
      }
    }
  }

  /**
   * Emits `state` when anything the renderer shows from it changed. One at a time: state() awaits
   * the disk (accounts on this computer), and a snapshot taken while signed in must never be emitted
   * after a later one taken once signed out (a removed device would stay in the chat window).
   */
  private emitState(): Promise<void> {
    const run = this.stateQueue.then(async () => {
      if (this.closed) return;
      const state = await this.state();
      const signature = JSON.stringify({ ...state, revision: 0 });
      if (signature === this.lastState) return;
      this.lastState = signature;
      this.emit('state', state);
    });
    this.stateQueue = run.catch(() => undefined);
    return run;
  }

  private refreshState(): void {
    this.emitState().catch((error: unknown) => this.options.onInternalError?.(error, 'state'));
  }

  private forwardClientEvents(): void {
    const client = this.client;
    const on = <K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): void => {
      this.detach.push(client.on(event, listener));
    };
    on('connection', (state) => {
      this.emit('connection', { state });
      this.refreshState();
    });
    on('message', (message) => this.emit('message', toBridgeMessage(message)));
    on('message_updated', (message) => this.emit('message_updated', toBridgeMessage(message)));
    on('message_deleted', (info) => this.emit('message_deleted', { messageId: info.messageId, conversationId: info.conversationId }));
    on('messages_read', (info) =>
      this.emit('messages_read', { conversationId: info.conversationId, userId: info.userId, messageIds: [...info.messageIds] }),
    );
    on('conversation_updated', (info) => this.emit('conversation_updated', { conversationId: info.conversationId, reason: info.reason }));
    on('conversation_removed', (info) => this.emit('conversation_removed', { conversationId: info.conversationId, reason: info.reason }));
    on('presence', (info) => this.emit('presence', { userId: info.userId, online: info.online }));
    on('identity_changed', (info) => this.emit('identity_changed', { userId: info.userId, username: info.username, wasVerified: info.wasVerified }));
    on('session_reset', (info) => this.emit('session_reset', { userId: info.userId, deviceId: info.deviceId }));
    on('devices_changed', () => this.emit('devices_changed', {}));
    on('device_removed', (info) => {
      this.emit('device_removed', { email: info.email, deviceId: info.deviceId });
      this.refreshState();
    });
    on('error', (error) => {
      if (!isExpectedError(error)) this.options.onInternalError?.(error, 'client');
      this.emit('error', toBridgeError(error));
    });
    on('plugin', (info) => this.emit('plugin', { plugin: info.plugin, type: info.type, data: plainJson(info.data) ?? null }));
  }

  private serverInfo(): BridgeServerInfo | undefined {
    const info = this.client.serverInfo;
    if (!info) return undefined;
    return {
      serverVersion: info.serverVersion,
      plugins: info.plugins.map((plugin) => ({ name: plugin.name, version: plugin.version })),
      pluginSettings: (plainJson(info.pluginSettings) ?? {}) as Record<string, Record<string, unknown>>,
      localPlugins: (this.options.plugins ?? []).map((plugin) => plugin.name),
    };
  }

  /** Connects for the hello (server version, plugins) without signing in; a failure is one `error` event. */
  private connectInBackground(): void {
    if (this.closed || this.client.state !== 'disconnected') return;
    this.client.connect().then(
      () => this.refreshState(),
      (error: unknown) => {
        if (!isExpectedError(error)) this.options.onInternalError?.(error, 'connect');
        this.emit('error', toBridgeError(error));
      },
    );
  }

  /** After a sign-in: remember the username for the sign-in screen, tell the renderer. */
  private async signedIn(self: SelfInfo): Promise<SignedIn> {
    await this.settings
      .update({ account: { email: self.email, username: self.username } })
      .catch((error: unknown) => this.options.onInternalError?.(error, 'settings'));
    await this.emitState();
    return toBridgeSelf(self);
  }

  // ---- linking sessions --------------------------------------------------------------------------

  private async dropLinking(): Promise<void> {
    const linking = this.linking;
    this.linking = undefined;
    if (linking) await linking.cancel().catch(() => undefined);
  }

  private async dropApproval(): Promise<void> {
    const approval = this.approval;
    this.approval = undefined;
    if (approval) await approval.cancel().catch(() => undefined);
  }

  // ---- methods -----------------------------------------------------------------------------------

  private createHandlers(): Handlers {
    const client = this.client;
    return {
      getState: () => this.state(),
      setSettings: async (args) => {
        const stored = await this.settings.update({ settings: args.theme !== undefined ? { theme: args.theme } : {} });
        await this.emitState();
        return { ...stored.settings };
      },

      register: async (args) => {
        await client.register({ username: args.username, email: args.email, password: args.password });
        return { email: normalizeEmail(args.email) };
      },
      confirmRegistration: async (args) => this.signedIn(await client.confirmRegistration(args.code.trim())),
      login: async (args) => this.signedIn(await client.login({ email: args.email, password: args.password })),
      logout: async () => {
        await this.dropLinking();
        await this.dropApproval();
        this.sends.clear();
        await client.logout();
        await this.emitState();
        this.connectInBackground();
        return null;
      },

      startLinking: async () => {
        await this.dropLinking();
        const linking = await client.startLinking();
        // Nobody may be waiting for the SAS when linking is cancelled: never an unhandled rejection.
        linking.sas.catch(() => undefined);
        this.linking = linking;
        const qrSvg = await QRCode.toString(linking.qrText, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
        return { code: linking.code, qrText: linking.qrText, qrSvg, expiresAt: linking.expiresAt };
      },
      linkingSas: async () => {
        const linking = this.linking;
        if (!linking) throw noLinking();
        return { sas: await linking.sas };
      },
      acceptLinking: async (args) => {
        const linking = this.linking;
        if (!linking) throw noLinking();
        const self = await linking.accept(args.password);
        if (this.linking === linking) this.linking = undefined;
        return this.signedIn(self);
      },
      cancelLinking: async () => {
        await this.dropLinking();
        return null;
      },
      approveLinking: async (args) => {
        await this.dropApproval();
        const approval = await client.approveLinking(args.input.trim());
        this.approval = approval;
        return { sas: approval.sas };
      },
      confirmApproval: async () => {
        const approval = this.approval;
        if (!approval) throw noApproval();
        this.approval = undefined;
        await approval.confirm();
        return null;
      },
      cancelApproval: async () => {
        await this.dropApproval();
        return null;
      },

      listConversations: async (args) =>
        (await client.listConversations(args.refresh !== undefined ? { refresh: args.refresh } : {})).map(toBridgeConversation),
      getConversation: async (args) =>
        toBridgeConversation(await client.getConversation(args.conversationId, args.refresh !== undefined ? { refresh: args.refresh } : {})),
      createDm: async (args) => toBridgeConversation(await client.createDm(args.email)),
      createGroup: async (args) => toBridgeConversation(await client.createGroup(args.name, args.emails)),
      addMember: (args) => client.addMember(args.conversationId, args.email),
      removeMember: async (args) => {
        await client.removeMember(args.conversationId, args.userId);
        return null;
      },
      leaveGroup: async (args) => {
        await client.leaveGroup(args.conversationId);
        return null;
      },
      renameConversation: async (args) => {
        await client.renameConversation(args.conversationId, args.name);
        return null;
      },
      deleteConversation: async (args) => {
        await client.deleteConversation(args.conversationId);
        return null;
      },

      getCachedMessages: async (args) => (await client.getCachedMessages(args.conversationId)).map(toBridgeMessage),
      syncConversation: async (args) => (await client.syncConversation(args.conversationId)).map(toBridgeMessage),
      loadOlder: async (args) => (await client.loadOlder(args.conversationId, args.beforeTs, args.limit)).map(toBridgeMessage),
      sendMessage: async (args) => toBridgeMessage(await this.send(args)),
      retryMessage: async (args) => toBridgeMessage(await client.retryMessage(args.conversationId, args.clientMsgId)),
      deleteMessage: async (args) => {
        await client.deleteMessage(args.conversationId, args.messageId);
        return null;
      },
      markRead: async (args) => ({ marked: await client.markRead(args.conversationId, args.messageIds) }),

      listDevices: async () => (await client.listDevices()).map(toBridgeDevice),
      removeDevice: async (args) => {
        await client.removeDevice(args.deviceId);
        return null;
      },
      onlineUsers: async () => client.onlineUsers(),

      pluginCall: async (args) => {
        const exposed = client.plugins;
        const methods = Object.hasOwn(exposed, args.plugin) ? exposed[args.plugin] : undefined;
        const fn = methods && Object.hasOwn(methods, args.method) ? methods[args.method] : undefined;
        if (typeof fn !== 'function') {
          throw new BridgeFailure(BridgeErrorCode.UNKNOWN_METHOD, 'No active plugin offers this method', { plugin: args.plugin, method: args.method });
        }
        return (await (fn as (...values: unknown[]) => unknown).apply(methods, args.args)) ?? null;
      },
    };
  }

  /** sendMessage with the renderer's idempotency key: a repeated key answers with the first send's outcome. */
  private send(args: BridgeMethods['sendMessage']['args']): Promise<ChatMessage> {
    const options = {
      ...(args.replyTo !== undefined ? { replyTo: args.replyTo } : {}),
      ...(args.payload !== undefined ? { payload: args.payload } : {}),
    };
    if (args.clientMsgId === undefined) return this.client.sendMessage(args.conversationId, args.text, options);
    const key = `${args.conversationId}\n${args.clientMsgId}`;
    const known = this.sends.get(key);
    if (known) return known;
    const sending = this.client.sendMessage(args.conversationId, args.text, options);
    this.sends.set(key, sending);
    sending.catch(() => undefined);
    while (this.sends.size > SEND_KEYS_KEPT) this.sends.delete(this.sends.keys().next().value!);
    return sending;
  }
}
