/**
 * ChatClient: what every Kecalek front end (the terminal client, Electron's main process) uses.
 *
 * It owns the connection (TLS or WebSocket, reconnecting with exponential backoff 1 s -> 30 s and
 * logging in again from the keys in memory), the account's encrypted store on disk, and the
 * messaging engine. Front ends call its methods and listen to its events (ClientEvents); it never
 * throws from background work: such failures are `error` events.
 */
import { hostname, homedir } from 'node:os';
import { join } from 'node:path';
import { ClientError, ClientErrorCode, KecalekError, WireErrorCode } from '../errors.js';
import {
  deriveLocalStorageKey,
  deriveSelfCopyKey,
  ed25519KeyPair,
  getDefaultProvider,
  utf8Encode,
  wipe,
  type CryptoProvider,
} from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64.js';
import { loginChallengeMessage, normalizeEmail, rotateLoginKeyMessage } from '../protocol/auth.js';
import type { IdentityKeyStatus, PluginClientFacade, TerminalDecoration } from '../plugin/client-api.js';
import { Connection, type PushEvent, type RequestOptions, type Response } from './connection.js';
import { ConversationStore, toConversation, type WireConversation } from './conversations.js';
import { STATE_RECORD, asError, hasCode, isRetryable, selfOf, wipeContext, type DeviceContext, type DeviceState } from './core.js';
import { DeviceDirectory } from './directory.js';
import { TypedEmitter } from './emitter.js';
import { GroupKeys } from './groups.js';
import { MessageCache } from './history.js';
import { IdentityRegistry } from './identities.js';
import { Messenger, rawFromWire } from './messenger.js';
import { Outbox } from './outbox.js';
import { approveDeviceLinking, startNewDeviceLinking, type LinkedKeys, type PairingTransport } from './pairing.js';
import { ClientPluginHost } from './plugins.js';
import { DEFAULT_PREKEY_POLICY, PreKeys } from './prekeys.js';
import { KeyedSerial } from './serial.js';
import { SessionManager } from './sessions.js';
import { AccountStore, copyKeyMaterial, wipeKeyMaterial, type KeyMaterial } from './store/account-store.js';
import type {
  ChatClientOptions,
  ChatMessage,
  ClientEvents,
  ConnectionState,
  Conversation,
  Device,
  LinkingApproval,
  LinkingRequest,
  PluginCommands,
  PreKeyUpkeep,
  SelfInfo,
  SendOptions,
  ServerInfo,
  UserInfo,
} from './types.js';
import { CLIENT_VERSION } from './version.js';

export const DEFAULT_HOME = join(homedir(), '.kecalek');
export const RECONNECT_INITIAL_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;
/** Pre-key upkeep also runs this often while connected. */
export const UPKEEP_INTERVAL_MS = 60 * 60 * 1000;
const DEVICE_NAME_MAX = 64;

/** Errors after which reconnecting again would not help. */
const FATAL_LOGIN_CODES = new Set<string>([WireErrorCode.INVALID_CREDENTIALS, WireErrorCode.UNSUPPORTED_VERSION, ClientErrorCode.PROTOCOL_MISMATCH]);

interface LoginFinish {
  user_id: string;
  username: string;
  device_id: string;
  new_device: boolean;
}

function deviceRemovedError(): ClientError {
  return new ClientError(
    WireErrorCode.DEVICE_REMOVED,
    'This device was removed from the account: link it again from another device of the account (it becomes a new device)',
  );
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? utf8Encode(password.normalize('NFC')) : Uint8Array.from(password);
}

function defaultDeviceName(): string {
  const name = [...hostname()]
    .filter((char) => char.charCodeAt(0) > 0x1f && char.charCodeAt(0) !== 0x7f)
    .join('')
    .slice(0, DEVICE_NAME_MAX);
  return name.length > 0 ? name : 'device';
}

export class ChatClient extends TypedEmitter<ClientEvents> {
  private readonly provider: CryptoProvider;
  private readonly home: string;
  private readonly serial = new KeyedSerial();
  private readonly pluginHost: ClientPluginHost;
  private connection: Connection | undefined;
  private connecting: Promise<ServerInfo> | undefined;
  private authenticated = false;
  private connectionState: ConnectionState = 'disconnected';
  private context: DeviceContext | undefined;
  private messenger: Messenger | undefined;
  private pendingRegistration: { store: AccountStore; keys: KeyMaterial } | undefined;
  private reconnectLoop: Promise<void> | undefined;
  private reconnectTimer: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private shuttingDown = false;
  private waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private catchUpRun: Promise<void> | undefined;
  private upkeepTimer: NodeJS.Timeout | undefined;
  private readonly online = new Set<string>();
  private readonly usernames = new Map<string, string>();
  private lastServerInfo: ServerInfo | undefined;

  constructor(private readonly options: ChatClientOptions) {
    super();
    this.provider = options.provider ?? getDefaultProvider();
    this.home = options.home ?? DEFAULT_HOME;
    this.onListenerError = (error) => this.report(asError(error));
    const facade: PluginClientFacade = {
      request: <T>(type: string, fields: Record<string, unknown> = {}) => this.request<T>(type, fields),
      get self() {
        return undefined;
      },
      members: async (conversationId) => {
        const wire = await this.wireConversation(conversationId);
        return new Map((wire?.members ?? []).map((m) => [m.user_id, m.username]));
      },
      sendPayload: async (conversationId, payload) => {
        const message = await this.send(conversationId, undefined, { payload });
        return { messageId: message.id, createdAt: message.createdAt };
      },
      updateMessage: (conversationId, messageId, patch) => this.updateMessageExtra(conversationId, messageId, patch),
      cachedMessages: (conversationId) => this.getCachedMessages(conversationId),
      conversation: async (conversationId) => {
        try {
          const conversation = await this.getConversation(conversationId);
          return {
            id: conversation.id,
            kind: conversation.kind,
            name: conversation.name,
            members: new Map(conversation.members.map((m) => [m.userId, m.username])),
          };
        } catch {
          return undefined;
        }
      },
    };
    Object.defineProperty(facade, 'self', {
      get: () => {
        const self = this.self;
        return self ? { userId: self.userId, username: self.username, deviceId: self.deviceId } : undefined;
      },
    });
    this.pluginHost = new ClientPluginHost(options.plugins ?? [], {
      report: (error) => this.report(error),
      emitPlugin: (plugin, type, data) => this.emit('plugin', { plugin, type, data }),
      facade,
      transient: (error) => isRetryable(error) || hasCode(error, ClientErrorCode.NOT_LOGGED_IN),
    });
  }

  // ---- state ---------------------------------------------------------------------------------------

  /** The connection state (also emitted as `connection` events). */
  get state(): ConnectionState {
    return this.connectionState;
  }

  /** The logged-in user and device, or undefined. */
  get self(): SelfInfo | undefined {
    const context = this.context;
    if (!context || context.state.device_id === null) return undefined;
    return selfOf(context);
  }

  /** What the server's hello advertised (last connection). */
  get serverInfo(): ServerInfo | undefined {
    return this.lastServerInfo;
  }

  /** Methods exposed by active plugins: `client.plugins.<name>.<method>`. */
  get plugins(): Record<string, Record<string, unknown>> {
    return this.pluginHost.exposed();
  }

