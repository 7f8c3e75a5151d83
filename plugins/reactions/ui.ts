/**
 * The reactions plugin's desktop UI: a row of the server's allowed reactions in every message's
 * action menu (`message.actions`), and badges with counts under a message (`message.footer`), your
 * own reactions highlighted; clicking a badge adds or takes back your reaction.
 *
 * Everything goes through the client part (`toggle`), which stores the message's reactions in its
 * `extra.reactions`; a reaction of someone else arrives as a push the client part applies the same
 * way. Either way the message re-renders with the new `extra`, so there is no state here.
 */
import { LitElement, css, html, nothing } from 'lit';
import { defineUiPlugin, type SlotContext, type UiMessage } from '../../engine/plugin/ui.js';
import type { ReactionSummary } from './client.js';
import { DEFAULT_REACTIONS, reactionEmoji, readReactions, type ReactionEntry } from './shared.js';

/** The reactions this server allows, in its order (its public setting `allowed`). */
function allowedReactions(config: Readonly<Record<string, unknown>>): string[] {
  const allowed = config.allowed;
  return Array.isArray(allowed) && allowed.length > 0 && allowed.every((name) => typeof name === 'string') ? [...allowed] : [...DEFAULT_REACTIONS];
}

/** A message one can react to: stored by the server, readable, not deleted. */
function reactable(message: UiMessage | undefined): message is UiMessage {
  return (
    message !== undefined &&
    !message.deleted &&
    !message.undecryptable &&
    message.status === 'sent' &&
    !message.id.startsWith('pending:') &&
    !message.id.startsWith('local:')
  );
}

/**
 * Counts per reaction, the allowed ones in their order first, then others by name (the client
 * part's `summary`, computed here: it runs on every render and must not wait for the bridge).
 * Only types come from client.ts: it imports the engine's Node-side code.
 */
