/**
 * <kecalek-sign-in>: the window before an account is open, with three tabs — Log in (accounts on
 * this computer + email/password), Register (details, then the mailed code) and Link this device
 * (the 8-digit code and QR for the other device, the SAS to compare, then a password for this
 * device's key store).
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import { errorText, formatClock, formatLinkCode, formatSas, isEmail, svgDataUrl } from '../util/format.js';
import { KecalekElement } from './base.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';
import './avatar.js';

type Tab = 'login' | 'register' | 'link';
type LinkStep =
  | { readonly step: 'start' }
  | { readonly step: 'code'; readonly code: string; readonly qr: string; readonly expiresAt: number }
  | { readonly step: 'sas'; readonly sas: string }
  | { readonly step: 'password' };

const USERNAME = /^[A-Za-z0-9._-]{1,32}$/u;
export const MIN_PASSWORD = 8;

const TABS: ReadonlyArray<{ id: Tab; label: string }> = [
  { id: 'login', label: 'Log in' },
  { id: 'register', label: 'Register' },
  { id: 'link', label: 'Link this device' },
];

export class KecalekSignIn extends KecalekElement {
  static override properties = {
    tab: { state: true },
    busy: { state: true },
    error: { state: true },
    registeredEmail: { state: true },
    link: { state: true },
  };

  declare tab: Tab;
  declare busy: boolean;
  declare error: string;
  /** Registration sent: the code step for this address. */
  declare registeredEmail: string | undefined;
  declare link: LinkStep;
  /** Bumped when a linking attempt ends, so a late answer of an old one is ignored. */
  #linkRun = 0;

  constructor() {
    super();
    this.tab = 'login';
    this.busy = false;
    this.error = '';
    this.registeredEmail = undefined;
    this.link = { step: 'start' };
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: grid;
        place-items: center;
        height: 100%;
        overflow-y: auto;
        background:
          radial-gradient(1200px 600px at 10% -10%, var(--kecalek-accent-soft), transparent 60%),
          radial-gradient(900px 500px at 110% 110%, var(--kecalek-accent-soft), transparent 55%), var(--kecalek-bg-sidebar);
      }
      .wrap {
        width: min(440px, calc(100vw - 32px));
        padding: 32px 0;
        display: grid;
        gap: 20px;
      }
      .brand {
        display: flex;
        align-items: center;
        gap: 12px;
        justify-content: center;
      }
      .logo {
        display: grid;
        place-items: center;
        width: 44px;
        height: 44px;
        border-radius: 14px;
        background: var(--kecalek-accent);
        color: var(--kecalek-accent-text);
      }
      .brand h1 {
        margin: 0;
        font-size: 24px;
        font-weight: 700;
        letter-spacing: -0.01em;
      }
      .brand p {
        margin: 0;
        font-size: 13px;
        color: var(--kecalek-text-muted);
      }
      .card {
        background: var(--kecalek-bg-elevated);
        border: 1px solid var(--kecalek-border);
        border-radius: 18px;
        box-shadow: var(--kecalek-shadow);
        overflow: hidden;
      }
      [role='tablist'] {
        display: grid;
        grid-template-columns: repeat(3, 1fr);
        padding: 6px;
        gap: 4px;
        margin: 16px 16px 0;
        background: var(--kecalek-bg-input);
        border-radius: 12px;
      }
      [role='tab'] {
        border: none;
        background: transparent;
        color: var(--kecalek-text-muted);
        font-weight: 600;
        font-size: 13px;
        padding: 8px 6px;
        border-radius: 8px;
        cursor: pointer;
      }
      [role='tab'][aria-selected='true'] {
        background: var(--kecalek-bg-elevated);
        color: var(--kecalek-text);
        box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12);
      }
      [role='tabpanel'] {
        padding: 20px 24px 24px;
      }
      form {
        display: grid;
        gap: 14px;
      }
      h2 {
        margin: 0;
        font-size: 17px;
      }
      .lead {
        margin: 0;
        color: var(--kecalek-text-muted);
        line-height: 1.5;
      }
      .accounts {
        display: grid;
        gap: 4px;
        margin: 0 0 6px;
        padding: 0;
        list-style: none;
      }
      .account {
        display: flex;
        align-items: center;
        gap: 12px;
        width: 100%;
        padding: 8px 10px;
        border: 1px solid var(--kecalek-border);
        border-radius: 12px;
        background: transparent;
        text-align: left;
        cursor: pointer;
        --kecalek-avatar-ring: var(--kecalek-bg-elevated);
      }
      .account:hover,
      .account[aria-pressed='true'] {
        background: var(--kecalek-bg-hover);
        border-color: var(--kecalek-border-strong);
      }
      .account .who {
        display: grid;
        min-width: 0;
      }
      .account .who span {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .account .email {
        font-size: 12px;
        color: var(--kecalek-text-muted);
      }
      .section-label {
        font-size: 12px;
        font-weight: 700;
        text-transform: uppercase;
        letter-spacing: 0.06em;
        color: var(--kecalek-text-faint);
        margin: 0 0 6px;
      }
      .actions {
        display: flex;
        gap: 8px;
        justify-content: flex-end;
        align-items: center;
        margin-top: 4px;
      }
      .actions .btn.primary {
        min-width: 120px;
      }
      .code {
        font-family: var(--kecalek-font-mono);
        font-size: 30px;
        font-weight: 700;
        letter-spacing: 0.12em;
        text-align: center;
        margin: 4px 0;
      }
      .qr {
        display: grid;
        place-items: center;
      }
      .qr img {
        width: 200px;
        height: 200px;
        padding: 10px;
        border-radius: 12px;
        background: #fff;
      }
      .waiting {
        display: flex;
        align-items: center;
        justify-content: center;
        gap: 10px;
        color: var(--kecalek-text-muted);
        font-size: 13px;
      }
      .sas {
        font-family: var(--kecalek-font-mono);
        font-size: 36px;
        font-weight: 700;
        letter-spacing: 0.1em;
        text-align: center;
        padding: 14px;
        border-radius: 12px;
        background: var(--kecalek-accent-soft);
      }
      .server {
        text-align: center;
        font-size: 12px;
        color: var(--kecalek-text-faint);
      }
      .server.unverified {
        color: var(--kecalek-warning);
      }
      .server .icon {
        display: inline-block;
        vertical-align: -3px;
        margin-right: 4px;
      }
    `,
  ];

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.link.step !== 'start') void this.#cancelLink();
  }

  #select(tab: Tab): void {
    if (this.busy && this.tab !== tab) return;
    if (this.tab === 'link' && tab !== 'link' && this.link.step !== 'start') void this.#cancelLink();
    this.tab = tab;
    this.error = '';
  }

  #onTabKey(event: KeyboardEvent): void {
    const index = TABS.findIndex((t) => t.id === this.tab);
    let next = index;
    if (event.key === 'ArrowRight') next = (index + 1) % TABS.length;
    else if (event.key === 'ArrowLeft') next = (index + TABS.length - 1) % TABS.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = TABS.length - 1;
    else return;
    event.preventDefault();
    this.#select(TABS[next]!.id);
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`#tab-${TABS[next]!.id}`)?.focus());
  }

  async #run(task: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = '';
    try {
      await task();
    } catch (error) {
      this.error = errorText(error);
    } finally {
      this.busy = false;
    }
  }

  #field(form: HTMLFormElement, name: string): string {
    const element = form.elements.namedItem(name);
    return element instanceof HTMLInputElement ? element.value : '';
  }

  // ---- log in ---------------------------------------------------------------------------------

  #onLogin(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const email = this.#field(form, 'email').trim();
    const password = this.#field(form, 'password');
    if (!isEmail(email)) {
      this.error = 'Enter the email address of your account.';
      return;
    }
    if (!password) {
      this.error = 'Enter your password.';
      return;
    }
    void this.#run(() => this.services.controller.login(email, password));
  }

  #pickAccount(email: string): void {
    const form = this.renderRoot.querySelector<HTMLFormElement>('#login-form');
    if (!form) return;
    const emailInput = form.elements.namedItem('email') as HTMLInputElement | null;
    if (emailInput) emailInput.value = email;
    this.requestUpdate();
    (form.elements.namedItem('password') as HTMLInputElement | null)?.focus();
  }

  #loginPanel(): TemplateResult {
    const accounts = this.state.accounts;
    return html`
      ${accounts.length > 0
        ? html`<p class="section-label" id="accounts-label">On this computer</p>
            <ul class="accounts" aria-labelledby="accounts-label">
              ${accounts.map(
                (a) => html`<li>
                  <button class="account" type="button" aria-label=${`Use ${a.username} (${a.email})`} @click=${() => this.#pickAccount(a.email)}>
                    <kecalek-avatar .name=${a.username} color-key=${a.email} size="36"></kecalek-avatar>
                    <span class="who"><span>${a.username}</span><span class="email">${a.email}</span></span>
                  </button>
                </li>`,
              )}
            </ul>`
        : nothing}
      <form id="login-form" @submit=${this.#onLogin} novalidate>
        <label class="field">Email <input name="email" type="email" autocomplete="username" placeholder="you@example.org" required /></label>
        <label class="field">Password <input name="password" type="password" autocomplete="current-password" required /></label>
        ${this.#errorLine()}
        <div class="actions">
          <button class="btn primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Logging in…' : 'Log in'}</button>
        </div>
      </form>
    `;
  }

  // ---- register -------------------------------------------------------------------------------

  #onRegister(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const username = this.#field(form, 'username').trim();
    const email = this.#field(form, 'email').trim();
    const password = this.#field(form, 'password');
    const repeat = this.#field(form, 'repeat');
    if (!USERNAME.test(username)) {
      this.error = 'A username is 1-32 letters, digits, dots, dashes or underscores.';
      return;
    }
    if (!isEmail(email)) {
      this.error = 'Enter a valid email address.';
      return;
    }
    if (password.length < MIN_PASSWORD) {
      this.error = `Choose a password of at least ${MIN_PASSWORD} characters.`;
      return;
    }
    if (password !== repeat) {
      this.error = 'The passwords do not match.';
      return;
    }
    void this.#run(async () => {
      this.registeredEmail = await this.services.controller.register(username, email, password);
    });
  }

  #onConfirm(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const code = this.#field(form, 'code').replace(/\s/gu, '');
    if (!/^\d{6}$/u.test(code)) {
      this.error = 'The code has 6 digits.';
      return;
    }
    void this.#run(() => this.services.controller.confirmRegistration(code));
  }

  #registerPanel(): TemplateResult {
    if (this.registeredEmail !== undefined) {
      return html`<form @submit=${this.#onConfirm} novalidate>
        <h2>Check your email</h2>
        <p class="lead">We sent a 6-digit code to <strong>${this.registeredEmail}</strong>. Enter it to finish creating your account.</p>
        <label class="field"
          >Confirmation code
          <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="7" placeholder="123456" required
        /></label>
        ${this.#errorLine()}
        <div class="actions">
          <button class="btn ghost" type="button" ?disabled=${this.busy} @click=${() => ((this.registeredEmail = undefined), (this.error = ''))}>Back</button>
          <button class="btn primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Confirming…' : 'Confirm'}</button>
        </div>
      </form>`;
    }
    return html`<form @submit=${this.#onRegister} novalidate>
      <label class="field">Username <input name="username" autocomplete="nickname" maxlength="32" placeholder="anna" required /></label>
      <label class="field">Email <input name="email" type="email" autocomplete="email" placeholder="you@example.org" required /></label>
      <label class="field">Password <input name="password" type="password" autocomplete="new-password" required /></label>
      <label class="field">Repeat password <input name="repeat" type="password" autocomplete="new-password" required /></label>
      <p class="hint">Your password protects your keys on this computer. It never leaves it, and it cannot be recovered.</p>
      ${this.#errorLine()}
      <div class="actions">
        <button class="btn primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Creating…' : 'Create account'}</button>
      </div>
    </form>`;
  }

  // ---- link this device -----------------------------------------------------------------------

  async #startLink(): Promise<void> {
    const run = ++this.#linkRun;
    this.busy = true;
    this.error = '';
    try {
      const started = await this.services.controller.startLinking();
      if (run !== this.#linkRun) return;
      this.link = { step: 'code', code: started.code, qr: svgDataUrl(started.qrSvg), expiresAt: started.expiresAt };
    } catch (error) {
      if (run === this.#linkRun) this.error = errorText(error);
      return;
    } finally {
      if (run === this.#linkRun) this.busy = false;
    }
    try {
      const sas = await this.services.controller.linkingSas();
      if (run === this.#linkRun) this.link = { step: 'sas', sas };
    } catch (error) {
      if (run !== this.#linkRun) return;
      this.link = { step: 'start' };
      this.error = errorText(error);
    }
  }

  async #cancelLink(): Promise<void> {
    this.#linkRun++;
    this.link = { step: 'start' };
    this.busy = false;
    await this.services.controller.cancelLinking().catch(() => undefined);
  }

  #onLinkPassword(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const password = this.#field(form, 'password');
    const repeat = this.#field(form, 'repeat');
    if (password.length < MIN_PASSWORD) {
      this.error = `Choose a password of at least ${MIN_PASSWORD} characters.`;
      return;
    }
    if (password !== repeat) {
      this.error = 'The passwords do not match.';
      return;
    }
    void this.#run(() => this.services.controller.acceptLinking(password));
  }

  #linkPanel(): TemplateResult {
    const link = this.link;
    switch (link.step) {
      case 'start':
        return html`<div class="grid">
          <form @submit=${(e: Event) => (e.preventDefault(), void this.#startLink())}>
            <p class="lead">
              Use this computer as another device of an account you already have. You will see a code and a QR code to enter on a
              device where you are logged in (Settings → Devices → Link a new device).
            </p>
            ${this.#errorLine()}
            <div class="actions">
              <button class="btn primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Starting…' : 'Show linking code'}</button>
            </div>
          </form>
        </div>`;
      case 'code':
        return html`<form @submit=${(e: Event) => e.preventDefault()}>
          <p class="lead">On your other device, open <strong>Settings → Devices → Link a new device</strong> and enter this code:</p>
          <div class="code" aria-label=${`Linking code ${link.code.split('').join(' ')}`}>${formatLinkCode(link.code)}</div>
          <div class="qr"><img src=${link.qr} alt="QR code with the linking code" /></div>
          <p class="hint">The code expires at ${formatClock(link.expiresAt)}.</p>
          <div class="waiting" role="status"><span class="spinner"></span> Waiting for your other device…</div>
          <div class="actions"><button class="btn ghost" type="button" @click=${() => void this.#cancelLink()}>Cancel</button></div>
        </form>`;
      case 'sas':
        return html`<form @submit=${(e: Event) => (e.preventDefault(), (this.link = { step: 'password' }))}>
          <h2>Compare the security code</h2>
          <p class="lead">Check that your other device shows the same number. If it does not, someone may be in between: cancel.</p>
          <div class="sas" aria-label=${`Security code ${link.sas}`}>${formatSas(link.sas)}</div>
          <div class="actions">
            <button class="btn ghost" type="button" @click=${() => void this.#cancelLink()}>They don't match</button>
            <button class="btn primary" type="submit">They match</button>
          </div>
        </form>`;
      case 'password':
        return html`<form @submit=${this.#onLinkPassword} novalidate>
          <h2>Protect this device</h2>
          <p class="lead">Choose a password for the keys stored on this computer. Confirm the link on your other device too.</p>
          <label class="field">Password <input name="password" type="password" autocomplete="new-password" required /></label>
          <label class="field">Repeat password <input name="repeat" type="password" autocomplete="new-password" required /></label>
          ${this.#errorLine()}
          <div class="actions">
            <button class="btn ghost" type="button" ?disabled=${this.busy} @click=${() => void this.#cancelLink()}>Cancel</button>
            <button class="btn primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Linking…' : 'Link this device'}</button>
          </div>
        </form>`;
    }
  }

  #errorLine(): TemplateResult | typeof nothing {
    return this.error ? html`<p class="error-text" role="alert">${this.error}</p>` : nothing;
  }

  override render() {
    const panel = this.tab === 'login' ? this.#loginPanel() : this.tab === 'register' ? this.#registerPanel() : this.#linkPanel();
    return html`<div class="wrap">
      <div class="brand">
        <div class="logo">${icon('chat', 26)}</div>
        <div>
          <h1>Kecalek</h1>
          <p>Private, end-to-end encrypted chat</p>
        </div>
      </div>
      <main class="card">
        <div role="tablist" aria-label="Sign in" @keydown=${this.#onTabKey}>
          ${TABS.map(
            (t) => html`<button
              role="tab"
              id=${`tab-${t.id}`}
              type="button"
              aria-selected=${this.tab === t.id ? 'true' : 'false'}
              aria-controls="panel"
              tabindex=${this.tab === t.id ? 0 : -1}
              @click=${() => this.#select(t.id)}
            >
              ${t.label}
            </button>`,
          )}
        </div>
        <section role="tabpanel" id="panel" aria-labelledby=${`tab-${this.tab}`}>${panel}</section>
      </main>
      ${this.state.serverAddress
        ? this.state.serverVerified
          ? html`<div class="server">${icon('lock', 14)} ${this.state.serverAddress}</div>`
          : html`<div class="server unverified" title="The server's certificate is not checked: use this only with your own development server">
              ${icon('alert', 14)} ${this.state.serverAddress} (development server: certificate not checked)
            </div>`
        : nothing}
    </div>`;
  }
}

customElements.define('kecalek-sign-in', KecalekSignIn);
