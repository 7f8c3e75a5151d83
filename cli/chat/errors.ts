/**
 * Turning errors into the one line the user reads. Mistakes (a wrong command, an unknown
 * conversation) and refusals of the server (rate_limited, forbidden, ...) are expected: they
 * become a friendly sentence. Anything else is reported as one line too; the details (stack)
 * only with --debug.
 */
import { ClientError, KecalekError, WireErrorCode, type ClientErrorCode, type ErrorDetails } from '../../engine/errors.js';

/**
 * A mistake in what the user typed, or something they asked for that does not exist here. The
 * message is written for the user and printed as it is.
 */
export class ChatInputError extends ClientError {
  constructor(code: WireErrorCode | ClientErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}

/** A usage mistake: prints `message` (and the command's usage when given). */
export function usageError(message: string): ChatInputError {
  return new ChatInputError(WireErrorCode.BAD_REQUEST, message);
}

/** Something the user named does not exist (a conversation, a message number, a member). */
export function notFoundError(message: string): ChatInputError {
  return new ChatInputError(WireErrorCode.NOT_FOUND, message);
}

/** What the terminal says when the server refuses this device because it was removed from the account. */
export const DEVICE_REMOVED_MESSAGE = 'This device was removed from your account; link it again with /link from another device.';

function waitText(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return 'a moment';
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

/** The sentence for an engine error code (server answers and client-core failures). */
function describeCode(error: KecalekError): string | undefined {
  const details = error.details ?? {};
  switch (error.code) {
    case 'rate_limited':
      return `Slow down: the server limits how often you can do that. Try again in ${waitText(details.retry_after_ms)}.`;
    case 'locked_out':
      return `Too many wrong passwords. Try again in ${waitText(details.retry_after_ms)}.`;
    case 'forbidden':
      return 'You are not allowed to do that (only the group\'s creator can, or it is not your message).';
    case 'not_found':
      return 'Not found: it does not exist (any more), or you are not a member.';
    case 'invalid_credentials':
      // The client core reports a wrong local password with the count of failed attempts.
      if (typeof details.failed_attempts === 'number') return `Wrong password. You can try again in ${waitText(details.retry_after_ms)}.`;
      return 'Login failed: the server did not accept this account\'s keys (the account may have been removed).';
    case 'wrong_password':
      return 'Wrong password.';
    case 'invalid_code':
      return 'That code is wrong or has expired.';
    case 'conflict':
      return `That conflicts with the current state: ${firstLine(error.message)}.`.replace(/\.\.$/, '.');
    case 'bad_request':
      return `The server refused that: ${firstLine(error.message)}`;
    case 'payload_too_large':
      return 'That is too long for this server.';
    case 'unknown_type':
    case 'feature_unavailable':
      return 'This server does not offer that feature.';
    case 'unsupported_version':
      return `This client is too old for the server${typeof details.min_client_version === 'string' ? ` (it needs ${details.min_client_version})` : ''}: update Kecalek.`;
    case 'protocol_mismatch':
      return 'This client and the server speak different protocol versions: update Kecalek.';
    case 'too_many_connections':
      return 'The server has too many connections right now. Try again later.';
    case 'shutting_down':
      return 'The server is restarting. Try again in a moment.';
    case 'internal_error':
      return 'The server had an internal problem with that request. Try again later.';
    case 'device_mismatch':
      return 'The recipients\' devices changed while sending. Send it again.';
    case 'device_removed':
      return DEVICE_REMOVED_MESSAGE;
    case 'not_connected':
      if (/^cannot reach/i.test(error.message)) return firstLine(error.message);
      return 'Not connected to the server right now (waiting to reconnect). Try again in a moment.';
    case 'connection_closed':
      return 'Not connected to the server right now (waiting to reconnect). Try again in a moment.';
    case 'request_timeout':
      return 'The server did not answer in time. Try again.';
    case 'no_account':
      return 'This device has no keys for that account: register it, or link this device from one where you are logged in.';
    case 'not_logged_in':
      return 'You are not logged in.';
    case 'store_corrupt':
      return `The local key store is damaged: ${firstLine(error.message)}`;
    case 'pairing_mismatch':
      return 'Linking failed: the confirmation did not match, so nothing was transferred (the keys may have been tampered with).';
    case 'identity_changed':
      return `Careful: ${firstLine(error.message)}`;
    default:
      return undefined;
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused — is the server running?',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'the host name could not be resolved right now',
  EPIPE: 'the connection was closed',
};

const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The innermost error code of a network failure (errors may wrap their cause). */
function networkCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (code in NETWORK_CODES || CERTIFICATE_CODES.has(code))) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Why the server could not be reached, as one sentence, or undefined when it is not a network failure. */
export function describeConnectionFailure(error: unknown, where: string): string | undefined {
  const code = networkCode(error);
  if (code === undefined) return undefined;
  if (CERTIFICATE_CODES.has(code)) {
    return `The server at ${where} presented a TLS certificate this client does not trust (${code}). For your own development server (kecalek server --dev) use --insecure-dev.`;
  }
  return `Cannot reach the server at ${where}: ${NETWORK_CODES[code]}`.replace(/([^?.])$/, '$1.');
}

/** One line for any error. `debug` appends nothing here: the caller prints the stack separately. */
export function describeError(error: unknown): string {
  if (error instanceof ChatInputError) return error.message;
  if (error instanceof KecalekError) return describeCode(error) ?? (firstLine(error.message) || error.code);
  const network = networkCode(error);
  if (network !== undefined) return describeConnectionFailure(error, 'the server') ?? network;
  const message = error instanceof Error ? firstLine(error.message) : firstLine(String(error));
  return `Something went wrong: ${message || 'unknown error'}.`.replace(/\.\.$/, '.');
}

/** The stack (or the value) of an unexpected error, for --debug. */
export function errorDetails(error: unknown): string {
  if (error instanceof Error) {
    const parts = [error.stack ?? `${error.name}: ${error.message}`];
    if (error instanceof KecalekError && error.details) parts.push(`details: ${JSON.stringify(error.details)}`);
    if (error.cause !== undefined) parts.push(`cause: ${errorDetails(error.cause)}`);
    return parts.join('\n');
  }
  return String(error);
}

const TRANSIENT = new Set(['not_connected', 'connection_closed', 'request_timeout', 'rate_limited', 'shutting_down', 'internal_error', 'device_mismatch', 'too_many_connections']);

/** Whether trying the same thing again later may work (a network or server hiccup, not a refusal). */
export function isTransientError(error: unknown): boolean {
  if (error instanceof KecalekError) return TRANSIENT.has(error.code);
  return true;
}

/** Whether an error is the user's or the server's expected refusal (no need to mention --debug). */
export function isExpectedError(error: unknown): boolean {
  return error instanceof KecalekError || networkCode(error) !== undefined;
}
