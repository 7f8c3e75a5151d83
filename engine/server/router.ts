/**
 * The route table: message type -> the plugin that handles it, its compiled schema, its options.
 * Core handlers and plugins' handlers register the same way. A type whose plugin is disabled is
 * not found (`unknown_type`), exactly as if the plugin were absent.
 */
import type { TSchema } from 'typebox';
import { StartupError, StartupErrorCode } from '../errors.js';
import { compileSchema } from '../protocol/validation.js';
import type { HandlerOptions, RateLimitRule, RequestContext } from '../plugin/server-types.js';

export interface Route {
  readonly type: string;
  readonly plugin: string;
  readonly validate: (value: unknown) => Record<string, unknown>;
  readonly handler: (request: Record<string, unknown>, context: RequestContext) => unknown;
  readonly auth: boolean;
  readonly rateLimits: readonly RateLimitRule[];
  readonly maxBodyBytes: number;
  readonly exemptFromConnectionRate: boolean;
  readonly isEnabled: () => boolean;
}

const TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** Types the engine itself uses on the wire and nobody may register. */
const RESERVED_TYPES = new Set(['hello', 'error']);

export class Router {
  private readonly routes = new Map<string, Route>();

  register(
    plugin: string,
    type: string,
    schema: TSchema,
    handler: Route['handler'],
    options: HandlerOptions | undefined,
    isEnabled: () => boolean,
  ): void {
    if (!TYPE_PATTERN.test(type) || RESERVED_TYPES.has(type)) {
      throw new StartupError(StartupErrorCode.PLUGIN_INVALID, `Plugin "${plugin}" registers an invalid message type "${type}"`, { plugin });
    }
    const existing = this.routes.get(type);
    if (existing) {
      throw new StartupError(
        StartupErrorCode.PLUGIN_INVALID,
        `Message type "${type}" is registered by both "${existing.plugin}" and "${plugin}"`,
        { plugin, type },
      );
    }
    const rules = options?.rateLimit === undefined ? [] : Array.isArray(options.rateLimit) ? options.rateLimit : [options.rateLimit];
    this.routes.set(type, {
      type,
      plugin,
      validate: compileSchema(schema) as Route['validate'],
      handler,
      auth: options?.auth ?? true,
      rateLimits: rules as RateLimitRule[],
      maxBodyBytes: options?.maxBodyBytes ?? 0,
      exemptFromConnectionRate: options?.exemptFromConnectionRate ?? false,
      isEnabled,
    });
  }

  /** The route for `type`, if it exists and its plugin is enabled. */
  lookup(type: string): Route | undefined {
    const route = this.routes.get(type);
    return route && route.isEnabled() ? route : undefined;
  }

  /** Every registered type with its plugin (enabled or not), for docs and tests. */
  types(): Array<{ type: string; plugin: string; enabled: boolean }> {
    return [...this.routes.values()].map((r) => ({ type: r.type, plugin: r.plugin, enabled: r.isEnabled() }));
  }
}
