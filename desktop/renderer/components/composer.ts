/**
 * <kecalek-composer>: the message box — a growing multi-line textarea (Enter sends, Shift+Enter
 * adds a line), a draft per conversation, the reply preview with cancel, the `composer` slot
 * (plugins get a ComposerHandle on the textarea, e.g. for autocomplete) and the send button.
 */
import { css, html, nothing, type PropertyValues } from 'lit';
import type { ComposerHandle } from '../../../engine/plugin/ui.js';
import type { BridgeConversation, BridgeMessage } from '../../shared/bridge.js';
import type { BaseSlotContext } from '../plugins/host.js';
import { messageSummary } from '../util/format.js';
import { KecalekElement } from './base.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';
import '../slots/slot-element.js';

const MAX_HEIGHT = 180;

export class KecalekComposer extends KecalekElement {
  static override properties = {
    conversation: { attribute: false },
    replyTo: { attribute: false },
    text: { state: true },
  };

  declare conversation: BridgeConversation | undefined;
  declare replyTo: BridgeMessage | undefined;
  declare text: string;
  readonly #drafts = new Map<string, string>();
  #context: BaseSlotContext | undefined;
  #contextKey: unknown[] = [];

  constructor() {
    super();
    this.conversation = undefined;
    this.replyTo = undefined;
    this.text = '';
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        padding: 8px 16px 14px;
        background: var(--kecalek-bg-chat);
      }
      .box {
        border-radius: 22px;
        background: var(--kecalek-bg-input);
        border: 1px solid transparent;
        transition: border-color 0.12s ease;
      }
      .box:focus-within {
        border-color: var(--kecalek-border-strong);
      }
      .reply {
        display: flex;
        align-items: center;
        gap: 10px;
        margin: 8px 8px 0;
        padding: 6px 6px 6px 12px;
        border-left: 3px solid var(--kecalek-accent);
        border-radius: 10px;
        background: var(--kecalek-bg-elevated);
      }
      .reply .what {
        flex: 1;
        min-width: 0;
        display: grid;
        font-size: 13px;
      }
      .reply strong {
        color: var(--kecalek-accent);
        font-size: 12.5px;
      }
      .reply span {
        color: var(--kecalek-text-muted);
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .row {
        display: flex;
        align-items: flex-end;
        gap: 4px;
        padding: 4px 6px 4px 8px;
      }
      .plugins {
        display: flex;
        align-items: center;
        gap: 2px;
        align-self: flex-end;
        min-height: 40px;
      }
      .plugins:has(> kecalek-slot[empty]) {
        display: none;
      }
      textarea {
        flex: 1;
        resize: none;
        border: none;
        background: transparent;
        padding: 10px 6px;
        min-height: 40px;
        max-height: ${MAX_HEIGHT}px;
        line-height: 1.42;
        font-size: 14.5px;
        overflow-y: auto;
      }
      textarea:focus,
      textarea:focus-visible {
        border: none;
        outline: none;
        background: transparent;
      }
      .send {
        width: 40px;
        height: 40px;
        flex: none;
        display: grid;
        place-items: center;
        border: none;
        border-radius: 50%;
        background: var(--kecalek-accent);
        color: var(--kecalek-accent-text);
        cursor: pointer;
        transition:
          opacity 0.12s ease,
          transform 0.12s ease;
      }
      .send:disabled {
        opacity: 0.35;
        cursor: default;
      }
      .send:not(:disabled):active {
        transform: scale(0.94);
      }
    `,
  ];

  get #textarea(): HTMLTextAreaElement | null {
    return this.renderRoot.querySelector('textarea');
  }

  override focus(): void {
    this.#textarea?.focus();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('conversation')) {
      const previous = changed.get('conversation') as BridgeConversation | undefined;
      if (previous && previous.id !== this.conversation?.id) this.#drafts.set(previous.id, this.text);
      if (!previous || previous.id !== this.conversation?.id) this.text = this.conversation ? (this.#drafts.get(this.conversation.id) ?? '') : '';
    }
  }

  protected override firstUpdated(): void {
    // The slot context carries a handle on the textarea, which exists only now.
    this.requestUpdate();
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('text')) this.#resize();
  }

  #resize(): void {
    const area = this.#textarea;
    if (!area) return;
    area.style.height = 'auto';
    area.style.height = `${Math.min(MAX_HEIGHT, area.scrollHeight)}px`;
  }

  /** What the `composer` slot's plugins use to read and change the text. */
  #handle(): ComposerHandle | undefined {
    const area = this.#textarea;
    if (!area) return undefined;
    return {
      element: area,
      replaceRange: (start: number, end: number, text: string) => {
        area.setRangeText(text, start, end, 'end');
        this.text = area.value;
        area.focus();
      },
    };
  }

  #slotContext(): BaseSlotContext {
    const key = [this.state.self, this.conversation, this.#textarea];
    if (!this.#context || key.some((k, i) => k !== this.#contextKey[i])) {
      const composer = this.#handle();
      this.#context = { self: this.state.self, conversation: this.conversation, ...(composer ? { composer } : {}) };
      this.#contextKey = key;
    }
    return this.#context;
  }

  #onInput(event: Event): void {
    this.text = (event.target as HTMLTextAreaElement).value;
  }

  #onKeyDown(event: KeyboardEvent): void {
    if (event.isComposing || event.defaultPrevented) return;
    if (event.key === 'Enter' && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      this.#send();
    } else if (event.key === 'Escape' && this.replyTo) {
      event.preventDefault();
      event.stopPropagation();
      this.#cancelReply();
    }
    // Up in an empty box deliberately does nothing: messages cannot be edited.
  }

  #cancelReply(): void {
    this.emit('kecalek-cancel-reply');
    this.focus();
  }

  #send(): void {
    const conversation = this.conversation;
    const text = this.text.replace(/^\s*\n/u, '').trimEnd();
    if (!conversation || !text.trim()) return;
    const replyTo = this.replyTo;
    this.text = '';
    this.#drafts.delete(conversation.id);
    const area = this.#textarea;
    if (area) area.value = '';
    this.emit('kecalek-cancel-reply');
    void this.services.controller.sendMessage(conversation.id, text, replyTo);
    this.focus();
  }

  #replyPreview() {
    const reply = this.replyTo;
    if (!reply) return nothing;
    const who = reply.own ? 'yourself' : reply.senderUsername;
    return html`<div class="reply">
      ${icon('reply', 18)}
      <div class="what"><strong>Replying to ${who}</strong><span>${messageSummary(reply, 120)}</span></div>
      <button class="icon-btn small" type="button" aria-label="Cancel reply" @click=${() => this.#cancelReply()}>${icon('close', 16)}</button>
    </div>`;
  }

  override render() {
    const name = this.conversation?.name ?? '';
    const empty = !this.text.trim();
    return html`<div class="box">
      ${this.#replyPreview()}
      <div class="row">
        <div class="plugins"><kecalek-slot name="composer" .context=${this.#slotContext()}></kecalek-slot></div>
        <textarea
          rows="1"
          aria-label="Message"
          placeholder=${name ? `Message ${name}` : 'Message'}
          .value=${this.text}
          @input=${this.#onInput}
          @keydown=${this.#onKeyDown}
        ></textarea>
        <button class="send" type="button" aria-label="Send" title="Send (Enter)" ?disabled=${empty} @click=${() => this.#send()}>
          ${icon('send', 19)}
        </button>
      </div>
    </div>`;
  }
}

customElements.define('kecalek-composer', KecalekComposer);
