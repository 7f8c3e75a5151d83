/**
 * The server's typed configuration. `config.ts` builds it from environment variables, an optional
 * `.env` and an optional `kecalek.config.json`; tests build it directly with `testServerConfig`.
 */
export type Environment = 'production' | 'dev' | 'test';

export type TlsConfig =
  /** Certificate and key from files (production). */
  | { readonly mode: 'files'; readonly certFile: string; readonly keyFile: string; readonly caFile?: string }
  /** A self-signed certificate generated at start (only with ENVIRONMENT=dev or test). */
  | { readonly mode: 'self-signed'; readonly cacheDir?: string }
  /** No TLS on the TCP port (only with ENVIRONMENT=dev or test and ALLOW_PLAINTEXT=true). */
  | { readonly mode: 'plain' };

export interface LimitsConfig {
  /** Largest JSON frame accepted, enforced while reading. */
  readonly maxFrameBytes: number;
  /** Largest binary body a frame may announce. */
  readonly maxBodyBytes: number;
  /** Largest base64 ciphertext of one message (shared body or one recipient's body). */
  readonly maxMessageBytes: number;
  /** Most recipient entries in one send_message. */
  readonly maxRecipients: number;
  readonly maxConnectionsPerIp: number;
  readonly maxConnections: number;
  /** Sustained requests per second on one connection, and the burst above it. */
  readonly connectionRequestsPerSec: number;
  readonly connectionBurst: number;
  /** Requests queued on one connection before the server stops reading from it. */
  readonly maxQueuedRequests: number;
  /** Bytes buffered for a client that does not read before it is disconnected. */
  readonly maxWriteBufferBytes: number;
  /** Most members of a group. */
  readonly maxGroupMembers: number;
  /** Most devices per account. */
  readonly maxDevicesPerUser: number;
}

export interface RateLimitsConfig {
  /** register per (IP, email) per minute, and per IP per hour. */
  readonly registerPerMinute: number;
  readonly registerPerIpPerHour: number;
  readonly loginPerMinute: number;
  readonly sendPerMinute: number;
  readonly pairingStartPerMinute: number;
  readonly pairingPollPerMinute: number;
}

export interface SmtpConfig {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly user?: string;
  readonly password?: string;
  readonly from: string;
  /** Accept a self-signed SMTP certificate (dev only). */
  readonly ignoreTls?: boolean;
}

export interface KeepaliveConfig {
  /** TCP keepalive: idle time before probes (the original: 25 s). */
  readonly idleMs: number;
  /** WebSocket ping interval; a peer that misses one pong is dropped. */
  readonly wsPingMs: number;
  /** A connection that has not logged in within this time is closed. */
  readonly loginTimeoutMs: number;
}

export interface ServerConfig {
  readonly environment: Environment;
  readonly host: string;
  /** TCP port for newline-delimited JSON (TLS unless tls.mode is 'plain'); 0 picks a free port. */
  readonly port: number;
  /** WebSocket port; undefined disables WebSocket; 0 picks a free port. */
  readonly wsPort: number | undefined;
  readonly wsPath: string;
  readonly tls: TlsConfig;
  /** DATABASE_URL; undefined means SQLite at `<dataDir>/kecalek.db`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly uploadDir: string;
  /** Plugins in deployment order, and their settings by plugin name. */
  readonly plugins: readonly string[];
  readonly pluginSettings: Readonly<Record<string, unknown>>;
  /** Where plugin paths and package names are resolved from. */
  readonly cwd: string;
  readonly limits: LimitsConfig;
  readonly rateLimits: RateLimitsConfig;
  readonly keepalive: KeepaliveConfig;
  /** SMTP for registration codes; undefined = development outbox (`<dataDir>/outbox/`) and log. */
  readonly smtp: SmtpConfig | undefined;
  /** Oldest client version accepted at login. */
  readonly minClientVersion: string;
  readonly registrationCodeTtlMs: number;
  readonly maintenanceIntervalMs: number;
  readonly metadataRetentionDays: number;
  /** Days after which an unregistered placeholder account with no real contacts is removed. */
  readonly phantomRetentionDays: number;
  readonly logLevel: string;
  /** Redis for multi-node push, presence and rate limits; undefined = in-process. */
  readonly redisUrl: string | undefined;
  /** Secret mixed into registration-code hashes and fake login challenges; generated and kept in dataDir if not set. */
  readonly serverSecret: string | undefined;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxFrameBytes: 1024 * 1024,
  maxBodyBytes: 4 * 1024 * 1024,
  maxMessageBytes: 96 * 1024,
  maxRecipients: 256,
  maxConnectionsPerIp: 32,
  maxConnections: 50_000,
  connectionRequestsPerSec: 50,
  connectionBurst: 200,
  maxQueuedRequests: 256,
  maxWriteBufferBytes: 8 * 1024 * 1024,
  maxGroupMembers: 500,
  maxDevicesPerUser: 10,
};

export const DEFAULT_RATE_LIMITS: RateLimitsConfig = {
  registerPerMinute: 3,
  registerPerIpPerHour: 20,
  loginPerMinute: 10,
  sendPerMinute: 120,
  pairingStartPerMinute: 10,
  pairingPollPerMinute: 120,
};

export const DEFAULT_KEEPALIVE: KeepaliveConfig = {
  idleMs: 25_000,
  wsPingMs: 30_000,
  loginTimeoutMs: 120_000,
};

/** The built-in feature plugins enabled when a deployment names none. */
export const DEFAULT_PLUGINS: readonly string[] = ['reactions', 'pins', 'mentions', 'invitations'];
