/**
 * Where the desktop app connects and keeps its files, from the environment (Electron) or flags
 * (web host): an explicit address wins and is remembered; without one, the address remembered in
 * desktop-settings.json; on a first run, 127.0.0.1:7443 (a development server on this computer).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEFAULT_HOME } from '../../engine/client/client.js';
import type { ServerAddress } from '../../engine/client/types.js';
import { DEFAULT_SERVER, parseServerAddress } from './address.js';
import { DesktopSettingsStore } from './settings.js';

export interface DesktopConfigInput {
  /** `host:port` or a tls:// / wss:// address (KECALEK_SERVER, --server). */
  readonly server?: string;
  /** KECALEK_INSECURE_DEV=1, --insecure-dev. */
  readonly insecureDev?: boolean;
  /** A PEM file with extra CA certificates to trust (KECALEK_CA, --ca). */
  readonly caFile?: string;
  /** KECALEK_HOME, --home (default ~/.kecalek). */
  readonly home?: string;
  /** Third-party plugins' client parts, by path or package name (KECALEK_PLUGINS, comma-separated; --plugin, repeatable). */
  readonly plugins?: readonly string[];
}

export interface DesktopConfig {
  readonly server: ServerAddress;
  readonly home: string;
}

export async function resolveDesktopConfig(input: DesktopConfigInput): Promise<DesktopConfig> {
  const home = resolve(input.home ?? DEFAULT_HOME);
  const settings = new DesktopSettingsStore(home);
  const stored = await settings.load();
  const text = input.server ?? stored.server ?? DEFAULT_SERVER;
  const ca = input.caFile ? await readFile(resolve(input.caFile), 'utf8') : undefined;
  const server = parseServerAddress(text, { insecureDev: input.insecureDev === true, ...(ca ? { ca } : {}) });
  if (stored.server !== text) await settings.update({ server: text });
  return { server, home };
}

/** The desktop settings of the environment: KECALEK_SERVER, KECALEK_INSECURE_DEV, KECALEK_CA, KECALEK_HOME, KECALEK_PLUGINS. */
export function configFromEnv(env: NodeJS.ProcessEnv): DesktopConfigInput {
  return {
    ...(env.KECALEK_SERVER ? { server: env.KECALEK_SERVER } : {}),
    insecureDev: env.KECALEK_INSECURE_DEV === '1' || env.KECALEK_INSECURE_DEV === 'true',
    ...(env.KECALEK_CA ? { caFile: env.KECALEK_CA } : {}),
    ...(env.KECALEK_HOME ? { home: env.KECALEK_HOME } : {}),
    ...(env.KECALEK_PLUGINS ? { plugins: env.KECALEK_PLUGINS.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '') } : {}),
  };
}
