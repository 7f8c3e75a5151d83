/**
 * The base of the app's components: finds the shared services when connected and re-renders on
 * state changes (components that only take properties opt out with `watchState = false`).
 */
import { LitElement } from 'lit';
import { requestServices, type Services } from '../services.js';
import type { AppState } from '../state/model.js';

export class KecalekElement extends LitElement {
  /** Re-render whenever the app state changes. */
  protected watchState = true;
  #services: Services | undefined;
  #unsubscribe: Array<() => void> = [];

  protected get services(): Services {
    if (!this.#services) {
      this.#services = requestServices(this);
      if (!this.#services) throw new Error(`<${this.localName}> must be inside <kecalek-app>`);
    }
    return this.#services;
  }

  protected get state(): AppState {
    return this.services.controller.state;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    const services = this.services;
    if (this.watchState) this.#unsubscribe.push(services.controller.store.subscribe(() => this.requestUpdate()));
    for (const off of this.subscriptions(services)) this.#unsubscribe.push(off);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  /** More subscriptions (returning their removers), made on connect and undone on disconnect. */
  protected subscriptions(_services: Services): Array<() => void> {
    return [];
  }

  /** Dispatches a bubbling, composed event (how components talk upwards). */
  protected emit<T>(type: string, detail?: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail: detail as T, bubbles: true, composed: true }));
  }
}
