/**
 * Helpers for the invitations tests: a test-only plugin whose push marks "everything pushed to this
 * connection before now has arrived" (pushes on one connection keep their order), so a test can
 * say a push did NOT come without waiting for a timeout; and small request shortcuts.
 */
import { Type } from 'typebox';
import { definePlugin } from '../../../engine/plugin/index.js';
import type { TestAccount, TestConnection } from '../../../engine/testing/index.js';

export const flushPlugin = definePlugin({
  name: 'test-flush',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.handle('test_flush', Type.Object({ user_id: Type.String(), token: Type.String() }), (request) => {
      api.notify([request.user_id], 'test_flushed', { token: request.token });
      return {};
    });
  },
});

let flushes = 0;

/** Resolves once every push sent to `target` before this call has arrived on it. */
export async function flush(target: TestConnection, userId: string, via: TestConnection): Promise<void> {
  flushes += 1;
  const token = `f${flushes}`;
  await via.expectOk('test_flush', { user_id: userId, token });
  for (;;) {
    const push = await target.nextPush<{ token: string }>('test_flushed');
    if (push.token === token) return;
  }
}

/** The pushes of one type a connection received (all of them, read or not). */
export function pushesOf<T = Record<string, unknown>>(connection: TestConnection, type: string): T[] {
  return connection.pushes.filter((push) => push.type === type).map((push) => push.data as T);
}

export interface CreatedGroup {
  conversation: { id: string; members: Array<{ user_id: string }> };
  outcomes: Array<{ user_id: string; outcome: string }>;
}

export function createGroup(owner: TestAccount, name: string, people: readonly TestAccount[], emails: readonly string[] = []): Promise<CreatedGroup> {
  return owner.connection.expectOk<CreatedGroup>('create_conversation', { kind: 'group', name, emails: [...people.map((p) => p.email), ...emails] });
}

export interface WireInvitation {
  conversation_id: string;
  conversation_name: string | null;
  invited_by: string;
  invited_by_username: string;
  created_at: number;
  member_count: number;
}

export async function invitationsOf(account: { connection: TestConnection }): Promise<WireInvitation[]> {
  return (await account.connection.expectOk<{ invitations: WireInvitation[] }>('list_invitations', {})).invitations;
}

export const DAY_MS = 24 * 60 * 60 * 1000;
