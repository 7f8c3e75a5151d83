/**
 * The preload's bridge object with a fake ipcRenderer: only BRIDGE_METHODS go to the main process,
 * only BRIDGE_EVENTS can be subscribed, failures reject with the plain BridgeError.
 */
import { expect } from 'chai';
import { createPreloadBridge, type IpcRendererDeps } from '../preload/bridge-api.js';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type BridgeEvents, type KecalekBridge } from '../shared/bridge.js';

class FakeIpcRenderer {
  readonly invoked: unknown[][] = [];
  readonly listeners = new Map<string, Array<(event: unknown, ...args: unknown[]) => void>>();
  reply: unknown = { ok: true, result: null };

  async invoke(...args: unknown[]): Promise<unknown> {
    this.invoked.push(args);
    return this.reply;
  }

  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): this {
    this.listeners.set(channel, [...(this.listeners.get(channel) ?? []), listener]);
    return this;
  }

  emit(channel: string, message: unknown): void {
    for (const listener of this.listeners.get(channel) ?? []) listener({}, message);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('desktop: preload bridge (fake ipcRenderer)', () => {
  let ipc: FakeIpcRenderer;
  let bridge: KecalekBridge;

  beforeEach(() => {
    ipc = new FakeIpcRenderer();
    bridge = createPreloadBridge(ipc as unknown as IpcRendererDeps);
  });

  it('listens on the event channel only', () => {
    expect([...ipc.listeners.keys()]).to.deep.equal([IPC_EVENT_CHANNEL]);
  });

  it('invokes allow-listed methods on the invoke channel and resolves with the result', async () => {
    ipc.reply = { ok: true, result: { theme: 'dark' } };
    expect(await bridge.invoke('setSettings', { theme: 'dark' })).to.deep.equal({ theme: 'dark' });
    expect(ipc.invoked).to.deep.equal([[IPC_INVOKE_CHANNEL, 'setSettings', { theme: 'dark' }]]);
  });

  it('refuses other methods without asking the main process', async () => {
    const error = await rejection(bridge.invoke('shell.openExternal' as 'getState', {}));
    expect(error).to.deep.equal({ code: 'unknown_method', message: 'The bridge has no such method' });
    expect(await rejection(bridge.invoke('__proto__' as 'getState', {}))).to.have.property('code', 'unknown_method');
    expect(ipc.invoked).to.have.length(0);
  });

  it('rejects with the plain {code, message, details} the main process answered', async () => {
    ipc.reply = { ok: false, error: { code: 'locked_out', message: 'Too many wrong passwords', details: { retry_after_ms: 2000 } } };
    expect(await rejection(bridge.invoke('login', { email: 'a@b.test', password: 'x' }))).to.deep.equal({
      code: 'locked_out',
      message: 'Too many wrong passwords',
      details: { retry_after_ms: 2000 },
    });
    ipc.reply = 'garbage';
    expect(await rejection(bridge.invoke('getState', {}))).to.have.property('code', 'internal_error');
  });

  it('dispatches allow-listed events to their listeners and unsubscribes', () => {
    const seen: Array<BridgeEvents['presence']> = [];
    const off = bridge.on('presence', (data) => seen.push(data));
    const other: unknown[] = [];
    bridge.on('devices_changed', (data) => other.push(data));
    ipc.emit(IPC_EVENT_CHANNEL, { event: 'presence', data: { userId: 'u1', online: true } });
    ipc.emit(IPC_EVENT_CHANNEL, { event: 'not_an_event', data: {} });
    ipc.emit(IPC_EVENT_CHANNEL, 'garbage');
    off();
    ipc.emit(IPC_EVENT_CHANNEL, { event: 'presence', data: { userId: 'u1', online: false } });
    expect(seen).to.deep.equal([{ userId: 'u1', online: true }]);
    expect(other).to.deep.equal([]);
  });

  it('refuses subscriptions to events that are not allow-listed', () => {
    expect(() => bridge.on('ipc-message' as 'presence', () => undefined)).to.throw(TypeError);
  });

  it('keeps delivering when a listener throws', () => {
    const seen: string[] = [];
    bridge.on('presence', () => {
      throw new Error('renderer bug');
    });
    bridge.on('presence', (data) => seen.push(data.userId));
    ipc.emit(IPC_EVENT_CHANNEL, { event: 'presence', data: { userId: 'u2', online: true } });
    expect(seen).to.deep.equal(['u2']);
  });

  it('is frozen: the page cannot replace invoke or on', () => {
    expect(Object.isFrozen(bridge)).to.equal(true);
  });
});
