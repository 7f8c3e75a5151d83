/**
 * The mentions plugin's desktop UI:
 * - autocomplete in the composer: typing `@` and the start of a name lists the conversation's
 *   members (you left out); Up/Down choose, Enter or Tab insert `@name `, Escape closes, a click
 *   inserts too. The client part turns `@name` into the payload's member ids when sending.
 * - `@mentions` in message text drawn as marks (`api.decorateText`): a mention of you (or `@all`
 *   in a group) strongly, titled "Mentions you"; others in the accent colour.
 *
 * The same rules as the terminal (extract.ts): a mention counts when the sender's client put the
 * member in the payload (`mentions`, `mentions_all`), so `@name` in code spans or e-mail addresses
 * is never marked.
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { defineUiPlugin, type ComposerHandle, type SlotContext, type TextMark, type UiMessage } from '../../engine/plugin/ui.js';
import { findMentions, mentionFields, USERNAME_MAX_LENGTH } from './extract.js';

/** At most this many suggestions are listed. */
const MAX_SUGGESTIONS = 8;
/** `@` and a partial name right before the caret (the `@` starting the text or after a non-name character). */
const QUERY = new RegExp(`(?:^|[^A-Za-z0-9._@-])@([A-Za-z0-9._-]{0,${USERNAME_MAX_LENGTH}})$`, 'u');

interface Candidate {
  readonly userId: string;
  readonly username: string;
}

/** The marks of a message's mentions. */
export function mentionMarks(message: UiMessage, context: SlotContext): TextMark[] {
  if (message.deleted || message.undecryptable || !message.text.includes('@')) return [];
  const members = new Map((context.conversation?.members ?? []).map((m) => [m.userId, m.username] as const));
  const self = context.self;
  if (self && !members.has(self.userId)) members.set(self.userId, self.username);
  const fields = mentionFields(message.payload);
  const group = context.conversation?.kind === 'group';
  const marks: TextMark[] = [];
  for (const mention of findMentions(message.text, members)) {
    if (mention.everyone && !group) continue;
    const real = mention.everyone ? fields.everyone : mention.userIds.some((id) => fields.userIds.includes(id));
    if (!real) continue;
    const me = !message.own && self !== undefined && (mention.everyone || mention.userIds.includes(self.userId));
    marks.push({
      start: mention.index,
      end: mention.index + mention.text.length,
      kind: me ? 'strong' : 'accent',
      title: me ? 'Mentions you' : mention.everyone ? 'Mentions everyone' : `Mentions ${mention.text.slice(1)}`,
    });
  }
  return marks;
}