  /** The terminal commands of active plugins. */
  commands(): PluginCommands[] {
    return this.pluginHost.commands();
  }

  private setState(state: ConnectionState): void {
    if (state === this.connectionState) return;
    this.connectionState = state;
    this.emit('connection', state);
  }

  private report(error: Error): void {
    this.emit('error', error);
  }

  // ---- connection ----------------------------------------------------------------------------------

  /** Opens the connection (if not open) and reads the server's hello. */
  connect(): Promise<ServerInfo> {
    if (this.connection && !this.connection.closed) return Promise.resolve(this.connection.serverInfo);
    this.connecting ??= this.openConnection().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async openConnection(): Promise<ServerInfo> {
    if (!this.reconnectLoop) this.setState('connecting');
    let connection: Connection;
    try {
      connection = await Connection.open(this.options.server, {
        requestTimeoutMs: this.options.requestTimeoutMs,
        helloTimeoutMs: this.options.helloTimeoutMs,
      });
    } catch (error) {
      if (!this.reconnectLoop) this.setState('disconnected');
      throw error;
    }
    this.connection = connection;
    this.authenticated = false;
    connection.on('push', (push) => this.onPush(push));
    connection.on('close', () => this.onConnectionClosed(connection));
    const info = connection.serverInfo;
    this.lastServerInfo = info;
    await this.pluginHost.activate(info);
    if (!this.reconnectLoop) this.setState('connected');
    return info;
  }

  private onConnectionClosed(connection: Connection): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    this.authenticated = false;
    this.context?.conversations.markStale();
    if (this.context && this.options.autoReconnect !== false && !this.shuttingDown) {
      this.startReconnect();
    } else {
      this.setState('disconnected');
      if (this.options.autoReconnect === false) this.rejectWaiters(new ClientError(ClientErrorCode.NOT_CONNECTED, 'The connection to the server was lost'));
    }
  }

  private startReconnect(): void {
    if (this.reconnectLoop) return;
    this.setState('reconnecting');
    this.reconnectLoop = (async () => {
      let wait = RECONNECT_INITIAL_MS;
      let fatal = false;
      let removed = false;
      while (this.context && !this.shuttingDown) {
        await new Promise<void>((resolve) => {
          this.reconnectTimer = { timer: setTimeout(resolve, wait), resolve };
        });
        this.reconnectTimer = undefined;
        if (!this.context || this.shuttingDown) break;
        try {
          await this.connect();
          await this.authenticateAndResume(false, true);
          this.reconnectLoop = undefined;
          this.setState('connected');
          return;
        } catch (error) {
          this.connection?.destroy();
          if (hasCode(error, WireErrorCode.DEVICE_REMOVED)) {
            removed = true;
            break;
          }
          if (error instanceof KecalekError && FATAL_LOGIN_CODES.has(error.code)) {
            this.report(new ClientError(error.code as WireErrorCode, `Reconnecting failed: ${error.message}`, error.details, { cause: error }));
            fatal = true;
            break;
          }
          wait = Math.min(wait * 2, RECONNECT_MAX_MS);
        }
      }
      this.reconnectLoop = undefined;
      // A login that can never succeed again (login key rotated elsewhere, client too old): the
      // session ends here and the user has to log in again. A removed device has to be linked again.
      if (removed) await this.endRemovedDevice(true);
      else if (fatal) await this.teardown(true);
      this.setState('disconnected');
      this.rejectWaiters(new ClientError(ClientErrorCode.NOT_CONNECTED, 'Not connected to the server'));
    })();
  }

  /** A request on the logged-in connection (fails at once when there is none). */
  private authedRequest = <T>(type: string, fields: Record<string, unknown> = {}): Promise<T> => {
    const connection = this.connection;
    if (!connection || connection.closed || !this.authenticated) {
      return Promise.reject(new ClientError(ClientErrorCode.NOT_CONNECTED, 'Not connected to the server'));
    }
    return connection.request<T>(type, fields);
  };

