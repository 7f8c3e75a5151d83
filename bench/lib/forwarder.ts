/**
 * The bare TLS forwarder (./forwarder-child.ts) in its own process, and raw TLS connections to it
 * for the baseline driver: each sends pre-encoded frames and counts the frames it receives.
 */
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ChildChannel, childExecArgv, waitForExit } from './server-process.js';
import type { ForwarderReply, ForwarderRequest } from './forwarder-protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const NEWLINE = 0x0a;

export interface Forwarder {
  readonly host: string;
  readonly port: number;
  readonly certificate: string;
  stats(reset?: boolean): Promise<{ cpuMs: number; rssBytes: number; forwarded: number }>;
  close(): Promise<void>;
}

export async function startForwarder(options: { cpuProfileDir?: string } = {}): Promise<Forwarder> {
  const child = fork(join(here, 'forwarder-child.ts'), [], {
    execArgv: childExecArgv(options.cpuProfileDir, 'forwarder'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const channel = new ChildChannel<ForwarderReply>(child, 'forwarder');
  const ready = await channel.next((r): r is Extract<ForwarderReply, { type: 'ready' }> => r.type === 'ready');
  let nextId = 1;
  let closing: Promise<void> | undefined;
  const request = (message: ForwarderRequest) => child.send(message);
  return {
    host: '127.0.0.1',
    port: ready.port,
    certificate: ready.certificate,
    async stats(reset = false) {
      const id = nextId++;
      const answer = channel.next((r): r is Extract<ForwarderReply, { type: 'stats' }> => r.type === 'stats' && r.id === id);
      request({ type: 'stats', id, reset });
      const { cpuMs, rssBytes, forwarded } = await answer;
      return { cpuMs, rssBytes, forwarded };
    },
    close() {
      closing ??= (async () => {
        if (child.connected) {
          const stopped = channel.next((r): r is Extract<ForwarderReply, { type: 'stopped' }> => r.type === 'stopped', 30_000).catch(() => undefined);
          request({ type: 'stop' });
          await stopped;
        }
        await waitForExit(child);
      })();
      return closing;
    },
  };
}

/** One raw connection of the baseline driver. */
export interface RawPeer {
  readonly id: string;
  /** Writes one encoded frame (a line ending in \n). */
  send(frame: Buffer): void;
  /** Called with the number of complete frames in each read. */
  onFrames: (count: number) => void;
  close(): void;
}

/** Connects to the forwarder (TLS verified against its certificate) and registers `id` with its peers. */
export function connectRaw(forwarder: Pick<Forwarder, 'host' | 'port' | 'certificate'>, id: string, peers: readonly string[]): Promise<RawPeer> {
  return new Promise<RawPeer>((resolve, reject) => {
    const socket = tls.connect({ host: forwarder.host, port: forwarder.port, ca: [forwarder.certificate], servername: 'localhost' });
    socket.setNoDelay(true);
    let registered = false;
    const peer: RawPeer = {
      id,
      send: (frame) => socket.write(frame),
      onFrames: () => undefined,
      close: () => socket.destroy(),
    };
    socket.once('secureConnect', () => socket.write(`${JSON.stringify({ id, peers })}\n`));
    socket.on('error', (error) => {
      if (!registered) reject(error);
    });
    socket.on('data', (chunk: Buffer) => {
      let count = 0;
      for (let at = chunk.indexOf(NEWLINE); at >= 0; at = chunk.indexOf(NEWLINE, at + 1)) count++;
      if (!registered) {
        // The first line is the forwarder's {"ok":true}.
        registered = true;
        count--;
        resolve(peer);
      }
      if (count > 0) peer.onFrames(count);
    });
  });
}
