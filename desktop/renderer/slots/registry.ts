/**
 * The UI slot registry (DESIGN.md §2: the renderer uses no tapable). Plugins contribute elements to
 * named slots, entries to the message action menu and decorators of message text; each
 * contribution returns its remover. Items are ordered by `order` (default 100), then by
 * registration. Only plugins the server advertises may register: anything else is refused (and logged), and withdrawing a plugin removes all of its
 * contributions at once. No DOM here (unit-tested in Node).
 */
import { SLOT_NAMES, type MessageAction, type SlotItem, type SlotName, type TextDecorator } from '../../../engine/plugin/ui.js';

export const DEFAULT_ORDER = 100;

export interface RegisteredSlotItem extends SlotItem {
  readonly plugin: string;
  /** Unique across the registry: `<plugin>/<id>`. */
  readonly key: string;
  readonly order: number;
  readonly sequence: number;
}

export interface RegisteredAction extends MessageAction {
  readonly plugin: string;
  readonly key: string;
  readonly sequence: number;
}

export interface RegisteredTextDecorator {
  readonly plugin: string;
  readonly decorate: TextDecorator;
  readonly sequence: number;
}

/** A valid custom element name (lowercase, a dash, no uppercase). */
const TAG = /^[a-z][a-z0-9._-]*-[a-z0-9._-]*$/u;

export class SlotRegistryError extends Error {
  readonly code = 'plugin_ui_invalid';
}

export interface SlotRegistryOptions {
  /** Where refused registrations are reported (default console.warn). */
  readonly warn?: (message: string) => void;
}

export class SlotRegistry {
  readonly #slots = new Map<SlotName, RegisteredSlotItem[]>();
  #actions: RegisteredAction[] = [];
  #decorators: RegisteredTextDecorator[] = [];
  readonly #listeners = new Set<() => void>();
  #allowed = new Set<string>();
  #sequence = 0;
  /** Bumped on every change, so views can tell a new snapshot cheaply. */
  #version = 0;
  readonly #warn: (message: string) => void;

  constructor(options: SlotRegistryOptions = {}) {
    this.#warn = options.warn ?? ((message) => console.warn(message));
  }

  get version(): number {
    return this.#version;
  }

  /** The plugins the server advertises; contributions of any other plugin are removed. */
  setAdvertised(names: Iterable<string>): void {
    this.#allowed = new Set(names);
    let changed = false;
    for (const [name, items] of this.#slots) {
      const kept = items.filter((item) => this.#allowed.has(item.plugin));
      if (kept.length !== items.length) {
        this.#slots.set(name, kept);
        changed = true;
      }
    }
    const actions = this.#actions.filter((a) => this.#allowed.has(a.plugin));
    if (actions.length !== this.#actions.length) {
      this.#actions = actions;
      changed = true;
    }
    const decorators = this.#decorators.filter((d) => this.#allowed.has(d.plugin));
    if (decorators.length !== this.#decorators.length) {
      this.#decorators = decorators;
      changed = true;
    }
    if (changed) this.#changed();
  }

  isAdvertised(plugin: string): boolean {
    return this.#allowed.has(plugin);
  }

  /** Contributes `item` to slot `name` for `plugin`; returns its remover (idempotent). */
  slot(plugin: string, name: SlotName, item: SlotItem): () => void {
    if (!this.#allowed.has(plugin)) {
      this.#warn(`kecalek: plugin "${plugin}" is not enabled on this server: its "${name}" item was not registered`);
      return () => undefined;
    }
    if (!SLOT_NAMES.includes(name)) throw new SlotRegistryError(`Plugin "${plugin}": unknown UI slot "${String(name)}" (slots: ${SLOT_NAMES.join(', ')})`);
    if (typeof item?.id !== 'string' || item.id === '') throw new SlotRegistryError(`Plugin "${plugin}": a slot item needs an id`);
    checkTag(plugin, item.tag);
    const key = `${plugin}/${item.id}`;
    const items = this.#slots.get(name) ?? [];
    if (items.some((existing) => existing.key === key)) {
      throw new SlotRegistryError(`Plugin "${plugin}": slot item "${item.id}" is already in "${name}"`);
    }
    const registered: RegisteredSlotItem = Object.freeze({
      ...item,
      plugin,
      key,
      order: typeof item.order === 'number' && Number.isFinite(item.order) ? item.order : DEFAULT_ORDER,
      sequence: this.#sequence++,
    });
    this.#slots.set(name, [...items, registered].sort(byOrder));
    this.#changed();
    return () => {
      const current = this.#slots.get(name) ?? [];
      if (!current.includes(registered)) return;
      this.#slots.set(
        name,
        current.filter((i) => i !== registered),
      );
      this.#changed();
    };
  }