  /**
   * A request of any type on the current connection (plugins, advanced callers); resolves with the
   * answer's `data`, rejects with ClientError(code, message, details) carrying the server's code.
   * `options.body` sends a raw binary body after the frame.
   */
  async request<T = unknown>(type: string, fields: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<T> {
    return (await this.exchange<T>(type, fields, options)).data;
  }

  /** Like request(), also returning the raw binary body that came with the answer (file transfer). */
  async exchange<T = unknown>(type: string, fields: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<Response<T>> {
    const connection = this.connection;
    if (!connection || connection.closed) throw new ClientError(ClientErrorCode.NOT_CONNECTED, 'Not connected to the server');
    return connection.exchange<T>(type, fields, options);
  }

  /** Resolves when a logged-in connection is up (waiting through a reconnect). */
  private waitOnline(): Promise<void> {
    if (!this.context) return Promise.reject(new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'Not logged in'));
    if (this.authenticated && this.connection && !this.connection.closed) return Promise.resolve();
    if (!this.reconnectLoop && this.options.autoReconnect === false) {
      return Promise.reject(new ClientError(ClientErrorCode.NOT_CONNECTED, 'Not connected to the server'));
    }
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private resolveWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private rejectWaiters(error: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  // ---- account -------------------------------------------------------------------------------------

  private storeFor(email: string): AccountStore {
    return new AccountStore(this.home, email, this.provider);
  }

  private requireContext(): DeviceContext {
    if (!this.context) throw new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'Not logged in');
    return this.context;
  }

  private requireMessenger(): Messenger {
    this.requireContext();
    if (!this.messenger) throw new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'Not logged in');
    return this.messenger;
  }

  /**
   * Creates an account: generates the identity key, a separate login key (both Ed25519), stores
   * them in the password envelope (keys.kenv) and asks the server to mail a confirmation code.
   */
  async register(input: { username: string; email: string; password: string | Uint8Array }): Promise<void> {
    if (this.context) throw new ClientError(WireErrorCode.CONFLICT, 'Log out before registering another account');
    const store = this.storeFor(input.email);
    if ((await store.hasKeys()) && (await this.hasConfirmedState(store, input.password))) {
      throw new ClientError(WireErrorCode.CONFLICT, 'An account for this address already exists on this computer');
    }
    const identity = ed25519KeyPair(this.provider);
    const login = ed25519KeyPair(this.provider);
    const keys: KeyMaterial = {
      identitySeed: identity.privateKey,
      loginSeed: login.privateKey,
      pendingLoginSeed: null,
      userId: null,
      username: input.username,
      email: normalizeEmail(input.email),
    };
    const password = passwordBytes(input.password);
    try {
      await store.saveKeys(keys, password, this.options.keyEnvelope);
    } finally {
      wipe(password);
    }
    // The first device's signed pre-key and one-time pre-keys, stored now, uploaded at the first login.
    const localKey = deriveLocalStorageKey(keys.identitySeed, this.provider);
    try {
      store.unlock(localKey);
      await new PreKeys(store, this.provider, { ...DEFAULT_PREKEY_POLICY, ...(this.options.preKeyPolicy ?? {}) }).generateInitial(keys.identitySeed);
      await store.flush();
    } finally {
      store.lock();
      wipe(localKey);
    }
    await this.connect();
    await this.request('register', {
      username: input.username,
      email: keys.email,
      identity_key: encodeBase64(identity.publicKey),
      login_key: encodeBase64(login.publicKey),
    });
    if (this.pendingRegistration) wipeKeyMaterial(this.pendingRegistration.keys);
    this.pendingRegistration = { store, keys };
  }

  /** An existing key file with a confirmed account (so register must not overwrite it). */
  private async hasConfirmedState(store: AccountStore, password: string | Uint8Array): Promise<boolean> {
    const bytes = passwordBytes(password);
    let keys: KeyMaterial;
    try {
      keys = await store.openKeys(bytes);
    } catch {
      return true; // another password: an account we must not overwrite
    } finally {
      wipe(bytes);
    }
    const localKey = deriveLocalStorageKey(keys.identitySeed, this.provider);
    try {
      store.unlock(localKey);
      return (await store.read(STATE_RECORD).catch(() => new Uint8Array(1))) !== undefined;
    } finally {
      store.lock();
      wipe(localKey);
      wipeKeyMaterial(keys);
    }
  }

  /**
   * Confirms the registration with the mailed code, logs in (creating this first device) and
   * uploads its pre-keys. After a restart, pass the credentials to unlock the stored keys.
   */
  async confirmRegistration(code: string, credentials?: { email: string; password: string | Uint8Array }): Promise<SelfInfo> {
    if (this.context) throw new ClientError(WireErrorCode.CONFLICT, 'Already logged in');
    let pending = this.pendingRegistration;
    if (!pending || (credentials && normalizeEmail(credentials.email) !== pending.store.email)) {
      if (!credentials) throw new ClientError(ClientErrorCode.NO_ACCOUNT, 'No registration in progress: register first, or give the email and password');
      const store = this.storeFor(credentials.email);
      pending = { store, keys: await this.unlockKeys(store, credentials.password) };
    }
    await this.connect();
    const confirmed = await this.request<{ user_id: string; username: string }>('register_confirm', { email: pending.store.email, code });
    this.pendingRegistration = undefined;
    const state: DeviceState = { v: 1, user_id: confirmed.user_id, username: confirmed.username, email: pending.store.email, device_id: null };
    return this.startSession(pending.store, pending.keys, state, true);
  }

  /** Opens keys.kenv with the lockout applied (locked_out, invalid_credentials, store_corrupt, no_account). */
  private async unlockKeys(store: AccountStore, password: string | Uint8Array): Promise<KeyMaterial> {
    const retryAfterMs = await store.lockout.retryAfterMs();
    if (retryAfterMs > 0) {
      throw new ClientError(ClientErrorCode.LOCKED_OUT, `Too many wrong passwords: try again in ${Math.ceil(retryAfterMs / 1000)} s`, {
        retry_after_ms: retryAfterMs,
      });
    }
    const bytes = passwordBytes(password);
    try {
      const keys = await store.openKeys(bytes);
      await store.lockout.clear();
      return keys;
    } catch (error) {
      if (hasCode(error, WireErrorCode.INVALID_CREDENTIALS)) {
        const failure = await store.lockout.recordFailure();
        throw new ClientError(WireErrorCode.INVALID_CREDENTIALS, `Wrong password; try again in ${Math.ceil(failure.retryAfterMs / 1000)} s`, {
          failed_attempts: failure.failures,
          retry_after_ms: failure.retryAfterMs,
        });
      }
      throw error;
    } finally {
      wipe(bytes);
    }
  }

  /**
   * Unlocks the account's store with the password (failed attempts are locked out with backoff
   * min(2^N, 300) s, persisted in the account folder), logs in and brings the pre-keys up to date.
   */
  async login(input: { email: string; password: string | Uint8Array }): Promise<SelfInfo> {
    if (this.context) {
      if (this.context.store.email === normalizeEmail(input.email)) return selfOf(this.context);
      throw new ClientError(WireErrorCode.CONFLICT, 'Already logged in as another account: log out first');
    }
    const store = this.storeFor(input.email);
    const keys = await this.unlockKeys(store, input.password);
    const localKey = deriveLocalStorageKey(keys.identitySeed, this.provider);
    let state: DeviceState | undefined;
    try {
      store.unlock(localKey);
      await store.prepare();
      state = await store.readJson<DeviceState>(STATE_RECORD);
    } catch (error) {
      store.lock();
      wipeKeyMaterial(keys);
      throw error;
    } finally {
      wipe(localKey);
    }
    if (state?.removed_at !== undefined) {
      store.lock();
      wipeKeyMaterial(keys);
      this.emit('device_removed', { email: store.email, deviceId: state.device_id ?? '' });
      throw deviceRemovedError();
    }
    if (!state) {
      store.lock();
      // No device state: the registration is pending, or it was confirmed but the first login never
      // finished on this computer. The server knows which.
      const found = await this.probeLogin(store.email, keys);
      if (!found) {
        this.pendingRegistration = { store, keys };
        throw new ClientError(ClientErrorCode.NO_ACCOUNT, 'The registration of this account was not confirmed yet: confirm it with the mailed code');
      }
      state = { v: 1, user_id: found.user_id, username: found.username, email: store.email, device_id: found.device_id };
    }
    // A rotation of the login key that was interrupted: the envelope may be rewritten now that we have the password.
    const self = await this.startSession(store, keys, state, false);
    if (keys.pendingLoginSeed && this.promotedPending) {
      const bytes = passwordBytes(input.password);
      try {
        keys.loginSeed = keys.pendingLoginSeed;
        keys.pendingLoginSeed = null;
        await store.saveKeys(keys, bytes, this.options.keyEnvelope);
      } finally {
        wipe(bytes);
      }
    }
    this.promotedPending = false;
    return self;
  }

  private promotedPending = false;

  /** Logs the connection in with these keys without device state; undefined when the server does not know the account. */
  private async probeLogin(email: string, keys: KeyMaterial): Promise<LoginFinish | undefined> {
    await this.connect();
    const connection = this.connection!;
    try {
      const started = await connection.request<{ challenge: string }>('login_start', { email });
      const challenge = decodeBase64(started.challenge, 'challenge', { exactBytes: 32 });
      return await connection.request<LoginFinish>('login_finish', {
        email,
        signature: encodeBase64(this.provider.ed25519Sign(keys.loginSeed, loginChallengeMessage(challenge, email))),
        client_version: CLIENT_VERSION,
        device_name: this.options.deviceName ?? defaultDeviceName(),
      });
    } catch (error) {
      if (hasCode(error, WireErrorCode.INVALID_CREDENTIALS)) return undefined;
      throw error;
    }
  }

  /** Builds the device context, connects, logs in and resumes. */
  private async startSession(store: AccountStore, keys: KeyMaterial, state: DeviceState, firstLogin: boolean): Promise<SelfInfo> {
    const context = await this.openContext(store, keys, state);
    this.context = context;
    this.messenger = new Messenger({
      context,
      plugins: this.pluginHost,
      serial: this.serial,
      request: this.authedRequest,
      online: () => this.waitOnline(),
      limits: () => this.lastServerInfo?.limits ?? {},
      emit: (event, ...args) => this.emit(event, ...args),
      report: (error) => this.report(error),
      conversation: (id, options) => this.wireConversation(id, options),
      checkIdentity: (userId, username, key) => this.identityGate(userId, username, key),
      username: (userId) => this.usernameOf(userId),
    });
    try {
      await this.connect();
      await this.authenticateAndResume(firstLogin);
      this.setState('connected');
      return selfOf(context);
    } catch (error) {
      if (hasCode(error, WireErrorCode.DEVICE_REMOVED)) {
        await this.endRemovedDevice(false);
        throw deviceRemovedError();
      }
      await this.teardown(false);
      throw error;
    }
  }

  /**
   * The server refused this device's login with `device_removed`: the state remembers it (later
   * logins are refused at once, and linking this computer again reuses the folder), the session
   * ends without reconnecting, and the front ends hear `device_removed`.
   */
  private async endRemovedDevice(closeConnection: boolean): Promise<void> {
    const context = this.context;
    if (!context) return;
    const deviceId = context.state.device_id ?? '';
    context.state = { ...context.state, removed_at: Date.now() };
    try {
      await context.store.writeJson(STATE_RECORD, context.state);
    } catch (error) {
      this.report(asError(error));
    }
    await this.teardown(closeConnection);
    this.emit('device_removed', { email: context.store.email, deviceId });
  }

  private async openContext(store: AccountStore, keys: KeyMaterial, state: DeviceState): Promise<DeviceContext> {
    const provider = this.provider;
    const identityPublic = provider.ed25519PublicKey(keys.identitySeed);
    const localKey = deriveLocalStorageKey(keys.identitySeed, provider);
    const selfCopyKey = deriveSelfCopyKey(keys.identitySeed, provider);
    store.unlock(localKey);
    await store.prepare();
    const report = (error: Error) => this.report(error);
    const policy = { ...DEFAULT_PREKEY_POLICY, ...(this.options.preKeyPolicy ?? {}) };
    const prekeys = new PreKeys(store, provider, policy);
    await prekeys.load();
    const identities = new IdentityRegistry(store, report);
    await identities.load();
    const conversations = new ConversationStore(store, report);
    await conversations.load();
    const outbox = new Outbox(store, report);
    await outbox.load();
    await store.writeJson(STATE_RECORD, state);
    for (const wire of conversations.all()) this.learnUsernames(wire);
    return {
      store,
      provider,
      keys,
      identityPublic,
      identityPublicBase64: encodeBase64(identityPublic),
      localKey,
      selfCopyKey,
      state,
      prekeys,
      sessions: new SessionManager(store, provider, this.serial, { seed: keys.identitySeed, publicKey: identityPublic }, prekeys),
      directory: new DeviceDirectory(this.authedRequest, (userId, username, key) => this.identityGate(userId, username, key), provider),
      groups: new GroupKeys(store, provider, this.serial, report),
      cache: new MessageCache(store, report),
      identities,
      conversations,
      outbox,
    };
  }

  /** login_start + login_finish with the login key (the pending one after an interrupted rotation). */
  private async authenticate(connection: Connection, context: DeviceContext): Promise<LoginFinish> {
    const keys = context.keys;
    const attempt = async (seed: Uint8Array): Promise<LoginFinish> => {
      const started = await connection.request<{ challenge: string }>('login_start', { email: context.store.email });
      const challenge = decodeBase64(started.challenge, 'challenge', { exactBytes: 32 });
      const signature = this.provider.ed25519Sign(seed, loginChallengeMessage(challenge, context.store.email));
      return connection.request<LoginFinish>('login_finish', {
        email: context.store.email,
        signature: encodeBase64(signature),
        client_version: CLIENT_VERSION,
        ...(context.state.device_id ? { device_id: context.state.device_id } : {}),
        device_name: this.options.deviceName ?? defaultDeviceName(),
      });
    };
    try {
      return await attempt(keys.loginSeed);
    } catch (error) {
      if (!keys.pendingLoginSeed || !hasCode(error, WireErrorCode.INVALID_CREDENTIALS)) throw error;
      const finished = await attempt(keys.pendingLoginSeed);
      this.promotedPending = true;
      return finished;
    }
  }

  /**
   * Logs the current connection in and resumes: pre-key upkeep, outbox, catch-up sync, and the
   * plugins' onReady listeners (`reconnected`: a login again after a lost connection).
   */
  private async authenticateAndResume(firstLogin: boolean, reconnected = false): Promise<void> {
    const context = this.requireContext();
    const connection = this.connection;
    if (!connection || connection.closed) throw new ClientError(ClientErrorCode.NOT_CONNECTED, 'Not connected to the server');
    const finished = await this.authenticate(connection, context);
    const newDevice = finished.new_device || context.state.device_id !== finished.device_id;
    // A folder that belonged to a device of this account before (linked again after a removal, or a
    // server that no longer knows the device): it is a new device now, with new pre-keys, no
    // sessions, no sender-key chains anyone has, and its unsent messages encrypted again.
    if (newDevice && ((!firstLogin && context.state.device_id !== null) || context.state.removed_at !== undefined)) {
      await context.prekeys.reset();
      await context.sessions.forgetAll();
      for (const wire of context.conversations.all()) if (wire.kind === 'group') await context.groups.resetDistribution(wire.id);
      await context.outbox.forgetCiphertexts();
    }
    context.state = { v: 1, user_id: finished.user_id, username: finished.username, email: context.state.email, device_id: finished.device_id };
    await context.store.writeJson(STATE_RECORD, context.state);
    this.usernames.set(finished.user_id, finished.username);
    this.authenticated = true;
    try {
      await this.maintainPreKeys();
    } catch (error) {
      // A device without pre-keys cannot be written to: for a new device this is fatal.
      if (finished.new_device) throw error;
      this.report(asError(error));
    }
    this.scheduleUpkeep();
    this.resolveWaiters();
    const messenger = this.requireMessenger();
    messenger.resumeOutbox();
    void this.catchUp().catch((error: unknown) => {
      if (!isRetryable(error)) this.report(asError(error));
    });
    void messenger.flushSelfCopies().catch(() => undefined);
    // Plugins fetch again what they keep from pushes (some may have been missed while offline).
    const self = { userId: finished.user_id, username: finished.username, deviceId: finished.device_id };
    void this.pluginHost.ready({ reconnected, self });
  }

  private scheduleUpkeep(): void {
    clearInterval(this.upkeepTimer);
    this.upkeepTimer = setInterval(() => {
      this.maintainPreKeys().catch((error: unknown) => {
        if (!isRetryable(error)) this.report(asError(error));
      });
    }, UPKEEP_INTERVAL_MS);
    this.upkeepTimer.unref?.();
  }

  /**
   * Pre-key upkeep now: rotates the signed pre-key when it is due (or when `rotateSignedPreKey`),
   * replenishes one-time pre-keys to 50 when fewer than 20 are left. Runs after every login.
   */
  async maintainPreKeys(options: { rotateSignedPreKey?: boolean } = {}): Promise<PreKeyUpkeep> {
    const context = this.requireContext();
    return this.serial.run('prekeys', () =>
      context.prekeys.upkeep(this.authedRequest, context.keys.identitySeed, { forceRotation: options.rotateSignedPreKey === true }),
    );
  }

  /**
   * Replaces the login key: a new Ed25519 key, vouched for by the identity key's signature. The
   * password is needed to rewrite keys.kenv, which holds the new key (as pending) BEFORE the
   * request, so a crash can never lose a key the server already accepted.
   */
  async rotateLoginKey(password: string | Uint8Array): Promise<void> {
    const context = this.requireContext();
    const self = selfOf(context);
    const stored = await this.unlockKeys(context.store, password);
    wipeKeyMaterial(stored);
    const login = ed25519KeyPair(this.provider);
    const bytes = passwordBytes(password);
    const keys = context.keys;
    try {
      keys.pendingLoginSeed = login.privateKey;
      await context.store.saveKeys(keys, bytes, this.options.keyEnvelope);
      try {
        await this.authedRequest('rotate_keys', {
          login_key: encodeBase64(login.publicKey),
          signature: encodeBase64(this.provider.ed25519Sign(keys.identitySeed, rotateLoginKeyMessage(login.publicKey, self.userId))),
        });
      } catch (error) {
        if (!isRetryable(error)) {
          keys.pendingLoginSeed = null;
          await context.store.saveKeys(keys, bytes, this.options.keyEnvelope);
        }
        throw error;
      }
      wipe(keys.loginSeed);
      keys.loginSeed = login.privateKey;
      keys.pendingLoginSeed = null;
      await context.store.saveKeys(keys, bytes, this.options.keyEnvelope);
    } finally {
      wipe(bytes);
    }
  }

  /** Logs out: tells the server, closes the connection, locks the store and wipes the keys from memory. */
  async logout(): Promise<void> {
    if (this.context && this.authenticated) await this.authedRequest('logout').catch(() => undefined);
    await this.teardown(true);
  }

  /** Closes the connection and locks the store (the account stays logged in on this device for next time). */
  async close(): Promise<void> {
    await this.teardown(true);
  }

  private async teardown(closeConnection: boolean): Promise<void> {
    this.shuttingDown = true;
    try {
      clearInterval(this.upkeepTimer);
      if (this.reconnectTimer) {
        clearTimeout(this.reconnectTimer.timer);
        this.reconnectTimer.resolve();
      }
      const messenger = this.messenger;
      this.messenger = undefined;
      if (messenger) await messenger.stop();
      const context = this.context;
      this.context = undefined;
      this.rejectWaiters(new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'Logged out'));
      if (closeConnection && this.connection) {
        const connection = this.connection;
        this.connection = undefined;
        this.authenticated = false;
        await connection.close();
      }
      if (context) {
        await context.store.flush();
        context.store.lock();
        wipeContext(context);
      }
      if (this.pendingRegistration) {
        wipeKeyMaterial(this.pendingRegistration.keys);
        this.pendingRegistration = undefined;
      }
      await this.reconnectLoop;
      this.online.clear();
      this.setState(this.connection && !this.connection.closed ? 'connected' : 'disconnected');
    } finally {
      this.shuttingDown = false;
    }
  }

