/**
 * <kecalek-slot name="message.footer" .context=${...}>: renders the custom elements plugins
 * contributed to a slot, in order, each inside its own <kecalek-boundary>. A boundary creates the
 * element, hands it its `context` (a SlotContext bound to the element's plugin), and when the
 * element throws — constructing, receiving its context, in a lifecycle callback, or while rendering
 * (a rejected `updateComplete`) — replaces it with a small "plugin failed" marker and logs the
 * error. The rest of the window carries on. The context's `jumpTo` sends the conversation view a
 * `kecalek-jump` event from the slot's place.
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { SlotContext, SlotName } from '../../../engine/plugin/ui.js';
import { JUMP, type JumpDetail } from '../components/events.js';
import { PLUGIN_ERROR_EVENT, type BaseSlotContext, type PluginErrorDetail } from '../plugins/host.js';
import { requestServices, type Services } from '../services.js';
import type { RegisteredSlotItem } from './registry.js';

export class KecalekSlot extends LitElement {
  static override properties = {
    name: { type: String, reflect: true },
    context: { attribute: false },
  };

  declare name: SlotName;
  declare context: BaseSlotContext | undefined;
  #services: Services | undefined;
  #off: (() => void) | undefined;
  /** Asks the conversation view (the nearest JUMP listener above) to show a message. */
  readonly #jumpTo = (messageId: string): void => {
    this.dispatchEvent(new CustomEvent<JumpDetail>(JUMP, { detail: { messageId }, bubbles: true, composed: true }));
  };

  constructor() {
    super();
    this.name = 'overlay';
    this.context = undefined;
  }

  static override styles = css`
    :host {
      display: contents;
    }
  `;

  override connectedCallback(): void {
    super.connectedCallback();
    this.#services ??= requestServices(this);
    this.#off = this.#services?.slots.subscribe(() => this.requestUpdate());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#off?.();
    this.#off = undefined;
  }

  /** The items that render here for the current context. */
  #visible(): Array<{ item: RegisteredSlotItem; context: SlotContext; failure?: unknown }> {
    const services = this.#services;
    if (!services) return [];
    const base: BaseSlotContext = { ...(this.context ?? { self: services.controller.state.self }), jumpTo: this.#jumpTo };
    const out: Array<{ item: RegisteredSlotItem; context: SlotContext; failure?: unknown }> = [];
    for (const item of services.slots.items(this.name)) {
      const context = services.plugins.contextFor(item.plugin, base);
      if (item.when) {
        try {
          if (!item.when(context)) continue;
        } catch (error) {
          console.error(`kecalek: plugin "${item.plugin}" slot item "${item.id}" failed deciding whether to show`, error);
          out.push({ item, context, failure: error });
          continue;
        }
      }
      out.push({ item, context });
    }
    return out;
  }

  override render() {
    const visible = this.#visible();
    this.toggleAttribute('empty', visible.length === 0);
    if (visible.length === 0) return nothing;
    return repeat(
      visible,
      (v) => v.item.key,
      (v) => html`<kecalek-boundary .item=${v.item} .context=${v.context} .failure=${v.failure}></kecalek-boundary>`,
    );
  }
}

export class KecalekBoundary extends LitElement {
  static override properties = {
    item: { attribute: false },
    context: { attribute: false },
    failure: { attribute: false },
    failed: { state: true },
  };

  declare item: RegisteredSlotItem | undefined;
  declare context: SlotContext | undefined;
  /** A failure found before the element was made (its `when` threw). */
  declare failure: unknown;
  declare failed: boolean;
  #element: HTMLElement | undefined;
  #tag: string | undefined;

  constructor() {
    super();
    this.item = undefined;
    this.context = undefined;
    this.failure = undefined;
    this.failed = false;
    this.addEventListener(PLUGIN_ERROR_EVENT, (event) => {
      event.stopPropagation();
      if (event.target === this) return;
      this.#fail((event as CustomEvent<PluginErrorDetail>).detail.error, false);
    });
  }

  static override styles = css`
    :host {
      display: contents;
    }
    .failed {
      display: inline-flex;
      align-items: center;
      gap: 4px;
      font-size: 11px;
      line-height: 1.6;
      padding: 0 6px;
      border-radius: 6px;
      color: var(--kecalek-warning);
      background: var(--kecalek-warning-soft);
      white-space: nowrap;
    }
  `;

  override render() {
    if (!this.failed) return html`<slot></slot>`;
    const plugin = this.item?.plugin ?? 'plugin';
    return html`<span class="failed" role="note" title=${`The ${plugin} plugin failed here; see the log`}>⚠ ${plugin} plugin failed</span>`;
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (this.failed) return;
    if (this.failure !== undefined) {
      this.#fail(this.failure, false);
      return;
    }
    const item = this.item;
    if (!item) return;
    if (!this.#element || this.#tag !== item.tag) {
      this.#element?.remove();
      this.#element = undefined;
      try {
        const element = document.createElement(item.tag);
        this.#tag = item.tag;
        this.#element = element;
        this.#give(element);
        this.append(element);
        this.#watch(element);
      } catch (error) {
        this.#fail(error);
      }
      return;
    }
    if (changed.has('context')) {
      try {
        this.#give(this.#element);
        this.#watch(this.#element);
      } catch (error) {
        this.#fail(error);
      }
    }
  }

  #give(element: HTMLElement): void {
    (element as HTMLElement & { context?: SlotContext }).context = this.context;
  }

  /** Lit elements report render failures through a rejected updateComplete. */
  #watch(element: HTMLElement): void {
    const pending = (element as HTMLElement & { updateComplete?: unknown }).updateComplete;
    if (pending instanceof Promise) pending.catch((error: unknown) => this.#fail(error));
  }

  #fail(error: unknown, log = true): void {
    if (this.failed) return;
    if (log) console.error(`kecalek: plugin "${this.item?.plugin ?? '?'}" element <${this.item?.tag ?? '?'}> failed`, error);
    this.failed = true;
    this.#element?.remove();
    this.#element = undefined;
  }
}

customElements.define('kecalek-slot', KecalekSlot);
customElements.define('kecalek-boundary', KecalekBoundary);
