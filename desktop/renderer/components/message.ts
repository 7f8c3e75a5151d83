/**
 * <kecalek-message>: one message bubble — own on the right, others on the left (with the sender's
 * name and avatar in groups), a reply quote that jumps to the original, placeholders for deleted
 * and undecryptable messages, time and delivery status (pending, sent, read, failed with Retry),
 * the `message.header` and `message.footer` slots, and the actions menu (reply, copy text, delete
 * own, the plugins' message actions and the `message.actions` slot).
 */
import { css, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import type { UiMessage } from '../../../engine/plugin/ui.js';
import type { BridgeConversation, BridgeMessage } from '../../shared/bridge.js';
import type { BaseSlotContext } from '../plugins/host.js';
import type { RegisteredAction } from '../slots/registry.js';
import { isUnconfirmed, type SelfState } from '../state/model.js';
import { errorText, formatClock, formatFullTime, oneLine } from '../util/format.js';
import type { Services } from '../services.js';
import { KecalekElement } from './base.js';
import { JUMP, REPLY, type JumpDetail } from './events.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';
import './avatar.js';
import '../slots/slot-element.js';

/** Up to three emoji and nothing else: shown large, without a bubble. */
const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}(?:\uFE0F|\u200D\p{Extended_Pictographic}|\p{Emoji_Modifier})*\s*){1,3}$/u;

interface MenuEntry {
  readonly id: string;
  readonly label: string;
  readonly icon?: TemplateResult;
  readonly danger?: boolean;
  readonly run: () => void | Promise<void>;
}

export class KecalekMessage extends KecalekElement {
  static override properties = {
    message: { attribute: false },
    conversation: { attribute: false },
    self: { attribute: false },
    /** Show the sender's name (groups, first of a run). */
    showSender: { type: Boolean },
    /** Show the sender's avatar (groups, others, last of a run). */
    showAvatar: { type: Boolean },
    /** Leave room for avatars (groups, others). */
    avatarColumn: { type: Boolean },
    /** First / last of a run of messages from the same sender. */
    first: { type: Boolean, reflect: true },
    last: { type: Boolean, reflect: true },
    read: { type: Boolean },
    highlighted: { type: Boolean, reflect: true },
    menuOpen: { state: true },
    menuUp: { state: true },
  };