  // ---- device linking ------------------------------------------------------------------------------

  private transport(): PairingTransport {
    return { request: <T>(type: string, fields: Record<string, unknown>) => this.request<T>(type, fields) };
  }

  /**
   * New device (not logged in): starts linking. Show `code`/`qrText`, compare `sas` with the other
   * device, then `accept(password)`: the keys are received, stored under that password, and this
   * device logs in as a new device of the account (it reads history through self copies).
   */
  async startLinking(): Promise<LinkingRequest> {
    if (this.context) throw new ClientError(WireErrorCode.CONFLICT, 'Already logged in: log out before linking this device to another account');
    await this.connect();
    const linking = await startNewDeviceLinking(this.transport(), this.provider);
    return {
      code: linking.code,
      qrText: linking.qrText,
      expiresAt: linking.expiresAt,
      sas: linking.sas,
      accept: async (password) => {
        const received = await linking.receive();
        try {
          return await this.finishLinking(received, password);
        } finally {
          wipe(received.identitySeed, received.loginSeed);
        }
      },
      cancel: () => linking.cancel(),
    };
  }

  private async finishLinking(received: LinkedKeys, password: string): Promise<SelfInfo> {
    const store = this.storeFor(received.email);
    let removedAt: number | undefined;
    if (await store.hasKeys()) {
      removedAt = await this.removedDeviceFolder(store, received);
      if (removedAt === undefined) {
        throw new ClientError(WireErrorCode.CONFLICT, 'This computer already has an account folder for this address: remove it before linking again');
      }
    }
    const keys: KeyMaterial = {
      identitySeed: Uint8Array.from(received.identitySeed),
      loginSeed: Uint8Array.from(received.loginSeed),
      pendingLoginSeed: null,
      userId: received.userId,
      username: received.username,
      email: normalizeEmail(received.email),
    };
    const bytes = passwordBytes(password);
    try {
      await store.saveKeys(keys, bytes, this.options.keyEnvelope);
    } finally {
      wipe(bytes);
    }
    // The new password starts with a clean slate of attempts.
    if (removedAt !== undefined) await store.lockout.clear();
    const state: DeviceState = {
      v: 1,
      user_id: received.userId,
      username: received.username,
      email: keys.email,
      device_id: null,
      ...(removedAt !== undefined ? { removed_at: removedAt } : {}),
    };
    return this.startSession(store, keys, state, true);
  }