/** <mentions-autocomplete>: watches the composer's text box and lists matching members under an `@`. */
class MentionsAutocomplete extends LitElement {
  static override properties = {
    context: { attribute: false },
    suggestions: { state: true },
    selected: { state: true },
  };
  declare context: SlotContext | undefined;
  declare suggestions: readonly Candidate[];
  declare selected: number;
  #area: HTMLTextAreaElement | undefined;
  /** Where the `@` of the current query starts. */
  #start = -1;
  readonly #onInput = (): void => this.#update();
  readonly #onBlur = (): void => {
    // A click on a suggestion keeps the focus (mousedown is prevented); anything else closes.
    this.#closeList();
  };
  readonly #onKeyDown = (event: KeyboardEvent): void => this.#key(event);
  readonly #onCaret = (): void => {
    if (this.suggestions.length > 0) this.#update();
  };

  constructor() {
    super();
    this.context = undefined;
    this.suggestions = [];
    this.selected = 0;
  }

  static override styles = css`
    :host {
      position: relative;
      display: block;
      width: 0;
      align-self: stretch;
    }
    .list {
      position: absolute;
      z-index: 40;
      left: 0;
      bottom: calc(100% + 14px);
      min-width: 260px;
      max-width: 340px;
      margin: 0;
      padding: 6px;
      list-style: none;
      border-radius: 12px;
      background: var(--kecalek-bg-elevated);
      border: 1px solid var(--kecalek-border);
      box-shadow: var(--kecalek-shadow);
      color: var(--kecalek-text);
    }
    .title {
      padding: 2px 8px 6px;
      font-size: 11.5px;
      font-weight: 700;
      text-transform: uppercase;
      letter-spacing: 0.04em;
      color: var(--kecalek-text-faint);
    }
    [role='option'] {
      display: flex;
      align-items: center;
      gap: 10px;
      padding: 7px 8px;
      border-radius: 8px;
      cursor: pointer;
      font-size: 14px;
    }
    [role='option'][aria-selected='true'] {
      background: var(--kecalek-accent-soft);
    }
    [role='option']:hover {
      background: var(--kecalek-bg-hover);
    }
    .avatar {
      width: 26px;
      height: 26px;
      flex: none;
      display: grid;
      place-items: center;
      border-radius: 50%;
      background: var(--kecalek-accent);
      color: var(--kecalek-accent-text);
      font-size: 12px;
      font-weight: 700;
    }
    .name b {
      color: var(--kecalek-accent);
    }
    .hint {
      padding: 6px 8px 2px;
      font-size: 11.5px;
      color: var(--kecalek-text-faint);
    }
    .visually-hidden {
      position: absolute;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip: rect(0 0 0 0);
      white-space: nowrap;
    }
  `;

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('context')) this.#attach(this.context?.composer);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#attach(undefined);
  }

  /** Listens on the composer's text box (capturing keys before the composer sends on Enter). */
  #attach(composer: ComposerHandle | undefined): void {
    const area = composer?.element;
    if (area === this.#area) return;
    const old = this.#area;
    if (old) {
      old.removeEventListener('input', this.#onInput);
      old.removeEventListener('keydown', this.#onKeyDown, true);
      old.removeEventListener('blur', this.#onBlur);
      old.removeEventListener('click', this.#onCaret);
      old.removeAttribute('aria-autocomplete');
    }
    this.#area = area;
    this.#closeList();
    if (!area) return;
    area.addEventListener('input', this.#onInput);
    area.addEventListener('keydown', this.#onKeyDown, true);
    area.addEventListener('blur', this.#onBlur);
    area.addEventListener('click', this.#onCaret);
    area.setAttribute('aria-autocomplete', 'list');
  }

  #candidates(query: string): Candidate[] {
    const context = this.context;
    const wanted = query.toLowerCase();
    const self = context?.self?.userId;
    return (context?.conversation?.members ?? [])
      .filter((m) => m.userId !== self && m.username.toLowerCase().startsWith(wanted))
      .map((m) => ({ userId: m.userId, username: m.username }))
      .sort((a, b) => a.username.localeCompare(b.username))
      .slice(0, MAX_SUGGESTIONS);
  }

  /** Finds the `@query` before the caret and lists the members it could name. */
  #update(): void {
    const area = this.#area;
    if (!area || area.selectionStart !== area.selectionEnd) {
      this.#closeList();
      return;
    }
    const before = area.value.slice(0, area.selectionStart);
    const match = QUERY.exec(before);
    if (!match) {
      this.#closeList();
      return;
    }
    const query = match[1] ?? '';
    const found = this.#candidates(query);
    if (found.length === 0) {
      this.#closeList();
      return;
    }
    const current = this.suggestions[this.selected]?.userId;
    this.#start = before.length - query.length - 1;
    this.suggestions = found;
    this.selected = Math.max(0, found.findIndex((c) => c.userId === current));
  }

  #closeList(): void {
    this.#start = -1;
    if (this.suggestions.length > 0) this.suggestions = [];
    this.selected = 0;
  }

  #key(event: KeyboardEvent): void {
    if (this.suggestions.length === 0 || event.isComposing) return;
    const count = this.suggestions.length;
    switch (event.key) {
      case 'ArrowDown':
        this.selected = (this.selected + 1) % count;
        break;
      case 'ArrowUp':
        this.selected = (this.selected - 1 + count) % count;
        break;
      case 'Enter':
      case 'Tab':
        if (event.shiftKey || event.ctrlKey || event.altKey || event.metaKey) return;
        this.#choose(this.selected);
        break;
      case 'Escape':
        this.#closeList();
        break;
      default:
        return;
    }
    // The composer would send (Enter), cancel a reply (Escape) or move the focus (Tab).
    event.preventDefault();
    event.stopPropagation();
  }

  #choose(index: number): void {
    const candidate = this.suggestions[index];
    const composer = this.context?.composer;
    const area = this.#area;
    if (!candidate || !composer || !area || this.#start < 0) return;
    const end = area.selectionStart;
    const start = this.#start;
    this.#closeList();
    composer.replaceRange(start, end, `@${candidate.username} `);
  }

  override render() {
    if (this.suggestions.length === 0) return nothing;
    const typed = this.#area && this.#start >= 0 ? this.#area.value.slice(this.#start + 1, this.#area.selectionStart).length : 0;
    return html`<div class="list" role="listbox" aria-label="Mention someone">
      <div class="title" aria-hidden="true">Mention</div>
      ${this.suggestions.map(
        (candidate, index) => html`<div
          role="option"
          id=${`mention-${index}`}
          aria-selected=${index === this.selected ? 'true' : 'false'}
          @mousedown=${(event: MouseEvent) => event.preventDefault()}
          @click=${() => this.#choose(index)}
        >
          <span class="avatar" aria-hidden="true">${candidate.username.slice(0, 1).toUpperCase()}</span>
          <span class="name"><b>${candidate.username.slice(0, typed)}</b>${candidate.username.slice(typed)}</span>
        </div>`,
      )}
      <div class="hint" aria-hidden="true">↑↓ to choose · Enter or Tab to insert · Esc to close</div>
      <span class="visually-hidden" role="status">${this.suggestions.length} ${this.suggestions.length === 1 ? 'suggestion' : 'suggestions'}</span>
    </div>`;
  }
}

export default defineUiPlugin({
  name: 'mentions',
  setup(api) {
    api.define('mentions-autocomplete', MentionsAutocomplete);
    api.slot('composer', { id: 'autocomplete', tag: 'mentions-autocomplete', when: (context) => context.composer !== undefined && context.conversation !== undefined });
    api.decorateText((message, context) => mentionMarks(message, context));
  },
});
