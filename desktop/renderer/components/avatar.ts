/**
 * <kecalek-avatar>: a round avatar with initials on a stable colour (from the person's or
 * conversation's id) and an optional green "online" dot.
 */
import { LitElement, css, html } from 'lit';
import { avatarColour, initials } from '../util/format.js';

export class KecalekAvatar extends LitElement {
  static override properties = {
    name: { type: String },
    colorKey: { type: String, attribute: 'color-key' },
    size: { type: Number },
    online: { type: Boolean },
  };

  declare name: string;
  declare colorKey: string;
  declare size: number;
  declare online: boolean;

  constructor() {
    super();
    this.name = '';
    this.colorKey = '';
    this.size = 40;
    this.online = false;
  }

  static override styles = css`
    :host {
      display: inline-block;
      position: relative;
      flex: none;
      line-height: 0;
    }
    .face {
      display: grid;
      place-items: center;
      border-radius: 50%;
      color: var(--kecalek-avatar-text);
      font-weight: 600;
      letter-spacing: 0.02em;
      user-select: none;
      line-height: 1;
    }
    .s24 { width: 24px; height: 24px; font-size: 10px; }
    .s28 { width: 28px; height: 28px; font-size: 11px; }
    .s32 { width: 32px; height: 32px; font-size: 12px; }
    .s36 { width: 36px; height: 36px; font-size: 13px; }
    .s40 { width: 40px; height: 40px; font-size: 15px; }
    .s48 { width: 48px; height: 48px; font-size: 17px; }
    .s64 { width: 64px; height: 64px; font-size: 22px; }
    .s88 { width: 88px; height: 88px; font-size: 30px; }
    .c0 { background: var(--kecalek-avatar-0); }
    .c1 { background: var(--kecalek-avatar-1); }
    .c2 { background: var(--kecalek-avatar-2); }
    .c3 { background: var(--kecalek-avatar-3); }
    .c4 { background: var(--kecalek-avatar-4); }
    .c5 { background: var(--kecalek-avatar-5); }
    .c6 { background: var(--kecalek-avatar-6); }
    .c7 { background: var(--kecalek-avatar-7); }
    .dot {
      position: absolute;
      right: 0;
      bottom: 0;
      width: 28%;
      height: 28%;
      min-width: 9px;
      min-height: 9px;
      border-radius: 50%;
      background: var(--kecalek-success);
      box-shadow: 0 0 0 2px var(--kecalek-avatar-ring, var(--kecalek-bg-sidebar));
    }
  `;

  override render() {
    const sizes = [24, 28, 32, 36, 40, 48, 64, 88];
    const size = sizes.reduce((best, s) => (Math.abs(s - this.size) < Math.abs(best - this.size) ? s : best), 40);
    const colour = avatarColour(this.colorKey || this.name);
    return html`<div class="face s${size} c${colour}" aria-hidden="true">${initials(this.name)}</div>${this.online
        ? html`<span class="dot" role="img" aria-label="online"></span>`
        : null}`;
  }
}

customElements.define('kecalek-avatar', KecalekAvatar);