function summarize(entries: readonly ReactionEntry[], selfId: string | undefined, order: readonly string[]): ReactionSummary[] {
  const counts = new Map<string, { count: number; mine: boolean }>();
  const seen = new Set<string>();
  for (const entry of entries) {
    const key = `${entry.user_id}\n${entry.reaction}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const current = counts.get(entry.reaction) ?? { count: 0, mine: false };
    counts.set(entry.reaction, { count: current.count + 1, mine: current.mine || entry.user_id === selfId });
  }
  const rank = (name: string): number => {
    const at = order.indexOf(name);
    return at < 0 ? order.length : at;
  };
  return [...counts.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([reaction, { count, mine }]) => ({ reaction, emoji: reactionEmoji(reaction), count, mine }));
}

function summaryOf(context: SlotContext): ReactionSummary[] {
  const message = context.message;
  if (!message) return [];
  return summarize(readReactions(message.extra.reactions), context.self?.userId, allowedReactions(context.config));
}

/** Adds the reaction, or takes it back when it is yours already; a failure becomes a toast. */
async function toggle(context: SlotContext, reaction: string): Promise<void> {
  const message = context.message;
  if (!reactable(message)) return;
  try {
    await context.call('toggle', message.conversationId, message.id, reaction);
  } catch (error) {
    context.toast(`Could not react: ${error instanceof Error ? error.message : String(error)}`, 'error');
  }
}

const shared = css`
  :host {
    display: inline-flex;
    flex-wrap: wrap;
    gap: 4px;
  }
  button {
    font: inherit;
    color: var(--kecalek-text);
    cursor: pointer;
  }
  button:focus-visible {
    outline: 2px solid var(--kecalek-focus);
    outline-offset: 1px;
  }
  button:disabled {
    cursor: default;
    opacity: 0.6;
  }
`;

/** <reactions-picker>: the allowed reactions as buttons, in the message's action menu. */
class ReactionsPicker extends LitElement {
  static override properties = { context: { attribute: false }, busy: { state: true } };
  declare context: SlotContext | undefined;
  declare busy: boolean;

  constructor() {
    super();
    this.context = undefined;
    this.busy = false;
  }

  static override styles = [
    shared,
    css`
      .row {
        display: flex;
        flex-wrap: nowrap;
      }
      button {
        width: 32px;
        height: 32px;
        display: grid;
        place-items: center;
        border: none;
        border-radius: 50%;
        background: transparent;
        font-size: 18px;
        line-height: 1;
        transition: transform 0.1s ease, background 0.1s ease;
      }
      button:hover:not(:disabled) {
        background: var(--kecalek-bg-hover);
        transform: scale(1.15);
      }
      button[aria-pressed='true'] {
        background: var(--kecalek-accent-soft);
      }
    `,
  ];

  override render() {
    const context = this.context;
    if (!context?.message) return nothing;
    const mine = new Set(summaryOf(context).filter((s) => s.mine).map((s) => s.reaction));
    return html`<div class="row" role="group" aria-label="Reactions">
      ${allowedReactions(context.config).map((name) => {
        const emoji = reactionEmoji(name);
        const pressed = mine.has(name);
        return html`<button
          type="button"
          aria-label=${pressed ? `Take back ${name}` : `React with ${name}`}
          aria-pressed=${pressed ? 'true' : 'false'}
          title=${name}
          ?disabled=${this.busy}
          @click=${() => void this.#react(name)}
        >
          ${emoji}
        </button>`;
      })}
    </div>`;
  }

  async #react(name: string): Promise<void> {
    if (!this.context || this.busy) return;
    this.busy = true;
    try {
      await toggle(this.context, name);
    } finally {
      this.busy = false;
    }
  }
}

/** <reactions-badges>: one badge per reaction with its count, yours highlighted; a click toggles yours. */
class ReactionsBadges extends LitElement {
  static override properties = { context: { attribute: false }, busy: { state: true } };
  declare context: SlotContext | undefined;
  declare busy: string | undefined;

  constructor() {
    super();
    this.context = undefined;
    this.busy = undefined;
  }

  static override styles = [
    shared,
    css`
      button {
        display: inline-flex;
        align-items: center;
        gap: 4px;
        height: 24px;
        padding: 0 8px;
        border-radius: 12px;
        border: 1px solid var(--kecalek-border);
        background: var(--kecalek-bg-elevated);
        font-size: 12.5px;
        line-height: 1;
        transition: border-color 0.1s ease, background 0.1s ease;
      }
      button:hover:not(:disabled) {
        border-color: var(--kecalek-border-strong);
      }
      .emoji {
        font-size: 14px;
      }
      .count {
        font-variant-numeric: tabular-nums;
        color: var(--kecalek-text-muted);
        font-weight: 600;
      }
      button.mine {
        background: var(--kecalek-accent-soft);
        border-color: var(--kecalek-accent);
      }
      button.mine .count {
        color: var(--kecalek-accent);
      }
    `,
  ];

  override render() {
    const context = this.context;
    if (!context?.message) return nothing;
    const summary = summaryOf(context);
    const usable = reactable(context.message);
    return html`${summary.map((s) => {
      const people = `${s.count} ${s.count === 1 ? 'reaction' : 'reactions'}${s.mine ? ', including yours' : ''}`;
      return html`<button
        type="button"
        class=${s.mine ? 'mine' : ''}
        aria-label=${`${s.reaction}: ${people}`}
        aria-pressed=${s.mine ? 'true' : 'false'}
        title=${s.mine ? `${s.reaction} — click to take yours back` : `${s.reaction} — click to react too`}
        ?disabled=${!usable || this.busy === s.reaction}
        @click=${() => void this.#toggle(s.reaction)}
      >
        <span class="emoji" aria-hidden="true">${s.emoji}</span><span class="count" aria-hidden="true">${s.count}</span>
      </button>`;
    })}`;
  }

  async #toggle(reaction: string): Promise<void> {
    if (!this.context || this.busy) return;
    this.busy = reaction;
    try {
      await toggle(this.context, reaction);
    } finally {
      this.busy = undefined;
    }
  }
}

export default defineUiPlugin({
  name: 'reactions',
  setup(api) {
    api.define('reactions-picker', ReactionsPicker);
    api.define('reactions-badges', ReactionsBadges);
    api.slot('message.actions', { id: 'picker', tag: 'reactions-picker', order: 10, when: (context) => reactable(context.message) });
    api.slot('message.footer', { id: 'badges', tag: 'reactions-badges', order: 10, when: (context) => summaryOf(context).length > 0 });
  },
});
