/**
 * Real ChatClients for the benchmarks, against a server in another process: accounts registered
 * through the real protocol (the code read from the server's development outbox), key stores in a
 * folder on tmpfs (/dev/shm when it exists) so that the clients' own fsyncs do not stand in for
 * the server's work, and the Argon2id cost the engine's tests use for the key envelope.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatClient } from '../../engine/client/client.js';
import type { ChatMessage } from '../../engine/client/types.js';
import { OUTBOX_FOLDER, type OutboxMail } from '../../engine/server/core/mailer.js';
import { FAST_ENVELOPE, PASSWORD } from '../../engine/testing/clients.js';

export interface BenchServer {
  readonly host: string;
  readonly port: number;
  readonly certificate: string;
  readonly dataDir: string;
}

export interface BenchUser {
  readonly client: ChatClient;
  readonly email: string;
  readonly username: string;
  readonly userId: string;
}

/** Where client key stores go: tmpfs when the machine has /dev/shm. */
export async function clientHomeRoot(): Promise<string> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtemp(join(base, 'kecalek-bench-clients-'));
}

export async function removeHomeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Reads registration codes from the outbox, each mail file parsed once. */
class OutboxReader {
  private readonly seen = new Map<string, OutboxMail>();

  constructor(private readonly dataDir: string) {}

  async code(email: string): Promise<string> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const folder = join(this.dataDir, OUTBOX_FOLDER);
      for (const name of (await readdir(folder).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
        if (this.seen.has(name)) continue;
        try {
          this.seen.set(name, JSON.parse(await readFile(join(folder, name), 'utf8')) as OutboxMail);
        } catch {
          // Still being written by the server: read again on the next pass.
        }
      }
      const mail = [...this.seen.values()].filter((m) => m.to === email && m.kind === 'registration' && m.code !== null).pop();
      if (mail?.code) return mail.code;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`No registration code was mailed to ${email}`);
  }
}

export function newClient(server: BenchServer, home: string): ChatClient {
  return new ChatClient({
    server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
    home,
    keyEnvelope: FAST_ENVELOPE,
    requestTimeoutMs: 120_000,
    deviceName: 'bench',
  });
}

/**
 * Registers `count` accounts (register, code from the outbox, confirm, catch up), `concurrency` at
 * a time. Names are `<prefix><n>`.
 */
export async function registerUsers(server: BenchServer, homeRoot: string, count: number, prefix: string, concurrency = 8): Promise<BenchUser[]> {
  const outbox = new OutboxReader(server.dataDir);
  const users: BenchUser[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const username = `${prefix}${i}`;
      const email = `${username}@bench.test`;
      const client = newClient(server, join(homeRoot, username));
      await client.register({ username, email, password: PASSWORD });
      const self = await client.confirmRegistration(await outbox.code(email));
      await client.catchUp();
      users[i] = { client, email, username, userId: self.userId };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return users;
}

export async function closeUsers(users: readonly BenchUser[]): Promise<void> {
  await Promise.allSettled(users.map((u) => u?.client.close()));
}

/** Message texts carry a key the receiver reads back: `<key>|` padded with `x` to `bytes` characters. */
export function messageText(key: string, bytes: number): string {
  const head = `${key}|`;
  return head.length >= bytes ? head : head + 'x'.repeat(bytes - head.length);
}

export function keyOf(message: ChatMessage): string {
  const end = message.text.indexOf('|');
  return end < 0 ? message.text : message.text.slice(0, end);
}
