/**
 * <kecalek-settings-dialog>: the account — theme (system / dark / light, saved through the
 * bridge), this account's devices (remove any but this one), linking a new device (its code, then
 * the SAS to compare), the `settings` slot for plugins, and signing out.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import type { BridgeDevice, BridgeSettings } from '../../shared/bridge.js';
import type { BaseSlotContext } from '../plugins/host.js';
import { errorText, formatFullTime, formatListTime, formatSas } from '../util/format.js';
import { KecalekElement } from './base.js';
import { icon, type IconName } from './icons.js';
import { baseStyles, listStyles } from './styles.js';
import './avatar.js';
import { ModalController, modal, modalStyles } from './dialog.js';
import '../slots/slot-element.js';

type Approval = { readonly step: 'idle' } | { readonly step: 'sas'; readonly sas: string };

const THEMES: ReadonlyArray<{ id: BridgeSettings['theme']; label: string; icon: IconName }> = [
  { id: 'system', label: 'System', icon: 'monitor' },
  { id: 'light', label: 'Light', icon: 'sun' },
  { id: 'dark', label: 'Dark', icon: 'moon' },
];

export class KecalekSettingsDialog extends KecalekElement {
  static override properties = {
    busy: { state: true },
    error: { state: true },
    notice: { state: true },
    approval: { state: true },
  };

  declare busy: boolean;
  declare error: string;
  declare notice: string;
  declare approval: Approval;
  #slotContext: BaseSlotContext | undefined;

  constructor() {
    super();
    this.busy = false;
    this.error = '';
    this.notice = '';
    this.approval = { step: 'idle' };
    new ModalController(this);
  }

  static override styles = [
    baseStyles,
    modalStyles,
    listStyles,
    css`
      :host {
        --kecalek-avatar-ring: var(--kecalek-bg-elevated);
      }
      .profile {
        display: flex;
        align-items: center;
        gap: 14px;
      }
      .profile .who {
        display: grid;
        min-width: 0;
      }
      .profile strong {
        font-size: 17px;
      }
      .profile span {
        color: var(--kecalek-text-muted);
        font-size: 13px;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      section {
        display: grid;
        gap: 8px;
      }
      h3 {
        margin: 6px 0 0;
        font-size: 12px;
        font-weight: 700;
        text-transform: uppercase;
        letter-spacing: 0.06em;
        color: var(--kecalek-text-faint);
      }
      .themes {
        display: grid;
        grid-template-columns: repeat(3, 1fr);
        gap: 8px;
        border: none;
        margin: 0;
        padding: 0;
      }
      .theme {
        position: relative;
        display: grid;
        justify-items: center;
        gap: 6px;
        padding: 12px 6px 10px;
        border-radius: 12px;
        border: 2px solid var(--kecalek-border);
        cursor: pointer;
        font-weight: 600;
        font-size: 13px;
        color: var(--kecalek-text-muted);
      }
      .theme:hover {
        background: var(--kecalek-bg-hover);
      }
      .theme:has(input:checked) {
        border-color: var(--kecalek-accent);
        color: var(--kecalek-text);
        background: var(--kecalek-accent-soft);
      }
      .theme:has(input:focus-visible) {
        outline: 2px solid var(--kecalek-focus);
        outline-offset: 2px;
      }
      .theme input {
        position: absolute;
        inset: 0;
        width: 100%;
        height: 100%;
        margin: 0;
        opacity: 0;
        cursor: pointer;
      }
      li {
        padding: 8px 6px;
      }
      .device-icon {
        position: relative;
        display: grid;
        place-items: center;
        width: 36px;
        height: 36px;
        border-radius: 10px;
        background: var(--kecalek-bg-input);
        color: var(--kecalek-text-muted);
      }
      .device-icon .dot {
        position: absolute;
        right: -2px;
        bottom: -2px;
        width: 10px;
        height: 10px;
        border-radius: 50%;
        background: var(--kecalek-success);
        box-shadow: 0 0 0 2px var(--kecalek-bg-elevated);
      }
      .tag {
        font-size: 11px;
        font-weight: 700;
        padding: 2px 8px;
        border-radius: 999px;
        background: var(--kecalek-accent-soft);
        color: var(--kecalek-accent);
      }
      form.link {
        display: flex;
        gap: 8px;
      }
      .sas {
        font-family: var(--kecalek-font-mono);
        font-size: 30px;
        font-weight: 700;
        letter-spacing: 0.1em;
        text-align: center;
        padding: 12px;
        border-radius: 12px;
        background: var(--kecalek-accent-soft);
      }
      .row {
        display: flex;
        gap: 8px;
        justify-content: flex-end;
      }
      .notice {
        margin: 0;
        font-size: 13px;
        color: var(--kecalek-success);
      }
      .plugins:has(> kecalek-slot[empty]) {
        display: none;
      }
      .plugins {
        display: grid;
        gap: 8px;
      }
      .signout {
        padding-top: 10px;
        border-top: 1px solid var(--kecalek-border);
        display: flex;
        justify-content: space-between;
        align-items: center;
        gap: 8px;
      }
      .signout .hint {
        flex: 1;
      }
    `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    this.services.controller.loadDevices().catch((error: unknown) => (this.error = errorText(error)));
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.approval.step === 'sas') void this.services.controller.cancelApproval().catch(() => undefined);
    this.services.controller.forgetDevices();
  }

  #close(): void {
    this.dispatchEvent(new CustomEvent('close'));
  }

  async #run(task: () => Promise<string | void>): Promise<void> {
    this.busy = true;
    this.error = '';
    this.notice = '';
    try {
      const notice = await task();
      if (notice) this.notice = notice;
    } catch (error) {
      this.error = errorText(error);
    } finally {
      this.busy = false;
    }
  }

  #setTheme(theme: BridgeSettings['theme']): void {
    this.services.controller.setTheme(theme).catch((error: unknown) => this.services.toasts.error(`Could not save the theme: ${errorText(error)}`));
  }

  async #removeDevice(device: BridgeDevice): Promise<void> {
    const name = device.name ?? 'this device';
    const ok = await this.services.confirm({
      title: `Remove ${name}?`,
      message: 'It is signed out and can no longer read new messages. Its keys stay on that computer until it is linked again.',
      confirmLabel: 'Remove device',
      danger: true,
    });
    if (ok) await this.#run(async () => this.services.controller.removeDevice(device.deviceId).then(() => `${name} was removed.`));
  }

  #onApprove(event: SubmitEvent): void {
    event.preventDefault();
    const input = (event.currentTarget as HTMLFormElement).elements.namedItem('code') as HTMLInputElement | null;
    const code = input?.value.trim() ?? '';
    if (!code) {
      this.error = 'Enter the code the new device shows.';
      return;
    }
    void this.#run(async () => {
      const sas = await this.services.controller.approveLinking(code.replace(/\s/gu, ''));
      this.approval = { step: 'sas', sas };
    });
  }

  #confirmApproval(): void {
    void this.#run(async () => {
      await this.services.controller.confirmApproval();
      this.approval = { step: 'idle' };
      return 'The new device is linked. Finish on that device.';
    });
  }

  #cancelApproval(): void {
    this.approval = { step: 'idle' };
    void this.#run(() => this.services.controller.cancelApproval());
  }

  async #signOut(): Promise<void> {
    const ok = await this.services.confirm({
      title: 'Sign out?',
      message: 'Your keys stay on this computer, protected by your password; log in again to continue.',
      confirmLabel: 'Sign out',
    });
    if (ok) await this.#run(() => this.services.controller.logout());
  }

  #device(device: BridgeDevice): TemplateResult {
    const name = device.name ?? 'Unnamed device';
    const seen = device.online ? 'Online now' : `Last seen ${formatListTime(device.lastSeenAt, Date.now())}`;
    return html`<li>
      <span class="device-icon">${icon('monitor', 18)}${device.online ? html`<span class="dot"></span>` : nothing}</span>
      <span class="who">
        <span class="name">${name}</span>
        <span class="sub" title=${`Linked ${formatFullTime(device.createdAt)}`}>${seen}</span>
      </span>
      ${device.current
        ? html`<span class="tag">This device</span>`
        : html`<button class="btn danger-outline small" type="button" aria-label=${`Remove ${name}`} ?disabled=${this.busy} @click=${() => void this.#removeDevice(device)}>
            Remove
          </button>`}
    </li>`;
  }

  #linking(): TemplateResult {
    if (this.approval.step === 'sas') {
      return html`<p class="hint">Check that the new device shows the same security code, then confirm.</p>
        <div class="sas" aria-label=${`Security code ${this.approval.sas}`}>${formatSas(this.approval.sas)}</div>
        <div class="row">
          <button class="btn ghost" type="button" ?disabled=${this.busy} @click=${() => this.#cancelApproval()}>They don't match</button>
          <button class="btn primary" type="button" ?disabled=${this.busy} @click=${() => this.#confirmApproval()}>They match</button>
        </div>`;
    }
    return html`<form class="link" @submit=${this.#onApprove} novalidate>
      <input name="code" inputmode="numeric" aria-label="Linking code from the new device" placeholder="Code shown on the new device" autocomplete="off" />
      <button class="btn" type="submit" ?disabled=${this.busy}>${icon('link', 16)} Link</button>
    </form>`;
  }

  #pluginContext(): BaseSlotContext {
    const self = this.state.self;
    if (!this.#slotContext || this.#slotContext.self !== self) this.#slotContext = { self };
    return this.#slotContext;
  }

  override render() {
    const state = this.state;
    const self = state.self;
    const devices = state.devices;
    return modal({
      heading: 'Settings',
      wide: true,
      onClose: () => this.#close(),
      body: html`<div class="profile">
        <kecalek-avatar .name=${self?.username ?? ''} color-key=${self?.userId ?? ''} size="64"></kecalek-avatar>
        <div class="who"><strong>${self?.username}</strong><span>${self?.email}</span></div>
      </div>
      <section>
        <h3 id="theme-title">Theme</h3>
        <div class="themes" role="radiogroup" aria-labelledby="theme-title">
          ${THEMES.map(
            (t) => html`<label class="theme">
              <input type="radio" name="theme" .checked=${state.settings.theme === t.id} @change=${() => this.#setTheme(t.id)} />
              ${icon(t.icon, 22)} ${t.label}
            </label>`,
          )}
        </div>
      </section>
      <section>
        <h3>Devices</h3>
        ${devices === undefined
          ? html`<span class="spinner" role="status" aria-label="Loading devices"></span>`
          : html`<ul aria-label="Devices">
              ${[...devices].sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt - a.lastSeenAt).map((d) => this.#device(d))}
            </ul>`}
      </section>
      <section>
        <h3>Link a new device</h3>
        <p class="hint">On the new computer choose “Link this device”, then enter the code it shows here.</p>
        ${this.#linking()}
      </section>
      <section class="plugins" aria-label="Plugin settings">
        <kecalek-slot name="settings" .context=${this.#pluginContext()}></kecalek-slot>
      </section>
      ${this.error ? html`<p class="error-text" role="alert">${this.error}</p>` : nothing}
      ${this.notice ? html`<p class="notice" role="status">${this.notice}</p>` : nothing}
      <div class="signout">
        <span class="hint">Server: ${state.serverAddress}</span>
        <button class="btn danger-outline" type="button" ?disabled=${this.busy} @click=${() => void this.#signOut()}>${icon('logout', 16)} Sign out</button>
      </div>`,
    });
  }
}

customElements.define('kecalek-settings-dialog', KecalekSettingsDialog);
