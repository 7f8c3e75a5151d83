/**
 * The Kecalek server under test, as a child process of bench/connections.ts (so its RSS is its
 * own): the test configuration on a prepared data folder with the connection caps raised through
 * the configuration (never by changing defaults), logs silent, maintenance at its production
 * interval. Answers `gc` (collect, then report memory and connection count), `snapshot` (write a
 * heap snapshot) and `stop` over IPC. Settings come as JSON in KECALEK_BENCH_SERVER.
 */
import { writeHeapSnapshot } from 'node:v8';
import { DEFAULT_MAINTENANCE_INTERVAL_MS, testServerConfig } from '../../engine/server/config.js';
import { createLogger } from '../../engine/server/logger.js';
import { startServer } from '../../engine/server/server.js';
import { resolveTls } from '../../engine/server/transport/index.js';
import { serveLoopDelay, type ServerCommand, type ServerReply } from './conn-common.js';

export interface ConnServerSettings {
  readonly dataDir: string;
  /** Caps raised for the benchmark (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP). */
  readonly maxConnections: number;
}

const settings = JSON.parse(process.env.KECALEK_BENCH_SERVER ?? '{}') as ConnServerSettings;
const config = testServerConfig({
  dataDir: settings.dataDir,
  limits: { maxConnections: settings.maxConnections, maxConnectionsPerIp: settings.maxConnections },
  maintenanceIntervalMs: DEFAULT_MAINTENANCE_INTERVAL_MS,
  logLevel: process.env.KECALEK_BENCH_LOG ?? 'error',
});
const log = createLogger({ level: config.logLevel });
const tls = await resolveTls(config, createLogger({ level: 'silent' }));
const server = await startServer(config, { logger: log });
const gc = (globalThis as { gc?: () => void }).gc;

const reply = (message: ServerReply): void => {
  process.send?.(message);
};

process.on('message', (command: ServerCommand) => {
  if (serveLoopDelay(command, reply)) return;
  switch (command.type) {
    case 'gc':
      // Two rounds: the first one can leave finalisation work for the second.
      gc?.();
      gc?.();
      reply({ type: 'gc', memory: process.memoryUsage(), connections: server.registry.size });
      break;
    case 'snapshot':
      reply({ type: 'snapshot', path: writeHeapSnapshot(command.path) });
      break;
    case 'stop':
      // No graceful close: closing thousands of connections is not what is measured, and a
      // normal exit still writes --cpu-prof / --heap-prof profiles.
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready', port: server.ports.tcp, wsPort: server.ports.ws, ca: tls!.certificate });