  /** The items of a slot, in render order. */
  items(name: SlotName): readonly RegisteredSlotItem[] {
    return this.#slots.get(name) ?? [];
  }

  /** Adds an entry to every message's action menu for `plugin`; returns its remover. */
  messageAction(plugin: string, action: MessageAction): () => void {
    if (!this.#allowed.has(plugin)) {
      this.#warn(`kecalek: plugin "${plugin}" is not enabled on this server: its message action was not registered`);
      return () => undefined;
    }
    if (typeof action?.id !== 'string' || action.id === '') throw new SlotRegistryError(`Plugin "${plugin}": a message action needs an id`);
    if (typeof action.label !== 'string' || action.label.trim() === '') throw new SlotRegistryError(`Plugin "${plugin}": message action "${action.id}" needs a label`);
    if (typeof action.run !== 'function') throw new SlotRegistryError(`Plugin "${plugin}": message action "${action.id}" needs run()`);
    const key = `${plugin}/${action.id}`;
    if (this.#actions.some((a) => a.key === key)) throw new SlotRegistryError(`Plugin "${plugin}": message action "${action.id}" is already registered`);
    const registered: RegisteredAction = Object.freeze({
      id: action.id,
      label: action.label,
      ...(action.when ? { when: action.when } : {}),
      run: action.run,
      plugin,
      key,
      sequence: this.#sequence++,
    });
    this.#actions = [...this.#actions, registered];
    this.#changed();
    return () => {
      if (!this.#actions.includes(registered)) return;
      this.#actions = this.#actions.filter((a) => a !== registered);
      this.#changed();
    };
  }

  messageActions(): readonly RegisteredAction[] {
    return this.#actions;
  }

  /** Adds a decorator of message text for `plugin`; returns its remover. */
  textDecorator(plugin: string, decorate: TextDecorator): () => void {
    if (!this.#allowed.has(plugin)) {
      this.#warn(`kecalek: plugin "${plugin}" is not enabled on this server: its text decorator was not registered`);
      return () => undefined;
    }
    if (typeof decorate !== 'function') throw new SlotRegistryError(`Plugin "${plugin}": decorateText() needs a function`);
    const registered: RegisteredTextDecorator = Object.freeze({ plugin, decorate, sequence: this.#sequence++ });
    this.#decorators = [...this.#decorators, registered];
    this.#changed();
    return () => {
      if (!this.#decorators.includes(registered)) return;
      this.#decorators = this.#decorators.filter((d) => d !== registered);
      this.#changed();
    };
  }

  textDecorators(): readonly RegisteredTextDecorator[] {
    return this.#decorators;
  }

  /** Removes every contribution of a plugin (it was switched off, or its setup failed). */
  removePlugin(plugin: string): void {
    let changed = false;
    for (const [name, items] of this.#slots) {
      const kept = items.filter((i) => i.plugin !== plugin);
      if (kept.length !== items.length) {
        this.#slots.set(name, kept);
        changed = true;
      }
    }
    const actions = this.#actions.filter((a) => a.plugin !== plugin);
    if (actions.length !== this.#actions.length) {
      this.#actions = actions;
      changed = true;
    }
    const decorators = this.#decorators.filter((d) => d.plugin !== plugin);
    if (decorators.length !== this.#decorators.length) {
      this.#decorators = decorators;
      changed = true;
    }
    if (changed) this.#changed();
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #changed(): void {
    this.#version++;
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch (error) {
        console.error('kecalek: a slot registry listener failed', error);
      }
    }
  }
}

function byOrder(a: RegisteredSlotItem, b: RegisteredSlotItem): number {
  return a.order - b.order || a.sequence - b.sequence;
}

/** A plugin's element tags carry its name as prefix (`reactions-picker` for plugin `reactions`). */
export function checkTag(plugin: string, tag: unknown): asserts tag is string {
  if (typeof tag !== 'string' || !TAG.test(tag)) {
    throw new SlotRegistryError(`Plugin "${plugin}": "${String(tag)}" is not a valid custom element name`);
  }
  if (!tag.startsWith(`${plugin.toLowerCase()}-`)) {
    throw new SlotRegistryError(`Plugin "${plugin}": element <${tag}> must be named "${plugin.toLowerCase()}-…"`);
  }
}
