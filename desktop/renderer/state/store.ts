/**
 * A minimal observable store: one immutable state value, replaced by `update`, with subscribers
 * notified synchronously. Components re-render through StoreController (Lit batches the updates).
 */
export type Listener<S> = (state: S, previous: S) => void;

export class Store<S> {
  #state: S;
  readonly #listeners = new Set<Listener<S>>();

  constructor(initial: S) {
    this.#state = initial;
  }

  get state(): S {
    return this.#state;
  }

  /** Replaces the state with `recipe(state)`; listeners run only when it changed (by identity). */
  update(recipe: (state: S) => S): void {
    const previous = this.#state;
    const next = recipe(previous);
    if (next === previous) return;
    this.#state = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next, previous);
      } catch (error) {
        console.error('kecalek: a store listener failed', error);
      }
    }
  }

  subscribe(listener: Listener<S>): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
