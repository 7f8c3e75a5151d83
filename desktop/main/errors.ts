/**
 * Errors crossing the bridge: always `{code, message, details}` and plain JSON. A KecalekError
 * keeps its stable code and its message (written for people); anything else becomes
 * `internal_error` with a generic message, so that stack traces, paths and secrets never reach the
 * renderer. No electron import: this module is shared by the Electron main process and the web host.
 */
import { KecalekError, WireErrorCode } from '../../engine/errors.js';
import type { BridgeError } from '../shared/bridge.js';

/** A refusal raised by the bridge itself (unknown method, forbidden caller). */
export class BridgeFailure extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'BridgeFailure';
    this.code = code;
    this.details = details;
  }
}

export const INTERNAL_ERROR_MESSAGE = 'Something went wrong in the Kecalek client. Try again; if it keeps happening, restart the app.';

const MAX_DEPTH = 8;
const MAX_STRING = 10_000;

/**
 * A copy of `value` made only of JSON values (null, booleans, finite numbers, strings, arrays and
 * plain-object records): what survives both structured clone and JSON. Functions, symbols,
 * undefined and class instances other than arrays/plain objects are dropped; Uint8Arrays become
 * arrays of numbers; Maps and Sets become arrays/records of their entries.
 */
export function plainJson(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) return value.map((item) => plainJson(item, depth + 1) ?? null);
  if (value instanceof Uint8Array) return [...value];
  if (value instanceof Date) return value.getTime();
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of value) {
      const copied = plainJson(item, depth + 1);
      if (copied !== undefined) out[String(key)] = copied;
    }
    return out;
  }
  if (value instanceof Set) return [...value].map((item) => plainJson(item, depth + 1) ?? null);
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const copied = plainJson(item, depth + 1);
    if (copied !== undefined) out[key] = copied;
  }
  return out;
}

/** Safe details: JSON values only, long strings cut. */
function safeDetails(details: unknown): Record<string, unknown> | undefined {
  const copied = plainJson(details);
  if (copied === undefined || copied === null || typeof copied !== 'object' || Array.isArray(copied)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(copied as Record<string, unknown>)) {
    out[key] = typeof value === 'string' && value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function firstLine(text: string): string {
  const line = (text.split('\n')[0] ?? '').trim();
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** Whether `error` is one Kecalek raised on purpose (its code and message are safe to show). */
export function isExpectedError(error: unknown): error is KecalekError | BridgeFailure {
  return error instanceof KecalekError || error instanceof BridgeFailure;
}

/** The bridge's view of any error. */
export function toBridgeError(error: unknown): BridgeError {
  if (isExpectedError(error)) {
    const details = safeDetails(error.details);
    return { code: error.code, message: firstLine(error.message) || error.code, ...(details ? { details } : {}) };
  }
  return { code: WireErrorCode.INTERNAL_ERROR, message: INTERNAL_ERROR_MESSAGE };
}
