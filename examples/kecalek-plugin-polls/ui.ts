/**
 * The desktop UI of kecalek-plugin-polls, written against the public UI API (`kecalek/plugin/ui`)
 * exactly as a third-party plugin's is:
 * - a "Create a poll" button in the composer (`composer` slot) opening a small form;
 * - under a poll message (`message.footer`), the poll: its options to vote with (one, or several
 *   in a multiple-choice poll; choosing your vote again withdraws it), the counts as bars, how many
 *   voted, and Close for the poll's creator.
 * The counts come from the message's `extra.poll_results`, which the client part keeps current
 * (answers to votes and `poll_updated` pushes), so a vote anywhere re-renders the poll here.
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { defineUiPlugin, type SlotContext, type UiMessage } from 'kecalek/plugin/ui';
import { MAX_OPTION_LENGTH, MAX_QUESTION_LENGTH, MIN_OPTIONS, readPollPayload, type PollPayload } from './shared.js';

/** What the client part stores in a poll message's `extra` (client.ts RESULTS_FIELD). */
interface StoredResults {
  readonly counts: readonly number[];
  readonly voters: number;
  readonly closed: boolean;
  readonly myVotes: readonly number[];
}

function pollOf(message: UiMessage | undefined): PollPayload | undefined {
  if (!message || message.deleted || message.undecryptable) return undefined;
  return readPollPayload(message.payload);
}

function storedResults(message: UiMessage): StoredResults | undefined {
  const raw = message.extra.poll_results as { counts?: unknown; voters?: unknown; closed?: unknown; my_votes?: unknown } | undefined;
  if (!raw || !Array.isArray(raw.counts)) return undefined;
  return {
    counts: raw.counts.map((n) => (typeof n === 'number' ? n : 0)),
    voters: typeof raw.voters === 'number' ? raw.voters : 0,
    closed: raw.closed === true,
    myVotes: Array.isArray(raw.my_votes) ? raw.my_votes.filter((n): n is number => typeof n === 'number') : [],
  };
}

function errorText(error: unknown): string {
  return error instanceof Error && error.message ? error.message : String(error);
}

const buttonStyles = css`
  button {
    font: inherit;
    cursor: pointer;
    color: inherit;
  }
  button:focus-visible,
  input:focus-visible {
    outline: 2px solid var(--kecalek-focus);
    outline-offset: 1px;
  }
  button:disabled {
    cursor: default;
    opacity: 0.6;
  }
`;

/** <polls-card>: a poll under its message, to vote and see the counts. */
class PollsCard extends LitElement {
  static override properties = { context: { attribute: false }, busy: { state: true } };
  declare context: SlotContext | undefined;
  declare busy: boolean;
  #asked: string | undefined;

  constructor() {
    super();
    this.context = undefined;
    this.busy = false;
  }

