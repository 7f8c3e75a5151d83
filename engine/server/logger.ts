/**
 * Structured logs (pino). Log lines must never carry plaintext, keys, codes, passwords, emails
 * or full user ids: fields with such names are redacted wherever they appear, and ids are logged
 * through `shortId` (the original's `u=XXXXXXXX` sanitisation).
 */
import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Field names whose values never reach a log line. */
export const REDACTED_FIELDS = [
  'password', 'code', 'email', 'identity_key', 'login_key', 'signature', 'challenge', 'body', 'recipient_body',
  'ciphertext', 'payload', 'public_key', 'private_key', 'token', 'poll_token', 'secret', 'key', 'data',
];

export interface LoggerConfig {
  readonly level?: string;
  /** Write to this destination instead of stdout (tests capture logs this way). */
  readonly destination?: pino.DestinationStream;
  readonly pretty?: boolean;
}

export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: 'kecalek' },
    redact: {
      paths: [...REDACTED_FIELDS, ...REDACTED_FIELDS.map((f) => `*.${f}`), ...REDACTED_FIELDS.map((f) => `*.*.${f}`)],
      censor: '[redacted]',
    },
    serializers: { err: pino.stdSerializers.err },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

/** First 8 characters of an id: enough to follow one user or device through a log, not to identify it. */
export function shortId(id: string | undefined | null): string {
  return id ? id.slice(0, 8) : '-';
}

/** `u=xxxxxxxx d=yyyyyyyy` for a session, like the original's `_who`. */
export function who(session: { userId: string; deviceId: string } | undefined): string {
  return session ? `u=${shortId(session.userId)} d=${shortId(session.deviceId)}` : 'anonymous';
}
