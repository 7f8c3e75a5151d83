/**
 * Starts the renderer on a bridge: builds the services (controller, toasts, slot registry, UI
 * plugin host), keeps the plugin host in line with the server's advertised plugins, mounts
 * <kecalek-app> and loads the first state.
 */
import type { UiPluginDefinition } from '../../engine/plugin/ui.js';
import type { KecalekBridge } from '../shared/bridge.js';
import type { KecalekApp } from './components/app.js';
import { UiPluginHost } from './plugins/host.js';
import { SlotRegistry } from './slots/registry.js';
import { AppController } from './state/controller.js';
import type { AppState } from './state/model.js';
import { ToastService } from './state/toasts.js';
import './components/app.js';

export interface Renderer {
  readonly app: KecalekApp;
  readonly controller: AppController;
  readonly plugins: UiPluginHost;
  readonly slots: SlotRegistry;
}

/** How long a plugin's openConversation waits for a conversation this client does not list yet. */
const OPEN_WAIT_MS = 10_000;

/** Opens a conversation once the list has it (a group just joined arrives by push a moment later). */
async function openWhenListed(controller: AppController, conversationId: string): Promise<void> {
  const listed = (): boolean => controller.state.conversations.some((c) => c.id === conversationId);
  if (!listed()) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, OPEN_WAIT_MS);
      const off = controller.store.subscribe(() => {
        if (listed()) done();
      });
      function done(): void {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }
  await controller.openConversation(conversationId);
}

export async function boot(root: HTMLElement, bridge: KecalekBridge, uiPlugins: readonly UiPluginDefinition[]): Promise<Renderer> {
  const toasts = new ToastService();
  const controller = new AppController(bridge, toasts);
  const slots = new SlotRegistry();
  const plugins = new UiPluginHost(uiPlugins, {
    registry: slots,
    call: (plugin, method, args) => controller.pluginCall(plugin, method, args),
    toast: (text, kind) => toasts.show(text, kind),
    openConversation: (conversationId) => openWhenListed(controller, conversationId),
    onPluginEvent: (listener) => controller.onPluginEvent(listener),
  });

  // Activate exactly the UI parts of the plugins the server advertises, for the signed-in account.
  let synced: { self: AppState['self']; server: AppState['server'] } | undefined;
  controller.store.subscribe((state) => {
    if (synced && synced.self === state.self && synced.server === state.server) return;
    synced = { self: state.self, server: state.server };
    plugins.sync(state.self ? state.server : undefined, state.self);
  });

  const app = document.createElement('kecalek-app') as KecalekApp;
  app.setup({ controller, toasts, slots, plugins });
  root.replaceChildren(app);
  await controller.start();
  return { app, controller, plugins, slots };
}
