/**
 * <kecalek-connection>: the connection to the server at a glance — a green dot when connected,
 * an amber "Reconnecting…" or red "Offline" pill otherwise. Announced politely (role=status).
 */
import { css, html } from 'lit';
import type { ConnectionStateName } from '../../shared/bridge.js';
import { KecalekElement } from './base.js';
import { baseStyles } from './styles.js';

export function connectionLabel(state: ConnectionStateName): string {
  switch (state) {
    case 'connected':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return 'Reconnecting…';
    default:
      return 'Offline';
  }
}

export class KecalekConnection extends KecalekElement {
  static override styles = [
    baseStyles,
    css`
      :host {
        display: inline-flex;
        min-width: 0;
      }
      .pill {
        min-width: 0;
        overflow: hidden;
        display: inline-flex;
        align-items: center;
        gap: 6px;
        height: 22px;
        padding: 0 8px 0 6px;
        border-radius: 999px;
        font-size: 12px;
        font-weight: 600;
        white-space: nowrap;
      }
      .label {
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .dot {
        flex: none;
        width: 8px;
        height: 8px;
        border-radius: 50%;
        background: currentColor;
      }
      .connected {
        color: var(--kecalek-success);
        padding: 0 4px;
      }
      .connected .label {
        position: absolute;
        width: 1px;
        height: 1px;
        overflow: hidden;
        clip: rect(0 0 0 0);
      }
      .connecting,
      .reconnecting {
        color: var(--kecalek-warning);
        background: var(--kecalek-warning-soft);
      }
      .connecting .dot,
      .reconnecting .dot {
        animation: pulse 1.2s ease-in-out infinite;
      }
      .disconnected {
        color: var(--kecalek-danger);
        background: var(--kecalek-danger-soft);
      }
      @keyframes pulse {
        50% {
          opacity: 0.3;
        }
      }
    `,
  ];

  override render() {
    const state = this.state.connection;
    const label = connectionLabel(state);
    return html`<span
      class="pill ${state}"
      role="status"
      aria-label=${`Connection: ${label}`}
      title=${state === 'connected' ? `Connected to ${this.state.serverAddress}` : label}
      data-state=${state}
      ><span class="dot"></span><span class="label">${label}</span></span
    >`;
  }
}

customElements.define('kecalek-connection', KecalekConnection);
