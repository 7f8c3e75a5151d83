/**
 * Shared by the transport tests: a small plugin with handlers that exercise the transport (bodies,
 * echo through ctx.send, a failing handler, a slow one), counters of connection/disconnect hooks,
 * and a pino logger whose lines the tests can read.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { Type } from 'typebox';
import type { Logger } from 'pino';
import { PLUGIN_API_VERSION, definePlugin } from '../../plugin/index.js';
import { createLogger } from '../logger.js';

export const TEST_PLUGIN_NAME = 'transport-test';
export const MAX_TEST_BODY = 2 * 1024 * 1024;

export interface HookCounts {
  readonly opened: Map<string, number>;
  readonly closed: Map<string, number>;
}

export function sha256(bytes: Uint8Array | undefined): string | null {
  return bytes === undefined ? null : createHash('sha256').update(bytes).digest('hex');
}

export function createTransportTestPlugin(counts: HookCounts = { opened: new Map(), closed: new Map() }) {
  return definePlugin({
    name: TEST_PLUGIN_NAME,
    version: '1.2.3',
    apiVersion: PLUGIN_API_VERSION,
    server(api) {
      api.hooks.connection.tap((connection) => {
        counts.opened.set(connection.id, (counts.opened.get(connection.id) ?? 0) + 1);
      });
      api.hooks.disconnect.tap((event) => {
        counts.closed.set(event.connection.id, (counts.closed.get(event.connection.id) ?? 0) + 1);
      });
      api.handle('tt_ping', Type.Object({}), () => ({ pong: true }), { auth: false });
      api.handle(
        'tt_whoami',
        Type.Object({}),
        (_request, ctx) => ({ connection_id: ctx.connection.id, ip: ctx.ip, transport: ctx.connection.transport }),
        { auth: false },
      );
      api.handle(
        'tt_upload',
        Type.Object({}),
        (_request, ctx) => ({ size: ctx.body?.length ?? -1, sha256: sha256(ctx.body) }),
        { auth: false, maxBodyBytes: MAX_TEST_BODY },
      );
      api.handle(
        'tt_echo',
        Type.Object({ chunks: Type.Integer({ minimum: 1, maximum: 10 }) }),
        async (request, ctx) => {
          for (let index = 0; index < request.chunks; index++) {
            await ctx.send({ type: 'tt_chunk', request_id: ctx.requestId, data: { index } }, ctx.body);
          }
          return { sent: request.chunks };
        },
        { auth: false, maxBodyBytes: MAX_TEST_BODY },
      );
      api.handle(
        'tt_boom',
        Type.Object({}),
        () => {
          throw new Error('kaboom: internal detail that must not reach the client');
        },
        { auth: false },
      );
      api.handle(
        'tt_slow',
        Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
        async (request) => {
          await new Promise((resolve) => setTimeout(resolve, request.ms));
          return { slept: request.ms };
        },
        { auth: false },
      );
      api.handle('tt_secret', Type.Object({}), () => ({ secret: true }));
    },
  });
}

export interface CapturedLogs {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
}

/** A pino logger writing JSON lines into an array. */
export function captureLogs(level = 'debug'): CapturedLogs {
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      pending += chunk.toString('utf8');
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds (or fails after `timeoutMs`). */
export async function eventually(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}