  /**
   * When this computer's folder for the address belonged to a device of the same account that was
   * removed, its removal time (the folder is linked again: history cache and trust records stay,
   * the device-bound state is replaced at login). Undefined for any other folder.
   */
  private async removedDeviceFolder(store: AccountStore, received: LinkedKeys): Promise<number | undefined> {
    const localKey = deriveLocalStorageKey(received.identitySeed, this.provider);
    try {
      store.unlock(localKey);
      // Sealed with the local key of the received identity: another identity's folder does not open.
      const state = await store.readJson<DeviceState>(STATE_RECORD).catch(() => undefined);
      return state?.user_id === received.userId && typeof state.removed_at === 'number' ? state.removed_at : undefined;
    } finally {
      store.lock();
      wipe(localKey);
    }
  }

  /** Existing device: approves linking a new device from its code or QR text (compare the SAS, then confirm). */
  async approveLinking(codeOrQrText: string): Promise<LinkingApproval> {
    const context = this.requireContext();
    const self = selfOf(context);
    const keys = copyKeyMaterial(context.keys);
    const linked: LinkedKeys = { userId: self.userId, email: self.email, username: self.username, identitySeed: keys.identitySeed, loginSeed: keys.loginSeed };
    const forget = () => wipeKeyMaterial(keys);
    let approval;
    try {
      approval = await approveDeviceLinking(this.transport(), codeOrQrText, linked, this.provider);
    } catch (error) {
      forget();
      throw error;
    }
    return {
      sas: approval.sas,
      confirm: async () => {
        try {
          await approval.confirm();
          context.directory.invalidate(self.userId);
          this.emit('devices_changed');
        } finally {
          forget();
        }
      },
      cancel: async () => {
        try {
          await approval.cancel();
        } finally {
          forget();
        }
      },
    };
  }

  // ---- identities ----------------------------------------------------------------------------------

