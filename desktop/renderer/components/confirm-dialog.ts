/**
 * <kecalek-confirm>: the app's one confirmation dialog ("Delete this message?"). `ask(options)`
 * resolves true when confirmed, false when cancelled (button, Escape, backdrop).
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ConfirmOptions } from '../services.js';
import { ModalController, modal, modalStyles } from './dialog.js';
import { baseStyles } from './styles.js';

interface Question {
  readonly options: ConfirmOptions;
  readonly resolve: (answer: boolean) => void;
}

export class KecalekConfirm extends LitElement {
  static override properties = {
    question: { state: true },
  };

  declare question: Question | undefined;

  constructor() {
    super();
    this.question = undefined;
    new ModalController(this);
  }

  static override styles = [
    baseStyles,
    modalStyles,
    css`
      p {
        margin: 0;
        color: var(--kecalek-text-muted);
        line-height: 1.5;
      }
    `,
  ];

  ask(options: ConfirmOptions): Promise<boolean> {
    this.question?.resolve(false);
    return new Promise<boolean>((resolve) => {
      this.question = { options, resolve };
    });
  }

  #answer(value: boolean): void {
    const question = this.question;
    this.question = undefined;
    question?.resolve(value);
  }

  override render() {
    const q = this.question;
    if (!q) return nothing;
    return modal({
      heading: q.options.title,
      onClose: () => this.#answer(false),
      body: html`<p>${q.options.message}</p>`,
      actions: html`<button class="btn ghost" type="button" @click=${() => this.#answer(false)}>Cancel</button>
        <button class="btn ${q.options.danger ? 'danger' : 'primary'}" type="button" autofocus @click=${() => this.#answer(true)}>
          ${q.options.confirmLabel ?? 'OK'}
        </button>`,
    });
  }
}

customElements.define('kecalek-confirm', KecalekConfirm);
