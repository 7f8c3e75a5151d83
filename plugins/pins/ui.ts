/**
 * The pins plugin's desktop UI: "Pin message" / "Unpin message" in every message's action menu, a
 * 📌 marker on pinned messages (`message.header`), and a button in the conversation header
 * (`conversation.header`) opening the conversation's pinned messages; choosing one scrolls to it.
 *
 * Pin states live in the cached messages' `extra.pinned_at` / `extra.pinned_by`, which the client
 * part keeps current (its own answers and the pushes), so markers need no state here. The pinned
 * list is asked from the server when the conversation opens, when the list opens, and after a pin
 * change (ours, or someone else's `pinned` event).
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { defineUiPlugin, type SlotContext, type UiMessage } from '../../engine/plugin/ui.js';
import type { PinnedMessage } from './client.js';
import { PIN_BADGE } from './shared.js';

/** Pin changes this window knows of (detail: the conversation id): the header's list refreshes. */
const changes = new EventTarget();
const CHANGED = 'changed';

function announceChange(conversationId: string): void {
  changes.dispatchEvent(new CustomEvent<string>(CHANGED, { detail: conversationId }));
}

function isPinned(message: UiMessage | undefined): boolean {
  return typeof message?.extra.pinned_at === 'number';
}

/** A message that can be pinned: stored by the server, readable, not deleted. */
function pinnable(message: UiMessage): boolean {
  return !message.deleted && !message.undecryptable && message.status === 'sent' && !message.id.startsWith('pending:') && !message.id.startsWith('local:');
}

function errorText(error: unknown): string {
  return error instanceof Error && error.message ? error.message : String(error);
}

function nameOf(context: SlotContext, userId: string, fallback?: string | null): string {
  if (userId === context.self?.userId) return 'you';
  return context.conversation?.members.find((m) => m.userId === userId)?.username ?? fallback ?? 'someone';
}

function excerpt(text: string, length = 90): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

