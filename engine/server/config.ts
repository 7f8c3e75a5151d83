/**
 * The server's configuration from environment variables (plus `<cwd>/.env`, which never overrides
 * a variable that is already set) and an optional JSON file for plugins (`KECALEK_CONFIG`, or
 * `<cwd>/kecalek.config.json`): `{ "plugins": [...], "settings": { "<plugin>": {...} } }`.
 * Variable names follow the original where it had them. Any invalid value stops start-up with one
 * StartupError line naming the variable and what is expected.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { StartupError, StartupErrorCode } from '../errors.js';
import {
  DEFAULT_KEEPALIVE,
  DEFAULT_LIMITS,
  DEFAULT_PLUGINS,
  DEFAULT_RATE_LIMITS,
  type Environment,
  type KeepaliveConfig,
  type LimitsConfig,
  type RateLimitsConfig,
  type ServerConfig,
  type SmtpConfig,
  type TlsConfig,
} from './config-types.js';

export type Env = Record<string, string | undefined>;

/** A partial configuration: top-level fields replace, the nested groups merge field by field. */
export type ServerConfigOverrides = Partial<Omit<ServerConfig, 'limits' | 'rateLimits' | 'keepalive'>> & {
  readonly limits?: Partial<LimitsConfig>;
  readonly rateLimits?: Partial<RateLimitsConfig>;
  readonly keepalive?: Partial<KeepaliveConfig>;
};

export interface LoadConfigOptions {
  /** The variables (default process.env). `<cwd>/.env` fills in the ones it does not set. */
  readonly env?: Env;
  /** The deployment directory: `.env`, `kecalek.config.json`, relative paths (default process.cwd()). */
  readonly cwd?: string;
  /** Development defaults: ENVIRONMENT=dev unless set, loopback host, self-signed TLS (`npm start`). */
  readonly dev?: boolean;
  /** Applied last, over everything read. */
  readonly overrides?: ServerConfigOverrides;
}

export const DEFAULT_PORT = 7443;
export const DEFAULT_WS_PORT = 7444;
export const DEFAULT_WS_PATH = '/ws';
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_MIN_CLIENT_VERSION = '0.1.0';
export const DEFAULT_MAINTENANCE_INTERVAL_MS = 120_000;
export const CONFIG_FILE_NAME = 'kecalek.config.json';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const ENVIRONMENTS: readonly Environment[] = ['production', 'dev', 'test'];

function invalid(message: string): StartupError {
  return new StartupError(StartupErrorCode.CONFIG_INVALID, message);
}

/** Reads the variables, validating each; unset or empty means "use the default". */
class Variables {
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }

  /** The value exactly as set (a password may start or end with spaces); empty means unset. */
  verbatim(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === '' ? undefined : value;
  }

  /** Like raw(), but an empty value counts as set (PLUGINS= means "none"). */
  rawAllowEmpty(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  integer(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value)) throw invalid(`${name} must be a whole number${describeRange(min, max)}, got "${clip(value)}"`);
    const number = Number(value);
    if (!Number.isSafeInteger(number) || number < min || number > max) {
      throw invalid(`${name} must be a whole number${describeRange(min, max)}, got ${value}`);
    }
    return number;
  }

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, 0, 65535);
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
    if (['0', 'false', 'no', 'off'].includes(lower)) return false;
    throw invalid(`${name} must be true or false, got "${clip(value)}"`);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase() as T;
    if (!allowed.includes(lower)) throw invalid(`${name} must be one of ${allowed.join(', ')}, got "${clip(value)}"`);
    return lower;
  }
}

