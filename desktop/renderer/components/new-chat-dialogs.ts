/**
 * <kecalek-new-dm-dialog> (start a direct conversation by email) and <kecalek-new-group-dialog>
 * (a name and the members' addresses). Both open the new conversation and close; failures stay
 * in the dialog.
 */
import { css, html, nothing } from 'lit';
import { errorText, isEmail, splitEmails } from '../util/format.js';
import { KecalekElement } from './base.js';
import { baseStyles } from './styles.js';
import { ModalController, modal, modalStyles } from './dialog.js';

const dialogStyles = css`
  form {
    display: grid;
    gap: 14px;
  }
  p.lead {
    margin: 0;
    color: var(--kecalek-text-muted);
    line-height: 1.5;
  }
`;

abstract class FormDialog extends KecalekElement {
  static override properties = {
    busy: { state: true },
    error: { state: true },
  };

  declare busy: boolean;
  declare error: string;

  constructor() {
    super();
    this.watchState = false;
    this.busy = false;
    this.error = '';
    new ModalController(this);
  }

  protected close(): void {
    this.dispatchEvent(new CustomEvent('close'));
  }

  protected async run(task: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = '';
    try {
      await task();
      this.close();
    } catch (error) {
      this.error = errorText(error);
    } finally {
      this.busy = false;
    }
  }

  protected errorLine() {
    return this.error ? html`<p class="error-text" role="alert">${this.error}</p>` : nothing;
  }

  protected field(form: HTMLFormElement, name: string): string {
    const element = form.elements.namedItem(name);
    return element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement ? element.value : '';
  }
}

export class KecalekNewDmDialog extends FormDialog {
  static override styles = [baseStyles, modalStyles, dialogStyles];

  #submit(event: SubmitEvent): void {
    event.preventDefault();
    const email = this.field(event.currentTarget as HTMLFormElement, 'email').trim();
    if (!isEmail(email)) {
      this.error = 'Enter the email address of the person you want to write to.';
      return;
    }
    void this.run(async () => {
      await this.services.controller.createDm(email);
    });
  }

  override render() {
    return modal({
      heading: 'New message',
      onClose: () => this.close(),
      body: html`<form id="form" @submit=${this.#submit} novalidate>
        <p class="lead">Start an end-to-end encrypted conversation with someone on this server.</p>
        <label class="field">Email address <input name="email" type="email" placeholder="name@example.org" autocomplete="off" required autofocus /></label>
        ${this.errorLine()}
      </form>`,
      actions: html`<button class="btn ghost" type="button" @click=${() => this.close()}>Cancel</button>
        <button class="btn primary" type="submit" form="form" ?disabled=${this.busy}>${this.busy ? 'Starting…' : 'Start chat'}</button>`,
    });
  }
}

export class KecalekNewGroupDialog extends FormDialog {
  static override styles = [baseStyles, modalStyles, dialogStyles];

  #submit(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const name = this.field(form, 'name').trim();
    const emails = splitEmails(this.field(form, 'members'));
    if (!name) {
      this.error = 'Give the group a name.';
      return;
    }
    if ([...name].length > 100) {
      this.error = 'A group name has at most 100 characters.';
      return;
    }
    const invalid = emails.filter((e) => !isEmail(e));
    if (invalid.length > 0) {
      this.error = `Not an email address: ${invalid.join(', ')}`;
      return;
    }
    void this.run(async () => {
      await this.services.controller.createGroup(name, emails);
    });
  }

  override render() {
    return modal({
      heading: 'New group',
      onClose: () => this.close(),
      body: html`<form id="form" @submit=${this.#submit} novalidate>
        <label class="field">Group name <input name="name" maxlength="100" placeholder="Weekend trip" autocomplete="off" required autofocus /></label>
        <label class="field"
          >Members
          <textarea name="members" rows="3" placeholder="anna@example.org, petr@example.org"></textarea>
        </label>
        <p class="hint">Email addresses, separated by commas or new lines. You can add people later too.</p>
        ${this.errorLine()}
      </form>`,
      actions: html`<button class="btn ghost" type="button" @click=${() => this.close()}>Cancel</button>
        <button class="btn primary" type="submit" form="form" ?disabled=${this.busy}>${this.busy ? 'Creating…' : 'Create group'}</button>`,
    });
  }
}

customElements.define('kecalek-new-dm-dialog', KecalekNewDmDialog);
customElements.define('kecalek-new-group-dialog', KecalekNewGroupDialog);
