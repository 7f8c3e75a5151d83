/**
 * The server's composition root: database, plugins (core modules first), migrations, hooks,
 * dispatch, transports, timers — and a graceful shutdown that undoes them in reverse.
 */
import type { Logger } from 'pino';
import { StartupError, StartupErrorCode } from '../errors.js';
import { PROTOCOL_VERSION } from '../protocol/constants.js';
import { resolvePlugins, type PluginLoader } from '../plugin/host.js';
import { collectMigrations, runMigrations } from '../plugin/migrations.js';
import { createServerHooks, type ServerHooks } from '../plugin/server-hooks.js';
import type { Capabilities, Session } from '../plugin/server-types.js';
import { engineMigrations } from '../../migrations/index.js';
import type { ServerConfig } from './config-types.js';
import { openDatabase, type Database } from './db/connect.js';
import { createLogger, who } from './logger.js';
import { ConnectionRegistry } from './registry.js';
import { LocalPushBus, type PushBus } from './push.js';
import { Router } from './router.js';
import { MemoryLimiterFactory } from './limits.js';
import { Dispatcher } from './dispatch.js';
import { PluginRuntime } from './plugin-runtime.js';
import { FsBlobStore } from './blobs.js';
import { loadServerSecret } from './secret.js';
import { createMailer } from './core/mailer.js';
import { createCoreModules } from './core/index.js';
import type { EngineInternals } from './core/internals.js';
import type { Connection } from './connection.js';
import { listenTcp, listenWebSocket, resolveTls, type TransportServer } from './transport/index.js';
import { BUILTIN_PLUGINS } from './builtin-plugins.js';
import { SERVER_VERSION } from './version.js';

export interface StartServerOptions {
  readonly logger?: Logger;
  /** Built-in plugins by name (defaults to the ones shipped in plugins/). */
  readonly builtins?: ReadonlyMap<string, PluginLoader>;
}

