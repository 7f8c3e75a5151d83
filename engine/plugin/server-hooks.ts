/**
 * The server's hook set (tapable), and the wrapped facade through which every plugin — the
 * engine's core included — taps it. Wrapping gives each tap its plugin's name, the hook's failure
 * policy and the plugin's on/off gate:
 *   - guard hooks fail closed: a throwing tap refuses the operation (its WireError, or internal_error);
 *   - every other hook fails open: the failure is logged with the plugin's name and the others go on.
 * Order is the order in which plugins start (dependencies first); tapable's `before` is not used.
 */
import tapable from 'tapable';
import type { Logger } from 'pino';
import { WireError, WireErrorCode } from '../errors.js';
import type {
  AuthenticatedEvent,
  Capabilities,
  ConnectionInfo,
  ConversationDeleting,
  ConversationView,
  DeletedMessage,
  DisconnectEvent,
  FetchContext,
  ListContext,
  MaintenanceContext,
  MemberAddingContext,
  MemberAddingOutcome,
  MemberChange,
  MessageView,
  RequestInfo,
  StoredMessage,
  StoringMessage,
  UserDeleting,
} from './server-types.js';

const { AsyncSeriesHook, AsyncSeriesBailHook, AsyncSeriesWaterfallHook, AsyncParallelHook, SyncWaterfallHook } = tapable;

type AsyncSeries<A> = InstanceType<typeof AsyncSeriesHook<A>>;
type AsyncBail<A, R> = InstanceType<typeof AsyncSeriesBailHook<A, R>>;
type AsyncWaterfall<A> = InstanceType<typeof AsyncSeriesWaterfallHook<A>>;
type AsyncParallel<A> = InstanceType<typeof AsyncParallelHook<A>>;
type SyncWaterfall<A> = InstanceType<typeof SyncWaterfallHook<A>>;

export interface ServerHooks {
  /** A socket was accepted (before hello). */
  readonly connection: AsyncSeries<[ConnectionInfo]>;
  /** A socket closed. */
  readonly disconnect: AsyncSeries<[DisconnectEvent]>;
  /** A connection logged in (presence, online lists). */
  readonly authenticated: AsyncSeries<[AuthenticatedEvent]>;
  /** Guard before any handler runs: return a WireError (or throw) to refuse the request. */
  readonly beforeRequest: AsyncBail<[RequestInfo], WireError | undefined>;
  /** Guard when someone is about to be added to a group: return an outcome to take the addition over. */
  readonly memberAdding: AsyncBail<[MemberAddingContext], MemberAddingOutcome | undefined>;
  /** Someone became a member. */
  readonly memberAdded: AsyncSeries<[MemberChange]>;
  /** Someone stopped being a member (removed, left, conversation deleted). */
  readonly memberRemoved: AsyncSeries<[MemberChange]>;
  /** Guard before a message is persisted: throw to refuse, or return a replacement. */
  readonly messageStoring: AsyncWaterfall<[StoringMessage]>;
  /** A message was persisted and pushed. */
  readonly messageStored: AsyncParallel<[StoredMessage]>;
  /** Decorate fetched messages (reactions, pins). Return the (possibly new) array. */
  readonly messagesFetched: AsyncWaterfall<[MessageView[], FetchContext]>;
  /** Decorate listed conversations (avatars, extra counts). */
  readonly conversationsListed: AsyncWaterfall<[ConversationView[], ListContext]>;
  /** A message was deleted: clean up the plugin's own data and files. */
  readonly messageDeleted: AsyncSeries<[DeletedMessage]>;
  /** A conversation is about to be deleted: clean up the plugin's own data and files. */
  readonly conversationDeleting: AsyncSeries<[ConversationDeleting]>;
  /** A user is about to be deleted. */
  readonly userDeleting: AsyncSeries<[UserDeleting]>;
  /** What the hello frame advertises. */
  readonly capabilities: SyncWaterfall<[Capabilities]>;
  /** Periodic cleanup. */
  readonly maintenance: AsyncParallel<[MaintenanceContext]>;
}

export type HookName = keyof ServerHooks;
export type FailurePolicy = 'fail-closed' | 'fail-open';

export const HOOK_POLICIES: Readonly<Record<HookName, FailurePolicy>> = {
  connection: 'fail-open',
  disconnect: 'fail-open',
  authenticated: 'fail-open',
  beforeRequest: 'fail-closed',
  memberAdding: 'fail-closed',
  memberAdded: 'fail-open',
  memberRemoved: 'fail-open',
  messageStoring: 'fail-closed',
  messageStored: 'fail-open',
  messagesFetched: 'fail-open',
  conversationsListed: 'fail-open',
  messageDeleted: 'fail-open',
  conversationDeleting: 'fail-open',
  userDeleting: 'fail-open',
  capabilities: 'fail-open',
  maintenance: 'fail-open',
};