  static override styles = [
    buttonStyles,
    css`
      :host {
        display: block;
        width: 300px;
        max-width: 100%;
      }
      .card {
        display: grid;
        gap: 6px;
        padding: 10px 12px 12px;
        border-radius: 14px;
        border: 1px solid var(--kecalek-border);
        background: var(--kecalek-bg-elevated);
        color: var(--kecalek-text);
      }
      .question {
        margin: 0 0 2px;
        font-size: 14.5px;
        font-weight: 650;
      }
      .kind {
        font-size: 11.5px;
        color: var(--kecalek-text-faint);
        text-transform: uppercase;
        letter-spacing: 0.04em;
        font-weight: 700;
      }
      .option {
        position: relative;
        display: flex;
        align-items: center;
        gap: 8px;
        width: 100%;
        min-height: 34px;
        padding: 6px 10px;
        border-radius: 10px;
        border: 1px solid var(--kecalek-border);
        background: transparent;
        text-align: left;
        overflow: hidden;
        font-size: 13.5px;
      }
      .option:hover:not(:disabled) {
        border-color: var(--kecalek-accent);
      }
      .option:disabled {
        opacity: 1;
      }
      .closed .option:disabled {
        cursor: default;
      }
      .option.mine {
        border-color: var(--kecalek-accent);
      }
      .bar {
        position: absolute;
        inset: 0 auto 0 0;
        background: var(--kecalek-accent-soft);
        z-index: 0;
        transition: width 0.25s ease;
      }
      .option > :not(.bar) {
        position: relative;
        z-index: 1;
      }
      .check {
        width: 16px;
        height: 16px;
        flex: none;
        display: grid;
        place-items: center;
        border-radius: 50%;
        border: 1.5px solid var(--kecalek-border-strong);
        font-size: 10px;
        line-height: 1;
      }
      .multiple .check {
        border-radius: 4px;
      }
      .mine .check {
        background: var(--kecalek-accent);
        border-color: var(--kecalek-accent);
        color: var(--kecalek-accent-text);
      }
      .label {
        flex: 1;
        min-width: 0;
        overflow-wrap: anywhere;
      }
      .count {
        font-variant-numeric: tabular-nums;
        font-weight: 650;
        color: var(--kecalek-text-muted);
      }
      .footer {
        display: flex;
        align-items: center;
        justify-content: space-between;
        gap: 8px;
        font-size: 12px;
        color: var(--kecalek-text-muted);
      }
      .close {
        border: none;
        background: none;
        color: var(--kecalek-accent);
        font-weight: 650;
        padding: 2px 4px;
        border-radius: 6px;
      }
    `,
  ];

  protected override willUpdate(changed: PropertyValues<this>): void {
    // No counts stored yet (a poll from before this device ran): ask once; the answer is stored
    // in the message, which then re-renders with it.
    const message = this.context?.message;
    const poll = pollOf(message);
    if (!changed.has('context') || !message || !poll || storedResults(message) || this.#asked === poll.poll_id) return;
    this.#asked = poll.poll_id;
    this.context?.call('results', poll.poll_id).catch(() => undefined);
  }

  /**
   * The bars' widths. The renderer's CSP forbids inline `style` attributes (Lit's styleMap writes
   * one on first render): set them through the CSSOM, which the CSP allows.
   */
  protected override updated(): void {
    for (const bar of this.renderRoot.querySelectorAll<HTMLElement>('.bar[data-share]')) bar.style.width = `${bar.dataset.share ?? 0}%`;
  }

  async #run(task: () => Promise<unknown>, what: string): Promise<void> {
    const context = this.context;
    if (!context || this.busy) return;
    this.busy = true;
    try {
      await task();
    } catch (error) {
      context.toast(`Could not ${what}: ${errorText(error)}`, 'error');
    } finally {
      this.busy = false;
    }
  }