function describeRange(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER) return min === 0 ? '' : ` of at least ${min}`;
  return ` from ${min} to ${max}`;
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}...` : value;
}

/** Reads `<cwd>/.env` under the given variables (set variables win). */
function withDotEnv(env: Env, cwd: string): Env {
  const path = join(cwd, '.env');
  if (!existsSync(path)) return env;
  if (env === process.env) {
    // Node's own loader; it leaves variables that are already set alone.
    try {
      process.loadEnvFile(path);
    } catch (error) {
      throw invalid(`${path} cannot be read: ${firstLine(error)}`);
    }
    return process.env;
  }
  let parsed: Record<string, string>;
  try {
    parsed = parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch (error) {
    throw invalid(`${path} cannot be read: ${firstLine(error)}`);
  }
  const merged: Env = { ...parsed };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;
  return merged;
}

interface PluginFile {
  readonly path: string;
  readonly plugins: readonly string[] | undefined;
  readonly settings: Readonly<Record<string, unknown>>;
}

function readPluginFile(vars: Variables, cwd: string): PluginFile | undefined {
  const named = vars.raw('KECALEK_CONFIG');
  const path = named !== undefined ? resolve(cwd, named) : join(cwd, CONFIG_FILE_NAME);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (named === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalid(`KECALEK_CONFIG: ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? firstLine(error)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`${path} is not valid JSON: ${firstLine(error)}`);
  }
  if (!isPlainObject(value)) throw invalid(`${path} must contain a JSON object { "plugins": [...], "settings": {...} }`);
  for (const key of Object.keys(value)) {
    if (key !== 'plugins' && key !== 'settings' && key !== '$schema') throw invalid(`${path}: unknown key "${key}" (expected "plugins" and "settings")`);
  }
  let plugins: string[] | undefined;
  if (value.plugins !== undefined) {
    if (!Array.isArray(value.plugins) || !value.plugins.every((p) => typeof p === 'string' && p.trim() !== '')) {
      throw invalid(`${path}: "plugins" must be a list of plugin names, packages or paths`);
    }
    plugins = value.plugins.map((p: string) => p.trim());
  }
  const settings: Record<string, unknown> = {};
  if (value.settings !== undefined) {
    if (!isPlainObject(value.settings)) throw invalid(`${path}: "settings" must be an object keyed by plugin name`);
    for (const [name, entry] of Object.entries(value.settings)) {
      if (!isPlainObject(entry)) throw invalid(`${path}: "settings.${name}" must be an object`);
      settings[name] = entry;
    }
  }
  return { path, plugins, settings };
}

function parsePluginList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function resolveTlsConfig(vars: Variables, cwd: string, environment: Environment): TlsConfig {
  const certFile = vars.raw('TLS_CERT_FILE');
  const keyFile = vars.raw('TLS_KEY_FILE');
  const caFile = vars.raw('TLS_CA_FILE');
  const plaintext = vars.boolean('ALLOW_PLAINTEXT', false);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw invalid(certFile === undefined ? 'TLS_KEY_FILE is set but TLS_CERT_FILE is not: set both' : 'TLS_CERT_FILE is set but TLS_KEY_FILE is not: set both');
  }
  if (caFile !== undefined && certFile === undefined) throw invalid('TLS_CA_FILE is set but TLS_CERT_FILE and TLS_KEY_FILE are not');
  const development = environment !== 'production';
  if (certFile !== undefined && keyFile !== undefined) {
    if (plaintext) throw invalid('ALLOW_PLAINTEXT=true conflicts with TLS_CERT_FILE: choose one');
    if (vars.boolean('TLS_SELF_SIGNED', false)) throw invalid('TLS_SELF_SIGNED=true conflicts with TLS_CERT_FILE: choose one');
    return {
      mode: 'files',
      certFile: resolve(cwd, certFile),
      keyFile: resolve(cwd, keyFile),
      ...(caFile === undefined ? {} : { caFile: resolve(cwd, caFile) }),
    };
  }
  // Plaintext and self-signed certificates are refused outside development when the server
  // starts (resolveTls), with a line saying what to set.
  if (plaintext) return { mode: 'plain' };
  const selfSigned = vars.boolean('TLS_SELF_SIGNED', development);
  if (!selfSigned && development) {
    throw invalid('TLS_SELF_SIGNED=false needs TLS_CERT_FILE and TLS_KEY_FILE (or ALLOW_PLAINTEXT=true for unencrypted development)');
  }
  return { mode: 'self-signed' };
}

