/**
 * Typed service tokens shared between plugins: a plugin `provide`s a value under a token and a
 * plugin that declares it in `dependsOn` can `use` it. Nothing patches the engine's objects.
 */
export interface Token<T> {
  /** `<plugin>.<service>`: the part before the first dot names the providing plugin. */
  readonly id: string;
  /** Phantom field carrying the value type; never set at run time. */
  readonly __type?: T;
}

export function createToken<T>(id: string): Token<T> {
  if (!/^[a-z][a-z0-9-]*\.[A-Za-z0-9_.-]+$/.test(id)) {
    throw new TypeError(`Token id "${id}" must look like "<plugin>.<service>"`);
  }
  return Object.freeze({ id }) as Token<T>;
}

/** The plugin that owns a token: the part of its id before the first dot. */
export function tokenOwner(token: Token<unknown>): string {
  return token.id.slice(0, token.id.indexOf('.'));
}
