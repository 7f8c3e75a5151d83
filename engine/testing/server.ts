/**
 * A real Kecalek server for tests (and for plugin authors' tests, in the spirit of Fastify's
 * `inject`): chosen plugins, a temporary data folder with SQLite (or a given database), free
 * ports, the cached test certificate. Clients connect with TLS verification ON, trusting that
 * certificate.
 */
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AnyPluginDefinition } from '../plugin/define.js';
import type { PluginLoader } from '../plugin/host.js';
import { BUILTIN_PLUGINS } from '../server/builtin-plugins.js';
import { testServerConfig, type ServerConfigOverrides } from '../server/config.js';
import type { ServerConfig } from '../server/config-types.js';
import { createLogger } from '../server/logger.js';
import { startServer, type KecalekServer } from '../server/server.js';
import { resolveTls } from '../server/transport/index.js';
import { TestConnection, type TestConnectOptions } from './connection.js';

export interface StartTestServerOptions {
  /**
   * Plugins to enable: names (built-in, package or path) and/or definitions. Definitions are added
   * as extra built-ins under their own names and enabled.
   */
  readonly plugins?: ReadonlyArray<string | AnyPluginDefinition>;
  /** Settings by plugin name. */
  readonly settings?: Record<string, unknown>;
  /** Configuration overrides (limits, keepalive, tls, ... merged over testServerConfig). */
  readonly config?: ServerConfigOverrides;
  /** A database URL (forEachBackend's); default: SQLite in the temporary data folder. */
  readonly databaseUrl?: string;
  /** A logger to capture logs; default: pino at the config's level (silent unless KECALEK_TEST_LOG). */
  readonly logger?: Logger;
}

export interface TestConnectionOptions {
  /** 'tls' (default; plain TCP when the server runs with tls mode 'plain') or 'ws'. */
  readonly transport?: 'tls' | 'ws';
  /** Extra tls.connect options (e.g. `maxVersion`) for handshake tests. */
  readonly tlsOptions?: TestConnectOptions['tlsOptions'];
}

export interface TestServer {
  readonly server: KecalekServer;
  readonly host: string;
  readonly port: number;
  /** undefined when WebSocket is off in the config. */
  readonly wsPort: number | undefined;
  readonly config: ServerConfig;
  readonly dataDir: string;
  /** The certificate clients trust (undefined for plaintext). */
  readonly certificate: string | undefined;
  /** Opens a connection and waits for its hello. Closed by close() if still open. */
  connect(options?: TestConnectionOptions): Promise<TestConnection>;
  /** Closes the open test connections, the server, and removes the temporary data folder. */
  close(): Promise<void>;
}

export async function startTestServer(options: StartTestServerOptions = {}): Promise<TestServer> {
  const names: string[] = [];
  const builtins = new Map<string, PluginLoader>(BUILTIN_PLUGINS);
  for (const plugin of options.plugins ?? []) {
    if (typeof plugin === 'string') {
      names.push(plugin);
    } else {
      builtins.set(plugin.name, () => plugin);
      names.push(plugin.name);
    }
  }
  const ownDataDir = options.config?.dataDir === undefined;
  const config = testServerConfig({
    ...options.config,
    plugins: names,
    pluginSettings: options.settings ?? options.config?.pluginSettings ?? {},
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
  });
  const removeDataDir = async (): Promise<void> => {
    if (ownDataDir) await rm(config.dataDir, { recursive: true, force: true });
  };

  let server: KecalekServer;
  let certificate: string | undefined;
  try {
    const logger = options.logger ?? createLogger({ level: config.logLevel });
    // The same cached certificate the server is about to load: the one clients must trust.
    const tls = await resolveTls(config, createLogger({ level: 'silent' }));
    certificate = tls ? (tls.selfSigned ? tls.certificate : (tls.ca ?? tls.certificate)) : undefined;
    server = await startServer(config, { logger, builtins });
  } catch (error) {
    await removeDataDir();
    throw error;
  }

  const open = new Set<TestConnection>();
  const started = server;
  let closing: Promise<void> | undefined;
  return {
    server,
    host: config.host,
    port: server.ports.tcp,
    wsPort: server.ports.ws,
    config,
    dataDir: config.dataDir,
    certificate,
    async connect(connectOptions: TestConnectionOptions = {}) {
      const ws = connectOptions.transport === 'ws';
      if (ws && started.ports.ws === undefined) throw new Error('WebSocket is off in this test server config');
      const secure = certificate !== undefined;
      const connection = await TestConnection.open({
        transport: ws ? (secure ? 'wss' : 'ws') : secure ? 'tls' : 'tcp',
        host: config.host,
        port: ws ? started.ports.ws! : started.ports.tcp,
        path: config.wsPath,
        ca: certificate,
        servername: 'localhost',
        tlsOptions: connectOptions.tlsOptions,
      });
      open.add(connection);
      void connection.closed.then(() => open.delete(connection));
      return connection;
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...open].map((connection) => connection.close()));
        try {
          await started.close();
        } finally {
          await removeDataDir();
        }
      })();
      return closing;
    },
  };
}