function clock(ms: number): string {
  const date = new Date(ms);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : date.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

/** <pins-marker>: "📌 Pinned" at the top of a pinned message. */
class PinsMarker extends LitElement {
  static override properties = { context: { attribute: false } };
  declare context: SlotContext | undefined;

  constructor() {
    super();
    this.context = undefined;
  }

  static override styles = css`
    :host {
      display: inline-flex;
    }
    span {
      display: inline-flex;
      align-items: center;
      gap: 4px;
      font-size: 11.5px;
      font-weight: 600;
      opacity: 0.85;
    }
  `;

  override render() {
    const context = this.context;
    const message = context?.message;
    if (!context || !message || !isPinned(message)) return nothing;
    const by = typeof message.extra.pinned_by === 'string' ? nameOf(context, message.extra.pinned_by) : undefined;
    const label = by ? `Pinned by ${by}` : 'Pinned';
    return html`<span role="note" aria-label=${label} title=${label}><span aria-hidden="true">${PIN_BADGE}</span>Pinned</span>`;
  }
}

/** <pins-list>: a header button with the number of pins, opening the conversation's pinned messages. */
class PinsList extends LitElement {
  static override properties = {
    context: { attribute: false },
    open: { state: true },
    pins: { state: true },
    loading: { state: true },
  };
  declare context: SlotContext | undefined;
  declare open: boolean;
  declare pins: readonly PinnedMessage[] | undefined;
  declare loading: boolean;
  #conversationId: string | undefined;
  #request = 0;
  readonly #onChange = (event: Event): void => {
    if ((event as CustomEvent<string>).detail === this.#conversationId) void this.#load();
  };
  readonly #onOutside = (event: Event): void => {
    if (!event.composedPath().includes(this)) this.#close(false);
  };

  constructor() {
    super();
    this.context = undefined;
    this.open = false;
    this.pins = undefined;
    this.loading = false;
  }

  static override styles = css`
    :host {
      position: relative;
      display: inline-flex;
    }
    button {
      font: inherit;
      color: inherit;
      cursor: pointer;
    }
    button:focus-visible {
      outline: 2px solid var(--kecalek-focus);
      outline-offset: 1px;
    }
    .toggle {
      display: inline-flex;
      align-items: center;
      gap: 3px;
      height: 40px;
      min-width: 40px;
      padding: 0 8px;
      justify-content: center;
      border: none;
      border-radius: 50%;
      background: transparent;
      color: var(--kecalek-text-muted);
      font-size: 17px;
    }
    .toggle.count {
      border-radius: 20px;
    }
    .toggle:hover,
    .toggle[aria-expanded='true'] {
      background: var(--kecalek-bg-hover);
      color: var(--kecalek-text);
    }
    .toggle .n {
      font-size: 12px;
      font-weight: 700;
      color: var(--kecalek-accent);
    }
    .panel {
      position: absolute;
      z-index: 50;
      top: calc(100% + 6px);
      right: 0;
      width: 340px;
      max-height: 420px;
      overflow-y: auto;
      padding: 8px;
      border-radius: 14px;
      background: var(--kecalek-bg-elevated);
      border: 1px solid var(--kecalek-border);
      box-shadow: var(--kecalek-shadow);
      color: var(--kecalek-text);
    }
    h3 {
      margin: 4px 8px 8px;
      font-size: 13px;
      font-weight: 700;
      color: var(--kecalek-text-muted);
      text-transform: uppercase;
      letter-spacing: 0.04em;
    }
    ul {
      list-style: none;
      margin: 0;
      padding: 0;
      display: grid;
      gap: 2px;
    }
    li {
      display: flex;
      align-items: stretch;
      gap: 2px;
    }
    .entry {
      flex: 1;
      min-width: 0;
      display: grid;
      gap: 2px;
      padding: 8px 10px;
      border: none;
      border-radius: 10px;
      background: transparent;
      text-align: left;
    }
    .entry:hover {
      background: var(--kecalek-bg-hover);
    }
    .text {
      font-size: 14px;
      overflow: hidden;
      text-overflow: ellipsis;
      white-space: nowrap;
    }
    .text.missing {
      font-style: italic;
      color: var(--kecalek-text-muted);
    }
    .meta {
      font-size: 12px;
      color: var(--kecalek-text-faint);
    }
    .unpin {
      flex: none;
      align-self: center;
      border: none;
      background: transparent;
      border-radius: 8px;
      padding: 6px 8px;
      font-size: 12px;
      color: var(--kecalek-text-muted);
    }
    .unpin:hover {
      background: var(--kecalek-bg-hover);
      color: var(--kecalek-danger);
    }
    .empty {
      margin: 4px 8px 8px;
      color: var(--kecalek-text-muted);
      font-size: 13.5px;
    }
  `;

  override connectedCallback(): void {
    super.connectedCallback();
    changes.addEventListener(CHANGED, this.#onChange);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    changes.removeEventListener(CHANGED, this.#onChange);
    document.removeEventListener('pointerdown', this.#onOutside, true);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (!changed.has('context')) return;
    const id = this.context?.conversation?.id;
    if (id !== this.#conversationId) {
      this.#conversationId = id;
      this.pins = undefined;
      this.open = false;
      if (id !== undefined) void this.#load();
    }
  }

  async #load(): Promise<void> {
    const context = this.context;
    const id = this.#conversationId;
    if (!context || id === undefined) return;
    const request = ++this.#request;
    this.loading = true;
    try {
      const pins = await context.call<PinnedMessage[]>('list', id);
      if (request === this.#request && id === this.#conversationId) this.pins = pins;
    } catch (error) {
      if (this.open) context.toast(`Could not load the pinned messages: ${errorText(error)}`, 'error');
    } finally {
      if (request === this.#request) this.loading = false;
    }
  }

  #toggle(): void {
    if (this.open) {
      this.#close(true);
      return;
    }
    this.open = true;
    void this.#load();
    document.addEventListener('pointerdown', this.#onOutside, true);
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('.panel .entry, .panel')?.focus());
  }

  #close(refocus: boolean): void {
    if (!this.open) return;
    this.open = false;
    document.removeEventListener('pointerdown', this.#onOutside, true);
    if (refocus) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('.toggle')?.focus());
  }

  #onKey(event: KeyboardEvent): void {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.#close(true);
      return;
    }
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    const entries = [...this.renderRoot.querySelectorAll<HTMLElement>('.entry')];
    const index = entries.indexOf((this.renderRoot as ShadowRoot).activeElement as HTMLElement);
    const next = event.key === 'ArrowDown' ? (index + 1) % entries.length : (index - 1 + entries.length) % entries.length;
    entries[next]?.focus();
  }

  #show(pin: PinnedMessage): void {
    this.#close(false);
    this.context?.jumpTo(pin.messageId);
  }

  async #unpin(pin: PinnedMessage): Promise<void> {
    const context = this.context;
    if (!context) return;
    try {
      await context.call('unpin', pin.conversationId, pin.messageId);
      announceChange(pin.conversationId);
    } catch (error) {
      context.toast(`Could not unpin: ${errorText(error)}`, 'error');
    }
  }

  override render() {
    const context = this.context;
    if (!context?.conversation) return nothing;
    const count = this.pins?.length ?? 0;
    const label = count > 0 ? `Pinned messages (${count})` : 'Pinned messages';
    return html`<button
        class="toggle ${count > 0 ? 'count' : ''}"
        type="button"
        aria-label=${label}
        title=${label}
        aria-haspopup="dialog"
        aria-expanded=${this.open ? 'true' : 'false'}
        @click=${() => this.#toggle()}
      >
        <span aria-hidden="true">${PIN_BADGE}</span>${count > 0 ? html`<span class="n" aria-hidden="true">${count}</span>` : nothing}
      </button>
      ${this.open ? this.#panel(context) : nothing}`;
  }

  #panel(context: SlotContext) {
    const pins = this.pins;
    return html`<div class="panel" role="dialog" aria-label="Pinned messages" tabindex="-1" @keydown=${this.#onKey}>
      <h3>Pinned messages</h3>
      ${pins === undefined
        ? html`<p class="empty" role="status">Loading…</p>`
        : pins.length === 0
          ? html`<p class="empty">Nothing is pinned here yet. Pin a message from its menu.</p>`
          : html`<ul aria-label="Pinned messages">
              ${pins.map((pin) => {
                const text = pin.text !== undefined && pin.text.trim() ? excerpt(pin.text) : undefined;
                const who = nameOf(context, pin.senderId);
                const by = nameOf(context, pin.pinnedBy, pin.pinnedByUsername);
                return html`<li>
                  <button
                    class="entry"
                    type="button"
                    aria-label=${`${text ?? 'A message not on this device'}, from ${who}. Show it`}
                    title=${pin.text ?? ''}
                    @click=${() => this.#show(pin)}
                  >
                    <span class="text ${text === undefined ? 'missing' : ''}">${text ?? 'Not on this device'}</span>
                    <span class="meta">${who} · pinned by ${by}, ${clock(pin.pinnedAt)}</span>
                  </button>
                  <button class="unpin" type="button" aria-label=${`Unpin ${text ?? 'this message'}`} @click=${() => void this.#unpin(pin)}>Unpin</button>
                </li>`;
              })}
            </ul>`}
    </div>`;
  }
}

