/**
 * The UI plugin host: activates the UI part of each plugin the server advertises in `hello` (and
 * only those), hands it a UiPluginApi bound to its name, routes its client part's events to it, and
 * withdraws everything it contributed when the server stops advertising it. It knows no plugin by
 * name. No DOM beyond `customElements` (injectable, so it is unit-tested in Node).
 */
import type {
  MessageAction,
  SlotContext,
  SlotItem,
  SlotName,
  TextDecorator,
  TextMark,
  UiConversation,
  UiMessage,
  UiPluginApi,
  UiPluginDefinition,
  UiSelf,
  ComposerHandle,
} from '../../../engine/plugin/ui.js';
import type { BridgeServerInfo } from '../../shared/bridge.js';
import { checkTag, type SlotRegistry } from '../slots/registry.js';

/** The part of a slot context that does not depend on the plugin. */
export interface BaseSlotContext {
  readonly self: UiSelf | undefined;
  readonly conversation?: UiConversation;
  readonly message?: UiMessage;
  readonly composer?: ComposerHandle;
  /** Scrolls to a message of the open conversation (given by slots inside the conversation view). */
  readonly jumpTo?: (messageId: string) => void;
}

export interface ElementRegistry {
  get(tag: string): CustomElementConstructor | undefined;
  define(tag: string, constructor: CustomElementConstructor): void;
}

export interface PluginHostOptions {
  readonly registry: SlotRegistry;
  /** Calls a plugin's client-part method (bridge `pluginCall`). */
  readonly call: (plugin: string, method: string, args: unknown[]) => Promise<unknown>;
  readonly toast: (text: string, kind?: 'info' | 'error') => void;
  /** Opens a conversation in the main window (default: does nothing). */
  readonly openConversation?: (conversationId: string) => Promise<void>;
  /** Subscribes to the bridge's `plugin` events. */
  readonly onPluginEvent: (listener: (event: { plugin: string; type: string; data: unknown }) => void) => () => void;
  /** Default: the window's `customElements`. */
  readonly elements?: ElementRegistry;
  /** Errors of plugin code (setup, listeners, elements); default console.error. */
  readonly logError?: (message: string, error: unknown) => void;
}

interface ActivePlugin {
  readonly definition: UiPluginDefinition;
  readonly version: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly removers: Array<() => void>;
  readonly listeners: Map<string, Set<(data: unknown) => void>>;
}

/** Where a plugin element's failure is reported: the nearest error boundary. */
export const PLUGIN_ERROR_EVENT = 'kecalek-plugin-error';

export interface PluginErrorDetail {
  readonly plugin: string;
  readonly error: unknown;
}

/** Marks elements defined through `api.define` with their plugin, for error boundaries. */
export const PLUGIN_OF = Symbol('kecalek.plugin');

export class UiPluginHost {
  readonly #options: PluginHostOptions;
  readonly #definitions = new Map<string, UiPluginDefinition>();
  readonly #active = new Map<string, ActivePlugin>();
  readonly #offPluginEvents: () => void;
  #self: UiSelf | undefined;

  constructor(definitions: readonly UiPluginDefinition[], options: PluginHostOptions) {
    this.#options = options;
    for (const definition of definitions) {
      if (!definition || typeof definition.name !== 'string' || typeof definition.setup !== 'function') {
        this.#logError('kecalek: a UI plugin without a name or setup() was ignored', definition);
        continue;
      }
      if (this.#definitions.has(definition.name)) {
        this.#logError(`kecalek: UI plugin "${definition.name}" is listed twice; the second was ignored`, undefined);
        continue;
      }
      this.#definitions.set(definition.name, definition);
    }
    this.#offPluginEvents = options.onPluginEvent((event) => this.#dispatch(event));
  }