  declare message: BridgeMessage;
  declare conversation: BridgeConversation | undefined;
  declare self: SelfState | undefined;
  declare showSender: boolean;
  declare showAvatar: boolean;
  declare avatarColumn: boolean;
  declare first: boolean;
  declare last: boolean;
  declare read: boolean;
  declare highlighted: boolean;
  declare menuOpen: boolean;
  declare menuUp: boolean;
  #context: BaseSlotContext | undefined;
  #onOutside = (event: Event): void => {
    if (!event.composedPath().includes(this)) this.#closeMenu(false);
  };

  constructor() {
    super();
    this.watchState = false;
    this.message = undefined as unknown as BridgeMessage;
    this.conversation = undefined;
    this.self = undefined;
    this.showSender = false;
    this.showAvatar = false;
    this.avatarColumn = false;
    this.first = true;
    this.last = true;
    this.read = false;
    this.highlighted = false;
    this.menuOpen = false;
    this.menuUp = false;
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        padding: 1px 16px;
      }
      :host([first]) {
        padding-top: 6px;
      }
      .row {
        display: flex;
        align-items: flex-end;
        gap: 8px;
        max-width: 100%;
      }
      .row.own {
        flex-direction: row-reverse;
      }
      .avatar-slot {
        width: 32px;
        flex: none;
        align-self: flex-end;
      }
      .stack {
        display: flex;
        flex-direction: column;
        align-items: flex-start;
        max-width: min(72%, 640px);
        min-width: 0;
        position: relative;
      }
      .own .stack {
        align-items: flex-end;
      }
      .bubble {
        position: relative;
        padding: 7px 12px 7px;
        border-radius: var(--kecalek-radius-bubble);
        background: var(--kecalek-bubble-other);
        color: var(--kecalek-bubble-other-text);
        min-width: 64px;
        max-width: 100%;
        overflow-wrap: anywhere;
        transition: box-shadow 0.3s ease;
      }
      .own .bubble {
        background: var(--kecalek-bubble-own);
        color: var(--kecalek-bubble-own-text);
      }
      .other:not(.last) .bubble {
        border-bottom-left-radius: 6px;
      }
      .other:not(.first) .bubble {
        border-top-left-radius: 6px;
      }
      .own:not(.last) .bubble {
        border-bottom-right-radius: 6px;
      }
      .own:not(.first) .bubble {
        border-top-right-radius: 6px;
      }
      .bubble.jumbo {
        background: transparent;
        padding: 0 2px 16px;
      }
      .jumbo .text {
        font-size: 40px;
        line-height: 1.15;
      }
      .jumbo .meta {
        color: var(--kecalek-text-faint);
      }
      :host([highlighted]) .bubble {
        box-shadow:
          0 0 0 3px var(--kecalek-bg-chat),
          0 0 0 5px var(--kecalek-accent);
      }
      .sender {
        display: block;
        font-size: 12.5px;
        font-weight: 700;
        margin-bottom: 2px;
      }
      .sender.c0 { color: var(--kecalek-avatar-0); }
      .sender.c1 { color: var(--kecalek-avatar-1); }
      .sender.c2 { color: var(--kecalek-avatar-2); }
      .sender.c3 { color: var(--kecalek-avatar-3); }
      .sender.c4 { color: var(--kecalek-avatar-4); }
      .sender.c5 { color: var(--kecalek-avatar-5); }
      .sender.c6 { color: var(--kecalek-avatar-6); }
      .sender.c7 { color: var(--kecalek-avatar-7); }
      .text {
        white-space: pre-wrap;
        font-size: 14.5px;
        line-height: 1.42;
      }
      /* Plugins' text marks (TextMark in engine/plugin/ui.ts). */
      .mark {
        font-weight: 650;
        background: none;
        color: var(--kecalek-accent);
        border-radius: 4px;
      }
      .own .mark {
        color: inherit;
        text-decoration: underline;
        text-decoration-thickness: 1px;
        text-underline-offset: 2px;
      }
      .mark.strong {
        color: inherit;
        text-decoration: none;
        background: var(--kecalek-highlight);
        box-shadow: 0 0 0 2px var(--kecalek-highlight);
      }
      /* An invisible copy of the time and status keeps room for them on the last line. */
      .meta-space {
        display: inline-flex;
        visibility: hidden;
        gap: 3px;
        padding-left: 10px;
        font-size: 11px;
        line-height: 1;
        white-space: nowrap;
        vertical-align: baseline;
      }
      .placeholder {
        font-style: italic;
        opacity: 0.8;
      }
      .placeholder .icon {
        display: inline-block;
        vertical-align: -2px;
        margin-right: 6px;
      }
      .meta {
        position: absolute;
        right: 10px;
        bottom: 5px;
        display: inline-flex;
        align-items: center;
        gap: 3px;
        font-size: 11px;
        line-height: 1;
        color: var(--kecalek-bubble-other-muted);
        white-space: nowrap;
        user-select: none;
      }
      .own .meta {
        color: var(--kecalek-bubble-own-muted);
      }
      .meta .read {
        color: var(--kecalek-bubble-own-text);
      }
      .quote {
        display: block;
        width: 100%;
        margin: 2px 0 6px;
        padding: 5px 10px;
        border: none;
        border-left: 3px solid currentColor;
        border-radius: 6px;
        background: var(--kecalek-quote-other);
        color: inherit;
        text-align: left;
        font-size: 13px;
        cursor: pointer;
      }
      .own .quote {
        background: var(--kecalek-quote-own);
      }
      .quote strong {
        display: block;
        font-size: 12px;
      }
      .quote span {
        display: block;
        opacity: 0.85;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .failed {
        display: flex;
        align-items: center;
        gap: 6px;
        margin-top: 4px;
        font-size: 12px;
        color: var(--kecalek-danger);
      }
      .failed button {
        border: none;
        background: none;
        color: var(--kecalek-accent);
        font-weight: 700;
        cursor: pointer;
        padding: 2px 4px;
        border-radius: 4px;
      }
      .footer:has(> kecalek-slot[empty]) {
        display: none;
      }
      .footer {
        margin-top: 3px;
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
      }
      .header-slot:has(> kecalek-slot[empty]) {
        display: none;
      }
      .header-slot {
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
        margin-bottom: 3px;
        font-size: 12px;
      }
      .tools {
        align-self: center;
        position: relative;
        opacity: 0;
        transition: opacity 0.1s ease;
      }
      .row:hover .tools,
      .row:focus-within .tools,
      .tools.open {
        opacity: 1;
      }
      .menu {
        position: absolute;
        z-index: 20;
        top: calc(100% + 4px);
        left: 0;
        min-width: 190px;
        padding: 6px;
        border-radius: 12px;
        background: var(--kecalek-bg-elevated);
        border: 1px solid var(--kecalek-border);
        box-shadow: var(--kecalek-shadow);
        display: grid;
        gap: 1px;
      }
      .own .menu {
        left: auto;
        right: 0;
      }
      .menu.up {
        top: auto;
        bottom: calc(100% + 4px);
      }
      .menu [role='menuitem'] {
        display: flex;
        align-items: center;
        gap: 10px;
        width: 100%;
        padding: 8px 10px;
        border: none;
        border-radius: 8px;
        background: transparent;
        text-align: left;
        font-size: 14px;
        cursor: pointer;
        color: var(--kecalek-text);
      }
      .menu [role='menuitem']:hover,
      .menu [role='menuitem']:focus-visible {
        background: var(--kecalek-bg-hover);
        outline: none;
      }
      .menu [role='menuitem'].danger {
        color: var(--kecalek-danger);
      }
      .menu .plugin-slot {
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
        padding: 4px;
        border-top: 1px solid var(--kecalek-border);
        margin-top: 4px;
      }
      .menu .plugin-slot:has(> kecalek-slot[empty]) {
        display: none;
      }
    `,
  ];

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('message') || changed.has('conversation') || changed.has('self')) this.#context = undefined;
  }

  /** The slot context of this message (one object per message version, so slots re-render only on change). */
  #slotContext(): BaseSlotContext {
    this.#context ??= { self: this.self, conversation: this.conversation, message: this.message as UiMessage };
    return this.#context;
  }

  // ---- actions menu -----------------------------------------------------------------------------

  #entries(): MenuEntry[] {
    const m = this.message;
    const services = this.services;
    const entries: MenuEntry[] = [];
    const usable = !m.deleted && !m.undecryptable;
    const confirmed = !isUnconfirmed(m);
    if (usable && confirmed) entries.push({ id: 'reply', label: 'Reply', icon: icon('reply', 18), run: () => this.emit(REPLY, m) });
    if (usable && m.text) entries.push({ id: 'copy', label: 'Copy text', icon: icon('copy', 18), run: () => this.#copy() });
    if (m.status === 'failed' && m.clientMsgId !== undefined) {
      entries.push({ id: 'retry', label: 'Retry sending', icon: icon('retry', 18), run: () => services.controller.retryMessage(m) });
    }
    if (m.own && confirmed && !m.deleted) {
      entries.push({ id: 'delete', label: 'Delete for everyone', icon: icon('trash', 18), danger: true, run: () => this.#delete() });
    }
    const base = this.#slotContext();
    for (const action of services.slots.messageActions()) {
      if (!this.#actionApplies(action, base)) continue;
      entries.push({
        id: action.key,
        label: action.label,
        run: () => services.plugins.runAction(action.plugin, action, m as UiMessage, base),
      });
    }
    return entries;
  }

  #actionApplies(action: RegisteredAction, base: BaseSlotContext): boolean {
    if (!action.when) return true;
    try {
      return Boolean(action.when(this.message as UiMessage, this.services.plugins.contextFor(action.plugin, base)));
    } catch (error) {
      console.error(`kecalek: plugin "${action.plugin}" action "${action.id}" failed deciding whether to show`, error);
      return false;
    }
  }

  async #copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.message.text);
      this.services.toasts.show('Copied to the clipboard');
    } catch (error) {
      this.services.toasts.error(`Could not copy: ${errorText(error)}`);
    }
  }

  async #delete(): Promise<void> {
    const ok = await this.services.confirm({
      title: 'Delete this message?',
      message: 'It is deleted for everyone in this conversation. This cannot be undone.',
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      await this.services.controller.deleteMessage(this.message);
    } catch (error) {
      this.services.toasts.error(`Could not delete the message: ${errorText(error)}`);
    }
  }

  #toggleMenu(event: MouseEvent): void {
    event.stopPropagation();
    if (this.menuOpen) this.#closeMenu(true);
    else this.openMenu();
  }

  /** Opens the actions menu (the button, a right click, or the keyboard). */
  openMenu(): void {
    const box = this.getBoundingClientRect();
    const scroller = this.closest('.timeline') ?? this.parentElement;
    const limit = scroller?.getBoundingClientRect().bottom ?? window.innerHeight;
    this.menuUp = limit - box.bottom < 260;
    this.menuOpen = true;
    document.addEventListener('pointerdown', this.#onOutside, true);
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('[role="menuitem"]')?.focus());
  }

  #closeMenu(refocus: boolean): void {
    if (!this.menuOpen) return;
    this.menuOpen = false;
    document.removeEventListener('pointerdown', this.#onOutside, true);
    if (refocus) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('.tools button')?.focus());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('pointerdown', this.#onOutside, true);
  }

  #onMenuKey(event: KeyboardEvent): void {
    const items = [...this.renderRoot.querySelectorAll<HTMLElement>('[role="menuitem"]')];
    const index = items.indexOf((this.renderRoot as ShadowRoot).activeElement as HTMLElement);
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.#closeMenu(true);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const next = event.key === 'ArrowDown' ? (index + 1) % items.length : (index - 1 + items.length) % items.length;
      items[next]?.focus();
    } else if (event.key === 'Home' || event.key === 'End') {
      event.preventDefault();
      items[event.key === 'Home' ? 0 : items.length - 1]?.focus();
    } else if (event.key === 'Tab') {
      this.#closeMenu(false);
    }
  }

  #run(entry: MenuEntry): void {
    this.#closeMenu(false);
    void Promise.resolve()
      .then(() => entry.run())
      .catch((error: unknown) => this.services.toasts.error(errorText(error)));
  }

  #onContextMenu(event: MouseEvent): void {
    const selection = window.getSelection();
    if (selection && !selection.isCollapsed) return; // let the user copy a selection the usual way
    event.preventDefault();
    if (!this.menuOpen) this.openMenu();
  }

  // ---- rendering --------------------------------------------------------------------------------

  #senderColour(): number {
    const key = this.message.senderId;
    let hash = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    return (hash >>> 0) % 8;
  }

  #quote(): TemplateResult | typeof nothing {
    const reply = this.message.replyTo;
    if (!reply || this.message.deleted) return nothing;
    const member = this.conversation?.members.find((x) => x.userId === reply.senderId);
    const who = reply.senderId === this.self?.userId ? 'You' : (member?.username ?? 'Unknown');
    const excerpt = oneLine(reply.excerpt, 90) || 'Message';
    return html`<button
      class="quote"
      type="button"
      aria-label=${`Reply to ${who}: ${excerpt}. Show the original message`}
      @click=${() => this.emit<JumpDetail>(JUMP, { messageId: reply.messageId })}
    >
      <strong>${who}</strong><span>${excerpt}</span>
    </button>`;
  }

  #status(): TemplateResult | typeof nothing {
    const m = this.message;
    if (!m.own || m.deleted) return nothing;
    if (m.status === 'pending') return html`<span role="img" aria-label="Sending">${icon('clock', 13)}</span>`;
    if (m.status === 'failed') return html`<span role="img" aria-label="Not sent">${icon('alert', 13)}</span>`;
    if (this.read) return html`<span class="read" role="img" aria-label="Read">${icon('checks', 15)}</span>`;
    return html`<span role="img" aria-label="Sent">${icon('check', 14)}</span>`;
  }

  #content(meta: TemplateResult): TemplateResult {
    const m = this.message;
    const space = html`<span class="meta-space" aria-hidden="true">${meta}</span>`;
    // The text sits in an element of its own: without the invisible copy of the time beside it.
    if (m.deleted) return html`<div class="text placeholder">${icon('trash', 14)}<span class="body">This message was deleted</span>${space}</div>`;
    if (m.undecryptable) {
      return html`<div class="text placeholder" title="This device could not decrypt it; it may arrive again later">
        ${icon('lock', 14)}<span class="body">This message could not be decrypted</span>${space}
      </div>`;
    }
    return html`<div class="text"><span class="body">${this.#text(m)}</span>${space}</div>`;
  }

  /** The text with the plugins' text marks (`@mentions`) drawn in. */
  #text(m: BridgeMessage): TemplateResult | string {
    const services = this.services;
    if (services.slots.textDecorators().length === 0) return m.text;
    const marks = services.plugins.textMarks(m as UiMessage, this.#slotContext());
    if (marks.length === 0) return m.text;
    const parts: Array<TemplateResult | string> = [];
    let at = 0;
    for (const mark of marks) {
      if (mark.start > at) parts.push(m.text.slice(at, mark.start));
      parts.push(
        html`<mark class="mark ${mark.kind ?? 'accent'}" data-plugin=${mark.plugin} title=${mark.title ?? nothing}>${m.text.slice(mark.start, mark.end)}</mark>`,
      );
      at = mark.end;
    }
    if (at < m.text.length) parts.push(m.text.slice(at));
    return html`${parts}`;
  }

  /** Text decorators come and go with the plugins: draw the text again. */
  protected override subscriptions(services: Services): Array<() => void> {
    let count = services.slots.textDecorators().length;
    return [
      services.slots.subscribe(() => {
        const now = services.slots.textDecorators().length;
        if (now === count && now === 0) return;
        count = now;
        this.requestUpdate();
      }),
    ];
  }

  override render() {
    const m = this.message;
    if (!m) return nothing;
    const own = m.own;
    const jumbo = !m.deleted && !m.undecryptable && !m.replyTo && EMOJI_ONLY.test(m.text.trim());
    const context = this.#slotContext();
    const entries = this.menuOpen ? this.#entries() : [];
    const classes = `row ${own ? 'own' : 'other'} ${this.first ? 'first' : ''} ${this.last ? 'last' : ''}`;
    const label = `${own ? 'You' : m.senderUsername}, ${formatClock(m.createdAt)}`;
    const meta = html`${formatClock(m.createdAt)} ${this.#status()}`;
    return html`<div class=${classes} data-id=${m.id} @contextmenu=${this.#onContextMenu}>
      ${this.avatarColumn && !own
        ? html`<div class="avatar-slot">
            ${this.showAvatar ? html`<kecalek-avatar .name=${m.senderUsername} color-key=${m.senderId} size="32"></kecalek-avatar>` : nothing}
          </div>`
        : nothing}
      <div class="stack">
        <div class="bubble ${jumbo ? 'jumbo' : ''}" role="article" aria-label=${label}>
          ${this.showSender && !own ? html`<span class="sender c${this.#senderColour()}">${m.senderUsername}</span>` : nothing}
          <div class="header-slot"><kecalek-slot name="message.header" .context=${context}></kecalek-slot></div>
          ${this.#quote()} ${this.#content(meta)}
          <span class="meta" title=${formatFullTime(m.createdAt)}>${meta}</span>
        </div>
        <div class="footer"><kecalek-slot name="message.footer" .context=${context}></kecalek-slot></div>
        ${m.status === 'failed' && m.clientMsgId !== undefined
          ? html`<div class="failed">
              ${icon('alert', 14)} Not sent
              <button type="button" @click=${() => void this.services.controller.retryMessage(m)}>Retry</button>
            </div>`
          : nothing}
      </div>
      <div class="tools ${this.menuOpen ? 'open' : ''}">
        <button
          class="icon-btn small"
          type="button"
          aria-label="Message actions"
          aria-haspopup="menu"
          aria-expanded=${this.menuOpen ? 'true' : 'false'}
          @click=${this.#toggleMenu}
        >
          ${icon('more', 18)}
        </button>
        ${this.menuOpen
          ? html`<div class="menu ${this.menuUp ? 'up' : ''}" role="menu" aria-label="Message actions" @keydown=${this.#onMenuKey}>
              ${entries.map(
                (e) => html`<button role="menuitem" type="button" class=${e.danger ? 'danger' : ''} @click=${() => this.#run(e)}>
                  ${e.icon ?? nothing}${e.label}
                </button>`,
              )}
              <div class="plugin-slot" @click=${() => this.#closeMenu(false)}>
                <kecalek-slot name="message.actions" .context=${context}></kecalek-slot>
              </div>
            </div>`
          : nothing}
      </div>
    </div>`;
  }
}

customElements.define('kecalek-message', KecalekMessage);
