/**
 * <kecalek-chat>: the right pane. With a conversation open: its header (avatar, name, members /
 * online status, the `conversation.header` slot, info and delete), the timeline and the composer,
 * holding the reply target per conversation. Without one: a welcome screen.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import type { BridgeConversation, BridgeMessage } from '../../shared/bridge.js';
import type { BaseSlotContext } from '../plugins/host.js';
import { conversationStatus, errorText } from '../util/format.js';
import { KecalekElement } from './base.js';
import { JUMP, OPEN_DIALOG, REPLY, type DialogRequest, type JumpDetail } from './events.js';
import { icon } from './icons.js';
import { baseStyles } from './styles.js';
import type { KecalekComposer } from './composer.js';
import type { KecalekTimeline } from './timeline.js';
import './avatar.js';
import './composer.js';
import './timeline.js';
import '../slots/slot-element.js';

export class KecalekChat extends KecalekElement {
  static override properties = {
    replies: { state: true },
  };

  /** Reply target per conversation. */
  declare replies: ReadonlyMap<string, BridgeMessage>;
  #headerContext: BaseSlotContext | undefined;

  constructor() {
    super();
    this.replies = new Map();
    this.addEventListener(REPLY, (event) => {
      event.stopPropagation();
      const message = (event as CustomEvent<BridgeMessage>).detail;
      this.replies = new Map(this.replies).set(message.conversationId, message);
      this.focusComposer();
    });
    // Jumps asked for outside the timeline (plugin items in the header or composer, e.g. a pinned list).
    this.addEventListener(JUMP, (event) => {
      event.stopPropagation();
      const timeline = this.renderRoot.querySelector<KecalekTimeline>('kecalek-timeline');
      void timeline?.jumpTo((event as CustomEvent<JumpDetail>).detail.messageId);
    });
    this.addEventListener('kecalek-cancel-reply', (event) => {
      event.stopPropagation();
      const id = this.state.activeId;
      if (id === undefined || !this.replies.has(id)) return;
      const next = new Map(this.replies);
      next.delete(id);
      this.replies = next;
    });
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: flex;
        flex-direction: column;
        height: 100%;
        min-width: 0;
        background: var(--kecalek-bg-chat);
        --kecalek-avatar-ring: var(--kecalek-bg-chat);
      }
      header {
        display: flex;
        align-items: center;
        gap: 12px;
        height: 64px;
        flex: none;
        padding: 0 12px 0 20px;
        border-bottom: 1px solid var(--kecalek-border);
        background: var(--kecalek-bg-chat);
      }
      .title {
        flex: 1;
        min-width: 0;
        display: grid;
        gap: 1px;
        border: none;
        background: none;
        text-align: left;
        padding: 4px 6px;
        margin-left: -6px;
        border-radius: 8px;
        cursor: pointer;
      }
      .title:hover {
        background: var(--kecalek-bg-hover);
      }
      h2 {
        margin: 0;
        font-size: 15.5px;
        font-weight: 650;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .status {
        font-size: 12.5px;
        color: var(--kecalek-text-muted);
        display: flex;
        align-items: center;
        gap: 6px;
        overflow: hidden;
        white-space: nowrap;
      }
      .status.online {
        color: var(--kecalek-success);
      }
      .e2e {
        display: inline-flex;
        align-items: center;
        gap: 3px;
        color: var(--kecalek-text-faint);
      }
      .actions {
        display: flex;
        align-items: center;
        gap: 2px;
      }
      .header-slot {
        display: flex;
        align-items: center;
        gap: 2px;
      }
      .header-slot:has(> kecalek-slot[empty]) {
        display: none;
      }
      .danger:hover:not(:disabled) {
        color: var(--kecalek-danger);
      }
      .welcome {
        flex: 1;
        display: grid;
        place-content: center;
        justify-items: center;
        gap: 14px;
        text-align: center;
        padding: 24px;
        color: var(--kecalek-text-muted);
      }
      .welcome .mark {
        display: grid;
        place-items: center;
        width: 88px;
        height: 88px;
        border-radius: 28px;
        background: var(--kecalek-accent-soft);
        color: var(--kecalek-accent);
      }
      .welcome h2 {
        color: var(--kecalek-text);
        font-size: 22px;
      }
      .welcome p {
        margin: 0;
        max-width: 360px;
        line-height: 1.5;
      }
      .welcome .buttons {
        display: flex;
        gap: 8px;
        margin-top: 6px;
      }
      .welcome .note {
        display: inline-flex;
        gap: 6px;
        align-items: center;
        font-size: 12px;
        color: var(--kecalek-text-faint);
        margin-top: 10px;
      }
    `,
  ];

  focusComposer(): void {
    void this.updateComplete.then(() => this.renderRoot.querySelector<KecalekComposer>('kecalek-composer')?.focus());
  }

  #open(request: DialogRequest): void {
    this.emit(OPEN_DIALOG, request);
  }

  async #delete(conversation: BridgeConversation): Promise<void> {
    const group = conversation.kind === 'group';
    const ok = await this.services.confirm(
      group
        ? {
            title: `Delete ${conversation.name}?`,
            message: 'The group and its messages are deleted for every member. This cannot be undone.',
            confirmLabel: 'Delete group',
            danger: true,
          }
        : {
            title: `Delete your chat with ${conversation.name}?`,
            message: `It is removed from your list and its history from this device. ${conversation.name} keeps their copy; a new message starts it again.`,
            confirmLabel: 'Delete chat',
            danger: true,
          },
    );
    if (!ok) return;
    try {
      await this.services.controller.deleteConversation(conversation.id);
    } catch (error) {
      this.services.toasts.error(`Could not delete the conversation: ${errorText(error)}`);
    }
  }

  #context(conversation: BridgeConversation): BaseSlotContext {
    const self = this.state.self;
    if (!this.#headerContext || this.#headerContext.conversation !== conversation || this.#headerContext.self !== self) {
      this.#headerContext = { self, conversation };
    }
    return this.#headerContext;
  }

  #header(conversation: BridgeConversation): TemplateResult {
    const state = this.state;
    const selfId = state.self?.userId;
    const peer = conversation.kind === 'dm' ? (conversation.peerId ?? conversation.members.find((m) => m.userId !== selfId)?.userId) : undefined;
    const online = peer !== undefined && state.online.has(peer);
    const status = conversationStatus(conversation, state.online, selfId);
    const canDelete = conversation.kind === 'dm' || conversation.createdBy === selfId;
    const infoLabel = conversation.kind === 'group' ? 'Group info' : 'Conversation info';
    return html`<header>
      <kecalek-avatar .name=${conversation.name} color-key=${peer ?? conversation.id} size="40" ?online=${online}></kecalek-avatar>
      <button class="title" type="button" aria-label=${`Details of ${conversation.name}`} @click=${() => this.#open({ kind: 'conversation-info', conversationId: conversation.id })}>
        <h2>${conversation.name}</h2>
        <span class="status ${online ? 'online' : ''}">
          <span>${status}</span>
          <span class="e2e" title="End-to-end encrypted">${icon('lock', 12)} Encrypted</span>
        </span>
      </button>
      <div class="actions">
        <div class="header-slot"><kecalek-slot name="conversation.header" .context=${this.#context(conversation)}></kecalek-slot></div>
        <button class="icon-btn" type="button" aria-label=${infoLabel} title=${infoLabel} @click=${() => this.#open({ kind: 'conversation-info', conversationId: conversation.id })}>
          ${icon('info')}
        </button>
        ${canDelete
          ? html`<button class="icon-btn danger" type="button" aria-label="Delete conversation" title="Delete conversation" @click=${() => void this.#delete(conversation)}>
              ${icon('trash')}
            </button>`
          : nothing}
      </div>
    </header>`;
  }

  #welcome(): TemplateResult {
    const empty = this.state.conversationsLoaded && this.state.conversations.length === 0;
    return html`<div class="welcome">
      <div class="mark">${icon('chat', 44)}</div>
      <h2>${empty ? `Welcome, ${this.state.self?.username ?? ''}` : 'Kecalek'}</h2>
      <p>${empty ? 'Start a conversation with someone, or create a group.' : 'Choose a conversation on the left, or start a new one.'}</p>
      <div class="buttons">
        <button class="btn primary" type="button" @click=${() => this.#open({ kind: 'new-dm' })}>${icon('compose', 18)} Start a chat</button>
        <button class="btn" type="button" @click=${() => this.#open({ kind: 'new-group' })}>${icon('users', 18)} Create a group</button>
      </div>
      <span class="note">${icon('lock', 13)} Your messages are end-to-end encrypted</span>
    </div>`;
  }

  override render() {
    const state = this.state;
    const conversation = state.activeId !== undefined ? state.conversations.find((c) => c.id === state.activeId) : undefined;
    if (!conversation) return this.#welcome();
    return html`${this.#header(conversation)}
      <kecalek-timeline .conversation=${conversation}></kecalek-timeline>
      <kecalek-composer .conversation=${conversation} .replyTo=${this.replies.get(conversation.id)}></kecalek-composer>`;
  }
}

customElements.define('kecalek-chat', KecalekChat);
