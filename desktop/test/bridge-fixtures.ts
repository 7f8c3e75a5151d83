/**
 * Shared by the desktop tests: a harness server with a small plugin whose client part exposes
 * methods, ClientBridges against it, signed-up accounts through the bridge, and an event recorder.
 */
import jsqrModule from 'jsqr';
import { definePlugin, PLUGIN_API_VERSION, type AnyPluginDefinition } from '../../engine/plugin/index.js';
import { FAST_ENVELOPE, PASSWORD, readOutboxCode, tempHome, uniqueName, waitFor, type TestServer } from '../../engine/testing/index.js';
import type { BridgeEvent, BridgeEvents } from '../shared/bridge.js';
import { ClientBridge, type ClientBridgeOptions } from '../main/bridge.js';

/** A client-only plugin: `echo` returns its arguments, `fail` throws a plain Error with a "secret" message, `notAFunction` is not callable. */
export const echoPlugin = definePlugin({
  name: 'echo',
  version: '1.0.0',
  apiVersion: PLUGIN_API_VERSION,
  client(api) {
    api.expose({
      echo: (...values: unknown[]) => ({ values, self: api.client.self?.username ?? null }),
      fail: () => {
        throw new Error('disk /home/secret/keys.kenv failed');
      },
      notAFunction: 42,
    });
  },
}) as AnyPluginDefinition;

export function bridgeOptions(server: TestServer, home: string, extra: Partial<ClientBridgeOptions> = {}): ClientBridgeOptions {
  return {
    server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
    home,
    plugins: [echoPlugin],
    client: { keyEnvelope: FAST_ENVELOPE, requestTimeoutMs: 20_000 },
    ...extra,
  };
}

export class Recorder {
  readonly events: Array<{ event: BridgeEvent; data: unknown }> = [];

  constructor(bridge: ClientBridge) {
    bridge.subscribe((event, data) => this.events.push({ event, data }));
  }

  of<E extends BridgeEvent>(event: E): Array<BridgeEvents[E]> {
    return this.events.filter((entry) => entry.event === event).map((entry) => entry.data as BridgeEvents[E]);
  }

  waitFor<E extends BridgeEvent>(event: E, match: (data: BridgeEvents[E]) => boolean = () => true): Promise<BridgeEvents[E]> {
    return waitFor(`a ${event} event`, () => this.of(event).find(match));
  }
}

export interface BridgeUser {
  readonly bridge: ClientBridge;
  readonly recorder: Recorder;
  readonly email: string;
  readonly username: string;
  readonly home: string;
  readonly userId: string;
}

/** Registers and confirms a new account through a new ClientBridge. */
export async function signUp(server: TestServer, bridges: ClientBridge[], extra: Partial<ClientBridgeOptions> = {}): Promise<BridgeUser> {
  const username = uniqueName('d');
  const email = `${username.toLowerCase()}@example.test`;
  const folder = await tempHome();
  const bridge = new ClientBridge(bridgeOptions(server, folder, extra));
  bridges.push(bridge);
  const recorder = new Recorder(bridge);
  await bridge.start();
  await bridge.call('register', { username, email, password: PASSWORD });
  const self = await bridge.call('confirmRegistration', { code: await readOutboxCode(server, email) });
  return { bridge, recorder, email, username, home: folder, userId: self.userId };
}

/** True when `value` is made of plain JSON values only (what IPC and the WebSocket carry unchanged). */
export function isPlainJson(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isPlainJson);
  if (typeof value === 'object') {
    if (Object.getPrototypeOf(value) !== Object.prototype) return false;
    return Object.values(value as Record<string, unknown>).every((item) => item !== undefined && isPlainJson(item));
  }
  return false;
}

/** jsqr is CommonJS whose module.exports is the function; its types describe an ES default export. */
const jsQR = ((jsqrModule as unknown as { default?: unknown }).default ?? jsqrModule) as typeof jsqrModule.default;

/**
 * Reads the QR code in an SVG as qrcode draws it (one path of horizontal strokes: `M x y.5 h n`,
 * `m dx dy h n`), rasterised at 8 px per module, decoded with jsQR. Undefined if it does not decode.
 */
export function decodeQrSvg(svg: string): string | undefined {
  const size = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)?.[1]);
  const path = /<path stroke="[^"]+" d="([^"]+)"/.exec(svg)?.[1];
  if (!Number.isInteger(size) || !path) return undefined;
  const scale = 8;
  const width = size * scale;
  const pixels = new Uint8ClampedArray(width * width * 4).fill(255);
  let x = 0;
  let y = 0;
  for (const [, command, a, b] of path.matchAll(/([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?/g)) {
    if (command === 'M') [x, y] = [Number(a), Number(b)];
    else if (command === 'm') [x, y] = [x + Number(a), y + Number(b)];
    else {
      const end = command === 'h' ? x + Number(a) : Number(a);
      const row = Math.floor(y);
      for (let module = x; module < end; module++) {
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const offset = ((row * scale + dy) * width + module * scale + dx) * 4;
            pixels[offset] = pixels[offset + 1] = pixels[offset + 2] = 0;
          }
        }
      }
      x = end;
    }
  }
  return jsQR(pixels, width, width)?.data;
}
