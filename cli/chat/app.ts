/**
 * The running terminal chat: the start screen, then the chat loop (one line at a time: plain text
 * is sent to the open conversation, `/commands` run), and the client's events printed as they
 * happen (new messages, unread notices, presence, connection state). It implements the
 * ChatSession the commands use.
 */
import type { ChatClient } from '../../engine/client/client.js';
import type { ChatMessage, Conversation, SelfInfo } from '../../engine/client/types.js';
import { KecalekError } from '../../engine/errors.js';
import type { TerminalCommand, TerminalCommandContext } from '../../engine/plugin/client-api.js';
import { findCoreCommand, CORE_COMMANDS, unknownCommandMessage } from './commands/index.js';
import type { ChatCommand, ChatSession, HelpEntry } from './commands/types.js';
import { DEVICE_REMOVED_MESSAGE, describeError, errorDetails, isExpectedError, isTransientError, notFoundError, usageError } from './errors.js';
import { messageReferenceLabel, parseIndex, parseInput, parseMessageNumber } from './parse.js';
import type { Terminal } from './prompt.js';
import {
  conversationTitle,
  excerpt,
  notice,
  oneLine,
  previewOf,
  promptText,
  renderConversationLine,
  renderDecorationUpdate,
  renderMessage,
  sortedMembers,
} from './render.js';
import { startScreen } from './start.js';
import type { Style } from './style.js';
import { ConversationView } from './view.js';

/** How many cached messages /open prints before syncing. */
export const RECENT_MESSAGES = 40;
/** Messages /older prints at a time. */
export const OLDER_PAGE = 30;
/** How long quitting waits for sends still under way. */
const SEND_PATIENCE_MS = 5000;
/** Members named in the header of an open group. */
const HEADER_MEMBERS = 6;

export interface ChatAppOptions {
  readonly client: ChatClient;
  readonly terminal: Terminal;
  readonly style: Style;
  /** The folder with the accounts' keys. */
  readonly home: string;
  /** `host:port` for messages. */
  readonly serverLabel: string;
  /** --email: log in to this account straight away. */
  readonly email?: string;
  /** --debug: print the details of unexpected errors. */
  readonly debug?: boolean;
}

interface PluginEntry {
  readonly plugin: string;
  readonly command: TerminalCommand;
  /** The name it is called by (`plugin:name` when a core command has its name). */
  readonly name: string;
}

export class ChatApp implements ChatSession {
  readonly client: ChatClient;
  readonly terminal: Terminal;
  readonly style: Style;
  readonly serverLabel: string;
  private readonly options: ChatAppOptions;
  private selfInfo: SelfInfo | undefined;
  private list: Conversation[] = [];
  /**
   * The numbers `/open <n>` takes: the order of the last printed list, so that a number keeps
   * meaning what the user saw while new activity reorders the conversations. Conversations the
   * list has not shown yet get the next numbers.
   */
  private numbering: string[] = [];
  private readonly byId = new Map<string, Conversation>();
  private readonly views = new Map<string, ConversationView>();
  private openConversation: Conversation | undefined;
  /** Sends typed in this session that have not finished yet. */
  private readonly sending = new Set<Promise<void>>();
  /** New messages in conversations that are not open, gathered for one notice per conversation. */
  private readonly arrivals = new Map<string, ChatMessage[]>();
  private arrivalsScheduled = false;
  private readonly toMarkRead = new Map<string, Set<string>>();
  private markReadScheduled = false;
  private quitting = false;
  /** The connection dropped and has not come back yet (the next `connected` is announced). */
  private disconnected = false;
  /** Logging out closes the connection on purpose: not announced. */
  private loggingOut = false;
  /** Errors already reported where they happened (a failed send); the client core also emits them as `error`. */
  private readonly reported = new WeakSet<object>();
  /** A device command of this session is running: it reports the change itself. */
  private changingDevices = false;
  /** The catch-up sync after login: its messages are summed up by the list, not announced one by one. */
  private catchingUp = false;
  private readonly unsubscribe: Array<() => void> = [];
  /** Aborts the chat loop's wait for a line when the session ends under it (this device was removed). */
  private lineWait: AbortController | undefined;

  constructor(options: ChatAppOptions) {
    this.options = options;
    this.client = options.client;
    this.terminal = options.terminal;
    this.style = options.style;
    this.serverLabel = options.serverLabel;
  }

  // ---- life cycle --------------------------------------------------------------------------------

