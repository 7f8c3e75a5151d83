/**
 * <kecalek-timeline>: the scrolling history of the open conversation — day separators, runs of
 * messages from one sender, older history loaded when scrolled to the top (the position kept),
 * new messages followed when already at the bottom (else a "new messages" pill), and jumps to a
 * replied-to message (loading older pages until it is found).
 */
import { css, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { BridgeConversation, BridgeMessage } from '../../shared/bridge.js';
import { EMPTY_LIST, isUnconfirmed, type MessageList } from '../state/model.js';
import { readByOthers, renderKey, stillSending } from '../state/reducers.js';
import { arrivedAtEnd, timelineRows, windowOf } from '../util/timeline.js';
import { KecalekElement } from './base.js';
import { JUMP, type JumpDetail } from './events.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';
import './message.js';

/** Closer than this to the bottom counts as "at the bottom". */
const BOTTOM_SLACK = 64;
/** Closer than this to the top loads older history. */
const TOP_TRIGGER = 240;
const MAX_JUMP_PAGES = 20;
/** How many of the newest messages render at first; scrolling up renders more before fetching older ones. */
export const WINDOW = 120;
const WINDOW_STEP = 100;

export class KecalekTimeline extends KecalekElement {
  static override properties = {
    conversation: { attribute: false },
    unseen: { state: true },
    highlight: { state: true },
    window: { state: true },
  };

  declare conversation: BridgeConversation | undefined;
  /** Messages that arrived while scrolled up. */
  declare unseen: number;
  declare highlight: string | undefined;
  /** How many of the newest messages are rendered (long histories stay light). */
  declare window: number;
  #atBottom = true;
  #shownId: string | undefined;
  /** The render keys of the messages rendered last (undefined before the first render of a conversation). */
  #rendered: ReadonlySet<string> | undefined;
  /** Scroll to the bottom after this update (a new message while at the bottom, or our own). */
  #stick = false;
  /** Scrolled up: the message at the top of the view and its offset from the top. */
  #anchor: { key: string; offset: number } | undefined;
  #resize: ResizeObserver | undefined;
  #highlightTimer: ReturnType<typeof setTimeout> | undefined;
  #jumping = false;

  constructor() {
    super();
    this.conversation = undefined;
    this.unseen = 0;
    this.highlight = undefined;
    this.window = WINDOW;
    this.addEventListener(JUMP, (event) => {
      event.stopPropagation();
      void this.jumpTo((event as CustomEvent<JumpDetail>).detail.messageId);
    });
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        position: relative;
        display: flex;
        flex-direction: column;
        min-height: 0;
        flex: 1;
        background: var(--kecalek-bg-chat);
      }
      .timeline {
        flex: 1;
        min-height: 0;
        overflow-y: auto;
        overflow-x: hidden;
        padding: 8px 0 14px;
        overscroll-behavior: contain;
        /* The timeline keeps its place itself when history is prepended (see #keepPosition). */
        overflow-anchor: none;
      }
      .inner {
        min-height: 100%;
        display: flex;
        flex-direction: column;
        justify-content: flex-end;
      }
      .day {
        position: sticky;
        top: 6px;
        z-index: 5;
        align-self: center;
        margin: 12px 0 6px;
        padding: 4px 12px;
        border-radius: 999px;
        background: var(--kecalek-bg-elevated);
        border: 1px solid var(--kecalek-border);
        color: var(--kecalek-text-muted);
        font-size: 12px;
        font-weight: 600;
      }
      .older {
        display: flex;
        justify-content: center;
        align-items: center;
        gap: 8px;
        padding: 10px;
        color: var(--kecalek-text-faint);
        font-size: 12px;
      }
      .older .spinner {
        width: 14px;
        height: 14px;
      }
      .beginning {
        align-self: center;
        max-width: 420px;
        margin: 24px 16px 12px;
        padding: 12px 16px;
        border-radius: 12px;
        background: var(--kecalek-warning-soft);
        color: var(--kecalek-text);
        font-size: 12.5px;
        text-align: center;
        display: flex;
        gap: 8px;
        align-items: center;
      }
      .beginning .icon {
        color: var(--kecalek-warning);
      }
      .pill {
        position: absolute;
        right: 20px;
        bottom: 16px;
        display: inline-flex;
        align-items: center;
        gap: 6px;
        height: 36px;
        padding: 0 14px 0 12px;
        border-radius: 999px;
        border: 1px solid var(--kecalek-border);
        background: var(--kecalek-bg-elevated);
        color: var(--kecalek-text);
        box-shadow: var(--kecalek-shadow);
        font-weight: 600;
        font-size: 13px;
        cursor: pointer;
      }
      .pill.count {
        background: var(--kecalek-accent);
        color: var(--kecalek-accent-text);
        border-color: transparent;
      }
    `,
  ];

  get #scroller(): HTMLElement | null {
    return this.renderRoot.querySelector<HTMLElement>('.timeline');
  }

  #list(): MessageList {
    const id = this.conversation?.id;
    return (id !== undefined ? this.state.messages.get(id) : undefined) ?? EMPTY_LIST;
  }

  /** The messages rendered: the newest `window` of the list. */
  #shown(): readonly BridgeMessage[] {
    return windowOf(this.#list().items, this.window);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('conversation') && this.conversation?.id !== this.#shownId) {
      this.unseen = 0;
      this.highlight = undefined;
      this.window = WINDOW;
      this.#rendered = undefined;
      this.#atBottom = true;
      this.#anchor = undefined;
      return;
    }
    const arrived = arrivedAtEnd(this.#rendered, this.#list().items, renderKey, stillSending);
    if (arrived.length > 0) {
      // Something new at the end: follow it when at the bottom or when we sent it, else count it
      // (and render it in addition, so that nothing drops off the top while reading up there).
      if (this.#atBottom || arrived.some((m) => m.own && isUnconfirmed(m))) {
        this.#stick = true;
      } else {
        this.unseen += arrived.filter((m) => !m.own).length;
        this.window += arrived.length;
      }
    }
    if (!this.#atBottom && !this.#stick) this.#captureAnchor();
  }

  protected override firstUpdated(): void {
    this.#observe();
  }

  /** Messages (and plugin elements) render after this element's update: follow their real size. */
  #observe(): void {
    const inner = this.renderRoot.querySelector('.inner');
    if (!inner || this.#resize) return;
    this.#resize = new ResizeObserver(() => this.#keepPosition());
    this.#resize.observe(inner);
  }

  protected override updated(): void {
    const scroller = this.#scroller;
    if (!scroller) return;
    this.#rendered = new Set(this.#shown().map(renderKey));
    const id = this.conversation?.id;
    if (id !== this.#shownId || this.#stick) {
      this.#shownId = id;
      this.#stick = false;
      this.#toBottom();
    } else {
      this.#keepPosition();
    }
    this.#fill();
  }

  /** The message at the top of the view and where it is, to keep it there when content changes above. */
  #captureAnchor(): void {
    const scroller = this.#scroller;
    if (!scroller) return;
    const top = scroller.getBoundingClientRect().top;
    for (const element of this.renderRoot.querySelectorAll<HTMLElement>('kecalek-message')) {
      const box = element.getBoundingClientRect();
      if (box.bottom > top) {
        this.#anchor = { key: element.dataset.key ?? '', offset: box.top - top };
        return;
      }
    }
    this.#anchor = undefined;
  }

  /** At the bottom: stay there. Scrolled up: keep the anchored message where it was. */
  #keepPosition(): void {
    const scroller = this.#scroller;
    if (!scroller) return;
    if (this.#atBottom) {
      scroller.scrollTop = scroller.scrollHeight;
      return;
    }
    const anchor = this.#anchor;
    if (!anchor) return;
    const element = [...this.renderRoot.querySelectorAll<HTMLElement>('kecalek-message')].find((e) => e.dataset.key === anchor.key);
    if (!element) return;
    const offset = element.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
    if (Math.abs(offset - anchor.offset) >= 1) scroller.scrollTop += offset - anchor.offset;
  }

  #toBottom(): void {
    const scroller = this.#scroller;
    if (!scroller) return;
    scroller.scrollTop = scroller.scrollHeight;
    this.#atBottom = true;
    this.#anchor = undefined;
    if (this.unseen !== 0) this.unseen = 0;
  }

  /** Scrolls to the newest message (the pill): smoothly when it is close, at once when far. */
  scrollToBottom(): void {
    const scroller = this.#scroller;
    if (!scroller) return;
    const distance = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
    if (distance > scroller.clientHeight * 3) {
      this.#toBottom();
      this.requestUpdate();
    } else {
      scroller.scrollTo({ top: scroller.scrollHeight, behavior: 'smooth' });
    }
    this.unseen = 0;
  }

  /**
   * Near the top (or too little to scroll): render more of the messages already here, and once all
   * of them are rendered fetch the next older page in the background, until the server has none.
   */
  #fill(): void {
    const scroller = this.#scroller;
    const id = this.conversation?.id;
    const list = this.#list();
    if (!scroller || id === undefined || !list.loaded || this.#jumping) return;
    const scrollable = scroller.scrollHeight > scroller.clientHeight + TOP_TRIGGER / 2;
    if (scrollable && scroller.scrollTop >= TOP_TRIGGER) return;
    if (list.items.length > this.window) this.window += WINDOW_STEP;
    if (list.items.length <= this.window && list.hasOlder && !list.loadingOlder) void this.services.controller.loadOlder(id);
  }

  #onScroll(): void {
    const scroller = this.#scroller;
    if (!scroller) return;
    const distance = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
    const atBottom = distance < BOTTOM_SLACK;
    if (atBottom !== this.#atBottom) {
      this.#atBottom = atBottom;
      this.requestUpdate();
    }
    if (atBottom) {
      this.#anchor = undefined;
      if (this.unseen !== 0) this.unseen = 0;
    } else {
      this.#captureAnchor();
    }
    if (scroller.scrollTop < TOP_TRIGGER) this.#fill();
  }

  /** Scrolls to a message and highlights it, loading older history until it is there. */
  async jumpTo(messageId: string): Promise<void> {
    const id = this.conversation?.id;
    if (id === undefined) return;
    this.#jumping = true;
    try {
      for (let page = 0; page <= MAX_JUMP_PAGES; page++) {
        const items = this.#list().items;
        const index = items.findIndex((m) => m.id === messageId);
        if (index >= 0) {
          // Render down from it (plus a little context above).
          this.window = Math.max(this.window, items.length - index + 10);
          break;
        }
        if (!(await this.services.controller.loadOlder(id))) break;
        await this.updateComplete;
      }
    } finally {
      this.#jumping = false;
    }
    await this.updateComplete;
    const element = [...this.renderRoot.querySelectorAll<HTMLElement>('kecalek-message')].find((e) => e.dataset.id === messageId);
    if (!element) {
      this.services.toasts.show('The original message is not available on this device.');
      return;
    }
    element.scrollIntoView({ block: 'center', behavior: 'smooth' });
    this.highlight = messageId;
    clearTimeout(this.#highlightTimer);
    this.#highlightTimer = setTimeout(() => (this.highlight = undefined), 1800);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#highlightTimer);
    this.#resize?.disconnect();
    this.#resize = undefined;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#observe();
  }

  #rows(): TemplateResult {
    const conversation = this.conversation;
    const state = this.state;
    const group = conversation?.kind === 'group';
    const rows = timelineRows(this.#shown(), Date.now(), { key: renderKey });
    return html`${repeat(
      rows,
      (r) => r.key,
      (r) =>
        r.kind === 'day'
          ? html`<div class="day" role="separator" aria-label=${r.label}>${r.label}</div>`
          : html`<kecalek-message
              data-id=${r.message.id}
              data-key=${r.key}
              .message=${r.message}
              .conversation=${conversation}
              .self=${state.self}
              .first=${r.first}
              .last=${r.last}
              .showSender=${group && r.first}
              .showAvatar=${group && r.last}
              .avatarColumn=${group}
              .read=${r.message.own && readByOthers(state, r.message)}
              .highlighted=${this.highlight === r.message.id}
            ></kecalek-message>`,
    )}`;
  }

  override render() {
    const list = this.#list();
    const showPill = !this.#atBottom;
    return html`<div class="timeline scroll" role="log" aria-label="Messages" aria-live="polite" tabindex="0" @scroll=${this.#onScroll}>
        <div class="inner">
          ${list.loadingOlder
            ? html`<div class="older" role="status" aria-label="Loading older messages"><span class="spinner small"></span>Loading older messages…</div>`
            : nothing}
          ${list.loaded && !list.hasOlder && list.items.length <= this.window
            ? html`<div class="beginning">${icon('lock', 16)}<span>Messages here are end-to-end encrypted. Only the people in this conversation can read them.</span></div>`
            : nothing}
          ${this.#rows()}
        </div>
      </div>
      ${showPill
        ? html`<button
            class="pill ${this.unseen > 0 ? 'count' : ''}"
            type="button"
            aria-label=${this.unseen > 0 ? `${this.unseen} new ${this.unseen === 1 ? 'message' : 'messages'}, show the latest` : 'Show the latest messages'}
            @click=${() => this.scrollToBottom()}
          >
            ${icon('arrowDown', 16)} ${this.unseen > 0 ? `${this.unseen} new ${this.unseen === 1 ? 'message' : 'messages'}` : 'Latest'}
          </button>`
        : nothing}`;
  }
}

customElements.define('kecalek-timeline', KecalekTimeline);
