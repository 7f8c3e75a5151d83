/**
 * The Electron main process's entry: the only file that imports `electron` as a value. It reads
 * the configuration from the environment and wires the real electron objects into app.ts.
 *
 *   KECALEK_SERVER=host:port   the server (default: remembered from the last run, first run 127.0.0.1:7443)
 *   KECALEK_INSECURE_DEV=1     accept a development server's certificate without checking it
 *   KECALEK_CA=/path/ca.pem    an extra CA certificate to trust
 *   KECALEK_HOME=/path         where the key stores and desktop-settings.json live (default ~/.kecalek)
 *   KECALEK_PLUGINS=a,b        third-party plugins' client parts, by path or package name
 *
 * Packaging (not possible on these machines: it downloads Electron archives) must flip the
 * Electron fuses with @electron/fuses on the packaged binary: RunAsNode off,
 * EnableNodeOptionsEnvironmentVariable off, EnableNodeCliInspectArguments off,
 * EnableCookieEncryption on, EnableEmbeddedAsarIntegrityValidation and OnlyLoadAppFromAsar on,
 * GrantFileProtocolExtraPrivileges off.
 */
import { app, BrowserWindow, ipcMain, protocol, session, shell } from 'electron';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addressLabel } from './address.js';
import { startDesktopApp } from './app.js';
import { ClientBridge } from './bridge.js';
import { loadClientPlugins } from '../../engine/client/plugin-loader.js';
import { configFromEnv, resolveDesktopConfig } from './config.js';

const here = dirname(fileURLToPath(import.meta.url));
const rendererDir = join(here, '..', 'renderer');
const preloadPath = join(here, '..', 'preload', 'preload.cjs');

function logError(where: string, error: unknown): void {
  // The main process's own log: the renderer never sees these details.
  process.stderr.write(`kecalek desktop: ${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
}

const started = startDesktopApp(
  { app, protocol, session, ipcMain, BrowserWindow, shell },
  {
    rendererDir,
    preloadPath,
    onError: (error) => logError('window', error),
    createBridge: async () => {
      const input = configFromEnv(process.env);
      const config = await resolveDesktopConfig(input);
      // A plugin that cannot be loaded stops the start with its one-line reason (logged below).
      const plugins = await loadClientPlugins(input.plugins ?? [], { warn: (line) => logError('plugins', line) });
      if (config.server.insecureDev) {
        process.stderr.write(
          `kecalek desktop: warning: KECALEK_INSECURE_DEV: the certificate of ${addressLabel(config.server)} is NOT checked. Use it only with your own development server.\n`,
        );
      }
      return new ClientBridge({
        server: config.server,
        home: config.home,
        plugins,
        deviceName: `Kecalek desktop on ${hostname()}`,
        onInternalError: (error, where) => logError(where, error),
      });
    },
  },
);

started.catch((error: unknown) => {
  logError('start-up', error);
  app.exit(1);
});