  #vote(poll: PollPayload, results: StoredResults | undefined, index: number): void {
    const mine = new Set(results?.myVotes ?? []);
    let choice: number[];
    if (poll.multiple) {
      if (mine.has(index)) mine.delete(index);
      else mine.add(index);
      choice = [...mine].sort((a, b) => a - b);
    } else {
      choice = mine.has(index) ? [] : [index];
    }
    void this.#run(() => this.context!.call('vote', poll.poll_id, choice), 'vote');
  }

  override render() {
    const context = this.context;
    const message = context?.message;
    const poll = pollOf(message);
    if (!context || !message || !poll) return nothing;
    const results = storedResults(message);
    const closed = results?.closed === true;
    const total = results ? results.counts.reduce((sum, n) => sum + n, 0) : 0;
    const voters = results?.voters ?? 0;
    return html`<div class="card ${poll.multiple ? 'multiple' : ''} ${closed ? 'closed' : ''}" role="group" aria-label=${`Poll: ${poll.question}`}>
      <span class="kind">${closed ? 'Closed poll' : poll.multiple ? 'Poll · choose any' : 'Poll'}</span>
      <p class="question">${poll.question}</p>
      ${poll.options.map((option, index) => {
        const count = results?.counts[index] ?? 0;
        const mine = results?.myVotes.includes(index) === true;
        const share = total > 0 ? Math.round((count / total) * 100) : 0;
        const votes = `${count} ${count === 1 ? 'vote' : 'votes'}`;
        return html`<button
          class="option ${mine ? 'mine' : ''}"
          type="button"
          aria-pressed=${mine ? 'true' : 'false'}
          aria-label=${`${option}: ${votes}${mine ? ', your vote' : ''}`}
          ?disabled=${closed || this.busy}
          @click=${() => this.#vote(poll, results, index)}
        >
          <span class="bar" data-share=${share}></span>
          <span class="check" aria-hidden="true">${mine ? '✓' : ''}</span>
          <span class="label">${option}</span>
          <span class="count" aria-hidden="true">${count}</span>
        </button>`;
      })}
      <div class="footer">
        <span role="status">${voters} ${voters === 1 ? 'person' : 'people'} voted${closed ? ' · closed' : ''}</span>
        ${message.own && !closed
          ? html`<button class="close" type="button" ?disabled=${this.busy} @click=${() => void this.#run(() => context.call('close', poll.poll_id), 'close the poll')}>
              Close poll
            </button>`
          : nothing}
      </div>
    </div>`;
  }
}

/** <polls-create>: the composer's "Create a poll" button and its form (a modal dialog). */
class PollsCreate extends LitElement {
  static override properties = {
    context: { attribute: false },
    options: { state: true },
    busy: { state: true },
    error: { state: true },
  };
  declare context: SlotContext | undefined;
  declare options: string[];
  declare busy: boolean;
  declare error: string;

  constructor() {
    super();
    this.context = undefined;
    this.options = ['', ''];
    this.busy = false;
    this.error = '';
  }

  static override styles = [
    buttonStyles,
    css`
      :host {
        display: inline-flex;
      }
      .open {
        width: 36px;
        height: 36px;
        display: grid;
        place-items: center;
        border: none;
        border-radius: 50%;
        background: transparent;
        color: var(--kecalek-text-muted);
        margin-bottom: 2px;
      }
      .open:hover {
        background: var(--kecalek-bg-hover);
        color: var(--kecalek-text);
      }
      dialog {
        width: min(420px, calc(100vw - 32px));
        padding: 20px;
        border: 1px solid var(--kecalek-border);
        border-radius: 16px;
        background: var(--kecalek-bg-elevated);
        color: var(--kecalek-text);
        box-shadow: var(--kecalek-shadow);
      }
      dialog::backdrop {
        background: var(--kecalek-bg-overlay);
      }
      h2 {
        margin: 0 0 14px;
        font-size: 17px;
      }
      form {
        display: grid;
        gap: 10px;
      }
      label {
        display: grid;
        gap: 4px;
        font-size: 12.5px;
        font-weight: 600;
        color: var(--kecalek-text-muted);
      }
      input[type='text'] {
        font: inherit;
        font-size: 14px;
        padding: 8px 10px;
        border-radius: 10px;
        border: 1px solid var(--kecalek-border-strong);
        background: var(--kecalek-bg-input);
        color: var(--kecalek-text);
      }
      .row {
        display: flex;
        gap: 6px;
        align-items: end;
      }
      .row label {
        flex: 1;
      }
      .remove {
        height: 36px;
        width: 36px;
        border: none;
        border-radius: 50%;
        background: transparent;
        color: var(--kecalek-text-muted);
      }
      .check {
        display: flex;
        flex-direction: row;
        align-items: center;
        gap: 8px;
        font-weight: 500;
        color: var(--kecalek-text);
      }
      .add {
        justify-self: start;
        border: none;
        background: none;
        color: var(--kecalek-accent);
        font-weight: 650;
        padding: 4px 0;
      }
      .error {
        margin: 0;
        color: var(--kecalek-danger);
        font-size: 13px;
      }
      .buttons {
        display: flex;
        justify-content: flex-end;
        gap: 8px;
        margin-top: 6px;
      }
      .buttons button {
        height: 36px;
        padding: 0 16px;
        border-radius: 18px;
        border: 1px solid var(--kecalek-border-strong);
        background: transparent;
        font-weight: 600;
      }
      .buttons .primary {
        background: var(--kecalek-accent);
        border-color: var(--kecalek-accent);
        color: var(--kecalek-accent-text);
      }
    `,
  ];

  get #dialog(): HTMLDialogElement | null {
    return this.renderRoot.querySelector('dialog');
  }

  #maxOptions(): number {
    const max = this.context?.config.maxOptions;
    return typeof max === 'number' && max >= MIN_OPTIONS ? max : 10;
  }

  #open(): void {
    this.options = ['', ''];
    this.error = '';
    const form = this.renderRoot.querySelector('form');
    form?.reset();
    this.#dialog?.showModal();
  }

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const context = this.context;
    const conversation = context?.conversation;
    if (!context || !conversation || this.busy) return;
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const question = String(data.get('question') ?? '').trim();
    const options = this.options.map((o) => o.trim()).filter((o) => o !== '');
    if (!question) {
      this.error = 'Write a question.';
      return;
    }
    if (options.length < MIN_OPTIONS) {
      this.error = `Give at least ${MIN_OPTIONS} options.`;
      return;
    }
    this.busy = true;
    this.error = '';
    try {
      await context.call('create', conversation.id, question, options, { multiple: data.get('multiple') === 'on' });
      this.#dialog?.close();
    } catch (error) {
      this.error = errorText(error);
    } finally {
      this.busy = false;
    }
  }

  #setOption(index: number, value: string): void {
    this.options = this.options.map((o, i) => (i === index ? value : o));
  }

  override render() {
    const allowMultiple = this.context?.config.allowMultipleChoice !== false;
    const max = this.#maxOptions();
    return html`<button class="open" type="button" aria-label="Create a poll" title="Create a poll" @click=${() => this.#open()}>
        <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true">
          <path d="M5 20V10M12 20V4M19 20v-7" />
        </svg>
      </button>
      <dialog aria-labelledby="poll-title" @close=${() => (this.error = '')}>
        <h2 id="poll-title">New poll</h2>
        <form @submit=${(e: SubmitEvent) => void this.#submit(e)}>
          <label>Question <input type="text" name="question" maxlength=${MAX_QUESTION_LENGTH} required autofocus /></label>
          ${this.options.map(
            (option, index) => html`<div class="row">
              <label
                >Option ${index + 1}
                <input
                  type="text"
                  maxlength=${MAX_OPTION_LENGTH}
                  .value=${option}
                  @input=${(e: Event) => this.#setOption(index, (e.target as HTMLInputElement).value)}
              /></label>
              ${this.options.length > MIN_OPTIONS
                ? html`<button class="remove" type="button" aria-label=${`Remove option ${index + 1}`} @click=${() => (this.options = this.options.filter((_o, i) => i !== index))}>
                    ✕
                  </button>`
                : nothing}
            </div>`,
          )}
          ${this.options.length < max ? html`<button class="add" type="button" @click=${() => (this.options = [...this.options, ''])}>+ Add an option</button>` : nothing}
          ${allowMultiple ? html`<label class="check"><input type="checkbox" name="multiple" /> Let people choose several options</label>` : nothing}
          ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
          <div class="buttons">
            <button type="button" @click=${() => this.#dialog?.close()}>Cancel</button>
            <button class="primary" type="submit" ?disabled=${this.busy}>Create poll</button>
          </div>
        </form>
      </dialog>`;
  }
}

export default defineUiPlugin({
  name: 'polls',
  setup(api) {
    api.define('polls-card', PollsCard);
    api.define('polls-create', PollsCreate);
    api.slot('composer', { id: 'create', tag: 'polls-create', when: (context) => context.conversation !== undefined });
    api.slot('message.footer', { id: 'card', tag: 'polls-card', order: 0, when: (context) => pollOf(context.message) !== undefined });
  },
});