  private async evaluateIdentity(userId: string, username: string, identityKey: string): Promise<IdentityKeyStatus> {
    const context = this.requireContext();
    if (userId === context.state.user_id) return identityKey === context.identityPublicBase64 ? 'trusted' : 'changed';
    const base = context.identities.baseStatus(userId, identityKey);
    const status = this.pluginHost.identityStatus(base, { userId, identityKey });
    if (status === 'changed' || status === 'changed_verified') {
      const already = context.identities.isBlocked(userId);
      context.identities.block(userId, identityKey);
      if (!already) this.emit('identity_changed', { userId, username, wasVerified: status === 'changed_verified' });
    } else {
      await context.identities.trust(userId, identityKey);
    }
    return status;
  }

  /** The trust check every bundle and prekey message goes through: a changed key refuses new sessions. */
  private async identityGate(userId: string, username: string, identityKey: string): Promise<void> {
    const status = await this.evaluateIdentity(userId, username, identityKey);
    if (status === 'changed' || status === 'changed_verified') {
      const self = this.context?.state.user_id === userId;
      throw new ClientError(
        ClientErrorCode.IDENTITY_CHANGED,
        self
          ? 'The server presents a different identity key for this account: refusing to encrypt for it'
          : `${username}'s identity key has changed: verify it and accept it before messages are encrypted for it again`,
        { userId },
      );
    }
  }

  /** A user's public identity (get_user_info), with its TOFU status; a changed key also emits `identity_changed`. */
  async getUser(reference: { userId: string } | { email: string }): Promise<UserInfo> {
    this.requireContext();
    const fields = 'userId' in reference ? { user_id: reference.userId } : { email: reference.email };
    const info = await this.authedRequest<{ user_id: string; username: string; identity_key: string }>('get_user_info', fields);
    this.usernames.set(info.user_id, info.username);
    const identityStatus = await this.evaluateIdentity(info.user_id, info.username, info.identity_key);
    return { userId: info.user_id, username: info.username, identityKey: info.identity_key, identityStatus };
  }

  /** Accepts a changed identity key (after the user verified it): new sessions may use it. */
  async acceptIdentityKey(userId: string): Promise<void> {
    const context = this.requireContext();
    if (!(await context.identities.accept(userId))) throw new ClientError(WireErrorCode.NOT_FOUND, 'No changed identity key waits for this user');
    context.directory.invalidate(userId);
  }

  private usernameOf(userId: string): string {
    return this.usernames.get(userId) ?? '';
  }

  private learnUsernames(wire: WireConversation): void {
    for (const member of wire.members) this.usernames.set(member.user_id, member.username);
  }

  // ---- conversations -------------------------------------------------------------------------------

  /** The wire view of a conversation: cached, or fetched when unknown or `refresh`; undefined if not a member. */
  private async wireConversation(conversationId: string, options: { refresh?: boolean } = {}): Promise<WireConversation | undefined> {
    const context = this.requireContext();
    const cached = context.conversations.get(conversationId);
    if (cached && !options.refresh) return cached;
    try {
      const { conversation } = await this.authedRequest<{ conversation: WireConversation }>('get_conversation', { conversation_id: conversationId });
      this.learnUsernames(conversation);
      context.conversations.put(conversation);
      return conversation;
    } catch (error) {
      if (hasCode(error, WireErrorCode.NOT_FOUND)) {
        if (cached) await this.dropLocal(conversationId, 'gone');
        return undefined;
      }
      if (cached && isRetryable(error)) return cached;
      throw error;
    }
  }

  private async toPublic(wire: WireConversation): Promise<Conversation> {
    const context = this.requireContext();
    const latest = await context.cache.latest(wire.id);
    return toConversation(wire, context.state.user_id, latest ? { lastMessage: this.requireMessenger().toChatMessage(latest) } : {});
  }

  /** Forgets a conversation locally (cache, sender keys) and tells the front ends. */
  private async dropLocal(conversationId: string, reason: string): Promise<void> {
    const context = this.context;
    if (!context) return;
    const known = context.conversations.remove(conversationId);
    await context.cache.drop(conversationId);
    await context.groups.drop(conversationId);
    if (known) this.emit('conversation_removed', { conversationId, reason });
  }

  /** The conversations, newest activity first, with previews from the cache (offline: the stored list). */
  async listConversations(options: { refresh?: boolean } = {}): Promise<Conversation[]> {
    const context = this.requireContext();
    if (options.refresh !== false && this.authenticated) {
      const { conversations } = await this.authedRequest<{ conversations: WireConversation[] }>('list_conversations');
      for (const wire of conversations) this.learnUsernames(wire);
      const gone = context.conversations.replaceAll(conversations);
      for (const id of gone) {
        await context.cache.drop(id);
        await context.groups.drop(id);
        this.emit('conversation_removed', { conversationId: id, reason: 'gone' });
      }
    }
    const list = context.conversations.all().sort((a, b) => (b.last_message_at ?? b.created_at) - (a.last_message_at ?? a.created_at));
    return Promise.all(list.map((wire) => this.toPublic(wire)));
  }

  async getConversation(conversationId: string, options: { refresh?: boolean } = {}): Promise<Conversation> {
    const wire = await this.wireConversation(conversationId, options);
    if (!wire) throw new ClientError(WireErrorCode.NOT_FOUND, 'No such conversation');
    return this.toPublic(wire);
  }

  /** Starts (or reopens) a direct conversation with the person at this address. */
  async createDm(email: string): Promise<Conversation> {
    const context = this.requireContext();
    const { conversation } = await this.authedRequest<{ conversation: WireConversation }>('create_conversation', { kind: 'dm', emails: [email] });
    this.learnUsernames(conversation);
    context.conversations.put(conversation);
    this.emit('conversation_updated', { conversationId: conversation.id, reason: 'created' });
    return this.toPublic(conversation);
  }

  /** Creates a group with these people (plugins such as invitations may turn additions into invitations). */
  async createGroup(name: string, emails: readonly string[]): Promise<Conversation> {
    const context = this.requireContext();
    const { conversation } = await this.authedRequest<{ conversation: WireConversation }>('create_conversation', { kind: 'group', name, emails: [...emails] });
    this.learnUsernames(conversation);
    context.conversations.put(conversation);
    this.emit('conversation_updated', { conversationId: conversation.id, reason: 'created' });
    return this.toPublic(conversation);
  }

  /** Adds a person to a group; once added, they get this device's sender key at once. */
  async addMember(conversationId: string, email: string): Promise<{ userId: string; outcome: string }> {
    const answer = await this.authedRequest<{ user_id: string; outcome: string }>('add_member', { conversation_id: conversationId, email });
    if (answer.outcome === 'added') {
      await this.wireConversation(conversationId, { refresh: true });
      this.emit('conversation_updated', { conversationId, reason: 'member_added' });
      await this.requireMessenger()
        .welcomeMember(conversationId, answer.user_id)
        .catch((error: unknown) => this.report(asError(error)));
    }
    return { userId: answer.user_id, outcome: answer.outcome };
  }

  /** Removes a member (group creator); this device's sender key is replaced at once. */
  async removeMember(conversationId: string, userId: string): Promise<void> {
    await this.authedRequest('remove_member', { conversation_id: conversationId, user_id: userId });
    await this.wireConversation(conversationId, { refresh: true });
    this.emit('conversation_updated', { conversationId, reason: 'member_removed' });
    await this.requireMessenger()
      .rotateAfterRemoval(conversationId)
      .catch((error: unknown) => this.report(asError(error)));
  }