  /** Runs until the user quits or input ends. */
  async run(): Promise<void> {
    this.subscribe();
    this.terminal.onInterrupt(() => this.quit());
    // --email applies to the first start screen, not to the one after /logout.
    let email = this.options.email;
    try {
      while (!this.quitting && !this.terminal.closed) {
        const self = await startScreen({
          client: this.client,
          terminal: this.terminal,
          style: this.style,
          home: this.options.home,
          email,
          debug: (error) => this.debugDetails(error),
        });
        email = undefined;
        if (!self) break;
        this.selfInfo = self;
        await this.welcome();
        await this.chatLoop();
      }
    } finally {
      await this.shutdown();
    }
  }

  quit(): void {
    if (this.quitting) return;
    this.quitting = true;
    this.terminal.close();
  }

  async logout(): Promise<void> {
    this.loggingOut = true;
    try {
      await this.client.logout();
    } finally {
      this.loggingOut = false;
      this.disconnected = false;
      this.resetAccountState();
    }
    this.print('Logged out.');
  }

  private resetAccountState(): void {
    this.selfInfo = undefined;
    this.openConversation = undefined;
    this.list = [];
    this.numbering = [];
    this.byId.clear();
    this.views.clear();
    this.toMarkRead.clear();
  }

  private async shutdown(): Promise<void> {
    this.quitting = true;
    await this.finishSends();
    for (const off of this.unsubscribe.splice(0)) off();
    await this.client.close();
    this.terminal.close();
  }

