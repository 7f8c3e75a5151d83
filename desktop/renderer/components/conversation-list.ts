/**
 * <kecalek-conversation-list>: the left pane — your avatar (settings), the connection indicator,
 * new message / new group, the search box (Ctrl+K), pending items plugins contribute (e.g.
 * invitations, through the `conversation.list-item` slot without a conversation), and the
 * conversations: avatar with initials and online dot, name, time, preview, unread badge and each
 * conversation's `conversation.list-item` slot.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { BridgeConversation } from '../../shared/bridge.js';
import type { BaseSlotContext } from '../plugins/host.js';
import { filterConversations, activityTime } from '../state/reducers.js';
import { conversationPreview, formatListTime } from '../util/format.js';
import { KecalekElement } from './base.js';
import { OPEN_DIALOG, type DialogRequest } from './events.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';
import './avatar.js';
import './connection-indicator.js';
import '../slots/slot-element.js';

export class KecalekConversationList extends KecalekElement {
  static override properties = {
    query: { state: true },
  };

  declare query: string;
  #contexts = new WeakMap<BridgeConversation, BaseSlotContext>();

  constructor() {
    super();
    this.query = '';
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: flex;
        flex-direction: column;
        min-height: 0;
        height: 100%;
        background: var(--kecalek-bg-sidebar);
        --kecalek-avatar-ring: var(--kecalek-bg-sidebar);
      }
      header {
        display: flex;
        align-items: center;
        gap: 8px;
        padding: 14px 12px 8px 14px;
      }
      .me {
        border: none;
        background: transparent;
        padding: 0;
        border-radius: 50%;
        cursor: pointer;
        line-height: 0;
      }
      .title {
        flex: 1;
        display: flex;
        align-items: center;
        gap: 8px;
        min-width: 0;
      }
      h1 {
        flex: none;
        margin: 0;
        font-size: 19px;
        font-weight: 700;
        letter-spacing: -0.01em;
        min-width: 0;
      }
      .search {
        position: relative;
        margin: 4px 12px 8px;
      }
      .search .icon {
        position: absolute;
        left: 11px;
        top: 50%;
        transform: translateY(-50%);
        color: var(--kecalek-text-faint);
        pointer-events: none;
      }
      .search input {
        padding-left: 36px;
        border-radius: 999px;
        height: 36px;
      }
      .search input::-webkit-search-cancel-button {
        cursor: pointer;
      }
      .banner {
        margin: 0 12px 8px;
        padding: 8px 12px;
        border-radius: 10px;
        font-size: 13px;
        background: var(--kecalek-warning-soft);
        color: var(--kecalek-text);
        display: flex;
        gap: 8px;
        align-items: center;
      }
      .banner .icon {
        color: var(--kecalek-warning);
      }
      .pending {
        display: grid;
        gap: 6px;
        padding: 0 10px 8px;
      }
      .pending:has(> kecalek-slot[empty]) {
        display: none;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0 8px 12px;
        flex: 1;
        min-height: 0;
      }
      li {
        position: relative;
      }
      .item {
        display: flex;
        align-items: center;
        gap: 12px;
        width: 100%;
        padding: 10px 10px;
        margin: 1px 0;
        border: none;
        border-radius: 12px;
        background: transparent;
        text-align: left;
        cursor: pointer;
        color: var(--kecalek-text);
      }
      .item:hover {
        background: var(--kecalek-bg-hover);
        --kecalek-avatar-ring: var(--kecalek-bg-hover);
      }
      .item[aria-current='true'] {
        background: var(--kecalek-bg-active);
        --kecalek-avatar-ring: var(--kecalek-bg-active);
      }
      .item:focus-visible {
        outline-offset: -2px;
      }
      .body {
        flex: 1;
        min-width: 0;
        display: grid;
        gap: 2px;
      }
      .top,
      .bottom {
        display: flex;
        align-items: baseline;
        gap: 8px;
        min-width: 0;
      }
      .name {
        flex: 1;
        min-width: 0;
        font-weight: 600;
        font-size: 14.5px;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .name .icon {
        display: inline-block;
        vertical-align: -2px;
        margin-right: 4px;
        color: var(--kecalek-text-faint);
      }
      .time {
        flex: none;
        font-size: 12px;
        color: var(--kecalek-text-faint);
      }
      .unread .time {
        color: var(--kecalek-accent);
        font-weight: 600;
      }
      .preview {
        flex: 1;
        min-width: 0;
        font-size: 13px;
        color: var(--kecalek-text-muted);
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .unread .preview {
        color: var(--kecalek-text);
      }
      .badge {
        flex: none;
        min-width: 20px;
        height: 20px;
        padding: 0 6px;
        border-radius: 10px;
        background: var(--kecalek-badge);
        color: var(--kecalek-badge-text);
        font-size: 12px;
        font-weight: 700;
        line-height: 20px;
        text-align: center;
      }
      .extras {
        position: absolute;
        right: 14px;
        bottom: 6px;
        display: flex;
        gap: 4px;
        align-items: center;
      }
      .extras:has(> kecalek-slot[empty]) {
        display: none;
      }
      .empty {
        padding: 40px 24px;
        text-align: center;
        color: var(--kecalek-text-muted);
        display: grid;
        gap: 12px;
        justify-items: center;
      }
      .empty p {
        margin: 0;
      }
      .empty .actions {
        display: flex;
        gap: 8px;
        flex-wrap: wrap;
        justify-content: center;
      }
    `,
  ];

  /** Ctrl+K lands here. */
  focusSearch(): void {
    const input = this.renderRoot.querySelector<HTMLInputElement>('input[type="search"]');
    input?.focus();
    input?.select();
  }

  #open(request: DialogRequest): void {
    this.emit(OPEN_DIALOG, request);
  }

  #select(conversation: BridgeConversation): void {
    void this.services.controller.openConversation(conversation.id);
    this.emit('kecalek-conversation-opened', { conversationId: conversation.id });
  }

  #onSearchKey(event: KeyboardEvent): void {
    if (event.key === 'Escape' && this.query) {
      event.stopPropagation();
      this.query = '';
    } else if (event.key === 'ArrowDown' || event.key === 'Enter') {
      const first = this.renderRoot.querySelector<HTMLButtonElement>('.item');
      if (!first) return;
      event.preventDefault();
      if (event.key === 'Enter') first.click();
      else first.focus();
    }
  }

  #onListKey(event: KeyboardEvent): void {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const items = [...this.renderRoot.querySelectorAll<HTMLButtonElement>('.item')];
    const index = items.indexOf((this.renderRoot as ShadowRoot).activeElement as HTMLButtonElement);
    if (index < 0) return;
    event.preventDefault();
    const next = event.key === 'ArrowDown' ? Math.min(items.length - 1, index + 1) : index - 1;
    if (next < 0) this.focusSearch();
    else items[next]?.focus();
  }

  #context(conversation: BridgeConversation): BaseSlotContext {
    let context = this.#contexts.get(conversation);
    if (!context || context.self !== this.state.self) {
      context = { self: this.state.self, conversation };
      this.#contexts.set(conversation, context);
    }
    return context;
  }

  #item(conversation: BridgeConversation, now: number): TemplateResult {
    const state = this.state;
    const selfId = state.self?.userId;
    const active = state.activeId === conversation.id;
    const unread = active ? 0 : conversation.unreadCount;
    const peer = conversation.kind === 'dm' ? (conversation.peerId ?? conversation.members.find((m) => m.userId !== selfId)?.userId) : undefined;
    const online = peer !== undefined && state.online.has(peer);
    const preview = conversationPreview(conversation);
    const time = activityTime(conversation);
    const nameId = `name-${conversation.id}`;
    const previewId = `preview-${conversation.id}`;
    return html`<li>
      <button
        class="item ${unread > 0 ? 'unread' : ''}"
        type="button"
        aria-current=${active ? 'true' : 'false'}
        aria-labelledby=${nameId}
        aria-describedby=${previewId}
        data-conversation=${conversation.id}
        @click=${() => this.#select(conversation)}
      >
        <kecalek-avatar .name=${conversation.name} color-key=${peer ?? conversation.id} size="48" ?online=${online}></kecalek-avatar>
        <span class="body">
          <span class="top">
            <span class="name" id=${nameId}>${conversation.kind === 'group' ? icon('users', 14) : nothing}${conversation.name}</span>
            ${conversation.lastMessage || conversation.lastMessageAt ? html`<span class="time">${formatListTime(time, now)}</span>` : nothing}
          </span>
          <span class="bottom">
            <span class="preview" id=${previewId}>${preview}${unread > 0 ? html`<span class="visually-hidden">, ${unread} unread</span>` : nothing}</span>
            ${unread > 0 ? html`<span class="badge" aria-hidden="true">${unread > 99 ? '99+' : unread}</span>` : nothing}
          </span>
        </span>
      </button>
      <div class="extras"><kecalek-slot name="conversation.list-item" .context=${this.#context(conversation)}></kecalek-slot></div>
    </li>`;
  }

  override render() {
    const state = this.state;
    const self = state.self;
    const list = filterConversations(state.conversations, this.query);
    const now = Date.now();
    const offline = state.connection !== 'connected';
    return html`
      <header>
        <button class="me" type="button" aria-label="Settings" title="Settings" @click=${() => this.#open({ kind: 'settings' })}>
          <kecalek-avatar .name=${self?.username ?? ''} color-key=${self?.userId ?? ''} size="36"></kecalek-avatar>
        </button>
        <div class="title"><h1>Chats</h1><kecalek-connection></kecalek-connection></div>
        <button class="icon-btn" type="button" aria-label="New group" title="New group" @click=${() => this.#open({ kind: 'new-group' })}>
          ${icon('users')}
        </button>
        <button class="icon-btn" type="button" aria-label="New message" title="New message" @click=${() => this.#open({ kind: 'new-dm' })}>
          ${icon('compose')}
        </button>
      </header>
      <div class="search" role="search">
        ${icon('search', 16)}
        <input
          type="search"
          aria-label="Search conversations"
          placeholder="Search"
          title="Search (Ctrl+K)"
          .value=${this.query}
          @input=${(e: Event) => (this.query = (e.target as HTMLInputElement).value)}
          @keydown=${this.#onSearchKey}
        />
      </div>
      ${offline && state.conversationsLoaded
        ? html`<div class="banner">${icon('alert', 18)}<span>${state.connection === 'disconnected' ? 'You are offline.' : 'Connecting…'} Messages you write are sent when the connection is back.</span></div>`
        : nothing}
      <section class="pending" aria-label="Pending">
        <kecalek-slot name="conversation.list-item" .context=${this.#pendingContext()}></kecalek-slot>
      </section>
      ${list.length === 0
        ? this.#empty()
        : html`<ul class="scroll" aria-label="Conversations" @keydown=${this.#onListKey}>
            ${repeat(
              list,
              (c) => c.id,
              (c) => this.#item(c, now),
            )}
          </ul>`}
    `;
  }

  #pendingBase: BaseSlotContext | undefined;

  /** The list-wide context (no conversation): where pending items such as invitations render. */
  #pendingContext(): BaseSlotContext {
    const self = this.state.self;
    if (!this.#pendingBase || this.#pendingBase.self !== self) this.#pendingBase = { self };
    return this.#pendingBase;
  }

  #empty(): TemplateResult {
    if (this.query) return html`<div class="empty"><p>No conversations match “${this.query}”.</p></div>`;
    if (!this.state.conversationsLoaded) return html`<div class="empty"><span class="spinner" role="status" aria-label="Loading conversations"></span></div>`;
    return html`<div class="empty">
      ${icon('chat', 36)}
      <p>No conversations yet.</p>
      <div class="actions">
        <button class="btn primary small" type="button" @click=${() => this.#open({ kind: 'new-dm' })}>Start a chat</button>
        <button class="btn small" type="button" @click=${() => this.#open({ kind: 'new-group' })}>Create a group</button>
      </div>
    </div>`;
  }
}

customElements.define('kecalek-conversation-list', KecalekConversationList);