  /** Names of the UI plugins currently active. */
  get active(): string[] {
    return [...this.#active.keys()];
  }

  /**
   * Brings the active set in line with the server: plugins it advertises are set up (once),
   * plugins it no longer advertises are withdrawn. `undefined` (signed out) withdraws all.
   */
  sync(server: BridgeServerInfo | undefined, self: UiSelf | undefined): void {
    this.#self = self;
    // Only plugins the server runs AND the main process has: a UI part's actions call its client part.
    const local = new Set(server?.localPlugins ?? []);
    const advertised = new Map((server?.plugins ?? []).filter((p) => local.has(p.name)).map((p) => [p.name, p.version] as const));
    for (const [name, active] of [...this.#active]) {
      const version = advertised.get(name);
      const config = server?.pluginSettings[name] ?? {};
      if (version === undefined || version !== active.version || JSON.stringify(config) !== JSON.stringify(active.config)) {
        this.#deactivate(name);
      }
    }
    this.#options.registry.setAdvertised(advertised.keys());
    for (const [name, version] of advertised) {
      if (this.#active.has(name)) continue;
      const definition = this.#definitions.get(name);
      if (definition) this.#activate(definition, version, server?.pluginSettings[name] ?? {});
    }
  }

  dispose(): void {
    for (const name of [...this.#active.keys()]) this.#deactivate(name);
    this.#offPluginEvents();
  }

  /** The context a plugin's slot element or action receives. */
  contextFor(plugin: string, base: BaseSlotContext): SlotContext {
    const config = this.#active.get(plugin)?.config ?? {};
    const options = this.#options;
    return {
      ...base,
      self: base.self ?? this.#self,
      config,
      call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
        return options.call(plugin, method, args) as Promise<T>;
      },
      toast(text: string, kind: 'info' | 'error' = 'info'): void {
        options.toast(String(text), kind);
      },
      jumpTo(messageId: string): void {
        base.jumpTo?.(String(messageId));
      },
      async openConversation(conversationId: string): Promise<void> {
        await options.openConversation?.(String(conversationId));
      },
    };
  }

  /**
   * The marks the plugins' text decorators give a message's text: sorted, inside the text, without
   * overlaps (a later mark overlapping an earlier one is dropped). A decorator that throws is
   * logged and skipped.
   */
  textMarks(message: UiMessage, base: BaseSlotContext): Array<TextMark & { readonly plugin: string }> {
    const text = message.text;
    const found: Array<TextMark & { readonly plugin: string }> = [];
    for (const decorator of this.#options.registry.textDecorators()) {
      let marks: ReturnType<TextDecorator>;
      try {
        marks = decorator.decorate(message, this.contextFor(decorator.plugin, { ...base, message }));
      } catch (error) {
        this.#logError(`kecalek: plugin "${decorator.plugin}" failed decorating a message's text`, error);
        continue;
      }
      if (!Array.isArray(marks)) continue;
      for (const mark of marks as readonly TextMark[]) {
        if (!mark || !Number.isInteger(mark.start) || !Number.isInteger(mark.end)) continue;
        if (mark.start < 0 || mark.end > text.length || mark.start >= mark.end) continue;
        found.push({
          start: mark.start,
          end: mark.end,
          kind: mark.kind === 'strong' ? 'strong' : 'accent',
          ...(typeof mark.title === 'string' && mark.title ? { title: mark.title } : {}),
          plugin: decorator.plugin,
        });
      }
    }
    found.sort((a, b) => a.start - b.start);
    const kept: Array<TextMark & { readonly plugin: string }> = [];
    for (const mark of found) {
      const last = kept[kept.length - 1];
      if (!last || mark.start >= last.end) kept.push(mark);
    }
    return kept;
  }

  /** Runs a plugin's message action; a failure becomes an error toast. */
  async runAction(plugin: string, action: Pick<MessageAction, 'run' | 'label'>, message: UiMessage, base: BaseSlotContext): Promise<void> {
    try {
      await action.run(message, this.contextFor(plugin, { ...base, message }));
    } catch (error) {
      this.#logError(`kecalek: plugin "${plugin}" action "${action.label}" failed`, error);
      const text = error instanceof Error && error.message ? error.message : 'The action failed';
      this.#options.toast(`${action.label}: ${text}`, 'error');
    }
  }

  #activate(definition: UiPluginDefinition, version: string, config: Readonly<Record<string, unknown>>): void {
    const name = definition.name;
    const active: ActivePlugin = { definition, version, config: Object.freeze({ ...config }), removers: [], listeners: new Map() };
    this.#active.set(name, active);
    try {
      definition.setup(this.#api(active));
    } catch (error) {
      this.#logError(`kecalek: UI plugin "${name}" failed to start; its contributions were withdrawn`, error);
      this.#deactivate(name);
    }
  }

  #deactivate(name: string): void {
    const active = this.#active.get(name);
    if (!active) return;
    this.#active.delete(name);
    for (const remove of active.removers.splice(0)) {
      try {
        remove();
      } catch (error) {
        this.#logError(`kecalek: removing a contribution of plugin "${name}" failed`, error);
      }
    }
    active.listeners.clear();
    this.#options.registry.removePlugin(name);
  }

  #api(active: ActivePlugin): UiPluginApi {
    const name = active.definition.name;
    const registry = this.#options.registry;
    const live = (): boolean => this.#active.get(name) === active;
    const api: UiPluginApi = {
      name,
      config: active.config,
      slot: (slotName: SlotName, item: SlotItem) => {
        if (!live()) return () => undefined;
        const remove = registry.slot(name, slotName, item);
        active.removers.push(remove);
        return remove;
      },
      messageAction: (action: MessageAction) => {
        if (!live()) return () => undefined;
        const remove = registry.messageAction(name, action);
        active.removers.push(remove);
        return remove;
      },
      define: (tag: string, element: CustomElementConstructor) => {
        checkTag(name, tag);
        const elements = this.#elements();
        if (elements.get(tag)) return;
        if (typeof element !== 'function') throw new TypeError(`Plugin "${name}": define("${tag}") needs an element class`);
        elements.define(tag, guardElement(name, element, (message, error) => this.#logError(message, error)));
      },
      decorateText: (decorator: TextDecorator) => {
        if (!live()) return () => undefined;
        const remove = registry.textDecorator(name, decorator);
        active.removers.push(remove);
        return remove;
      },
      on: (event: string, listener: (data: unknown) => void) => {
        if (!live()) return () => undefined;
        let set = active.listeners.get(event);
        if (!set) active.listeners.set(event, (set = new Set()));
        set.add(listener);
        const off = () => {
          active.listeners.get(event)?.delete(listener);
        };
        active.removers.push(off);
        return off;
      },
    };
    return Object.freeze(api);
  }

  #dispatch(event: { plugin: string; type: string; data: unknown }): void {
    const active = this.#active.get(event.plugin);
    const listeners = active?.listeners.get(event.type);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        listener(event.data);
      } catch (error) {
        this.#logError(`kecalek: plugin "${event.plugin}" failed handling its "${event.type}" event`, error);
      }
    }
  }

  #elements(): ElementRegistry {
    if (this.#options.elements) return this.#options.elements;
    return customElements;
  }

  #logError(message: string, error: unknown): void {
    (this.#options.logError ?? ((m, e) => console.error(m, e)))(message, error);
  }
}

type Callback = (this: HTMLElement, ...args: unknown[]) => unknown;

/**
 * Wraps a plugin's element class so that failures in its lifecycle callbacks reach the nearest
 * error boundary (as a bubbling `kecalek-plugin-error` event) instead of escaping as uncaught errors.
 */
export function guardElement(
  plugin: string,
  base: CustomElementConstructor,
  logError: (message: string, error: unknown) => void,
): CustomElementConstructor {
  const report = (element: HTMLElement, error: unknown): void => {
    logError(`kecalek: an element of plugin "${plugin}" failed`, error);
    if (typeof element.dispatchEvent === 'function' && typeof CustomEvent === 'function') {
      element.dispatchEvent(
        new CustomEvent<PluginErrorDetail>(PLUGIN_ERROR_EVENT, { detail: { plugin, error }, bubbles: true, composed: true }),
      );
    }
  };
  const Base = base as unknown as { new (): HTMLElement };
  const proto = Base.prototype as unknown as Record<string, unknown>;
  const wrap = (name: string): Callback | undefined => {
    const original = proto[name];
    if (typeof original !== 'function') return undefined;
    return function (this: HTMLElement, ...args: unknown[]): unknown {
      try {
        return (original as Callback).apply(this, args);
      } catch (error) {
        report(this, error);
        return undefined;
      }
    };
  };
  const guarded = class extends Base {};
  for (const name of ['connectedCallback', 'disconnectedCallback', 'attributeChangedCallback', 'adoptedCallback']) {
    const wrapped = wrap(name);
    if (wrapped) Object.defineProperty(guarded.prototype, name, { value: wrapped, configurable: true, writable: true });
  }
  Object.defineProperty(guarded.prototype, PLUGIN_OF, { value: plugin });
  return guarded as unknown as CustomElementConstructor;
}
