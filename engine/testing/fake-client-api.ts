/**
 * A stand-in ClientPluginApi for plugin authors' unit tests of the client-part pieces that need no
 * server: terminal commands, decorators, hook taps. It records what the plugin registers and
 * answers `api.client` calls from the test's tables. Everything that talks to a server belongs in
 * tests with real ChatClients against a real server (startTestServer + registerUser).
 */
import type {
  ClientPluginApi,
  DecoratedMessage,
  IncomingContext,
  MessagePayload,
  OutgoingContext,
  ReadyContext,
  TerminalCommand,
  TerminalCommandContext,
  TerminalDecoration,
} from '../plugin/index.js';

type Decorator = (message: DecoratedMessage, self: { readonly userId: string; readonly username: string } | undefined) => TerminalDecoration | void;

export interface FakeSetup {
  readonly self?: { userId: string; username: string; deviceId: string };
  readonly members?: Record<string, ReadonlyMap<string, string>>;
  /** Conversations by id (kind and name; members come from `members`). */
  readonly conversations?: Record<string, { kind: 'dm' | 'group'; name: string }>;
  /** The "local cache" answered by `api.client.cachedMessages`. */
  readonly messages?: Record<string, DecoratedMessage[]>;
  /** Public settings, as `api.config`. */
  readonly config?: Record<string, unknown>;
  readonly request?: (type: string, fields: Record<string, unknown>) => unknown;
}

export class FakeClientApi {
  readonly outgoing: Array<(payload: MessagePayload, context: OutgoingContext) => MessagePayload | void> = [];
  readonly incoming: Array<(payload: MessagePayload, context: IncomingContext) => boolean | void> = [];
  readonly listeners = new Map<string, Array<(data: unknown) => void>>();
  readonly emitted: Array<{ type: string; data: unknown }> = [];
  readonly commands: TerminalCommand[] = [];
  readonly decorators: Decorator[] = [];
  /** What the plugin registered with `api.onReady`; `ready()` runs them. */
  readonly readyListeners: Array<(context: ReadyContext) => void | Promise<void>> = [];
  readonly requests: Array<{ type: string; fields: Record<string, unknown> }> = [];
  /** Every `api.client.updateMessage` call. */
  readonly updates: Array<{ conversationId: string; messageId: string; patch: Record<string, unknown> }> = [];
  exposed: Record<string, unknown> = {};
  readonly api: ClientPluginApi;
  private readonly self: { userId: string; username: string; deviceId: string } | undefined;

  constructor(name: string, setup: FakeSetup = {}) {
    const requests = this.requests;
    this.api = {
      name,
      config: Object.freeze({ ...(setup.config ?? {}) }),
      client: {
        self: setup.self,
        async request<T>(type: string, fields: Record<string, unknown> = {}): Promise<T> {
          requests.push({ type, fields });
          if (!setup.request) throw new Error(`unexpected request ${type}`);
          return (await setup.request(type, fields)) as T;
        },
        async members(conversationId: string) {
          return setup.members?.[conversationId] ?? new Map<string, string>();
        },
        async sendPayload() {
          throw new Error('not used in these tests');
        },
        updateMessage: async (conversationId: string, messageId: string, patch: Record<string, unknown>) => {
          this.updates.push({ conversationId, messageId, patch });
          return (setup.messages?.[conversationId] ?? []).some((m) => m.id === messageId);
        },
        async cachedMessages(conversationId: string) {
          return [...(setup.messages?.[conversationId] ?? [])];
        },
        async conversation(conversationId: string) {
          const found = setup.conversations?.[conversationId];
          if (!found) return undefined;
          return { id: conversationId, ...found, members: setup.members?.[conversationId] ?? new Map<string, string>() };
        },
      },
      hooks: {
        outgoingPayload: { tap: (fn) => void this.outgoing.push(fn) },
        incomingPayload: { tap: (fn) => void this.incoming.push(fn) },
        identityKeySeen: { tap: () => undefined },
      },
      expose: (methods) => {
        this.exposed = { ...this.exposed, ...methods };
      },
      on: (type, listener) => {
        const list = this.listeners.get(type) ?? [];
        list.push(listener);
        this.listeners.set(type, list);
      },
      emit: (type, data) => void this.emitted.push({ type, data }),
      command: (command) => void this.commands.push(command),
      decorate: (decorator) => void this.decorators.push(decorator),
      onReady: (listener) => void this.readyListeners.push(listener),
    };
    this.self = setup.self;
  }

  /** Runs the plugin's onReady listeners as a login (`reconnected`: a login again after a lost connection) would. */
  async ready(reconnected = false): Promise<void> {
    const self = this.self ?? { userId: '00000000-0000-4000-8000-000000000001', username: 'me', deviceId: '00000000-0000-4000-8000-000000000002' };
    for (const listener of this.readyListeners) await listener({ reconnected, self });
  }

  push(type: string, data: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener(data);
  }

  command(name: string): TerminalCommand {
    const found = this.commands.find((command) => command.name === name);
    if (!found) throw new Error(`no command /${name}`);
    return found;
  }
}

/** A TerminalCommandContext that records what a command prints. */
export class FakeTerminal implements TerminalCommandContext {
  readonly lines: string[] = [];
  readonly errors: string[] = [];
  constructor(readonly conversationId: string | undefined) {}
  resolveMessage(reference: string): string {
    return reference;
  }
  print(line: string): void {
    this.lines.push(line);
  }
  error(line: string): void {
    this.errors.push(line);
  }
}

/** A message as the terminal hands it to decorators. */
export function decorated(fields: Partial<DecoratedMessage> & Pick<DecoratedMessage, 'id' | 'conversationId' | 'senderId' | 'text'>): DecoratedMessage {
  return { own: false, senderUsername: 'someone', createdAt: 0, payload: { v: 1, text: fields.text }, deleted: false, undecryptable: false, extra: {}, ...fields };
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}
