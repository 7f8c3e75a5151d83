/**
 * The renderer's state: a mirror of what the bridge told it (signed-in state, conversations,
 * messages per conversation, presence, connection) plus which conversation is open.
 */
import type {
  BridgeConversation,
  BridgeDevice,
  BridgeMessage,
  BridgeServerInfo,
  BridgeSettings,
  ConnectionStateName,
} from '../../shared/bridge.js';
import type { UiSelf } from '../../../engine/plugin/ui.js';

export type SelfState = UiSelf & { readonly email: string };

export interface MessageList {
  /** Oldest first. */
  readonly items: readonly BridgeMessage[];
  /** The locally cached history is in `items`. */
  readonly loaded: boolean;
  /** The server was asked for newer messages since opening. */
  readonly synced: boolean;
  /** Older history may exist (false once loadOlder returned less than a page). */
  readonly hasOlder: boolean;
  readonly loadingOlder: boolean;
}

export interface AppState {
  /** The first getState answered. */
  readonly ready: boolean;
  /** The revision of the bridge snapshot applied last (older ones are ignored). */
  readonly stateRevision: number;
  readonly connection: ConnectionStateName;
  readonly self: SelfState | undefined;
  readonly server: BridgeServerInfo | undefined;
  readonly accounts: ReadonlyArray<{ readonly email: string; readonly username: string }>;
  readonly serverAddress: string;
  readonly serverVerified: boolean;
  readonly settings: BridgeSettings;
  /** Newest activity first. */
  readonly conversations: readonly BridgeConversation[];
  readonly conversationsLoaded: boolean;
  readonly messages: ReadonlyMap<string, MessageList>;
  /** Users currently online. */
  readonly online: ReadonlySet<string>;
  readonly activeId: string | undefined;
  /**
   * Live read receipts: per conversation, per member, the time of the newest of our messages they
   * read (only what arrived while running).
   */
  readonly reads: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** This account's devices (loaded when settings open). */
  readonly devices: readonly BridgeDevice[] | undefined;
}

export const EMPTY_LIST: MessageList = Object.freeze({
  items: [],
  loaded: false,
  synced: false,
  hasOlder: true,
  loadingOlder: false,
});

export function initialState(): AppState {
  return {
    ready: false,
    stateRevision: 0,
    connection: 'disconnected',
    self: undefined,
    server: undefined,
    accounts: [],
    serverAddress: '',
    serverVerified: true,
    settings: { theme: 'system' },
    conversations: [],
    conversationsLoaded: false,
    messages: new Map(),
    online: new Set(),
    activeId: undefined,
    reads: new Map(),
    devices: undefined,
  };
}

/** The id the client core gives an unconfirmed own message. */
export function pendingId(clientMsgId: string): string {
  return `pending:${clientMsgId}`;
}

/**
 * The id of the renderer's optimistic copy of a message being sent. The core keeps its own pending
 * copy under its own client message id (the renderer's is only the bridge's idempotency key), so
 * the optimistic copy is replaced by whichever copy of the core shows up first.
 */
export function localId(clientMsgId: string): string {
  return `local:${clientMsgId}`;
}

/** The renderer's optimistic copy (known only here). */
export function isLocal(message: Pick<BridgeMessage, 'id'>): boolean {
  return message.id.startsWith('local:');
}

/** Not (yet) stored by the server: the renderer's or the core's pending copy. */
export function isUnconfirmed(message: Pick<BridgeMessage, 'id'>): boolean {
  return message.id.startsWith('pending:') || message.id.startsWith('local:');
}