export function createServerHooks(): ServerHooks {
  return {
    connection: new AsyncSeriesHook<[ConnectionInfo]>(['connection']),
    disconnect: new AsyncSeriesHook<[DisconnectEvent]>(['event']),
    authenticated: new AsyncSeriesHook<[AuthenticatedEvent]>(['event']),
    beforeRequest: new AsyncSeriesBailHook<[RequestInfo], WireError | undefined>(['request']),
    memberAdding: new AsyncSeriesBailHook<[MemberAddingContext], MemberAddingOutcome | undefined>(['context']),
    memberAdded: new AsyncSeriesHook<[MemberChange]>(['change']),
    memberRemoved: new AsyncSeriesHook<[MemberChange]>(['change']),
    messageStoring: new AsyncSeriesWaterfallHook<[StoringMessage]>(['message']),
    messageStored: new AsyncParallelHook<[StoredMessage]>(['message']),
    messagesFetched: new AsyncSeriesWaterfallHook<[MessageView[], FetchContext]>(['messages', 'context']),
    conversationsListed: new AsyncSeriesWaterfallHook<[ConversationView[], ListContext]>(['conversations', 'context']),
    messageDeleted: new AsyncSeriesHook<[DeletedMessage]>(['message']),
    conversationDeleting: new AsyncSeriesHook<[ConversationDeleting]>(['conversation']),
    userDeleting: new AsyncSeriesHook<[UserDeleting]>(['user']),
    capabilities: new SyncWaterfallHook<[Capabilities]>(['capabilities']),
    maintenance: new AsyncParallelHook<[MaintenanceContext]>(['context']),
  };
}

/** Arguments and return type of each hook's tap function, as a plugin writes it. */
export interface HookTapSignatures {
  connection: (connection: ConnectionInfo) => void | Promise<void>;
  disconnect: (event: DisconnectEvent) => void | Promise<void>;
  authenticated: (event: AuthenticatedEvent) => void | Promise<void>;
  beforeRequest: (request: RequestInfo) => WireError | undefined | void | Promise<WireError | undefined | void>;
  memberAdding: (
    context: MemberAddingContext,
  ) => MemberAddingOutcome | undefined | void | Promise<MemberAddingOutcome | undefined | void>;
  memberAdded: (change: MemberChange) => void | Promise<void>;
  memberRemoved: (change: MemberChange) => void | Promise<void>;
  messageStoring: (message: StoringMessage) => StoringMessage | undefined | void | Promise<StoringMessage | undefined | void>;
  messageStored: (message: StoredMessage) => void | Promise<void>;
  messagesFetched: (messages: MessageView[], context: FetchContext) => MessageView[] | void | Promise<MessageView[] | void>;
  conversationsListed: (
    conversations: ConversationView[],
    context: ListContext,
  ) => ConversationView[] | void | Promise<ConversationView[] | void>;
  messageDeleted: (message: DeletedMessage) => void | Promise<void>;
  conversationDeleting: (conversation: ConversationDeleting) => void | Promise<void>;
  userDeleting: (user: UserDeleting) => void | Promise<void>;
  capabilities: (capabilities: Capabilities) => Capabilities | void;
  maintenance: (context: MaintenanceContext) => void | Promise<void>;
}

/** The facade a plugin receives as `api.hooks`: `api.hooks.messageStored.tap(fn)`. */
export type PluginHookTaps = {
  readonly [K in HookName]: { tap(fn: HookTapSignatures[K]): void };
};

export interface TapOwner {
  readonly name: string;
  /** The plugin's gate: a disabled plugin's taps pass everything through untouched. */
  isEnabled(): boolean;
  readonly log: Logger;
}

/** Builds the wrapped `api.hooks` facade for one plugin. */
export function createPluginHookTaps(hooks: ServerHooks, owner: TapOwner): PluginHookTaps {
  const facade = {} as Record<HookName, { tap(fn: (...args: never[]) => unknown): void }>;
  for (const hookName of Object.keys(hooks) as HookName[]) {
    const policy = HOOK_POLICIES[hookName];
    facade[hookName] = {
      tap(fn) {
        if (typeof fn !== 'function') throw new TypeError(`${owner.name}: hooks.${hookName}.tap needs a function`);
        if (hookName === 'capabilities') {
          hooks.capabilities.tap({ name: owner.name }, wrapSync(hookName, owner, fn as (c: Capabilities) => Capabilities | void));
        } else {
          const hook = hooks[hookName] as unknown as { tapPromise(options: { name: string }, fn: (...args: unknown[]) => Promise<unknown>): void };
          hook.tapPromise({ name: owner.name }, wrapAsync(hookName, policy, owner, fn as (...args: unknown[]) => unknown));
        }
      },
    };
  }
  return facade as unknown as PluginHookTaps;
}

function wrapAsync(
  hookName: HookName,
  policy: FailurePolicy,
  owner: TapOwner,
  fn: (...args: unknown[]) => unknown,
): (...args: unknown[]) => Promise<unknown> {
  return async (...args: unknown[]) => {
    // A disabled plugin passes through: undefined keeps a waterfall's value and does not bail.
    if (!owner.isEnabled()) return undefined;
    try {
      const result = await fn(...args);
      return result ?? undefined;
    } catch (error) {
      if (policy === 'fail-closed') throw guardFailure(hookName, owner, error);
      owner.log.error({ plugin: owner.name, hook: hookName, err: error }, 'hook tap failed; continuing with the other taps');
      return undefined;
    }
  };
}

function wrapSync(
  hookName: HookName,
  owner: TapOwner,
  fn: (value: Capabilities) => Capabilities | void,
): (value: Capabilities) => Capabilities {
  return (value) => {
    if (!owner.isEnabled()) return value;
    try {
      return fn(value) ?? value;
    } catch (error) {
      owner.log.error({ plugin: owner.name, hook: hookName, err: error }, 'hook tap failed; continuing with the other taps');
      return value;
    }
  };
}

/** A guard tap refused or failed: keep a deliberate WireError, turn anything else into internal_error. */
function guardFailure(hookName: HookName, owner: TapOwner, error: unknown): WireError {
  if (error instanceof WireError) return error;
  owner.log.error({ plugin: owner.name, hook: hookName, err: error }, 'guard hook tap failed; refusing the operation');
  return new WireError(WireErrorCode.INTERNAL_ERROR, 'Internal server error', undefined, { cause: error });
}
