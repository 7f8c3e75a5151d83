/**
 * Chat clients for tests (the engine's and plugin authors'): real ChatClients against a harness
 * server, each with its own temporary home folder, accounts registered through the real protocol
 * (the code comes from the server's development outbox), linked devices, and waiting for
 * conditions without sleeping blindly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient } from '../client/client.js';
import type { ChatClientOptions, ChatMessage, ClientEvents, SelfInfo } from '../client/types.js';
import type { AnyPluginDefinition } from '../plugin/define.js';
import { readOutboxCode } from './accounts.js';
import type { TestServer } from './server.js';

export const PASSWORD = 'correct horse battery staple';

/** Argon2id at the policy's minimum cost keeps the suites quick; the default is exercised in store.test.ts. */
export const FAST_ENVELOPE = { kdf: 'argon2id', argon2id: { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 } } as const;

let counter = 0;

export function uniqueName(prefix = 'u'): string {
  counter += 1;
  return `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${counter}`;
}

const homes: string[] = [];

export async function tempHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'kecalek-client-'));
  homes.push(home);
  return home;
}

export async function removeHomes(): Promise<void> {
  for (const home of homes.splice(0)) await rm(home, { recursive: true, force: true });
}

export interface ClientSetup {
  readonly home?: string;
  readonly plugins?: readonly AnyPluginDefinition[];
  readonly transport?: 'tls' | 'ws';
  readonly options?: Partial<ChatClientOptions>;
  readonly port?: number;
}

/** A ChatClient for this test server (TLS verification on, trusting the test certificate). */
export async function clientFor(server: TestServer, setup: ClientSetup = {}): Promise<ChatClient> {
  const ws = setup.transport === 'ws';
  const client = new ChatClient({
    server: {
      host: server.host,
      port: setup.port ?? (ws ? server.wsPort! : server.port),
      transport: ws ? 'ws' : 'tls',
      path: server.config.wsPath,
      ca: server.certificate,
      servername: 'localhost',
    },
    home: setup.home ?? (await tempHome()),
    plugins: setup.plugins,
    keyEnvelope: FAST_ENVELOPE,
    requestTimeoutMs: 20_000,
    ...setup.options,
  });
  return client;
}

export interface User {
  readonly client: ChatClient;
  readonly self: SelfInfo;
  readonly email: string;
  readonly username: string;
  readonly home: string;
  /** Everything the client emitted, by event. */
  readonly events: EventLog;
}

export class EventLog {
  readonly messages: ChatMessage[] = [];
  readonly updates: ChatMessage[] = [];
  readonly errors: Error[] = [];
  readonly all: Array<{ event: keyof ClientEvents; args: unknown[] }> = [];

  constructor(client: ChatClient) {
    const events: Array<keyof ClientEvents> = [
      'connection',
      'message',
      'message_updated',
      'message_deleted',
      'messages_read',
      'conversation_updated',
      'conversation_removed',
      'presence',
      'identity_changed',
      'session_reset',
      'devices_changed',
      'device_removed',
      'error',
      'plugin',
    ];
    for (const event of events) {
      client.on(event, (...args: unknown[]) => {
        this.all.push({ event, args });
        if (event === 'message') this.messages.push(args[0] as ChatMessage);
        if (event === 'message_updated') this.updates.push(args[0] as ChatMessage);
        if (event === 'error') this.errors.push(args[0] as Error);
      });
    }
  }

  of<K extends keyof ClientEvents>(event: K): ClientEvents[K][] {
    return this.all.filter((entry) => entry.event === event).map((entry) => entry.args as ClientEvents[K]);
  }
}

/** Registers, confirms (code from the outbox) and logs in a new user on a new client. */
export async function registerUser(server: TestServer, setup: ClientSetup & { username?: string; email?: string } = {}): Promise<User> {
  const username = setup.username ?? uniqueName();
  const email = setup.email ?? `${username.toLowerCase()}@example.test`;
  const home = setup.home ?? (await tempHome());
  const client = await clientFor(server, { ...setup, home });
  const events = new EventLog(client);
  await client.register({ username, email, password: PASSWORD });
  const code = await readOutboxCode(server, email);
  const self = await client.confirmRegistration(code);
  await client.catchUp();
  return { client, self, email, username, home, events };
}

/** Logs an existing account in on a new client over `home` (a second device when the home is new). */
export async function loginUser(server: TestServer, user: Pick<User, 'email' | 'username'>, setup: ClientSetup & { home: string }): Promise<User> {
  const client = await clientFor(server, setup);
  const events = new EventLog(client);
  const self = await client.login({ email: user.email, password: PASSWORD });
  await client.catchUp();
  return { client, self, email: user.email, username: user.username, home: setup.home, events };
}

/** Waits until `check` returns a truthy value (polling), or fails naming `what`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits for a cached, decrypted message with this text in a conversation. */
export function waitForText(user: User, conversationId: string, text: string, timeoutMs?: number): Promise<ChatMessage> {
  return waitFor(`"${text}" on ${user.username}'s device`, async () => (await user.client.getCachedMessages(conversationId)).find((m) => m.text === text && !m.undecryptable), timeoutMs);
}

export async function closeAll(...users: Array<User | ChatClient | undefined>): Promise<void> {
  for (const user of users) {
    if (!user) continue;
    const client = user instanceof ChatClient ? user : user.client;
    await client.close().catch(() => undefined);
  }
}

/**
 * Links a new device to `user`'s account through the real pairing protocol (code entered on the
 * existing device, SAS compared, keys sent end to end) and returns it logged in.
 */
export async function linkDevice(server: TestServer, user: User, setup: ClientSetup = {}): Promise<User> {
  const home = setup.home ?? (await tempHome());
  const client = await clientFor(server, { ...setup, home });
  const events = new EventLog(client);
  const request = await client.startLinking();
  const approval = await user.client.approveLinking(request.code);
  if ((await request.sas) !== approval.sas) throw new Error('The two devices show different SAS values');
  const accepted = request.accept(PASSWORD);
  await approval.confirm();
  const self = await accepted;
  await client.catchUp();
  return { client, self, email: user.email, username: user.username, home, events };
}
