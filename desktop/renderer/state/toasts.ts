/**
 * Non-blocking notices: failed actions, background errors, confirmations ("Copied"). The same text
 * shown again while it is still up is not repeated (a failed send reports through the rejected
 * call and through the bridge's `error` event).
 */
import { Store } from './store.js';

export type ToastKind = 'info' | 'error';

export interface Toast {
  readonly id: number;
  readonly text: string;
  readonly kind: ToastKind;
}

export interface ToastOptions {
  /** Milliseconds before it goes away by itself (default 5 s, errors 8 s; 0 keeps it). */
  readonly timeoutMs?: number;
}

const MAX_TOASTS = 4;

export class ToastService {
  readonly store = new Store<readonly Toast[]>([]);
  #next = 1;
  readonly #timers = new Map<number, ReturnType<typeof setTimeout>>();

  show(text: string, kind: ToastKind = 'info', options: ToastOptions = {}): number {
    const existing = this.store.state.find((t) => t.text === text && t.kind === kind);
    if (existing) {
      this.#arm(existing.id, kind, options);
      return existing.id;
    }
    const toast: Toast = { id: this.#next++, text, kind };
    this.store.update((list) => {
      const next = [...list, toast];
      for (const dropped of next.slice(0, Math.max(0, next.length - MAX_TOASTS))) this.#clear(dropped.id);
      return next.slice(-MAX_TOASTS);
    });
    this.#arm(toast.id, kind, options);
    return toast.id;
  }

  error(text: string): number {
    return this.show(text, 'error');
  }

  dismiss(id: number): void {
    this.#clear(id);
    this.store.update((list) => (list.some((t) => t.id === id) ? list.filter((t) => t.id !== id) : list));
  }

  #arm(id: number, kind: ToastKind, options: ToastOptions): void {
    this.#clear(id);
    const timeout = options.timeoutMs ?? (kind === 'error' ? 8000 : 5000);
    if (timeout > 0) this.#timers.set(id, setTimeout(() => this.dismiss(id), timeout));
  }

  #clear(id: number): void {
    const timer = this.#timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(id);
  }
}
