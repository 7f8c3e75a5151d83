/**
 * Modal dialogs on the native <dialog> (focus trap, top layer, inert background, Escape). A dialog
 * component renders `modal({...})` in its own shadow root — the content is inside the dialog in
 * the DOM, so it is found under the dialog's role — and adds a ModalController, which opens each
 * new <dialog> with showModal(), focuses the field marked `autofocus`, and gives focus back when it goes away.
 * Escape, the × button and a click on the backdrop call `onClose` (the owner removes the dialog).
 */
import { css, html, nothing, type ReactiveController, type ReactiveControllerHost, type TemplateResult } from 'lit';
import { icon } from './icons.js';

/** The focused element, looking into shadow roots. */
export function deepActiveElement(): Element | null {
  let active: Element | null = document.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active;
}

export interface ModalOptions {
  readonly heading: string;
  readonly body: unknown;
  /** Buttons of the footer (right-aligned). */
  readonly actions?: unknown;
  readonly onClose: () => void;
  readonly wide?: boolean;
  /** Keep it open on Escape and backdrop clicks (a step that must be answered with a button). */
  readonly sticky?: boolean;
}

export function modal(options: ModalOptions): TemplateResult {
  const close = (): void => options.onClose();
  const onCancel = (event: Event): void => {
    event.preventDefault();
    if (!options.sticky) close();
  };
  const onClick = (event: MouseEvent): void => {
    if (options.sticky) return;
    const dialog = event.currentTarget as HTMLDialogElement;
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) close();
  };
  return html`<dialog class="modal ${options.wide ? 'wide' : ''}" aria-labelledby="modal-title" @cancel=${onCancel} @click=${onClick}>
    <header class="modal-header">
      <h2 id="modal-title">${options.heading}</h2>
      <button class="icon-btn" type="button" aria-label="Close" @click=${close}>${icon('close')}</button>
    </header>
    <div class="modal-body">${options.body}</div>
    ${options.actions ? html`<footer class="modal-footer">${options.actions}</footer>` : nothing}
  </dialog>`;
}

/** Opens the host's <dialog class="modal"> when it appears; restores focus when it goes. */
export class ModalController implements ReactiveController {
  readonly #host: ReactiveControllerHost & HTMLElement & { readonly renderRoot: HTMLElement | DocumentFragment };
  #current: HTMLDialogElement | null = null;
  #returnFocus: Element | null = null;

  constructor(host: ReactiveControllerHost & HTMLElement & { readonly renderRoot: HTMLElement | DocumentFragment }) {
    this.#host = host;
    host.addController(this);
  }

  hostUpdated(): void {
    const dialog = this.#host.renderRoot.querySelector<HTMLDialogElement>('dialog.modal');
    if (dialog === this.#current) return;
    if (this.#current && !dialog) this.#restore();
    this.#current = dialog;
    if (!dialog) return;
    this.#returnFocus ??= deepActiveElement();
    if (!dialog.open) dialog.showModal();
    // showModal() focuses the first focusable element (the × button); a field marked autofocus wins.
    dialog.querySelector<HTMLElement>('[autofocus]')?.focus();
  }

  hostDisconnected(): void {
    if (this.#current) this.#restore();
    this.#current = null;
  }

  #restore(): void {
    const target = this.#returnFocus as HTMLElement | null;
    this.#returnFocus = null;
    if (target && target.isConnected && typeof target.focus === 'function') queueMicrotask(() => target.focus());
  }
}

export const modalStyles = css`
  dialog.modal {
    width: min(440px, calc(100vw - 32px));
    max-height: min(720px, calc(100vh - 48px));
    padding: 0;
    border: 1px solid var(--kecalek-border);
    border-radius: 16px;
    background: var(--kecalek-bg-elevated);
    color: var(--kecalek-text);
    box-shadow: var(--kecalek-shadow);
    overflow: hidden;
  }
  dialog.modal.wide {
    width: min(560px, calc(100vw - 32px));
  }
  dialog.modal[open] {
    display: flex;
    flex-direction: column;
    animation: modal-pop 0.14s ease-out;
  }
  dialog.modal::backdrop {
    background: var(--kecalek-bg-overlay);
  }
  @keyframes modal-pop {
    from {
      opacity: 0;
      transform: translateY(6px) scale(0.985);
    }
  }
  .modal-header {
    display: flex;
    align-items: center;
    gap: 8px;
    padding: 16px 12px 8px 24px;
  }
  .modal-header h2 {
    flex: 1;
    margin: 0;
    font-size: 18px;
    font-weight: 650;
  }
  .modal-body {
    padding: 8px 24px 16px;
    overflow-y: auto;
    display: grid;
    gap: 14px;
  }
  .modal-footer {
    display: flex;
    justify-content: flex-end;
    gap: 8px;
    padding: 12px 24px 20px;
  }
`;