async function setPinned(message: UiMessage, context: SlotContext, pinned: boolean): Promise<void> {
  await context.call(pinned ? 'pin' : 'unpin', message.conversationId, message.id);
  announceChange(message.conversationId);
}

export default defineUiPlugin({
  name: 'pins',
  setup(api) {
    api.define('pins-marker', PinsMarker);
    api.define('pins-list', PinsList);
    api.messageAction({
      id: 'pin',
      label: 'Pin message',
      when: (message) => pinnable(message) && !isPinned(message),
      run: (message, context) => setPinned(message, context, true),
    });
    api.messageAction({
      id: 'unpin',
      label: 'Unpin message',
      when: (message) => pinnable(message) && isPinned(message),
      run: (message, context) => setPinned(message, context, false),
    });
    api.slot('message.header', { id: 'marker', tag: 'pins-marker', when: (context) => isPinned(context.message) });
    api.slot('conversation.header', { id: 'list', tag: 'pins-list', when: (context) => context.conversation !== undefined });
    // Someone else pinned a message: the list of that conversation is out of date. (Unpins by
    // others only change the messages' markers; the list is asked for again when it opens.)
    api.on('pinned', (data) => {
      const id = (data as { conversation_id?: unknown } | null)?.conversation_id;
      if (typeof id === 'string') announceChange(id);
    });
  },
});
