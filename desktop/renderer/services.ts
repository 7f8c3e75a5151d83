/**
 * What the components share: the controller (state + actions), toasts, the slot registry, the UI
 * plugin host and the confirmation dialog. `<kecalek-app>` provides them to its subtree through a
 * bubbling, composed request event (the context protocol in a few lines: @lit/context is not a
 * dependency), so components need no prop drilling and work inside any shadow root.
 */
import type { UiPluginHost } from './plugins/host.js';
import type { SlotRegistry } from './slots/registry.js';
import type { AppController } from './state/controller.js';
import type { ToastService } from './state/toasts.js';

export interface ConfirmOptions {
  readonly title: string;
  readonly message: string;
  /** The confirming button's label (default "OK"). */
  readonly confirmLabel?: string;
  /** Red confirming button (delete, leave). */
  readonly danger?: boolean;
}

export interface Services {
  readonly controller: AppController;
  readonly toasts: ToastService;
  readonly slots: SlotRegistry;
  readonly plugins: UiPluginHost;
  /** Asks the user; resolves true when confirmed. */
  confirm(options: ConfirmOptions): Promise<boolean>;
}

export const SERVICES_REQUEST = 'kecalek-services-request';

interface ServicesRequestDetail {
  services?: Services;
}

/** Answers service requests from `host`'s subtree; returns the remover. */
export function provideServices(host: EventTarget, services: Services): () => void {
  const listener = (event: Event): void => {
    const detail = (event as CustomEvent<ServicesRequestDetail>).detail;
    if (detail.services !== undefined) return;
    detail.services = services;
    event.stopPropagation();
  };
  host.addEventListener(SERVICES_REQUEST, listener);
  return () => host.removeEventListener(SERVICES_REQUEST, listener);
}

/** The services of the nearest provider above `element` (it must be connected). */
export function requestServices(element: EventTarget): Services | undefined {
  const detail: ServicesRequestDetail = {};
  element.dispatchEvent(new CustomEvent<ServicesRequestDetail>(SERVICES_REQUEST, { detail, bubbles: true, composed: true }));
  return detail.services;
}
