/**
 * What a logged-in device holds while the client runs: its keys (in memory, wiped at logout),
 * its sealed stores and the managers built on them. ChatClient creates one per login; the
 * messaging engine (messenger.ts) works on it.
 */
import { ClientError, ClientErrorCode, WireErrorCode, KecalekError } from '../errors.js';
import { wipe, type CryptoProvider } from '../crypto/index.js';
import type { ConversationStore } from './conversations.js';
import type { DeviceDirectory } from './directory.js';
import type { GroupKeys } from './groups.js';
import type { MessageCache } from './history.js';
import type { IdentityRegistry } from './identities.js';
import type { Outbox } from './outbox.js';
import type { PreKeys } from './prekeys.js';
import type { SessionManager } from './sessions.js';
import type { AccountStore, KeyMaterial } from './store/account-store.js';
import type { SelfInfo } from './types.js';

export const STATE_RECORD = 'state.bin';

/** Device state stored sealed in state.bin. */
export interface DeviceState {
  v: 1;
  user_id: string;
  username: string;
  email: string;
  /** null until the first login of this device. */
  device_id: string | null;
  /**
   * When the server said this device was removed from the account: it may not log in again as
   * `device_id`; linking the computer again reuses the folder as a new device.
   */
  removed_at?: number;
}

export interface DeviceContext {
  readonly store: AccountStore;
  readonly provider: CryptoProvider;
  readonly keys: KeyMaterial;
  readonly identityPublic: Uint8Array;
  readonly identityPublicBase64: string;
  readonly localKey: Uint8Array;
  readonly selfCopyKey: Uint8Array;
  state: DeviceState;
  readonly prekeys: PreKeys;
  readonly sessions: SessionManager;
  readonly directory: DeviceDirectory;
  readonly groups: GroupKeys;
  readonly cache: MessageCache;
  readonly identities: IdentityRegistry;
  readonly conversations: ConversationStore;
  readonly outbox: Outbox;
}

export function selfOf(context: DeviceContext): SelfInfo {
  const state = context.state;
  if (state.device_id === null) throw new ClientError(ClientErrorCode.NOT_LOGGED_IN, 'This device has not logged in yet');
  return { userId: state.user_id, username: state.username, email: state.email, deviceId: state.device_id };
}

export function wipeContext(context: DeviceContext): void {
  wipe(context.keys.identitySeed, context.keys.loginSeed, context.keys.pendingLoginSeed, context.localKey, context.selfCopyKey);
}

/** Errors after which the same request may simply be sent again later. */
const RETRYABLE = new Set<string>([
  ClientErrorCode.CONNECTION_CLOSED,
  ClientErrorCode.NOT_CONNECTED,
  ClientErrorCode.REQUEST_TIMEOUT,
  WireErrorCode.RATE_LIMITED,
  WireErrorCode.SHUTTING_DOWN,
  WireErrorCode.TOO_MANY_CONNECTIONS,
  WireErrorCode.NOT_AUTHENTICATED,
]);

export function isRetryable(error: unknown): boolean {
  return error instanceof KecalekError && RETRYABLE.has(error.code);
}

export function hasCode(error: unknown, code: string): error is KecalekError {
  return error instanceof KecalekError && error.code === code;
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