function resolveSmtp(vars: Variables): SmtpConfig | undefined {
  const host = vars.raw('SMTP_HOST');
  if (host === undefined) {
    for (const name of ['SMTP_PORT', 'SMTP_SECURE', 'SMTP_USER', 'SMTP_PASS', 'SMTP_FROM']) {
      if (vars.raw(name) !== undefined) throw invalid(`${name} is set but SMTP_HOST is not`);
    }
    return undefined;
  }
  if (/\s|\//.test(host)) throw invalid(`SMTP_HOST must be a host name or address, got "${clip(host)}"`);
  const portRaw = vars.raw('SMTP_PORT');
  const secureDefault = portRaw === '465';
  const secure = vars.boolean('SMTP_SECURE', secureDefault);
  const port = vars.integer('SMTP_PORT', secure ? 465 : 587, 1, 65535);
  const user = vars.raw('SMTP_USER');
  const password = vars.verbatim('SMTP_PASS');
  if (password !== undefined && user === undefined) throw invalid('SMTP_PASS is set but SMTP_USER is not');
  const from = vars.string('SMTP_FROM', `Kecalek <no-reply@${host}>`);
  if (!from.includes('@')) throw invalid(`SMTP_FROM must be an email address, optionally with a name ("Kecalek <chat@example.org>")`);
  return {
    host,
    port,
    secure,
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { password }),
    from,
  };
}

function resolveDatabaseUrl(vars: Variables): string | undefined {
  const url = vars.raw('DATABASE_URL');
  if (url === undefined) return undefined;
  // The value may hold a password: messages never repeat it.
  if (/^mysql2?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalid('DATABASE_URL must be mysql://user:password@host:port/database (it is not a valid URL)');
    }
    if (!parsed.hostname || parsed.pathname.replace(/^\//, '') === '') {
      throw invalid('DATABASE_URL must name a host and a database: mysql://user:password@host:port/database');
    }
    return url;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^sqlite:/i.test(url)) {
    throw invalid('DATABASE_URL must be mysql://user:password@host:port/database, sqlite:<file> or a file path');
  }
  return url;
}

function resolveSecret(vars: Variables): string | undefined {
  const secret = vars.raw('SERVER_SECRET');
  if (secret === undefined) return undefined;
  const bytes = /^[0-9a-fA-F]+$/.test(secret) ? secret.length / 2 : Buffer.from(secret, 'base64').length;
  if (bytes < 32) throw invalid('SERVER_SECRET must be at least 32 bytes: 64 hex characters (openssl rand -hex 32)');
  return secret;
}

