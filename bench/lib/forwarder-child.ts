/**
 * The baseline of the relay and fan-out benchmarks: a bare Node TLS forwarder, in its own process
 * like the Kecalek server. It has the server's TLS settings (same certificate, ciphers, minimum
 * version) and nothing else: no storage, no cryptography, no validation, no acknowledgements.
 *
 * A connection's first line names it and its peers: `{"id":"a","peers":["b",...]}` (answered with
 * `{"ok":true}`). Every later newline-terminated frame is forwarded unchanged to each peer that is
 * connected, frame by frame, in the order read (one cork per peer per read). Whatever a Kecalek
 * server does beyond this is the cost of storing, checking and routing messages.
 */
import { tmpdir } from 'node:os';
import tls from 'node:tls';
import { testServerConfig } from '../../engine/server/config.js';
import { createLogger } from '../../engine/server/logger.js';
import { resolveTls } from '../../engine/server/transport/index.js';
import type { ForwarderReply, ForwarderRequest } from './forwarder-protocol.js';

const NEWLINE = 0x0a;
// The test configuration only for its TLS settings and the cached self-signed certificate.
const config = testServerConfig({ dataDir: tmpdir() });
const context = await resolveTls(config, createLogger({ level: 'silent' }));
const sockets = new Map<string, tls.TLSSocket>();
let forwarded = 0;

const server = tls.createServer(context!.serverOptions, (socket) => {
  socket.setNoDelay(true);
  let peers: tls.TLSSocket[] | undefined;
  let peerIds: string[] = [];
  let partial: Buffer | undefined;
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    const data = partial === undefined ? chunk : Buffer.concat([partial, chunk]);
    partial = undefined;
    let start = 0;
    if (peers === undefined) {
      const end = data.indexOf(NEWLINE);
      if (end < 0) {
        partial = data;
        return;
      }
      const hello = JSON.parse(data.subarray(0, end).toString('utf8')) as { id: string; peers: string[] };
      sockets.set(hello.id, socket);
      socket.once('close', () => sockets.delete(hello.id));
      peerIds = hello.peers;
      peers = [];
      socket.write('{"ok":true}\n');
      start = end + 1;
    }
    if (peers.length < peerIds.length) peers = peerIds.map((id) => sockets.get(id)).filter((s): s is tls.TLSSocket => s !== undefined);
    const frames: Buffer[] = [];
    for (let end = data.indexOf(NEWLINE, start); end >= 0; end = data.indexOf(NEWLINE, start)) {
      frames.push(data.subarray(start, end + 1));
      start = end + 1;
    }
    if (start < data.length) partial = Buffer.from(data.subarray(start));
    if (frames.length === 0) return;
    forwarded += frames.length;
    for (const peer of peers) {
      peer.cork();
      for (const frame of frames) peer.write(frame);
      peer.uncork();
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.send?.({ type: 'ready', port, certificate: context!.certificate } satisfies ForwarderReply);
});

let cpuStart = process.cpuUsage();
process.on('message', (message: ForwarderRequest) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage(cpuStart);
    if (message.reset) cpuStart = process.cpuUsage();
    process.send?.({ type: 'stats', id: message.id, cpuMs: (cpu.user + cpu.system) / 1000, rssBytes: process.memoryUsage.rss(), forwarded } satisfies ForwarderReply);
  } else if (message.type === 'stop') {
    for (const socket of sockets.values()) socket.destroy();
    server.close(() => {
      process.send?.({ type: 'stopped' } satisfies ForwarderReply);
      process.disconnect?.();
      process.exit(0);
    });
  }
});
