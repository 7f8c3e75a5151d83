/**
 * <kecalek-main>: the signed-in window — conversation list on the left, the chat on the right, the
 * main window's dialogs (opened by `kecalek-open-dialog` events from anywhere below), keyboard
 * shortcuts (Ctrl+K: search conversations) and the `overlay` slot for full-window plugin overlays.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import type { BaseSlotContext } from '../plugins/host.js';
import { KecalekElement } from './base.js';
import type { KecalekConversationList } from './conversation-list.js';
import { OPEN_DIALOG, type DialogRequest } from './events.js';
import { baseStyles } from './styles.js';
import type { KecalekChat } from './chat-view.js';
import './chat-view.js';
import './conversation-info-dialog.js';
import './conversation-list.js';
import './new-chat-dialogs.js';
import './settings-dialog.js';
import '../slots/slot-element.js';

export class KecalekMain extends KecalekElement {
  static override properties = {
    dialog: { state: true },
  };

  declare dialog: DialogRequest | undefined;
  #overlayContext: BaseSlotContext | undefined;
  #onKey = (event: KeyboardEvent): void => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && event.key.toLowerCase() === 'k') {
      event.preventDefault();
      if (this.dialog) return;
      this.renderRoot.querySelector<KecalekConversationList>('kecalek-conversation-list')?.focusSearch();
    }
  };

  constructor() {
    super();
    this.dialog = undefined;
    this.addEventListener(OPEN_DIALOG, (event) => {
      event.stopPropagation();
      this.dialog = (event as CustomEvent<DialogRequest>).detail;
    });
    this.addEventListener('kecalek-conversation-opened', (event) => {
      event.stopPropagation();
      this.renderRoot.querySelector<KecalekChat>('kecalek-chat')?.focusComposer();
    });
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        height: 100%;
      }
      .layout {
        display: grid;
        grid-template-columns: minmax(280px, var(--kecalek-sidebar-width)) 1fr;
        height: 100%;
      }
      aside {
        min-height: 0;
        border-right: 1px solid var(--kecalek-border);
      }
      main {
        min-width: 0;
        min-height: 0;
      }
    `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('keydown', this.#onKey);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('keydown', this.#onKey);
  }

  #closeDialog = (): void => {
    this.dialog = undefined;
  };

  #dialog(): TemplateResult | typeof nothing {
    const d = this.dialog;
    if (!d) return nothing;
    switch (d.kind) {
      case 'new-dm':
        return html`<kecalek-new-dm-dialog @close=${this.#closeDialog}></kecalek-new-dm-dialog>`;
      case 'new-group':
        return html`<kecalek-new-group-dialog @close=${this.#closeDialog}></kecalek-new-group-dialog>`;
      case 'conversation-info':
        return html`<kecalek-conversation-info-dialog .conversationId=${d.conversationId} @close=${this.#closeDialog}></kecalek-conversation-info-dialog>`;
      case 'settings':
        return html`<kecalek-settings-dialog @close=${this.#closeDialog}></kecalek-settings-dialog>`;
    }
  }

  #overlay(): BaseSlotContext {
    const self = this.state.self;
    if (!this.#overlayContext || this.#overlayContext.self !== self) this.#overlayContext = { self };
    return this.#overlayContext;
  }

  override render() {
    return html`<div class="layout">
        <aside aria-label="Conversations"><kecalek-conversation-list></kecalek-conversation-list></aside>
        <main aria-label="Chat"><kecalek-chat></kecalek-chat></main>
      </div>
      ${this.#dialog()}
      <kecalek-slot name="overlay" .context=${this.#overlay()}></kecalek-slot>`;
  }
}

customElements.define('kecalek-main', KecalekMain);