/** Reads the configuration. Throws StartupError config_invalid naming the first bad variable. */
export function loadServerConfig(options: LoadConfigOptions = {}): ServerConfig {
  const cwd = resolve(options.cwd ?? process.cwd());
  const vars = new Variables(withDotEnv(options.env ?? process.env, cwd));

  const environment = vars.oneOf('ENVIRONMENT', ENVIRONMENTS, options.dev ? 'dev' : 'production');
  const development = environment !== 'production';

  const host = vars.string('SERVER_HOST', development ? '127.0.0.1' : '0.0.0.0').replace(/^\[(.*)\]$/, '$1');
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) throw invalid(`SERVER_HOST must be a host name or IP address, got "${clip(host)}"`);
  const port = vars.port('SERVER_PORT', DEFAULT_PORT);
  const wsPortRaw = vars.raw('WS_PORT');
  const wsPort = wsPortRaw !== undefined && wsPortRaw.toLowerCase() === 'off' ? undefined : vars.port('WS_PORT', DEFAULT_WS_PORT);
  if (wsPort !== undefined && wsPort !== 0 && wsPort === port) throw invalid(`WS_PORT must differ from SERVER_PORT (both are ${port}); use WS_PORT=off to disable WebSocket`);
  const wsPath = vars.string('WS_PATH', DEFAULT_WS_PATH);
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(wsPath)) throw invalid(`WS_PATH must be a URL path starting with "/", got "${clip(wsPath)}"`);

  const tls = resolveTlsConfig(vars, cwd, environment);
  const databaseUrl = resolveDatabaseUrl(vars);
  const dataDir = resolve(cwd, vars.string('DATA_DIR', DEFAULT_DATA_DIR));
  const uploadDir = resolve(cwd, vars.raw('UPLOAD_DIR') ?? join(dataDir, 'uploads'));

  const file = readPluginFile(vars, cwd);
  const pluginsVar = vars.rawAllowEmpty('PLUGINS');
  const plugins = pluginsVar !== undefined ? parsePluginList(pluginsVar) : (file?.plugins ?? [...DEFAULT_PLUGINS]);
  const seen = new Set<string>();
  for (const plugin of plugins) {
    if (seen.has(plugin)) throw invalid(`${pluginsVar !== undefined ? 'PLUGINS' : file?.path ?? 'PLUGINS'} lists "${plugin}" twice`);
    seen.add(plugin);
  }

  const maxFrameBytes = vars.integer('MAX_FRAME_BYTES', DEFAULT_LIMITS.maxFrameBytes, 4096, 1024 ** 3);
  const maxMessageBytes = vars.integer('MAX_MESSAGE_BYTES', DEFAULT_LIMITS.maxMessageBytes, 256, 1024 ** 3);
  if (maxMessageBytes >= maxFrameBytes) {
    throw invalid(`MAX_MESSAGE_BYTES (${maxMessageBytes}) must be smaller than MAX_FRAME_BYTES (${maxFrameBytes}): a message travels inside one frame`);
  }
  const limits: LimitsConfig = {
    maxFrameBytes,
    maxBodyBytes: vars.integer('MAX_BODY_BYTES', DEFAULT_LIMITS.maxBodyBytes, 0, 1024 ** 3),
    maxMessageBytes,
    maxRecipients: vars.integer('MAX_RECIPIENTS', DEFAULT_LIMITS.maxRecipients, 1),
    maxConnectionsPerIp: vars.integer('MAX_CONNECTIONS_PER_IP', DEFAULT_LIMITS.maxConnectionsPerIp, 1),
    maxConnections: vars.integer('MAX_CONNECTIONS', DEFAULT_LIMITS.maxConnections, 1),
    connectionRequestsPerSec: vars.integer('CONNECTION_REQUESTS_PER_SEC', DEFAULT_LIMITS.connectionRequestsPerSec, 1),
    connectionBurst: vars.integer('CONNECTION_BURST', DEFAULT_LIMITS.connectionBurst, 0),
    maxQueuedRequests: vars.integer('MAX_QUEUED_REQUESTS', DEFAULT_LIMITS.maxQueuedRequests, 1),
    maxWriteBufferBytes: vars.integer('MAX_WRITE_BUFFER_BYTES', DEFAULT_LIMITS.maxWriteBufferBytes, 64 * 1024),
    maxGroupMembers: vars.integer('MAX_GROUP_MEMBERS', DEFAULT_LIMITS.maxGroupMembers, 2),
    maxDevicesPerUser: vars.integer('MAX_DEVICES_PER_USER', DEFAULT_LIMITS.maxDevicesPerUser, 1),
  };
  const rateLimits: RateLimitsConfig = {
    registerPerMinute: vars.integer('RATE_REGISTER_PER_MIN', DEFAULT_RATE_LIMITS.registerPerMinute, 1),
    registerPerIpPerHour: vars.integer('RATE_REGISTER_PER_IP_PER_HOUR', DEFAULT_RATE_LIMITS.registerPerIpPerHour, 1),
    loginPerMinute: vars.integer('RATE_LOGIN_PER_MIN', DEFAULT_RATE_LIMITS.loginPerMinute, 1),
    sendPerMinute: vars.integer('RATE_SEND_PER_MIN', DEFAULT_RATE_LIMITS.sendPerMinute, 1),
    pairingStartPerMinute: vars.integer('RATE_PAIRING_START_PER_MIN', DEFAULT_RATE_LIMITS.pairingStartPerMinute, 1),
    pairingPollPerMinute: vars.integer('RATE_PAIRING_POLL_PER_MIN', DEFAULT_RATE_LIMITS.pairingPollPerMinute, 1),
  };
  const keepalive: KeepaliveConfig = {
    idleMs: vars.integer('KEEPALIVE_IDLE_MS', DEFAULT_KEEPALIVE.idleMs, 1000),
    wsPingMs: vars.integer('WS_PING_MS', DEFAULT_KEEPALIVE.wsPingMs, 1000),
    loginTimeoutMs: vars.integer('LOGIN_TIMEOUT_MS', DEFAULT_KEEPALIVE.loginTimeoutMs, 1000),
  };

  const minClientVersion = vars.string('MIN_CLIENT_VERSION', DEFAULT_MIN_CLIENT_VERSION);
  if (!/^\d+\.\d+\.\d+$/.test(minClientVersion)) throw invalid(`MIN_CLIENT_VERSION must be a version x.y.z, got "${clip(minClientVersion)}"`);
  const redisUrl = vars.raw('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/i.test(redisUrl)) throw invalid('REDIS_URL must be redis://[user:password@]host[:port][/db] or rediss://...');

  const config: ServerConfig = {
    environment,
    host,
    port,
    wsPort,
    wsPath,
    tls,
    databaseUrl,
    dataDir,
    uploadDir,
    plugins,
    pluginSettings: file?.settings ?? {},
    cwd,
    limits,
    rateLimits,
    keepalive,
    smtp: resolveSmtp(vars),
    minClientVersion,
    registrationCodeTtlMs: vars.integer('REGISTRATION_CODE_TTL_MIN', 15, 1, 24 * 60) * 60_000,
    maintenanceIntervalMs: vars.integer('MAINTENANCE_INTERVAL_MS', DEFAULT_MAINTENANCE_INTERVAL_MS, 1000),
    metadataRetentionDays: vars.integer('METADATA_RETENTION_DAYS', 90, 1),
    phantomRetentionDays: vars.integer('PHANTOM_RETENTION_DAYS', 30, 1),
    logLevel: vars.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    redisUrl,
    serverSecret: resolveSecret(vars),
  };
  return applyOverrides(config, options.overrides);
}

