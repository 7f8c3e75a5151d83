/**
 * The controller: the only code that talks to the bridge. It mirrors bridge events into the store
 * (through the pure reducers) and offers the actions the components call. Actions the user waits
 * for reject with the bridge's error ({code, message}) so a form can show it; background work
 * reports through toasts.
 */
import type {
  BridgeConversation,
  BridgeMessage,
  BridgeMethod,
  BridgeMethods,
  BridgeSettings,
  KecalekBridge,
} from '../../shared/bridge.js';
import { errorCode, errorText } from '../util/format.js';
import { initialState, isLocal, localId, type AppState, type SelfState } from './model.js';
import * as R from './reducers.js';
import { Store } from './store.js';
import type { ToastService } from './toasts.js';

/** How many older messages one scroll to the top fetches. */
export const OLDER_PAGE = 50;

/** Codes that only say "not now" (offline); a sync retried after reconnecting needs no notice. */
const TRANSIENT = new Set(['not_connected', 'connection_closed', 'request_timeout', 'not_logged_in']);

export function newClientMsgId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The notice for a message that could not be sent. */
export function sendFailure(error: unknown): string {
  const reason = errorCode(error) === 'not_found' ? 'this conversation no longer exists.' : errorText(error);
  return `Your message was not sent: ${reason}`;
}

export interface ControllerOptions {
  /** Whether the window is visible (messages count as read only then). */
  readonly isVisible?: () => boolean;
}

export class AppController {
  readonly store = new Store<AppState>(initialState());
  readonly #bridge: KecalekBridge;
  readonly #toasts: ToastService;
  readonly #isVisible: () => boolean;
  readonly #unsubscribe: Array<() => void> = [];
  /** Conversations we removed ourselves (no "you were removed" notice). */
  readonly #removedHere = new Set<string>();
  readonly #fetching = new Map<string, Promise<void>>();
  readonly #readTimers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #opening = new Map<string, Promise<void>>();
  /** Per conversation: the newest message from others already marked read here. */
  readonly #readMarks = new Map<string, number>();
  #sessionLoad: Promise<void> | undefined;

  constructor(bridge: KecalekBridge, toasts: ToastService, options: ControllerOptions = {}) {
    this.#bridge = bridge;
    this.#toasts = toasts;
    this.#isVisible = options.isVisible ?? (() => typeof document === 'undefined' || document.visibilityState === 'visible');
  }

  get state(): AppState {
    return this.store.state;
  }

  get self(): SelfState | undefined {
    return this.store.state.self;
  }

