/**
 * The baseline of bench/connections.ts: a bare Node TLS server with the same certificate and TLS
 * options as Kecalek's, holding idle connections and relaying one line from a connection to
 * another — the least any TLS push server on Node must spend per connection and per push.
 *
 * Wire: on connect the server writes `hello <id>\n`; a client line `relay <id>\n` makes the server
 * write `push\n` to connection <id>. Answers `gc` and `stop` over IPC like conn-server.ts.
 */
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { testServerConfig } from '../../engine/server/config.js';
import { createLogger } from '../../engine/server/logger.js';
import { resolveTls } from '../../engine/server/transport/index.js';
import { serveLoopDelay, type ServerCommand, type ServerReply } from './conn-common.js';

const config = testServerConfig({ dataDir: process.env.KECALEK_BENCH_BARE_DIR });
const context = await resolveTls(config, createLogger({ level: 'silent' }));
if (!context) throw new Error('The baseline needs TLS');

const sockets = new Map<number, Socket>();
const PUSH = Buffer.from('push\n');
let nextId = 1;

const server = tls.createServer(context.serverOptions, (socket) => {
  const id = nextId++;
  sockets.set(id, socket);
  let partial = '';
  socket.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('latin1');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('relay ')) sockets.get(Number(line.slice(6)))?.write(PUSH);
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => sockets.delete(id));
  socket.write(`hello ${id}\n`);
});
// The same socket options as Kecalek's transport.
server.on('connection', (raw: Socket) => {
  raw.setNoDelay(true);
  raw.setKeepAlive(true, config.keepalive.idleMs);
});
server.on('tlsClientError', () => undefined);
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
const gc = (globalThis as { gc?: () => void }).gc;

const reply = (message: ServerReply): void => {
  process.send?.(message);
};
process.on('message', (command: ServerCommand) => {
  if (serveLoopDelay(command, reply)) return;
  if (command.type === 'gc') {
    gc?.();
    gc?.();
    reply({ type: 'gc', memory: process.memoryUsage(), connections: sockets.size });
  } else if (command.type === 'stop') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready', port: (server.address() as AddressInfo).port, ca: context.certificate });
