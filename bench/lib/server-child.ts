/**
 * The Kecalek server of a benchmark, in its own process (started by ./server-process.ts), so that
 * its CPU time and memory are its own and the load-generating clients never run on its event loop.
 *
 * Options come in KECALEK_BENCH_SERVER (JSON, see ServerChildOptions). Over the IPC channel it
 * sends `ready` (ports, certificate, data folder) and answers `stats` (CPU time, RSS, the message
 * writer's counters) and `stop` (graceful close). Logs go to <dataDir>/server.log at `info`, as a
 * production server would write them.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import pino from 'pino';
import { definePlugin } from '../../engine/plugin/define.js';
import { BUILTIN_PLUGINS } from '../../engine/server/builtin-plugins.js';
import { testServerConfig } from '../../engine/server/config.js';
import { createLogger } from '../../engine/server/logger.js';
import { startServer } from '../../engine/server/server.js';
import { resolveTls } from '../../engine/server/transport/index.js';
import { MESSAGE_WRITER_TOKEN, type MessageWriterHandle } from '../../engine/server/core/messages.js';
import type { PluginLoader } from '../../engine/plugin/host.js';
import { installSqlProfile } from './sql-profile.js';
import { BENCH_LIMITS, BENCH_RATE_LIMITS, type ChildReply, type ChildRequest, type ServerChildOptions } from './server-protocol.js';

const options = JSON.parse(process.env.KECALEK_BENCH_SERVER ?? '{}') as ServerChildOptions;
const sqlProfile = options.sqlProfilePath === undefined ? undefined : installSqlProfile();

// A probe that only keeps the writer's handle for `stats`: no handler, no hook on the hot path.
let writer: MessageWriterHandle | undefined;
const probe = definePlugin({
  name: 'bench-probe',
  version: '1.0.0',
  apiVersion: 1,
  dependsOn: [],
  server(api) {
    writer = api.use(MESSAGE_WRITER_TOKEN);
  },
});

const config = testServerConfig({
  dataDir: options.dataDir,
  databaseUrl: options.databaseUrl,
  wsPort: undefined,
  plugins: ['bench-probe'],
  logLevel: 'info',
  // The benchmark's load through the server's own settings (raised, never weakened defaults).
  limits: BENCH_LIMITS,
  rateLimits: BENCH_RATE_LIMITS,
  maintenanceIntervalMs: 120_000,
});
// Synchronous writes, like pino's default stdout destination.
const log = createLogger({ level: config.logLevel, destination: pino.destination({ dest: join(config.dataDir, 'server.log'), sync: true, mkdir: true }) });
const builtins = new Map<string, PluginLoader>(BUILTIN_PLUGINS);
builtins.set(probe.name, () => probe);

const send = (reply: ChildReply): void => {
  process.send?.(reply);
};

try {
  const tls = await resolveTls(config, createLogger({ level: 'silent' }));
  const server = await startServer(config, { logger: log, builtins });
  let cpuStart = process.cpuUsage();
  let profiler: Session | undefined;
  process.on('message', (message: ChildRequest) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage(cpuStart);
      if (message.reset) cpuStart = process.cpuUsage();
      send({
        type: 'stats',
        id: message.id,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssBytes: process.memoryUsage.rss(),
        writer: writer?.stats(),
        connections: server.registry.size,
      });
    } else if (message.type === 'profile') {
      void (async () => {
        if (message.path === undefined) {
          profiler ??= new Session();
          profiler.connect();
          await profiler.post('Profiler.enable');
          await profiler.post('Profiler.start');
        } else if (profiler) {
          const { profile } = await profiler.post('Profiler.stop');
          await writeFile(message.path, JSON.stringify(profile));
          profiler.disconnect();
          profiler = undefined;
        }
        send({ type: 'profiled', id: message.id });
      })();
    } else if (message.type === 'stop') {
      void server.close().then(
        async () => {
          if (sqlProfile) await writeFile(options.sqlProfilePath!, JSON.stringify(sqlProfile.summary(), null, 2) + '\n');
          send({ type: 'stopped' });
          process.disconnect?.();
          // The CPU profile (--cpu-prof) is written on a normal exit.
          process.exit(0);
        },
        (error: unknown) => {
          send({ type: 'error', message: String(error) });
          process.exit(1);
        },
      );
    }
  });
  send({ type: 'ready', port: server.ports.tcp, certificate: tls!.certificate, dataDir: config.dataDir, database: server.database.kind });
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
