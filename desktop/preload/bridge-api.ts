/**
 * The preload's bridge object, built from an ipcRenderer (the real one in preload.ts, a fake in
 * tests). `invoke` lets only BRIDGE_METHODS through and rejects with the plain BridgeError the
 * main process answered; `on` accepts only BRIDGE_EVENTS and returns the unsubscribe function.
 * One IPC listener serves every subscription; the renderer never touches ipcRenderer itself.
 */
import type { IpcRenderer, IpcRendererEvent } from 'electron';
import {
  BridgeErrorCode,
  IPC_EVENT_CHANNEL,
  IPC_INVOKE_CHANNEL,
  isBridgeEvent,
  isBridgeMethod,
  type BridgeError,
  type BridgeEvent,
  type BridgeEvents,
  type BridgeMethod,
  type BridgeMethods,
  type KecalekBridge,
} from '../shared/bridge.js';

export type IpcRendererDeps = Pick<IpcRenderer, 'invoke' | 'on'>;

function isReply(value: unknown): value is { ok: true; result: unknown } | { ok: false; error: BridgeError } {
  return typeof value === 'object' && value !== null && typeof (value as { ok?: unknown }).ok === 'boolean';
}

export function createPreloadBridge(ipcRenderer: IpcRendererDeps): KecalekBridge {
  const listeners = new Map<BridgeEvent, Set<(data: never) => void>>();

  ipcRenderer.on(IPC_EVENT_CHANNEL, (_event: IpcRendererEvent, message: unknown) => {
    if (typeof message !== 'object' || message === null) return;
    const { event, data } = message as { event?: unknown; data?: unknown };
    if (!isBridgeEvent(event)) return;
    for (const listener of [...(listeners.get(event) ?? [])]) {
      try {
        listener(data as never);
      } catch {
        // A throwing listener must not stop the others.
      }
    }
  });

  return Object.freeze({
    async invoke<M extends BridgeMethod>(method: M, args: BridgeMethods[M]['args']): Promise<BridgeMethods[M]['result']> {
      if (!isBridgeMethod(method)) {
        const error: BridgeError = { code: BridgeErrorCode.UNKNOWN_METHOD, message: 'The bridge has no such method' };
        throw error;
      }
      const reply: unknown = await ipcRenderer.invoke(IPC_INVOKE_CHANNEL, method, args);
      if (!isReply(reply)) {
        const error: BridgeError = { code: 'internal_error', message: 'The app answered in an unexpected form' };
        throw error;
      }
      if (!reply.ok) throw reply.error;
      return reply.result as BridgeMethods[M]['result'];
    },
    on<E extends BridgeEvent>(event: E, listener: (data: BridgeEvents[E]) => void): () => void {
      if (!isBridgeEvent(event)) throw new TypeError('The bridge has no such event');
      if (typeof listener !== 'function') throw new TypeError('The listener must be a function');
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      const entry = listener as (data: never) => void;
      set.add(entry);
      return () => {
        listeners.get(event)?.delete(entry);
      };
    },
  });
}