  /**
   * Lets sends typed just before quitting reach the server. The client core keeps unsent
   * messages in its outbox, so nothing is lost when the connection is down: they go out at the
   * next login.
   */
  private async finishSends(): Promise<void> {
    if (this.sending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const patience = new Promise<'waited'>((resolve) => (timer = setTimeout(() => resolve('waited'), SEND_PATIENCE_MS)));
    const outcome = await Promise.race([Promise.allSettled([...this.sending]).then(() => 'done' as const), patience]);
    clearTimeout(timer);
    if (outcome === 'waited') {
      const count = this.sending.size;
      this.terminal.print(`${count} message${count === 1 ? ' is' : 's are'} still waiting for the server; ${count === 1 ? 'it goes' : 'they go'} out the next time you log in.`);
    }
  }

  private async welcome(): Promise<void> {
    // Messages that arrived while this device was away come in now; the list sums them up.
    this.catchingUp = true;
    try {
      await this.client.catchUp();
    } catch (error) {
      this.reportError(error);
    } finally {
      this.catchingUp = false;
      this.arrivals.clear();
    }
    try {
      await this.refreshConversations(false);
    } catch (error) {
      this.reportError(error);
      return;
    }
    if (this.list.length === 0) {
      this.print('You have no conversations yet. Start one with /dm <email> or /group <name> <email>...; /help lists every command.');
      return;
    }
    await this.printConversationList();
    this.print(this.style.dim('/open <n> opens a conversation; /help lists every command.'));
  }

  private async chatLoop(): Promise<void> {
    while (!this.quitting && this.selfInfo) {
      const wait = new AbortController();
      this.lineWait = wait;
      let line: string | undefined;
      try {
        line = await this.terminal.readLine(this.prompt(), wait.signal);
      } finally {
        this.lineWait = undefined;
      }
      if (wait.signal.aborted) return;
      if (line === undefined) {
        this.quitting = true;
        return;
      }
      await this.handleLine(line);
    }
  }

  private prompt(): string {
    const open = this.openConversation;
    return promptText(this.selfInfo?.username, open ? conversationTitle(open) : undefined, this.style);
  }

  /** Runs one typed line; every error becomes one printed line. */
  async handleLine(line: string): Promise<void> {
    const input = parseInput(line);
    try {
      if (input.kind === 'empty') return;
      if (input.kind === 'text') {
        if (!this.openConversation) {
          throw usageError('No conversation is open: /open <n> opens one (/list shows them), /dm <email> starts one. /help lists the commands.');
        }
        // The message is printed in its final form (time, number) once sent: no need for the echo.
        this.terminal.eraseEcho();
        this.send(input.text);
        return;
      }
      await this.runCommand(input.name, input.args, input.rest);
    } catch (error) {
      this.reportError(error);
    }
  }

  private async runCommand(name: string, args: string[], rest: string): Promise<void> {
    const core = findCoreCommand(name);
    if (core) {
      if (core.needsConversation) this.requireOpen();
      await core.run({ name, args, rest }, this);
      return;
    }
    const plugin = this.pluginEntries().find((entry) => entry.name === name);
    if (plugin) {
      await this.runPluginCommand(plugin, args);
      return;
    }
    throw usageError(unknownCommandMessage(name, this.commandList()));
  }

  private async runPluginCommand(entry: PluginEntry, args: string[]): Promise<void> {
    if (entry.command.needsConversation) this.requireOpen();
    const context: TerminalCommandContext = {
      conversationId: this.openConversation?.id,
      resolveMessage: (reference) => this.resolveSentMessage(reference).id,
      print: (line) => this.print(line),
      error: (line) => this.print(this.style.red(line)),
    };
    try {
      await entry.command.run(args, context);
    } catch (error) {
      if (error instanceof KecalekError) throw error;
      // A bug in a plugin: say whose, in one line.
      this.print(this.style.red(`The ${entry.plugin} plugin's /${entry.name} failed: ${describeError(error).replace(/^Something went wrong: /, '')}`));
      this.debugDetails(error);
    }
  }

  // ---- ChatSession ------------------------------------------------------------------------------

  get self(): SelfInfo {
    if (!this.selfInfo) throw usageError('You are not logged in.');
    return this.selfInfo;
  }

  get current(): Conversation | undefined {
    return this.openConversation;
  }

  get conversations(): readonly Conversation[] {
    return this.list;
  }

  print(text: string): void {
    this.terminal.print(text);
  }

  notice(text: string): void {
    this.print(notice(text, this.style));
  }

  requireOpen(): Conversation {
    if (!this.openConversation) throw usageError('No conversation is open: /open <n> first (/list shows them).');
    return this.openConversation;
  }

  unreadOf(conversationId: string): number {
    if (conversationId === this.openConversation?.id) return 0;
    return this.byId.get(conversationId)?.unreadCount ?? 0;
  }

  isOnline(userId: string): boolean | undefined {
    return this.selfInfo ? this.client.isOnline(userId) : undefined;
  }

  /** The list from the server (`fromServer`) or as the client core has it now (kept current by pushes). */
  async refreshConversations(fromServer = true): Promise<readonly Conversation[]> {
    const conversations = await this.client.listConversations({ refresh: fromServer });
    this.list = [...conversations];
    this.byId.clear();
    for (const conversation of conversations) this.byId.set(conversation.id, conversation);
    if (this.openConversation) this.openConversation = this.byId.get(this.openConversation.id) ?? this.openConversation;
    return this.list;
  }

  async printConversationList(): Promise<void> {
    if (this.list.length === 0) {
      this.print('No conversations yet: /dm <email> starts one, /group <name> <email>... creates a group.');
      return;
    }
    this.numbering = this.list.map((conversation) => conversation.id);
    const width = String(this.list.length).length;
    const now = Date.now();
    const lines = this.list.map((conversation, index) =>
      renderConversationLine(conversation, index + 1, width, {
        style: this.style,
        now,
        online: conversation.kind === 'dm' && conversation.peerId !== undefined ? this.isOnline(conversation.peerId) : undefined,
        unread: this.unreadOf(conversation.id),
        open: conversation.id === this.openConversation?.id,
      }),
    );
    this.print(lines.join('\n'));
  }

  async findConversation(reference: string): Promise<Conversation> {
    if (this.list.length === 0) await this.refreshConversations();
    const index = parseIndex(reference);
    if (index !== undefined) {
      const id = this.numbering[index - 1] ?? (this.numbering.length === 0 ? this.list[index - 1]?.id : undefined);
      const byNumber = id === undefined ? undefined : this.byId.get(id);
      if (!byNumber) {
        throw notFoundError(
          id === undefined ? `There is no conversation ${index}: you have ${this.list.length} (see /list).` : `Conversation ${index} is gone; /list shows the current ones.`,
        );
      }
      return byNumber;
    }
    let matches = this.matchByName(reference);
    if (matches.length === 0) {
      await this.refreshConversations();
      matches = this.matchByName(reference);
    }
    if (matches.length === 0) throw notFoundError(`No conversation is called "${oneLine(reference)}" (see /list).`);
    if (matches.length > 1) {
      const names = matches.map((conversation) => `${this.numberOf(conversation.id)}. ${conversationTitle(conversation)}`).join(', ');
      throw usageError(`Several conversations match "${oneLine(reference)}": ${names}. Use the number.`);
    }
    return matches[0]!;
  }

  /** The number `/open` takes for a conversation (a new one gets the next free number). */
  private numberOf(conversationId: string): number {
    let index = this.numbering.indexOf(conversationId);
    if (index < 0) {
      if (this.numbering.length === 0) this.numbering = this.list.map((conversation) => conversation.id);
      index = this.numbering.indexOf(conversationId);
      if (index < 0) index = this.numbering.push(conversationId) - 1;
    }
    return index + 1;
  }

  private matchByName(reference: string): Conversation[] {
    const wanted = reference.toLowerCase().replace(/^@/, '');
    const titled = this.list.map((conversation) => ({ conversation, title: conversationTitle(conversation).toLowerCase() }));
    for (const test of [(title: string) => title === wanted, (title: string) => title.startsWith(wanted), (title: string) => title.includes(wanted)]) {
      const found = titled.filter((entry) => test(entry.title)).map((entry) => entry.conversation);
      if (found.length > 0) return found;
    }
    return [];
  }

  async open(conversation: Conversation): Promise<void> {
    this.openConversation = this.byId.get(conversation.id) ?? conversation;
    const view = this.viewFor(conversation.id);
    view.reopen();
    this.print(this.header(this.openConversation));
    const cached = await this.client.getCachedMessages(conversation.id);
    this.printMessages(cached.slice(-RECENT_MESSAGES));
    let synced: readonly ChatMessage[] = [];
    try {
      synced = await this.client.syncConversation(conversation.id);
    } catch (error) {
      this.reportError(error);
    }
    if (this.openConversation?.id !== conversation.id) return;
    this.printMessages(synced);
    if (cached.length === 0 && synced.length === 0) this.notice('no messages yet: type one and press Enter');
    const fromOthers = [...cached, ...synced].filter((message) => !message.own && !message.deleted);
    if (fromOthers.length > 0 || conversation.unreadCount > 0) {
      try {
        await this.client.markRead(conversation.id);
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  close(): void {
    this.openConversation = undefined;
  }

  private header(conversation: Conversation): string {
    const title = conversationTitle(conversation);
    let about: string;
    if (conversation.kind === 'dm') {
      // Presence is known for people who were contacts at login or came online since: say only what is known.
      about = conversation.peerId !== undefined && this.isOnline(conversation.peerId) ? 'direct, online' : 'direct';
    } else {
      const names = sortedMembers(conversation.members).map((member) => (member.userId === this.selfInfo?.userId ? 'you' : oneLine(member.username)));
      const shown = names.slice(0, HEADER_MEMBERS).join(', ');
      about = `group: ${shown}${names.length > HEADER_MEMBERS ? ` and ${names.length - HEADER_MEMBERS} more` : ''}`;
    }
    return this.style.bold(`══ ${title} (${about}) ══`);
  }

  resolveMessage(reference: string): ChatMessage {
    const conversation = this.requireOpen();
    const view = this.viewFor(conversation.id);
    const number = parseMessageNumber(reference);
    const message = number !== undefined ? view.messageByNumber(number) : view.messageById(reference.trim());
    if (!message) throw notFoundError(`There is no message ${number !== undefined ? `#${number}` : `"${oneLine(reference)}"`} in ${conversationTitle(conversation)}: use the #number shown before a message.`);
    return message;
  }

  /**
   * A message reference for a plugin command: like resolveMessage, and the message must have
   * reached the server (a plugin's request about it would name an id the server does not know).
   */
  private resolveSentMessage(reference: string): ChatMessage {
    const message = this.resolveMessage(reference);
    if (message.id.startsWith('pending:') || message.status !== 'sent') {
      const label = messageReferenceLabel(reference);
      throw usageError(`${label.charAt(0).toUpperCase()}${label.slice(1)} has not reached the server${message.status === 'failed' ? ' (/retry sends it again)' : ' yet: try again once it is sent'}.`);
    }
    return message;
  }

  async showOlder(): Promise<void> {
    const conversation = this.requireOpen();
    const view = this.viewFor(conversation.id);
    const before = view.oldestPrintedAt ?? Date.now() + 1;
    // The cache may hold more than /open printed.
    const cached = (await this.client.getCachedMessages(conversation.id)).filter((message) => message.createdAt < before);
    let page = cached.slice(-OLDER_PAGE);
    let fromServer = false;
    if (page.length === 0) {
      page = await this.client.loadOlder(conversation.id, before, OLDER_PAGE);
      fromServer = true;
    }
    if (this.openConversation?.id !== conversation.id) return;
    if (page.length === 0) {
      this.notice('no older messages: this is the beginning of the conversation');
      return;
    }
    this.printMessages(page);
    this.notice(`${page.length} older message${page.length === 1 ? '' : 's'} above${fromServer && page.length < OLDER_PAGE ? ': that is the beginning of the conversation' : ''}`);
  }

  printMessages(messages: readonly ChatMessage[]): void {
    const conversation = this.openConversation;
    if (!conversation) return;
    const view = this.viewFor(conversation.id);
    const fresh = [...messages]
      .filter((message) => message.conversationId === conversation.id && !view.wasPrinted(message.id))
      .sort((a, b) => a.createdAt - b.createdAt);
    if (fresh.length === 0) return;
    // Older history than what is on screen starts with its own date line.
    if (view.lastPrintedAt !== undefined && fresh[0]!.createdAt < view.lastPrintedAt) view.days.reset();
    const lines: string[] = [];
    for (const message of fresh) lines.push(...this.messageLines(view, message));
    this.print(lines.join('\n'));
  }

  private messageLines(view: ConversationView, message: ChatMessage): string[] {
    const lines: string[] = [];
    const date = view.days.next(message.createdAt, this.style);
    if (date) lines.push(date);
    view.markPrinted(message);
    const decoration = this.client.terminalDecorations(message);
    view.noteDecoration(message.id, decoration);
    lines.push(
      ...renderMessage(message, {
        style: this.style,
        number: view.numberOf(message),
        selfId: this.selfInfo?.userId,
        nameOf: (userId) => this.nameOf(message.conversationId, userId),
        decoration,
      }),
    );
    return lines;
  }

  private nameOf(conversationId: string, userId: string): string | undefined {
    const conversation = this.byId.get(conversationId) ?? (this.openConversation?.id === conversationId ? this.openConversation : undefined);
    return conversation?.members.find((member) => member.userId === userId)?.username;
  }

  send(text: string, replyTo?: ChatMessage): void {
    const conversation = this.requireOpen();
    // The client core sends one conversation's messages in order and keeps them in its outbox
    // until the server has them, so typing goes on while a send is under way.
    const task = this.sendNow(conversation, text, replyTo).finally(() => this.sending.delete(task));
    this.sending.add(task);
    if (this.client.state !== 'connected') this.notice('not connected: the message goes out when the connection is back');
  }

  retry(message: ChatMessage): void {
    const conversation = this.requireOpen();
    const clientMsgId = message.clientMsgId!;
    const task = this.deliver(conversation, message.text, () => this.client.retryMessage(conversation.id, clientMsgId)).finally(() =>
      this.sending.delete(task),
    );
    this.sending.add(task);
  }

  private sendNow(conversation: Conversation, text: string, replyTo: ChatMessage | undefined): Promise<void> {
    return this.deliver(conversation, text, () => this.client.sendMessage(conversation.id, text, replyTo ? { replyTo: replyTo.id } : {}));
  }

  /** Waits for a send; prints the sent message, or why it failed. */
  private async deliver(conversation: Conversation, text: string, sending: () => Promise<ChatMessage>): Promise<void> {
    try {
      this.showOwn(await sending());
    } catch (error) {
      if (typeof error === 'object' && error !== null) this.reported.add(error);
      if (this.quitting) return;
      const failed = this.viewFor(conversation.id).lastFailed(text);
      const retry = failed !== undefined && isTransientError(error) ? ` (/retry #${failed} sends it again)` : '';
      this.print(this.style.red(`✗ "${excerpt(text, 40)}" was not sent to ${conversationTitle(conversation)}: ${describeError(error)}${retry}`));
      this.debugDetails(error);
    }
  }

  /** Prints a message this device sent (once), or where it went when another conversation is open. */
  private showOwn(message: ChatMessage): void {
    if (message.conversationId === this.openConversation?.id) {
      const view = this.viewFor(message.conversationId);
      if (!view.wasPrinted(message.id)) this.print(this.messageLines(view, message).join('\n'));
      else view.update(message);
    } else {
      const target = this.byId.get(message.conversationId);
      this.notice(`sent to ${target ? conversationTitle(target) : 'a conversation that is not open'}`);
    }
  }

  async changeDevices<T>(task: () => Promise<T>): Promise<T> {
    this.changingDevices = true;
    try {
      return await task();
    } finally {
      this.changingDevices = false;
    }
  }

  commandList(): readonly HelpEntry[] {
    const core: HelpEntry[] = CORE_COMMANDS.map((command: ChatCommand) => ({
      name: command.name,
      usage: command.usage,
      summary: command.summary,
      details: command.details,
      aliases: command.aliases,
    }));
    const plugins: HelpEntry[] = this.pluginEntries().map((entry) => ({
      name: entry.name,
      usage: entry.command.usage,
      summary: entry.command.help,
      plugin: entry.plugin,
      details: entry.command.needsConversation ? ['Needs an open conversation.'] : undefined,
    }));
    return [...core, ...plugins];
  }

  /** Tab completion of command names. */
  complete(line: string): [string[], string] {
    if (!line.startsWith('/') || /\s/.test(line)) return [[], line];
    const names = [...CORE_COMMANDS.map((command) => command.name), ...this.pluginEntries().map((entry) => entry.name)];
    return [names.map((name) => `/${name}`).filter((name) => name.startsWith(line.toLowerCase())), line];
  }

  private pluginEntries(): PluginEntry[] {
    let commands;
    try {
      commands = this.client.commands();
    } catch (error) {
      this.debugDetails(error);
      return [];
    }
    return commands.map(({ plugin, command }) => {
      const name = command.name.toLowerCase();
      const taken = findCoreCommand(name) !== undefined;
      return { plugin, command, name: taken ? `${plugin}:${name}` : name };
    });
  }

  // ---- events ------------------------------------------------------------------------------------

  private subscribe(): void {
    const client = this.client;
    this.unsubscribe.push(
      client.on('connection', (state) => this.onConnection(state)),
      client.on('message', (message) => this.onMessage(message)),
      client.on('message_updated', (message) => this.onMessageUpdated(message)),
      client.on('message_deleted', (info) => this.onMessageDeleted(info.conversationId, info.messageId)),
      client.on('conversation_updated', (info) => void this.onConversationUpdated(info.conversationId, info.reason)),
      client.on('conversation_removed', (info) => void this.onConversationRemoved(info.conversationId, info.reason)),
      client.on('presence', (info) => this.onPresence(info.userId, info.online)),
      client.on('identity_changed', (info) => this.onIdentityChanged(info.username, info.wasVerified)),
      client.on('session_reset', (info) => this.onSessionReset(info.userId)),
      client.on('devices_changed', () => {
        if (this.selfInfo && !this.changingDevices) this.notice('your devices changed (/devices shows them)');
      }),
      client.on('device_removed', () => this.onDeviceRemoved()),
      // A plugin event that carries a `notice` text is shown as one line (reactions, invitations...).
      client.on('plugin', (info) => {
        const notice = (info.data as { notice?: unknown } | null)?.notice;
        if (typeof notice === 'string' && notice.trim()) this.notice(oneLine(notice));
      }),
      client.on('error', (error) => {
        // Wait a moment: if this is the failure of a send typed here, that send reports it itself.
        setImmediate(() => {
          if (this.quitting || this.reported.has(error)) return;
          this.print(this.style.yellow(`⚠ ${describeError(error)}`));
          this.debugDetails(error);
        });
      }),
    );
  }

  private onConnection(state: string): void {
    if (this.quitting || this.loggingOut || !this.selfInfo) return;
    if (state === 'reconnecting' || state === 'disconnected') {
      if (!this.disconnected) this.notice(state === 'reconnecting' ? 'reconnecting…' : 'disconnected');
      this.disconnected = true;
      return;
    }
    if (state === 'connected' && this.disconnected) {
      this.disconnected = false;
      this.notice('connected');
      void this.catchUp();
    }
  }

  /** After a reconnect: the list and the open conversation as the server has them now. */
  private async catchUp(): Promise<void> {
    if (!this.selfInfo) return;
    try {
      await this.refreshConversations();
      const open = this.openConversation;
      if (open) {
        this.printMessages(await this.client.syncConversation(open.id));
      }
    } catch (error) {
      this.reportError(error);
    }
  }

  private onMessage(message: ChatMessage): void {
    if (!this.selfInfo || this.quitting) return;
    const open = this.openConversation;
    if (open && message.conversationId === open.id) {
      // Own messages from this device are printed when their send finishes.
      if (message.own && message.status === 'pending') return;
      this.printMessages([message]);
      if (!message.own && !message.deleted) this.queueMarkRead(message);
      return;
    }
    if (message.own || message.deleted || this.catchingUp) return;
    let batch = this.arrivals.get(message.conversationId);
    if (!batch) this.arrivals.set(message.conversationId, (batch = []));
    batch.push(message);
    if (this.arrivalsScheduled) return;
    this.arrivalsScheduled = true;
    // Messages that arrive together (a sync after a reconnect) give one line per conversation.
    setImmediate(() => {
      this.arrivalsScheduled = false;
      void this.announceArrivals();
    });
  }

  /** One line per conversation with new messages that is not open: who wrote what, the unread count, how to open it. */
  private async announceArrivals(): Promise<void> {
    const batches = [...this.arrivals.entries()];
    this.arrivals.clear();
    if (!this.selfInfo || batches.length === 0) return;
    try {
      await this.refreshConversations(false);
    } catch (error) {
      this.debugDetails(error);
    }
    for (const [conversationId, messages] of batches) {
      if (conversationId === this.openConversation?.id) continue;
      const conversation = this.byId.get(conversationId);
      const newest = messages.reduce((a, b) => (b.createdAt >= a.createdAt ? b : a));
      const count = Math.max(this.unreadOf(conversationId), messages.length);
      const number = conversation ? this.numberOf(conversation.id) : 0;
      const where = !conversation ? 'new conversation: ' : conversation.kind === 'group' ? `${conversationTitle(conversation)}: ` : '';
      const more = messages.length > 1 ? `${messages.length} new, last ` : '';
      const how = number > 0 ? ` — /open ${number}` : '';
      this.print(`${this.style.cyan('»')} ${where}${more}${previewOf(newest, 50)} ${this.style.dim(`(${count} unread${how})`)}`);
    }
  }

  private onMessageUpdated(message: ChatMessage): void {
    if (!this.selfInfo || message.conversationId !== this.openConversation?.id) return;
    const view = this.viewFor(message.conversationId);
    const number = view.existingNumber(message.id);
    const before = number !== undefined ? view.messageByNumber(number) : undefined;
    if (number === undefined || !view.wasPrinted(message.id)) {
      // A send from this device that finished while the conversation was open.
      if (message.own && message.status !== 'pending') this.showOwn(message);
      return;
    }
    view.update(message);
    const decoration = this.client.terminalDecorations(message);
    const render = { style: this.style, number, selfId: this.selfInfo.userId, nameOf: (userId: string) => this.nameOf(message.conversationId, userId), decoration };
    if (before?.undecryptable && !message.undecryptable && !message.deleted) {
      // The key arrived after all (a self copy, a late sender key): show what it says.
      view.noteDecoration(message.id, decoration);
      this.print([this.style.dim(`#${number} can be read now:`), ...renderMessage(message, render)].join('\n'));
      return;
    }
    if (before && before.status !== message.status) {
      if (message.status === 'failed') this.print(this.style.red(`✗ #${number} was not sent`));
      else if (message.status === 'sent' && before.status === 'pending') this.notice(`#${number} sent`);
    }
    // A plugin changed what it adds to the message (a reaction arrived, poll counts moved): show it
    // as it is now. Updates that change nothing visible (a refresh) print nothing.
    if (view.decorationChanged(message.id, decoration) && !message.deleted && !message.undecryptable) {
      this.print(renderDecorationUpdate(message, render).join('\n'));
    }
  }

  private onMessageDeleted(conversationId: string, messageId: string): void {
    if (!this.selfInfo || conversationId !== this.openConversation?.id) return;
    const view = this.viewFor(conversationId);
    const number = view.existingNumber(messageId);
    if (number === undefined) return;
    const message = view.messageByNumber(number);
    if (message) view.update({ ...message, deleted: true, text: '' });
    const who = message ? (message.own ? 'your' : `${oneLine(message.senderUsername)}'s`) : 'a';
    this.notice(`${who} message #${number} was deleted`);
  }

  private async onConversationUpdated(conversationId: string, reason: string): Promise<void> {
    // Read receipts change only unread counts, which the next list shows anyway.
    if (!this.selfInfo || reason === 'read') return;
    const before = this.byId.get(conversationId) ?? (this.openConversation?.id === conversationId ? this.openConversation : undefined);
    try {
      // The client core keeps its list current from answers and pushes: no request needed.
      await this.refreshConversations(false);
    } catch (error) {
      this.debugDetails(error);
      return;
    }
    const after = this.byId.get(conversationId);
    if (!after || !this.selfInfo) return;
    if (!before) {
      // Started here (or on another of this account's devices): the command shows it.
      if (after.createdBy === this.selfInfo.userId) return;
      this.notice(`new ${after.kind === 'dm' ? 'conversation with' : 'group'} ${conversationTitle(after)} (/open ${this.numberOf(after.id)})`);
      return;
    }
    if (before.name !== after.name) this.notice(`${conversationTitle(before)} is now called ${conversationTitle(after)}`);
    if (conversationId !== this.openConversation?.id) return;
    const beforeIds = new Set(before.members.map((member) => member.userId));
    const afterIds = new Set(after.members.map((member) => member.userId));
    for (const member of after.members) if (!beforeIds.has(member.userId)) this.notice(`${oneLine(member.username)} joined ${conversationTitle(after)}`);
    for (const member of before.members) if (!afterIds.has(member.userId)) this.notice(`${oneLine(member.username)} is no longer in ${conversationTitle(after)}`);
  }

  private async onConversationRemoved(conversationId: string, reason: string): Promise<void> {
    if (!this.selfInfo) return;
    const known = this.byId.get(conversationId) ?? (this.openConversation?.id === conversationId ? this.openConversation : undefined);
    const title = known ? conversationTitle(known) : 'a conversation';
    if (this.openConversation?.id === conversationId) this.openConversation = undefined;
    this.views.delete(conversationId);
    const what: Record<string, string> = {
      left: `you left ${title}`,
      removed: `you were removed from ${title}`,
      deleted: `${title} was deleted`,
      deleted_for_me: `your conversation with ${title} was deleted on your side`,
    };
    this.notice(what[reason] ?? `${title} is no longer available to you`);
    try {
      await this.refreshConversations(false);
    } catch (error) {
      this.debugDetails(error);
    }
  }

  /**
   * The server refused this device on reconnecting: it was removed from the account. The client
   * core has logged out; the chat loop ends and the start screen offers linking again. (At login
   * the start screen reports the refusal itself.)
   */
  private onDeviceRemoved(): void {
    if (!this.selfInfo || this.quitting) return;
    this.print(this.style.red(DEVICE_REMOVED_MESSAGE));
    this.resetAccountState();
    this.disconnected = false;
    this.lineWait?.abort();
  }

  private onPresence(userId: string, online: boolean): void {
    const open = this.openConversation;
    if (!this.selfInfo || !open || open.kind !== 'dm' || open.peerId !== userId) return;
    this.notice(`${conversationTitle(open)} is ${online ? 'online' : 'offline'}`);
  }

  private onIdentityChanged(username: string, wasVerified: boolean): void {
    if (!this.selfInfo) return;
    const name = oneLine(username);
    this.print(
      this.style.yellow(
        `⚠ ${name}'s security key changed${wasVerified ? ' since you verified it' : ''}. They may have reinstalled Kecalek — or someone may be in the middle. Check with ${name} in person before sharing anything sensitive.`,
      ),
    );
  }

  private onSessionReset(userId: string): void {
    if (!this.selfInfo) return;
    const name = this.list.flatMap((conversation) => conversation.members).find((member) => member.userId === userId)?.username;
    this.notice(`${name ? oneLine(name) : 'someone'} reset your encrypted session: the next message starts a new one`);
  }

  private queueMarkRead(message: ChatMessage): void {
    let ids = this.toMarkRead.get(message.conversationId);
    if (!ids) this.toMarkRead.set(message.conversationId, (ids = new Set()));
    ids.add(message.id);
    if (this.markReadScheduled) return;
    this.markReadScheduled = true;
    // Messages arriving together are marked in one request.
    setImmediate(() => {
      this.markReadScheduled = false;
      const batches = [...this.toMarkRead.entries()];
      this.toMarkRead.clear();
      for (const [conversationId, messageIds] of batches) {
        this.client.markRead(conversationId, [...messageIds]).catch((error: unknown) => this.debugDetails(error));
      }
    });
  }

  // ---- helpers -----------------------------------------------------------------------------------

  private viewFor(conversationId: string): ConversationView {
    let view = this.views.get(conversationId);
    if (!view) this.views.set(conversationId, (view = new ConversationView(conversationId)));
    return view;
  }

  /** One friendly line for an error (the details only with --debug). */
  reportError(error: unknown): void {
    let line = describeError(error);
    if (!isExpectedError(error) && !this.options.debug) line += ' (run with --debug for details)';
    this.print(this.style.red(line));
    this.debugDetails(error);
  }

  private debugDetails(error: unknown): void {
    if (this.options.debug) this.print(this.style.dim(errorDetails(error)));
  }
}