  #invoke<M extends BridgeMethod>(method: M, args: BridgeMethods[M]['args']): Promise<BridgeMethods[M]['result']> {
    return this.#bridge.invoke(method, args);
  }

  /** Subscribes to the bridge's events and loads the first state. */
  async start(): Promise<void> {
    const b = this.#bridge;
    const u = this.#unsubscribe;
    u.push(b.on('state', (s) => this.#applyState(s)));
    u.push(b.on('connection', ({ state }) => this.#onConnection(state)));
    u.push(b.on('message', (m) => this.#onMessage(m)));
    u.push(b.on('message_updated', (m) => this.store.update((s) => R.updateMessage(s, m))));
    u.push(b.on('message_deleted', ({ conversationId, messageId }) => this.store.update((s) => R.deleteMessage(s, conversationId, messageId))));
    u.push(b.on('messages_read', (info) => this.store.update((s) => R.messagesRead(s, info))));
    u.push(b.on('conversation_updated', ({ conversationId }) => void this.#refreshConversation(conversationId)));
    u.push(b.on('conversation_removed', (info) => this.#onConversationRemoved(info.conversationId, info.reason)));
    u.push(b.on('presence', ({ userId, online }) => this.store.update((s) => R.setPresence(s, userId, online))));
    u.push(
      b.on('identity_changed', ({ username, wasVerified }) =>
        this.#toasts.show(
          wasVerified
            ? `${username}'s safety number changed. They were verified: check it with them again.`
            : `${username}'s safety number changed (a new installation, or someone in between).`,
          'error',
        ),
      ),
    );
    u.push(b.on('devices_changed', () => void this.#reloadDevicesIfShown()));
    u.push(b.on('device_removed', () => this.#toasts.show('This device was removed from your account.', 'error', { timeoutMs: 0 })));
    u.push(b.on('error', (error) => this.#toasts.error(errorText(error))));
    if (typeof document !== 'undefined') {
      const onVisible = (): void => {
        const active = this.state.activeId;
        if (active !== undefined && this.#isVisible()) this.#scheduleRead(active);
      };
      document.addEventListener('visibilitychange', onVisible);
      window.addEventListener('focus', onVisible);
      u.push(() => document.removeEventListener('visibilitychange', onVisible));
      u.push(() => window.removeEventListener('focus', onVisible));
    }
    this.#applyState(await this.#invoke('getState', {}));
  }

  stop(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
    for (const timer of this.#readTimers.values()) clearTimeout(timer);
    this.#readTimers.clear();
  }

  // ---- signed-in state ------------------------------------------------------------------------

  #applyState(bridgeState: Parameters<typeof R.applyBridgeState>[1]): void {
    const before = this.state.self;
    const wasConnected = this.#connected();
    this.store.update((s) => R.applyBridgeState(s, bridgeState));
    const after = this.state.self;
    if (after && (!before || before.userId !== after.userId)) {
      this.#sessionLoad = undefined;
      void this.#loadSession();
    } else if (after && !wasConnected && this.#connected()) {
      void this.#refreshFromServer();
    }
  }

  #connected(): boolean {
    return this.store.state.connection === 'connected';
  }

  async #refreshState(): Promise<void> {
    this.#applyState(await this.#invoke('getState', {}));
  }

  /** Cache first: the stored list at once, then the server's, then who is online. */
  #loadSession(): Promise<void> {
    this.#sessionLoad ??= (async () => {
      try {
        const cached = await this.#invoke('listConversations', { refresh: false });
        this.store.update((s) => R.applyConversations(s, cached));
      } catch (error) {
        this.#background(error);
      }
      if (this.state.connection === 'connected') await this.#refreshFromServer();
    })();
    return this.#sessionLoad;
  }

  async #refreshFromServer(): Promise<void> {
    if (!this.self) return;
    try {
      const list = await this.#invoke('listConversations', { refresh: true });
      this.store.update((s) => R.applyConversations(s, list));
    } catch (error) {
      this.#background(error);
    }
    try {
      const online = await this.#invoke('onlineUsers', {});
      this.store.update((s) => R.setOnlineUsers(s, online));
    } catch (error) {
      this.#background(error);
    }
    const active = this.state.activeId;
    if (active !== undefined) await this.#sync(active);
  }

  #onConnection(state: AppState['connection']): void {
    const was = this.state.connection;
    this.store.update((s) => R.applyConnection(s, state));
    if (state === 'connected' && was !== 'connected' && this.self) void this.#refreshFromServer();
  }

  #background(error: unknown): void {
    const code = errorCode(error);
    if (code !== undefined && TRANSIENT.has(code)) return;
    this.#toasts.error(errorText(error));
  }

  // ---- sign-in ----------------------------------------------------------------------------------

  async login(email: string, password: string): Promise<void> {
    await this.#invoke('login', { email, password });
    await this.#refreshState();
  }

  async register(username: string, email: string, password: string): Promise<string> {
    const { email: normalized } = await this.#invoke('register', { username, email, password });
    return normalized;
  }

  async confirmRegistration(code: string): Promise<void> {
    await this.#invoke('confirmRegistration', { code });
    await this.#refreshState();
  }

  startLinking(): Promise<BridgeMethods['startLinking']['result']> {
    return this.#invoke('startLinking', {});
  }

  linkingSas(): Promise<string> {
    return this.#invoke('linkingSas', {}).then((r) => r.sas);
  }

  async acceptLinking(password: string): Promise<void> {
    await this.#invoke('acceptLinking', { password });
    await this.#refreshState();
  }

  async cancelLinking(): Promise<void> {
    await this.#invoke('cancelLinking', {});
  }

  async logout(): Promise<void> {
    await this.#invoke('logout', {});
    await this.#refreshState();
  }

  // ---- settings and devices ---------------------------------------------------------------------

  async setTheme(theme: BridgeSettings['theme']): Promise<void> {
    const before = this.state.settings;
    this.store.update((s) => R.applySettings(s, { ...s.settings, theme }));
    try {
      const saved = await this.#invoke('setSettings', { theme });
      this.store.update((s) => R.applySettings(s, saved));
    } catch (error) {
      this.store.update((s) => R.applySettings(s, before));
      throw error;
    }
  }

  async loadDevices(): Promise<void> {
    const devices = await this.#invoke('listDevices', {});
    this.store.update((s) => ({ ...s, devices }));
  }

  /** Forgets the device list (settings closed): devices_changed then needs no fetch. */
  forgetDevices(): void {
    this.store.update((s) => (s.devices === undefined ? s : { ...s, devices: undefined }));
  }

  async #reloadDevicesIfShown(): Promise<void> {
    if (this.state.devices === undefined || !this.self) return;
    await this.loadDevices().catch((error: unknown) => this.#background(error));
  }

  async removeDevice(deviceId: string): Promise<void> {
    await this.#invoke('removeDevice', { deviceId });
    await this.loadDevices();
  }

  approveLinking(input: string): Promise<string> {
    return this.#invoke('approveLinking', { input }).then((r) => r.sas);
  }

  async confirmApproval(): Promise<void> {
    await this.#invoke('confirmApproval', {});
    await this.loadDevices().catch(() => undefined);
  }

  async cancelApproval(): Promise<void> {
    await this.#invoke('cancelApproval', {});
  }

  // ---- conversations ----------------------------------------------------------------------------

  conversation(id: string | undefined): BridgeConversation | undefined {
    return id === undefined ? undefined : this.state.conversations.find((c) => c.id === id);
  }

  #refreshConversation(conversationId: string): Promise<void> {
    const running = this.#fetching.get(conversationId);
    if (running) return running;
    const run = (async () => {
      try {
        const conversation = await this.#invoke('getConversation', { conversationId });
        this.store.update((s) => R.upsertConversation(s, conversation));
      } catch (error) {
        if (errorCode(error) === 'not_found') this.store.update((s) => R.removeConversation(s, conversationId));
        else this.#background(error);
      } finally {
        this.#fetching.delete(conversationId);
      }
    })();
    this.#fetching.set(conversationId, run);
    return run;
  }

  #onConversationRemoved(conversationId: string, reason: string): void {
    const conversation = this.conversation(conversationId);
    this.store.update((s) => R.removeConversation(s, conversationId));
    if (this.#removedHere.delete(conversationId) || !conversation) return;
    const name = conversation.name;
    if (reason === 'removed') this.#toasts.show(`You were removed from ${name}.`);
    else if (reason === 'deleted' && conversation.kind === 'group') this.#toasts.show(`${name} was deleted.`);
  }

  /** Opens a conversation: its cached history at once, then what is new, then read receipts. */
  openConversation(conversationId: string | undefined): Promise<void> {
    this.store.update((s) => R.setActive(s, conversationId));
    if (conversationId === undefined) return Promise.resolve();
    const running = this.#opening.get(conversationId);
    if (running) return running;
    const run = (async () => {
      try {
        if (!R.messageList(this.state, conversationId).loaded) {
          const cached = await this.#invoke('getCachedMessages', { conversationId });
          this.store.update((s) => R.applyCached(s, conversationId, cached));
        }
        if (!R.messageList(this.state, conversationId).synced) await this.#sync(conversationId);
      } catch (error) {
        this.#background(error);
      } finally {
        this.#opening.delete(conversationId);
      }
      this.#scheduleRead(conversationId);
    })();
    this.#opening.set(conversationId, run);
    return run;
  }

  async #sync(conversationId: string): Promise<void> {
    if (this.state.connection !== 'connected') return;
    try {
      const fresh = await this.#invoke('syncConversation', { conversationId });
      this.store.update((s) => R.applySynced(s, conversationId, fresh));
    } catch (error) {
      if (errorCode(error) === 'not_found') this.store.update((s) => R.removeConversation(s, conversationId));
      else this.#background(error);
    }
  }

  /** One page of older history; resolves false when there is none (or it is already loading). */
  async loadOlder(conversationId: string): Promise<boolean> {
    const list = R.messageList(this.state, conversationId);
    if (!list.hasOlder || list.loadingOlder || !list.loaded) return false;
    const confirmed = list.items.filter((m) => !m.id.startsWith('pending:'));
    const beforeTs = confirmed.length > 0 ? confirmed[0]!.createdAt : Date.now() + 1;
    this.store.update((s) => R.olderLoading(s, conversationId, true));
    try {
      const older = await this.#invoke('loadOlder', { conversationId, beforeTs, limit: OLDER_PAGE });
      this.store.update((s) => R.applyOlder(s, conversationId, older, OLDER_PAGE));
      return older.length > 0;
    } catch (error) {
      this.store.update((s) => R.olderLoading(s, conversationId, false));
      this.#background(error);
      return false;
    }
  }

  #viewing(conversationId: string): boolean {
    return this.state.activeId === conversationId && this.#isVisible();
  }

  #onMessage(message: BridgeMessage): void {
    const viewing = this.#viewing(message.conversationId);
    this.store.update((s) => R.receiveMessage(s, message, viewing));
    if (!this.conversation(message.conversationId)) void this.#refreshConversation(message.conversationId);
    else if (viewing && !message.own) this.#scheduleRead(message.conversationId);
  }

  /** Marks the open conversation read (debounced), when the window is visible. */
  #scheduleRead(conversationId: string): void {
    if (this.#readTimers.has(conversationId)) return;
    this.#readTimers.set(
      conversationId,
      setTimeout(() => {
        this.#readTimers.delete(conversationId);
        void this.#markRead(conversationId);
      }, 250),
    );
  }

  async #markRead(conversationId: string): Promise<void> {
    if (!this.#viewing(conversationId) || this.state.connection !== 'connected') return;
    const conversation = this.conversation(conversationId);
    if (!conversation) return;
    const list = R.messageList(this.state, conversationId);
    if (conversation.unreadCount === 0 && !list.items.some((m) => !m.own && m.createdAt > this.#readMark(conversationId))) return;
    this.store.update((s) => R.markedRead(s, conversationId));
    this.#readMarks.set(conversationId, Math.max(0, ...list.items.filter((m) => !m.own).map((m) => m.createdAt)));
    try {
      await this.#invoke('markRead', { conversationId });
    } catch (error) {
      this.#readMarks.delete(conversationId);
      this.#background(error);
    }
  }

  #readMark(conversationId: string): number {
    return this.#readMarks.get(conversationId) ?? 0;
  }

  async createDm(email: string): Promise<BridgeConversation> {
    const conversation = await this.#invoke('createDm', { email });
    this.store.update((s) => R.upsertConversation(s, conversation));
    void this.openConversation(conversation.id);
    return conversation;
  }

  async createGroup(name: string, emails: string[]): Promise<BridgeConversation> {
    const conversation = await this.#invoke('createGroup', { name, emails });
    this.store.update((s) => R.upsertConversation(s, conversation));
    void this.openConversation(conversation.id);
    return conversation;
  }

  async addMember(conversationId: string, email: string): Promise<string> {
    const { outcome } = await this.#invoke('addMember', { conversationId, email });
    await this.#refreshConversation(conversationId);
    return outcome;
  }

  async removeMember(conversationId: string, userId: string): Promise<void> {
    await this.#invoke('removeMember', { conversationId, userId });
    await this.#refreshConversation(conversationId);
  }

  async renameConversation(conversationId: string, name: string): Promise<void> {
    await this.#invoke('renameConversation', { conversationId, name });
    await this.#refreshConversation(conversationId);
  }

  async leaveGroup(conversationId: string): Promise<void> {
    this.#removedHere.add(conversationId);
    try {
      await this.#invoke('leaveGroup', { conversationId });
    } catch (error) {
      this.#removedHere.delete(conversationId);
      throw error;
    }
    this.store.update((s) => R.removeConversation(s, conversationId));
  }

  async deleteConversation(conversationId: string): Promise<void> {
    this.#removedHere.add(conversationId);
    try {
      await this.#invoke('deleteConversation', { conversationId });
    } catch (error) {
      this.#removedHere.delete(conversationId);
      throw error;
    }
    this.store.update((s) => R.removeConversation(s, conversationId));
  }

  // ---- messages ---------------------------------------------------------------------------------

  /**
   * Sends with an optimistic copy: it shows at once as pending, is replaced by the confirmed
   * message, or stays marked failed (with a retry) and the failure is shown.
   */
  async sendMessage(conversationId: string, text: string, replyTo?: Pick<BridgeMessage, 'id' | 'senderId' | 'text'>): Promise<void> {
    const self = this.self;
    if (!self) throw Object.assign(new Error('Not signed in'), { code: 'not_logged_in' });
    const clientMsgId = newClientMsgId();
    const reply = replyTo ? { messageId: replyTo.id, senderId: replyTo.senderId, excerpt: replyTo.text.slice(0, 200) } : undefined;
    const optimistic: BridgeMessage = {
      id: localId(clientMsgId),
      conversationId,
      senderId: self.userId,
      senderUsername: self.username,
      senderDeviceId: self.deviceId,
      createdAt: Date.now(),
      own: true,
      text,
      payload: {
        v: 1,
        text,
        ...(reply ? { reply_to: { message_id: reply.messageId, sender_id: reply.senderId, excerpt: reply.excerpt } } : {}),
      },
      deleted: false,
      undecryptable: false,
      status: 'pending',
      clientMsgId,
      extra: {},
      ...(reply ? { replyTo: reply } : {}),
    };
    this.store.update((s) => R.addPending(s, optimistic));
    try {
      const confirmed = await this.#invoke('sendMessage', {
        conversationId,
        text,
        clientMsgId,
        ...(replyTo ? { replyTo: replyTo.id } : {}),
      });
      this.store.update((s) => R.confirmPending(s, clientMsgId, confirmed));
    } catch (error) {
      this.store.update((s) => R.failPending(s, conversationId, clientMsgId));
      this.#toasts.error(sendFailure(error));
    }
  }

  /**
   * Sends a failed message again: the core's failed copy through retryMessage (same client message
   * id); an optimistic copy the core never took (the bridge failed) as a new message.
   */
  async retryMessage(message: BridgeMessage): Promise<void> {
    const conversationId = message.conversationId;
    if (isLocal(message)) {
      const reply = message.replyTo;
      const replyTo = reply ? { id: reply.messageId, senderId: reply.senderId, text: reply.excerpt } : undefined;
      this.store.update((s) => R.dropLocal(s, conversationId, message.id));
      await this.sendMessage(conversationId, message.text, replyTo);
      return;
    }
    const clientMsgId = message.clientMsgId;
    if (clientMsgId === undefined) return;
    this.store.update((s) => R.setStatus(s, conversationId, message.id, 'pending'));
    try {
      const confirmed = await this.#invoke('retryMessage', { conversationId, clientMsgId });
      this.store.update((s) => R.confirmPending(s, clientMsgId, confirmed));
    } catch (error) {
      this.store.update((s) => R.setStatus(s, conversationId, message.id, 'failed'));
      this.#toasts.error(`Your message was not sent: ${errorText(error)}`);
    }
  }

  async deleteMessage(message: BridgeMessage): Promise<void> {
    await this.#invoke('deleteMessage', { conversationId: message.conversationId, messageId: message.id });
    this.store.update((s) => R.deleteMessage(s, message.conversationId, message.id));
  }

  /** Calls a plugin's client-part method in the main process. */
  pluginCall<T>(plugin: string, method: string, args: unknown[]): Promise<T> {
    return this.#invoke('pluginCall', { plugin, method, args }) as Promise<T>;
  }

  /** Listens to the bridge's plugin events (the UI plugin host routes them by plugin name). */
  onPluginEvent(listener: (event: { plugin: string; type: string; data: unknown }) => void): () => void {
    const off = this.#bridge.on('plugin', listener);
    this.#unsubscribe.push(off);
    return off;
  }
}
