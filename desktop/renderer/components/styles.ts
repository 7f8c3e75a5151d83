/**
 * Styles shared by the components (buttons, fields, focus rings, scrollbars). Constructable
 * stylesheets through Lit's `static styles`: allowed under `style-src 'self'`.
 */
import { css } from 'lit';

export const baseStyles = css`
  :host {
    font-family: var(--kecalek-font);
    color: var(--kecalek-text);
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  [hidden] {
    display: none !important;
  }
  .icon {
    flex: none;
    display: block;
  }
  .visually-hidden {
    position: absolute !important;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  :focus-visible {
    outline: 2px solid var(--kecalek-focus);
    outline-offset: 2px;
  }
  button {
    font: inherit;
    color: inherit;
  }
  .btn {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 8px;
    min-height: 36px;
    padding: 0 16px;
    border-radius: 999px;
    border: 1px solid transparent;
    background: var(--kecalek-bg-input);
    color: var(--kecalek-text);
    font-weight: 600;
    font-size: 14px;
    cursor: pointer;
    white-space: nowrap;
    transition:
      background-color 0.12s ease,
      color 0.12s ease,
      opacity 0.12s ease;
  }
  .btn:hover {
    background: var(--kecalek-bg-hover);
  }
  .btn:disabled {
    opacity: 0.55;
    cursor: default;
  }
  .btn.primary {
    background: var(--kecalek-accent);
    color: var(--kecalek-accent-text);
  }
  .btn.primary:hover:not(:disabled) {
    background: var(--kecalek-accent-hover);
  }
  .btn.danger {
    background: var(--kecalek-danger);
    color: #fff;
  }
  .btn.danger-outline {
    background: transparent;
    color: var(--kecalek-danger);
    border-color: var(--kecalek-border-strong);
  }
  .btn.danger-outline:hover:not(:disabled) {
    background: var(--kecalek-danger-soft);
  }
  .btn.ghost {
    background: transparent;
    color: var(--kecalek-text-muted);
  }
  .btn.ghost:hover:not(:disabled) {
    background: var(--kecalek-bg-hover);
    color: var(--kecalek-text);
  }
  .btn.small {
    min-height: 28px;
    padding: 0 12px;
    font-size: 13px;
  }
  .icon-btn {
    display: inline-grid;
    place-items: center;
    flex: none;
    width: 36px;
    height: 36px;
    padding: 0;
    border: none;
    border-radius: 50%;
    background: transparent;
    color: var(--kecalek-text-muted);
    cursor: pointer;
    transition:
      background-color 0.12s ease,
      color 0.12s ease;
  }
  .icon-btn:hover:not(:disabled),
  .icon-btn[aria-expanded='true'] {
    background: var(--kecalek-bg-hover);
    color: var(--kecalek-text);
  }
  .icon-btn:disabled {
    opacity: 0.45;
    cursor: default;
  }
  .icon-btn.small {
    width: 28px;
    height: 28px;
  }
  label.field {
    display: grid;
    gap: 6px;
    font-size: 13px;
    font-weight: 600;
    color: var(--kecalek-text-muted);
  }
  input[type='text'],
  input[type='email'],
  input[type='password'],
  input[type='search'],
  input:not([type]),
  textarea {
    width: 100%;
    font: inherit;
    font-size: 14px;
    font-weight: 400;
    color: var(--kecalek-text);
    background: var(--kecalek-bg-input);
    border: 1px solid transparent;
    border-radius: var(--kecalek-radius);
    padding: 9px 12px;
    outline: none;
    transition:
      border-color 0.12s ease,
      background-color 0.12s ease;
  }
  input:focus,
  textarea:focus {
    border-color: var(--kecalek-accent);
    background: var(--kecalek-bg);
  }
  input::placeholder,
  textarea::placeholder {
    color: var(--kecalek-text-faint);
  }
  .error-text {
    color: var(--kecalek-danger);
    font-size: 13px;
    margin: 0;
  }
  .hint {
    color: var(--kecalek-text-faint);
    font-size: 12px;
    margin: 0;
  }
  .scroll {
    overflow-y: auto;
    scrollbar-width: thin;
    scrollbar-color: var(--kecalek-border-strong) transparent;
  }
  .scroll::-webkit-scrollbar {
    width: 8px;
  }
  .scroll::-webkit-scrollbar-thumb {
    background: var(--kecalek-border-strong);
    border-radius: 4px;
  }
  .scroll::-webkit-scrollbar-track {
    background: transparent;
  }
  .spinner {
    width: 18px;
    height: 18px;
    border-radius: 50%;
    border: 2px solid var(--kecalek-border-strong);
    border-top-color: var(--kecalek-accent);
    animation: spin 0.8s linear infinite;
  }
  @keyframes spin {
    to {
      transform: rotate(360deg);
    }
  }
  @media (prefers-reduced-motion: reduce) {
    * {
      transition: none !important;
      animation-duration: 0.01ms !important;
    }
  }
`;

/**
 * Lists of people or devices in dialogs (group members, this account's devices): one row per
 * entry with a name and a muted line under it. Components set the row padding.
 */
export const listStyles = css`
  ul {
    list-style: none;
    margin: 0;
    padding: 0;
    display: grid;
    gap: 2px;
  }
  li {
    display: flex;
    align-items: center;
    gap: 12px;
    border-radius: 10px;
  }
  li:hover {
    background: var(--kecalek-bg-hover);
  }
  .who {
    flex: 1;
    min-width: 0;
    display: grid;
  }
  .who .name {
    font-weight: 600;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .who .sub {
    font-size: 12px;
    color: var(--kecalek-text-muted);
  }
`;