  async leaveGroup(conversationId: string): Promise<void> {
    await this.authedRequest('leave_group', { conversation_id: conversationId });
    await this.dropLocal(conversationId, 'left');
  }

  async renameConversation(conversationId: string, name: string): Promise<void> {
    const answer = await this.authedRequest<{ name: string }>('rename_conversation', { conversation_id: conversationId, name });
    this.requireContext().conversations.update(conversationId, (wire) => {
      wire.name = answer.name;
    });
    this.emit('conversation_updated', { conversationId, reason: 'renamed' });
  }

  /** A DM: deleted for me (it comes back with a new message). A group: deleted for everyone (creator). */
  async deleteConversation(conversationId: string): Promise<void> {
    await this.authedRequest('delete_conversation', { conversation_id: conversationId });
    await this.dropLocal(conversationId, 'deleted');
  }

  // ---- messages ------------------------------------------------------------------------------------

  /** The decrypted local history of a conversation, at once (no network). */
  async getCachedMessages(conversationId: string): Promise<ChatMessage[]> {
    const messenger = this.requireMessenger();
    return (await this.requireContext().cache.messages(conversationId)).map((m) => messenger.toChatMessage(m));
  }

  /** Fetches what is new since the newest cached message (and deletions); returns the new messages. */
  async syncConversation(conversationId: string): Promise<ChatMessage[]> {
    if (!(await this.wireConversation(conversationId))) throw new ClientError(WireErrorCode.NOT_FOUND, 'No such conversation');
    return this.requireMessenger().sync(conversationId);
  }

  /** One page of older history before `beforeTs`. */
  async loadOlder(conversationId: string, beforeTs: number, limit = 50): Promise<ChatMessage[]> {
    return this.requireMessenger().older(conversationId, beforeTs, limit);
  }

  /**
   * Catch-up after a (re)login: the conversation list, then a sync of every conversation with
   * newer activity than the cache (offline messages arrive as `message` events). Runs in the
   * background after login; call it to wait for it.
   */
  catchUp(): Promise<void> {
    if (this.catchUpRun) return this.catchUpRun;
    const run = (async () => {
      const context = this.requireContext();
      const messenger = this.requireMessenger();
      const list = await this.listConversations();
      for (const conversation of list) {
        const synced = await context.cache.syncedUntil(conversation.id);
        const waiting = (await context.cache.undecryptable(conversation.id)).length > 0;
        if ((conversation.lastMessageAt ?? 0) > synced || waiting || synced === 0) await messenger.sync(conversation.id);
      }
    })();
    const tracked: Promise<void> = run.finally(() => {
      if (this.catchUpRun === tracked) this.catchUpRun = undefined;
    });
    this.catchUpRun = tracked;
    return tracked;
  }

  private send(conversationId: string, text: string | undefined, options: SendOptions = {}): Promise<ChatMessage> {
    const messenger = this.requireMessenger();
    return messenger.buildPayload(conversationId, text, options).then((payload) => messenger.send(conversationId, payload));
  }

  /**
   * Sends a message; resolves with the confirmed message (front ends show an optimistic pending
   * one meanwhile and replace it by `clientMsgId`). A send survives reconnects (it is re-sent
   * unchanged until the server answers); a final failure marks the cached copy failed and emits
   * an `error`.
   */
  sendMessage(conversationId: string, text: string, options: SendOptions = {}): Promise<ChatMessage> {
    return this.send(conversationId, text, options);
  }

  /** Sends a failed message again. */
  retryMessage(conversationId: string, clientMsgId: string): Promise<ChatMessage> {
    return this.requireMessenger().retry(conversationId, clientMsgId);
  }

  /**
   * What the active plugins add to a message in the terminal client (badges, notes, highlights).
   * Front ends call it while rendering; a failing plugin is reported and skipped.
   */
  terminalDecorations(message: ChatMessage): Required<TerminalDecoration> {
    const self = this.self;
    return this.pluginHost.decorations(message, self ? { userId: self.userId, username: self.username } : undefined);
  }

  /**
   * Merges plugin fields into a cached message's `extra` and tells the front ends
   * (`message_updated`). Runs in turn with the messenger's own writes of the message (decrypting,
   * confirming, deleting) and other updates, so that none overwrites another.
   */
  private async updateMessageExtra(conversationId: string, messageId: string, patch: Record<string, unknown>): Promise<boolean> {
    const messenger = this.messenger;
    if (!this.context || !messenger) return false;
    const updated = await messenger.updateExtra(conversationId, messageId, patch);
    if (!updated) return false;
    this.emit('message_updated', messenger.toChatMessage(updated));
    return true;
  }

  /** Deletes one of your messages for everyone: at once locally, then on the server. */
  async deleteMessage(conversationId: string, messageId: string): Promise<void> {
    const messenger = this.requireMessenger();
    const before = await messenger.markDeleted(conversationId, messageId);
    if (before && !before.deleted) this.emit('message_deleted', { messageId, conversationId });
    try {
      await this.authedRequest('delete_message', { message_id: messageId });
    } catch (error) {
      if (before && !before.deleted) {
        const restored = await messenger.restoreDeleted(before);
        this.emit('message_updated', messenger.toChatMessage(restored));
      }
      throw error;
    }
  }

  /** Read receipts for these messages (default: every cached message from others not marked yet). Returns how many were newly marked. */
  async markRead(conversationId: string, messageIds?: readonly string[]): Promise<number> {
    const context = this.requireContext();
    const readUpTo = await context.cache.readUpTo(conversationId);
    const messages = (await context.cache.messages(conversationId)).filter((m) => !m.own && !m.deleted && !m.id.startsWith('pending:'));
    const chosen = messageIds ? messages.filter((m) => messageIds.includes(m.id)) : messages.filter((m) => m.createdAt > readUpTo);
    let marked = 0;
    for (let i = 0; i < chosen.length; i += 500) {
      const chunk = chosen.slice(i, i + 500);
      const answer = await this.authedRequest<{ marked: number }>('mark_read', { conversation_id: conversationId, message_ids: chunk.map((m) => m.id) });
      marked += answer.marked;
    }
    if (!messageIds && chosen.length > 0) await context.cache.setReadUpTo(conversationId, Math.max(...chosen.map((m) => m.createdAt)));
    context.conversations.update(conversationId, (wire) => {
      wire.unread_count = messageIds ? Math.max(0, wire.unread_count - marked) : 0;
    });
    this.emit('conversation_updated', { conversationId, reason: 'read' });
    return marked;
  }

  /**
   * Drops the session with a peer's device (or all its devices) and asks the peer to drop its own:
   * the next message on either side starts a new session with X3DH.
   */
  async resetSession(userId: string, deviceId?: string): Promise<void> {
    const context = this.requireContext();
    const messenger = this.requireMessenger();
    const devices = await context.sessions.forget(userId, deviceId);
    context.directory.invalidate(userId);
    for (const device of deviceId !== undefined ? [deviceId] : devices) await messenger.forgetDistributionTo(userId, device);
    await this.authedRequest('session_reset', deviceId !== undefined ? { user_id: userId, device_id: deviceId } : { user_id: userId });
  }

  // ---- presence, devices ---------------------------------------------------------------------------

