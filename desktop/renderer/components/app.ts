/**
 * <kecalek-app>: the root. Provides the services to everything below, applies the theme to the
 * document, and shows the sign-in window or the main window, with the toasts and the confirmation
 * dialog on top.
 */
import { css, html } from 'lit';
import { provideServices, type ConfirmOptions, type Services } from '../services.js';
import type { AppState } from '../state/model.js';
import { KecalekElement } from './base.js';
import type { KecalekConfirm } from './confirm-dialog.js';
import { baseStyles } from './styles.js';
import './confirm-dialog.js';
import './main-view.js';
import './sign-in.js';
import './toasts.js';

const SYSTEM_DARK = '(prefers-color-scheme: dark)';

/**
 * `<html data-theme>` is always `dark` or `light`: the setting, or for `system` the system's
 * colour scheme now (the stylesheet then needs the dark palette once, not twice).
 */
export function applyTheme(root: HTMLElement, theme: AppState['settings']['theme'], systemDark = matchMedia(SYSTEM_DARK).matches): void {
  root.dataset.theme = theme === 'dark' || theme === 'light' ? theme : systemDark ? 'dark' : 'light';
}

export class KecalekApp extends KecalekElement {
  #provided: Services | undefined;
  #removeProvider: (() => void) | undefined;

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        height: 100%;
      }
      .boot {
        display: grid;
        place-items: center;
        height: 100%;
      }
    `,
  ];

  /** Hands the app its services; call before connecting it. */
  setup(services: Omit<Services, 'confirm'>): void {
    const full: Services = { ...services, confirm: (options: ConfirmOptions) => this.#confirm(options) };
    this.#provided = full;
    this.#removeProvider?.();
    this.#removeProvider = provideServices(this, full);
  }

  protected override get services(): Services {
    if (!this.#provided) throw new Error('<kecalek-app> needs setup(services) before it is connected');
    return this.#provided;
  }

  #confirm(options: ConfirmOptions): Promise<boolean> {
    const dialog = this.renderRoot.querySelector<KecalekConfirm>('kecalek-confirm');
    return dialog ? dialog.ask(options) : Promise.resolve(false);
  }

  #systemScheme: MediaQueryList | undefined;
  readonly #onSystemScheme = (): void => applyTheme(document.documentElement, this.state.settings.theme);

  override connectedCallback(): void {
    super.connectedCallback();
    // "system" follows the system's scheme when it changes while the app is open.
    this.#systemScheme = matchMedia(SYSTEM_DARK);
    this.#systemScheme.addEventListener('change', this.#onSystemScheme);
  }

  override disconnectedCallback(): void {
    this.#systemScheme?.removeEventListener('change', this.#onSystemScheme);
    super.disconnectedCallback();
  }

  protected override updated(): void {
    applyTheme(document.documentElement, this.state.settings.theme);
  }

  override render() {
    const state = this.state;
    const screen = !state.ready
      ? html`<div class="boot" role="status" aria-label="Starting"><span class="spinner"></span></div>`
      : state.self
        ? html`<kecalek-main></kecalek-main>`
        : html`<kecalek-sign-in></kecalek-sign-in>`;
    return html`${screen}<kecalek-confirm></kecalek-confirm><kecalek-toasts></kecalek-toasts>`;
  }
}

customElements.define('kecalek-app', KecalekApp);
