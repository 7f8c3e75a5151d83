/**
 * <kecalek-conversation-info-dialog>: a group's info — members with roles and online dots, add by
 * email, remove (creator), rename (creator), leave, delete (creator) — or, for a direct
 * conversation, the other person and "delete chat". Follows live changes; closes when the
 * conversation goes away.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import type { BridgeConversation } from '../../shared/bridge.js';
import { conversationStatus, errorText, isEmail } from '../util/format.js';
import { KecalekElement } from './base.js';
import { icon } from './icons.js';
import { baseStyles, listStyles } from './styles.js';
import './avatar.js';
import { ModalController, modal, modalStyles } from './dialog.js';

export class KecalekConversationInfoDialog extends KecalekElement {
  static override properties = {
    conversationId: { type: String },
    busy: { state: true },
    error: { state: true },
    notice: { state: true },
    renaming: { state: true },
  };

  declare conversationId: string;
  declare busy: boolean;
  declare error: string;
  declare notice: string;
  declare renaming: boolean;

  constructor() {
    super();
    this.conversationId = '';
    this.busy = false;
    this.error = '';
    this.notice = '';
    this.renaming = false;
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
      .hero {
        display: grid;
        justify-items: center;
        gap: 6px;
        text-align: center;
        padding: 4px 0 8px;
      }
      .hero h3 {
        margin: 6px 0 0;
        font-size: 20px;
        overflow-wrap: anywhere;
      }
      .hero .status {
        color: var(--kecalek-text-muted);
        font-size: 13px;
      }
      .hero .status .icon {
        display: inline-block;
        vertical-align: -1px;
      }
      .rename {
        display: flex;
        gap: 8px;
        width: 100%;
      }
      .hero .edit {
        margin-top: 2px;
      }
      section {
        display: grid;
        gap: 8px;
      }
      h4 {
        margin: 4px 0 0;
        font-size: 12px;
        font-weight: 700;
        text-transform: uppercase;
        letter-spacing: 0.06em;
        color: var(--kecalek-text-faint);
      }
      li {
        padding: 6px 4px;
      }
      li:hover {
        --kecalek-avatar-ring: var(--kecalek-bg-hover);
      }
      .role {
        font-size: 11px;
        font-weight: 700;
        padding: 2px 8px;
        border-radius: 999px;
        background: var(--kecalek-accent-soft);
        color: var(--kecalek-accent);
      }
      form.add {
        display: flex;
        gap: 8px;
      }
      .notice {
        margin: 0;
        font-size: 13px;
        color: var(--kecalek-success);
      }
      .danger-zone {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        padding-top: 8px;
        border-top: 1px solid var(--kecalek-border);
      }
    `,
  ];

  #conversation(): BridgeConversation | undefined {
    return this.state.conversations.find((c) => c.id === this.conversationId);
  }

  #close(): void {
    this.dispatchEvent(new CustomEvent('close'));
  }

  protected override updated(): void {
    if (this.state.conversationsLoaded && !this.#conversation()) this.#close();
  }

  /** Runs an action; a failure is a non-blocking notice (`failure`: what could not be done). */
  async #run(failure: string, task: () => Promise<string | void>): Promise<boolean> {
    this.busy = true;
    this.error = '';
    this.notice = '';
    try {
      const notice = await task();
      if (notice) this.notice = notice;
      return true;
    } catch (error) {
      this.services.toasts.error(`${failure}: ${errorText(error)}`);
      return false;
    } finally {
      this.busy = false;
    }
  }

  #field(form: HTMLFormElement, name: string): HTMLInputElement | null {
    const element = form.elements.namedItem(name);
    return element instanceof HTMLInputElement ? element : null;
  }

  #onAdd(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const input = this.#field(form, 'email');
    const email = input?.value.trim() ?? '';
    if (!isEmail(email)) {
      this.error = 'Enter the email address of the person to add.';
      return;
    }
    void this.#run(`Could not add ${email}`, async () => {
      const outcome = await this.services.controller.addMember(this.conversationId, email);
      if (input) input.value = '';
      return outcome === 'invited' ? `Invitation sent to ${email}.` : `${email} was added.`;
    });
  }

  #onRename(event: SubmitEvent): void {
    event.preventDefault();
    const name = this.#field(event.currentTarget as HTMLFormElement, 'name')?.value.trim() ?? '';
    if (!name) {
      this.error = 'A group needs a name.';
      return;
    }
    void this.#run('Could not rename the group', async () => {
      await this.services.controller.renameConversation(this.conversationId, name);
      this.renaming = false;
      return 'The group was renamed.';
    });
  }

  async #remove(userId: string, username: string): Promise<void> {
    const ok = await this.services.confirm({
      title: `Remove ${username}?`,
      message: `${username} will no longer receive messages of this group.`,
      confirmLabel: 'Remove',
      danger: true,
    });
    if (ok) await this.#run(`Could not remove ${username}`, async () => this.services.controller.removeMember(this.conversationId, userId).then(() => `${username} was removed.`));
  }

  async #leave(conversation: BridgeConversation): Promise<void> {
    const ok = await this.services.confirm({
      title: `Leave ${conversation.name}?`,
      message: 'You will no longer receive its messages, and its history is removed from this device.',
      confirmLabel: 'Leave group',
      danger: true,
    });
    if (ok && (await this.#run('Could not leave the group', () => this.services.controller.leaveGroup(conversation.id)))) this.#close();
  }

  async #delete(conversation: BridgeConversation): Promise<void> {
    const group = conversation.kind === 'group';
    const ok = await this.services.confirm({
      title: group ? `Delete ${conversation.name}?` : `Delete your chat with ${conversation.name}?`,
      message: group
        ? 'The group and its messages are deleted for every member. This cannot be undone.'
        : `It is removed from your list and its history from this device. ${conversation.name} keeps their copy.`,
      confirmLabel: group ? 'Delete group' : 'Delete chat',
      danger: true,
    });
    if (ok && (await this.#run(group ? 'Could not delete the group' : 'Could not delete the chat', () => this.services.controller.deleteConversation(conversation.id)))) this.#close();
  }

  #members(conversation: BridgeConversation): TemplateResult {
    const state = this.state;
    const selfId = state.self?.userId;
    const creator = conversation.createdBy === selfId;
    const members = [...conversation.members].sort((a, b) =>
      a.userId === selfId ? -1 : b.userId === selfId ? 1 : a.role !== b.role ? (a.role === 'creator' ? -1 : 1) : a.username.localeCompare(b.username),
    );
    return html`<section aria-labelledby="members-title">
      <h4 id="members-title">${members.length} ${members.length === 1 ? 'member' : 'members'}</h4>
      <ul aria-label="Members">
        ${members.map((m) => {
          const self = m.userId === selfId;
          const online = self ? state.connection === 'connected' : state.online.has(m.userId);
          return html`<li>
            <kecalek-avatar .name=${m.username} color-key=${m.userId} size="36" ?online=${online}></kecalek-avatar>
            <span class="who">
              <span class="name">${m.username}${self ? ' (you)' : ''}</span>
              <span class="sub">${online ? 'Online' : 'Offline'}</span>
            </span>
            ${m.role === 'creator' ? html`<span class="role">Creator</span>` : nothing}
            ${creator && !self && conversation.kind === 'group'
              ? html`<button class="icon-btn small" type="button" aria-label=${`Remove ${m.username}`} title="Remove from group" ?disabled=${this.busy} @click=${() => void this.#remove(m.userId, m.username)}>
                  ${icon('close', 16)}
                </button>`
              : nothing}
          </li>`;
        })}
      </ul>
    </section>`;
  }

  #group(conversation: BridgeConversation): TemplateResult {
    const state = this.state;
    const creator = conversation.createdBy === state.self?.userId;
    return html`
      <div class="hero">
        <kecalek-avatar .name=${conversation.name} color-key=${conversation.id} size="88"></kecalek-avatar>
        ${this.renaming
          ? html`<form class="rename" @submit=${this.#onRename}>
              <input name="name" aria-label="Group name" maxlength="100" .value=${conversation.name} autofocus />
              <button class="btn primary" type="submit" ?disabled=${this.busy}>Save</button>
              <button class="btn ghost" type="button" @click=${() => (this.renaming = false)}>Cancel</button>
            </form>`
          : html`<h3>${conversation.name}</h3>`}
        <span class="status">${conversationStatus(conversation, state.online, state.self?.userId)}</span>
        ${creator && !this.renaming
          ? html`<button class="btn ghost small edit" type="button" @click=${() => this.#startRename()}>${icon('pencil', 14)} Rename</button>`
          : nothing}
      </div>
      ${this.#members(conversation)}
      <section aria-labelledby="add-title">
        <h4 id="add-title">Add people</h4>
        <form class="add" @submit=${this.#onAdd} novalidate>
          <input name="email" type="email" aria-label="Email address to add" placeholder="name@example.org" autocomplete="off" />
          <button class="btn primary" type="submit" ?disabled=${this.busy}>${icon('userPlus', 16)} Add</button>
        </form>
      </section>
      ${this.#feedback()}
      <div class="danger-zone">
        <button class="btn danger-outline" type="button" ?disabled=${this.busy} @click=${() => void this.#leave(conversation)}>${icon('logout', 16)} Leave group</button>
        ${creator
          ? html`<button class="btn danger-outline" type="button" ?disabled=${this.busy} @click=${() => void this.#delete(conversation)}>${icon('trash', 16)} Delete group</button>`
          : nothing}
      </div>
    `;
  }

  #startRename(): void {
    this.renaming = true;
    void this.updateComplete.then(() => {
      const input = this.renderRoot.querySelector<HTMLInputElement>('form.rename input');
      input?.focus();
      input?.select();
    });
  }

  #dm(conversation: BridgeConversation): TemplateResult {
    const state = this.state;
    const selfId = state.self?.userId;
    const peer = conversation.members.find((m) => m.userId !== selfId);
    const peerId = conversation.peerId ?? peer?.userId;
    const online = peerId !== undefined && state.online.has(peerId);
    return html`
      <div class="hero">
        <kecalek-avatar .name=${conversation.name} color-key=${peerId ?? conversation.id} size="88" ?online=${online}></kecalek-avatar>
        <h3>${conversation.name}</h3>
        <span class="status">${online ? 'Online' : 'Offline'} · ${icon('lock', 12)} End-to-end encrypted</span>
      </div>
      ${this.#feedback()}
      <div class="danger-zone">
        <button class="btn danger-outline" type="button" ?disabled=${this.busy} @click=${() => void this.#delete(conversation)}>${icon('trash', 16)} Delete chat</button>
      </div>
    `;
  }

  #feedback(): TemplateResult | typeof nothing {
    if (this.error) return html`<p class="error-text" role="alert">${this.error}</p>`;
    if (this.notice) return html`<p class="notice" role="status">${this.notice}</p>`;
    return nothing;
  }

  override render() {
    const conversation = this.#conversation();
    if (!conversation) return nothing;
    const heading = conversation.kind === 'group' ? 'Group info' : 'Conversation info';
    return modal({
      heading,
      onClose: () => this.#close(),
      body: conversation.kind === 'group' ? this.#group(conversation) : this.#dm(conversation),
    });
  }
}

customElements.define('kecalek-conversation-info-dialog', KecalekConversationInfoDialog);
