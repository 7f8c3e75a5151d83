/**
 * The invitations plugin's desktop UI: your pending group invitations at the top of the
 * conversation list (the list-wide `conversation.list-item` slot, the one without a conversation),
 * each with Join and Decline. The list is asked from the server when it appears and again on the
 * client part's events (`invitation` for a new one, `invitation_removed` when one was answered on
 * another device or withdrawn). Joining opens the group.
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { defineUiPlugin, type SlotContext } from '../../engine/plugin/ui.js';
import type { Invitation } from './client.js';

/** The client part's events that change the list. */
const changes = new EventTarget();
const CHANGED = 'changed';

function errorText(error: unknown): string {
  return error instanceof Error && error.message ? error.message : String(error);
}

function groupName(invitation: Invitation): string {
  const name = invitation.conversationName?.replace(/\s+/g, ' ').trim();
  return name || 'a group';
}

/** <invitations-pending>: the pending invitations, each a card with Join and Decline. */
class InvitationsPending extends LitElement {
  static override properties = {
    context: { attribute: false },
    invitations: { state: true },
    busy: { state: true },
  };
  declare context: SlotContext | undefined;
  declare invitations: readonly Invitation[];
  /** The conversation id being answered. */
  declare busy: string | undefined;
  #selfId: string | undefined;
  #request = 0;
  readonly #onChange = (): void => void this.#load();

  constructor() {
    super();
    this.context = undefined;
    this.invitations = [];
    this.busy = undefined;
  }

  static override styles = css`
    :host {
      display: block;
    }
    :host([hidden]) {
      display: none;
    }
    h2 {
      margin: 2px 4px 6px;
      font-size: 11.5px;
      font-weight: 700;
      text-transform: uppercase;
      letter-spacing: 0.04em;
      color: var(--kecalek-text-faint);
    }
    ul {
      list-style: none;
      margin: 0;
      padding: 0;
      display: grid;
      gap: 6px;
    }
    li {
      display: grid;
      gap: 8px;
      padding: 10px 12px;
      border-radius: 12px;
      background: var(--kecalek-accent-soft);
      color: var(--kecalek-text);
    }
    .what {
      display: flex;
      gap: 10px;
      align-items: center;
      font-size: 13.5px;
      line-height: 1.35;
    }
    .icon {
      width: 30px;
      height: 30px;
      flex: none;
      display: grid;
      place-items: center;
      border-radius: 50%;
      background: var(--kecalek-accent);
      color: var(--kecalek-accent-text);
      font-size: 15px;
    }
    .meta {
      display: block;
      font-size: 12px;
      color: var(--kecalek-text-muted);
    }
    .buttons {
      display: flex;
      gap: 6px;
      justify-content: flex-end;
    }
    button {
      font: inherit;
      font-size: 13px;
      font-weight: 600;
      height: 30px;
      padding: 0 14px;
      border-radius: 15px;
      cursor: pointer;
      border: 1px solid var(--kecalek-border-strong);
      background: var(--kecalek-bg-elevated);
      color: var(--kecalek-text);
    }
    button.join {
      border-color: var(--kecalek-accent);
      background: var(--kecalek-accent);
      color: var(--kecalek-accent-text);
    }
    button:hover:not(:disabled) {
      filter: brightness(1.05);
    }
    button:disabled {
      opacity: 0.6;
      cursor: default;
    }
    button:focus-visible {
      outline: 2px solid var(--kecalek-focus);
      outline-offset: 2px;
    }
  `;

  override connectedCallback(): void {
    super.connectedCallback();
    changes.addEventListener(CHANGED, this.#onChange);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    changes.removeEventListener(CHANGED, this.#onChange);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('context') && this.context?.self?.userId !== this.#selfId) {
      this.#selfId = this.context?.self?.userId;
      this.invitations = [];
      if (this.#selfId !== undefined) void this.#load();
    }
    this.toggleAttribute('hidden', this.invitations.length === 0);
  }

  async #load(): Promise<void> {
    const context = this.context;
    if (!context?.self) return;
    const request = ++this.#request;
    try {
      const invitations = await context.call<Invitation[]>('list');
      if (request === this.#request) this.invitations = invitations;
    } catch {
      // Offline or signed out: the next event or sign-in lists them again.
    }
  }

  async #answer(invitation: Invitation, accept: boolean): Promise<void> {
    const context = this.context;
    if (!context || this.busy) return;
    this.busy = invitation.conversationId;
    const name = groupName(invitation);
    try {
      if (accept) {
        await context.call('accept', invitation.conversationId);
        this.invitations = this.invitations.filter((i) => i.conversationId !== invitation.conversationId);
        context.toast(`You joined ${name}`);
        await context.openConversation(invitation.conversationId);
      } else {
        await context.call('decline', invitation.conversationId);
        this.invitations = this.invitations.filter((i) => i.conversationId !== invitation.conversationId);
        context.toast(`You declined the invitation to ${name}`);
      }
    } catch (error) {
      context.toast(`Could not ${accept ? 'join' : 'decline'}: ${errorText(error)}`, 'error');
      void this.#load();
    } finally {
      this.busy = undefined;
    }
  }

  override render() {
    if (this.invitations.length === 0) return nothing;
    return html`<h2 id="heading">Invitations</h2>
      <ul aria-labelledby="heading">
        ${this.invitations.map((invitation) => {
          const name = groupName(invitation);
          const members = `${invitation.memberCount} ${invitation.memberCount === 1 ? 'member' : 'members'}`;
          const busy = this.busy === invitation.conversationId;
          return html`<li aria-label=${`Invitation to ${name}`}>
            <div class="what">
              <span class="icon" aria-hidden="true">✉</span>
              <span><strong>${invitation.invitedByUsername || 'Someone'}</strong> invited you to <strong>${name}</strong>
                <span class="meta">${members}</span></span
              >
            </div>
            <div class="buttons">
              <button type="button" ?disabled=${busy} aria-label=${`Decline the invitation to ${name}`} @click=${() => void this.#answer(invitation, false)}>
                Decline
              </button>
              <button class="join" type="button" ?disabled=${busy} aria-label=${`Join ${name}`} @click=${() => void this.#answer(invitation, true)}>Join</button>
            </div>
          </li>`;
        })}
      </ul>`;
  }
}

export default defineUiPlugin({
  name: 'invitations',
  setup(api) {
    api.define('invitations-pending', InvitationsPending);
    api.slot('conversation.list-item', { id: 'pending', tag: 'invitations-pending', order: 10, when: (context) => context.conversation === undefined });
    for (const event of ['invitation', 'invitation_removed']) api.on(event, () => changes.dispatchEvent(new Event(CHANGED)));
  },
});
