/**
 * Real request frames for the baseline: while `during` runs, every `type` request a ChatClient in
 * this process sends is also encoded exactly as its connection writes it (the same fields, in the
 * same order, then type and a request id of the same length), up to `limit` of them. The
 * prototype is restored afterwards; the measured phases never run with the capture in place.
 */
import { Connection } from '../../engine/client/connection.js';
import { encodeFrame, newRequestId } from '../../engine/protocol/index.js';

export async function captureFrames<T>(type: string, limit: number, during: () => Promise<T>): Promise<{ result: T; frames: Buffer[] }> {
  const original = Connection.prototype.exchange;
  const frames: Buffer[] = [];
  Connection.prototype.exchange = function (this: Connection, frameType, fields = {}, options = {}) {
    if (frameType === type && frames.length < limit) frames.push(Buffer.concat(encodeFrame({ ...fields, type: frameType, request_id: newRequestId() })));
    return original.call(this, frameType, fields, options);
  } as typeof original;
  try {
    const result = await during();
    return { result, frames };
  } finally {
    Connection.prototype.exchange = original;
  }
}

export function frameSizes(frames: readonly Buffer[]): { min: number; median: number; max: number } {
  const sizes = frames.map((f) => f.length).sort((a, b) => a - b);
  return { min: sizes[0] ?? 0, median: sizes[Math.floor(sizes.length / 2)] ?? 0, max: sizes[sizes.length - 1] ?? 0 };
}