  isOnline(userId: string): boolean {
    return this.online.has(userId);
  }

  onlineUsers(): string[] {
    return [...this.online];
  }

  async listDevices(): Promise<Device[]> {
    const { devices } = await this.authedRequest<{
      devices: Array<{ device_id: string; name: string | null; created_at: number; last_seen_at: number; current: boolean; online: boolean }>;
    }>('list_devices');
    return devices.map((d) => ({ deviceId: d.device_id, name: d.name, createdAt: d.created_at, lastSeenAt: d.last_seen_at, current: d.current, online: d.online }));
  }

  /**
   * Removes another device of this account: the server refuses its logins from now on, and this
   * device forgets its sessions with it and the sender-key bookkeeping for it. Not a cryptographic
   * revocation: the removed device still holds the account's keys (see rotateLoginKey).
   */
  async removeDevice(deviceId: string): Promise<void> {
    this.requireContext();
    await this.authedRequest('remove_device', { device_id: deviceId });
    await this.forgetOwnDevice(deviceId);
    this.emit('devices_changed');
  }

  /** Drops what this device keeps about a removed device of the account. */
  private async forgetOwnDevice(deviceId: string): Promise<void> {
    const context = this.requireContext();
    const userId = context.state.user_id;
    await context.sessions.forget(userId, deviceId);
    context.directory.dropDevice(userId, deviceId);
    context.directory.invalidate(userId);
    await this.requireMessenger().forgetRemovedDevice(userId, deviceId);
  }

  // ---- pushes --------------------------------------------------------------------------------------

  private onPush(push: PushEvent): void {
    const context = this.context;
    if (context && this.messenger) {
      if (push.type === 'device_added') {
        // At once rather than in the push queue: a send that starts after this push arrived
        // fetches the user's devices again, so it is encrypted for the new device too and, in
        // groups, the own sender key is given to it first. Missed pushes are caught by device_mismatch.
        const userId = (push.data as { user_id?: unknown } | null)?.user_id;
        if (typeof userId === 'string') context.directory.invalidate(userId);
      }
      void this.serial
        .run('push', () => this.handlePush(push))
        .catch((error: unknown) => {
          if (!isRetryable(error)) this.report(asError(error));
        });
    }
    this.pluginHost.dispatch(push.type, push.data);
  }

  private async handlePush(push: PushEvent): Promise<void> {
    const context = this.context;
    const messenger = this.messenger;
    if (!context || !messenger) return;
    const data = (typeof push.data === 'object' && push.data !== null ? push.data : {}) as Record<string, unknown>;
    const conversationId = typeof data.conversation_id === 'string' ? data.conversation_id : undefined;
    switch (push.type) {
      case 'new_message': {
        if (!conversationId) return;
        if (!context.conversations.get(conversationId) && !(await this.wireConversation(conversationId))) return;
        void messenger.ingest(rawFromWire(data), true);
        return;
      }
      case 'message_deleted': {
        if (!conversationId || typeof data.message_id !== 'string') return;
        const before = await messenger.markDeleted(conversationId, data.message_id);
        if (before && !before.deleted) this.emit('message_deleted', { messageId: data.message_id, conversationId });
        return;
      }
      case 'messages_read': {
        if (!conversationId || typeof data.user_id !== 'string' || !Array.isArray(data.message_ids)) return;
        const ids = data.message_ids.filter((id): id is string => typeof id === 'string');
        if (data.user_id === context.state.user_id) {
          context.conversations.update(conversationId, (wire) => {
            wire.unread_count = Math.max(0, wire.unread_count - ids.length);
          });
        }
        this.emit('messages_read', { conversationId, userId: data.user_id, messageIds: ids });
        return;
      }
      case 'conversation_created': {
        const wire = data.conversation as WireConversation | undefined;
        if (!wire || typeof wire.id !== 'string') return;
        this.learnUsernames(wire);
        context.conversations.put(wire);
        this.emit('conversation_updated', { conversationId: wire.id, reason: 'created' });
        return;
      }
      case 'member_added': {
        if (!conversationId || typeof data.user_id !== 'string') return;
        if (typeof data.username === 'string') this.usernames.set(data.user_id, data.username);
        const userId = data.user_id;
        this.background(async () => {
          await this.wireConversation(conversationId, { refresh: true });
          this.emit('conversation_updated', { conversationId, reason: 'member_added' });
          await messenger.welcomeMember(conversationId, userId);
        });
        return;
      }
      case 'member_removed': {
        if (!conversationId || typeof data.user_id !== 'string') return;
        if (data.user_id === context.state.user_id) {
          await this.dropLocal(conversationId, data.reason === 'left' ? 'left' : 'removed');
          return;
        }
        this.background(async () => {
          await this.wireConversation(conversationId, { refresh: true });
          this.emit('conversation_updated', { conversationId, reason: 'member_removed' });
          await messenger.rotateAfterRemoval(conversationId);
        });
        return;
      }
      case 'conversation_renamed': {
        if (!conversationId || typeof data.name !== 'string') return;
        const name = data.name;
        context.conversations.update(conversationId, (wire) => {
          wire.name = name;
        });
        this.emit('conversation_updated', { conversationId, reason: 'renamed' });
        return;
      }
      case 'conversation_deleted': {
        if (!conversationId) return;
        await this.dropLocal(conversationId, data.scope === 'all' ? 'deleted' : 'deleted_for_me');
        return;
      }
      case 'online_users': {
        const ids = Array.isArray(data.user_ids) ? data.user_ids.filter((id): id is string => typeof id === 'string') : [];
        const now = new Set(ids);
        for (const id of [...this.online]) {
          if (!now.has(id)) {
            this.online.delete(id);
            this.emit('presence', { userId: id, online: false });
          }
        }
        for (const id of ids) {
          if (!this.online.has(id)) {
            this.online.add(id);
            this.emit('presence', { userId: id, online: true });
          }
        }
        return;
      }
      case 'user_online':
      case 'user_offline': {
        if (typeof data.user_id !== 'string') return;
        const isOnline = push.type === 'user_online';
        if (isOnline) this.online.add(data.user_id);
        else this.online.delete(data.user_id);
        this.emit('presence', { userId: data.user_id, online: isOnline });
        return;
      }
      case 'session_reset': {
        if (typeof data.from_user_id !== 'string' || typeof data.from_device_id !== 'string') return;
        await context.sessions.forget(data.from_user_id, data.from_device_id);
        context.directory.invalidate(data.from_user_id);
        await messenger.forgetDistributionTo(data.from_user_id, data.from_device_id);
        this.emit('session_reset', { userId: data.from_user_id, deviceId: data.from_device_id });
        return;
      }
      case 'device_added': {
        // The user's devices were fetched again already (onPush).
        if (data.user_id === context.state.user_id) this.emit('devices_changed');
        return;
      }
      case 'device_removed': {
        if (typeof data.device_id !== 'string' || data.device_id === context.state.device_id) return;
        await this.forgetOwnDevice(data.device_id);
        this.emit('devices_changed');
        return;
      }
      default:
        return;
    }
  }

  private background(task: () => Promise<void>): void {
    task().catch((error: unknown) => {
      if (!isRetryable(error) && !hasCode(error, ClientErrorCode.NOT_LOGGED_IN)) this.report(asError(error));
    });
  }
}