export interface KecalekServer {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly database: Database;
  readonly hooks: ServerHooks;
  readonly runtime: PluginRuntime;
  readonly registry: ConnectionRegistry;
  /** Actual ports (useful when the config asked for port 0). */
  readonly ports: { readonly tcp: number; readonly ws: number | undefined };
  readonly tls: boolean;
  /** Enabled feature plugins, in start order. */
  readonly plugins: ReadonlyArray<{ name: string; version: string }>;
  /** Stops accepting, finishes in-flight requests and writes, closes connections and the database. Idempotent. */
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<KecalekServer> {
  const log = options.logger ?? createLogger({ level: config.logLevel });
  if (config.redisUrl !== undefined) {
    // Refuse rather than silently run as a single node that other processes cannot reach.
    throw new StartupError(
      StartupErrorCode.CONFIG_INVALID,
      'REDIS_URL is set, but this version runs as one process (pushes, presence and rate limits are in-process); unset REDIS_URL',
    );
  }
  const tlsContext = await resolveTls(config, log);
  const database = openDatabase({ url: config.databaseUrl, defaultSqlitePath: `${config.dataDir}/kecalek.db` });
  const transports: TransportServer[] = [];
  let runtime: PluginRuntime | undefined;
  let mailer: ReturnType<typeof createMailer> | undefined;
  try {
    await database.knex.raw('select 1').catch((error: unknown) => {
      throw new StartupError(StartupErrorCode.DATABASE_UNAVAILABLE, `Cannot reach the database (${database.description}): ${firstLine(error)}`, undefined, {
        cause: error,
      });
    });
    const serverSecret = await loadServerSecret(config);
    const resolved = await resolvePlugins(config.plugins, config.pluginSettings, {
      builtins: options.builtins ?? BUILTIN_PLUGINS,
      cwd: config.cwd,
    });

    const hooks = createServerHooks();
    const router = new Router();
    const registry = new ConnectionRegistry();
    const push: PushBus = new LocalPushBus(registry);
    mailer = createMailer(config, log);
    runtime = new PluginRuntime({
      db: database.knex,
      hooks,
      router,
      push,
      log,
      limits: { ...config.limits },
      blobs: (plugin) => new FsBlobStore(`${config.uploadDir}/${plugin}`),
    });

    const dispatcher = new Dispatcher({
      router,
      registry,
      hooks,
      limits: config.limits,
      keepalive: config.keepalive,
      limiters: new MemoryLimiterFactory(),
      log,
      capabilities: () => capabilities(),
    });

    const internals: EngineInternals = {
      config,
      registry,
      push,
      serverSecret,
      mailer,
      hooks,
      connection: (id) => registry.get(id),
      async authenticate(connection: Connection, session: Session) {
        if (connection.session) registry.unbind(connection);
        connection.session = session;
        const { firstConnection } = registry.bind(connection);
        log.info({ who: who(session), transport: connection.transport }, 'logged in');
        await hooks.authenticated.promise({ connection, session, firstConnection });
      },
      async deauthenticate(connection: Connection) {
        const session = connection.session;
        if (!session) return;
        const { lastConnection } = registry.unbind(connection);
        connection.session = undefined;
        await hooks.disconnect.promise({ connection, session, lastConnection });
      },
      disconnectUser(userId: string, exceptConnectionId?: string) {
        for (const connection of [...registry.userConnections(userId)]) if (connection.id !== exceptConnectionId) void connection.close();
      },
      disconnectDevice(userId: string, deviceId: string) {
        for (const connection of registry.deviceConnections(userId, deviceId)) void connection.close();
      },
    };
    const coreModules = createCoreModules(internals);

    await runMigrations(
      database.knex,
      collectMigrations([
        { owner: 'engine', migrations: engineMigrations },
        ...coreModules.map((m) => ({ owner: m.name, migrations: m.migrations })),
        ...resolved.map((p) => ({ owner: p.definition.name, migrations: p.definition.migrations })),
      ]),
    );

    for (const module of coreModules) await runtime.start(module, {}, true);
    for (const plugin of resolved) await runtime.start(plugin.definition, plugin.config);

    const started = runtime;
    const capabilities = (): Capabilities =>
      hooks.capabilities.call({
        protocol_version: PROTOCOL_VERSION,
        server_version: SERVER_VERSION,
        plugins: started.enabledPlugins(),
        plugin_settings: started.publicSettings(),
        limits: {
          max_frame_bytes: config.limits.maxFrameBytes,
          max_body_bytes: config.limits.maxBodyBytes,
          max_message_bytes: config.limits.maxMessageBytes,
          max_recipients: config.limits.maxRecipients,
          max_group_members: config.limits.maxGroupMembers,
        },
      });

    const transportOptions = { config, log, handler: dispatcher, tls: tlsContext };
    const tcp = await listenTcp(transportOptions);
    transports.push(tcp);
    let ws: TransportServer | undefined;
    if (config.wsPort !== undefined) {
      ws = await listenWebSocket(transportOptions);
      transports.push(ws);
    }

    runtime.startTimers();
    const maintenance = setInterval(() => {
      hooks.maintenance.promise({ now: Date.now() }).catch((error) => log.error({ err: error }, 'maintenance failed'));
    }, config.maintenanceIntervalMs);
    maintenance.unref();

    let closing: Promise<void> | undefined;
    const server: KecalekServer = {
      config,
      log,
      database,
      hooks,
      runtime,
      registry,
      ports: { tcp: tcp.port, ws: ws?.port },
      tls: tlsContext !== undefined,
      plugins: runtime.enabledPlugins(),
      close() {
        closing ??= (async () => {
          clearInterval(maintenance);
          dispatcher.beginShutdown();
          await Promise.allSettled(transports.map((t) => t.stopAccepting()));
          await dispatcher.waitForIdle(10_000);
          // Connections close before plugins shut down, so disconnect taps still have a database.
          await Promise.allSettled([...registry.all()].map((connection) => connection.close()));
          await dispatcher.settleHooks();
          await started.shutdown();
          await mailer?.close();
          await database.close();
          log.info('server stopped');
        })();
        return closing;
      },
    };
    return server;
  } catch (error) {
    await Promise.allSettled(transports.map((t) => t.stopAccepting()));
    await runtime?.shutdown().catch(() => undefined);
    await mailer?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw error;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
