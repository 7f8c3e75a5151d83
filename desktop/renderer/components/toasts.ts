/**
 * <kecalek-toasts>: the stack of non-blocking notices at the bottom of the window. Errors are
 * announced as alerts, the rest politely. Shown as a manual popover so a notice stays above an open
 * dialog.
 */
import { css, html } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { Services } from '../services.js';
import { KecalekElement } from './base.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';

export class KecalekToasts extends KecalekElement {
  constructor() {
    super();
    this.watchState = false;
  }

  static override styles = [
    baseStyles,
    css`
      .stack {
        position: fixed;
        inset: auto 0 96px 0;
        margin: 0 auto;
        width: max-content;
        max-width: min(560px, calc(100vw - 32px));
        padding: 0;
        border: none;
        background: transparent;
        overflow: visible;
        display: grid;
        gap: 8px;
        justify-items: center;
        pointer-events: none;
      }
      .stack:not(:popover-open) {
        display: none;
      }
      .toast {
        pointer-events: auto;
        display: flex;
        align-items: center;
        gap: 10px;
        padding: 10px 8px 10px 16px;
        border-radius: 12px;
        background: var(--kecalek-bg-elevated);
        color: var(--kecalek-text);
        border: 1px solid var(--kecalek-border);
        box-shadow: var(--kecalek-shadow);
        font-size: 14px;
        animation: rise 0.16s ease-out;
      }
      .toast.error {
        border-color: var(--kecalek-danger);
      }
      .toast.error .mark {
        color: var(--kecalek-danger);
      }
      .mark {
        color: var(--kecalek-accent);
      }
      .text {
        overflow-wrap: anywhere;
      }
      @keyframes rise {
        from {
          opacity: 0;
          transform: translateY(8px);
        }
      }
    `,
  ];

  protected override subscriptions(services: Services): Array<() => void> {
    return [services.toasts.store.subscribe(() => this.requestUpdate())];
  }

  protected override updated(): void {
    const stack = this.renderRoot.querySelector<HTMLElement>('.stack');
    if (!stack || typeof stack.showPopover !== 'function') return;
    const count = this.services.toasts.store.state.length;
    const open = stack.matches(':popover-open');
    if (count > this.#shown) {
      // Re-show on a new notice so it sits above a dialog opened meanwhile.
      if (open) stack.hidePopover();
      stack.showPopover();
    } else if (count === 0 && open) {
      stack.hidePopover();
    }
    this.#shown = count;
  }

  #shown = 0;

  override render() {
    const toasts = this.services.toasts.store.state;
    return html`<div class="stack" popover="manual">
      ${repeat(
        toasts,
        (t) => t.id,
        (t) => html`<div class="toast ${t.kind}" role=${t.kind === 'error' ? 'alert' : 'status'}>
          <span class="mark">${icon(t.kind === 'error' ? 'alert' : 'info', 18)}</span>
          <span class="text">${t.text}</span>
          <button class="icon-btn small" type="button" aria-label="Dismiss" @click=${() => this.services.toasts.dismiss(t.id)}>
            ${icon('close', 16)}
          </button>
        </div>`,
      )}
    </div>`;
  }
}

customElements.define('kecalek-toasts', KecalekToasts);