/** Where the test certificate is cached: generated once per machine, shared by every test server. */
export const TEST_TLS_CACHE_DIR = join(tmpdir(), 'kecalek-test-tls');

/**
 * A configuration for tests: ENVIRONMENT=test on 127.0.0.1, free ports, a self-signed certificate
 * cached in the temporary folder, a fresh temporary data folder (the caller removes it;
 * startTestServer does), SQLite, no SMTP, generous rate limits, a short maintenance interval, and
 * silent logs unless KECALEK_TEST_LOG names a level (or is 1 for debug).
 */
export function testServerConfig(overrides: ServerConfigOverrides = {}): ServerConfig {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'kecalek-test-'));
  const testLog = process.env.KECALEK_TEST_LOG?.trim();
  const logLevel = !testLog ? 'silent' : (LOG_LEVELS as readonly string[]).includes(testLog) ? testLog : 'debug';
  const base: ServerConfig = {
    environment: 'test',
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    wsPath: DEFAULT_WS_PATH,
    tls: { mode: 'self-signed', cacheDir: TEST_TLS_CACHE_DIR },
    databaseUrl: undefined,
    dataDir,
    uploadDir: join(dataDir, 'uploads'),
    plugins: [],
    pluginSettings: {},
    cwd: process.cwd(),
    limits: {
      ...DEFAULT_LIMITS,
      maxConnectionsPerIp: 1000,
      maxConnections: 10_000,
      connectionRequestsPerSec: 100_000,
      connectionBurst: 100_000,
    },
    rateLimits: {
      registerPerMinute: 10_000,
      registerPerIpPerHour: 100_000,
      loginPerMinute: 10_000,
      sendPerMinute: 100_000,
      pairingStartPerMinute: 10_000,
      pairingPollPerMinute: 100_000,
    },
    keepalive: { ...DEFAULT_KEEPALIVE },
    smtp: undefined,
    minClientVersion: DEFAULT_MIN_CLIENT_VERSION,
    registrationCodeTtlMs: 15 * 60_000,
    maintenanceIntervalMs: 1000,
    metadataRetentionDays: 90,
    phantomRetentionDays: 30,
    logLevel,
    redisUrl: undefined,
    serverSecret: undefined,
  };
  const config = applyOverrides(base, overrides);
  // An explicit dataDir without an explicit uploadDir keeps uploads inside it.
  if (overrides.dataDir !== undefined && overrides.uploadDir === undefined) return { ...config, uploadDir: join(config.dataDir, 'uploads') };
  return config;
}

export function applyOverrides(config: ServerConfig, overrides: ServerConfigOverrides | undefined): ServerConfig {
  if (!overrides) return config;
  const { limits, rateLimits, keepalive, ...rest } = overrides;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined)) as Partial<ServerConfig>;
  // wsPort: undefined is meaningful (WebSocket off) when given explicitly.
  const wsPortGiven = Object.prototype.hasOwnProperty.call(rest, 'wsPort');
  return {
    ...config,
    ...defined,
    ...(wsPortGiven ? { wsPort: rest.wsPort } : {}),
    limits: { ...config.limits, ...stripUndefined(limits) },
    rateLimits: { ...config.rateLimits, ...stripUndefined(rateLimits) },
    keepalive: { ...config.keepalive, ...stripUndefined(keepalive) },
  };
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
