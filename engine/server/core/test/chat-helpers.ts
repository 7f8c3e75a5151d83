/**
 * Shared helpers for the conversations, messages and presence suites, on top of the plugin authors'
 * engine/testing/people.ts (people with several logged-in devices, the push barrier): DM/group
 * set-up with the full answers, recipient lists, a probe plugin with core test handlers beside
 * `test_probe`, and a recorder plugin that taps the hooks these modules fire.
 */
import { Type } from 'typebox';
import { definePlugin, type AnyPluginDefinition } from '../../../plugin/define.js';
import type { MemberAddingOutcome, MemberChange, StoredMessage, StoringMessage } from '../../../plugin/server-types.js';
import { WireError, WireErrorCode } from '../../../errors.js';
import { SELF_DEVICE_ID } from '../../../protocol/constants.js';
import { cipher, handleProbe, type Device, type Person } from '../../../testing/people.js';
import { MESSAGE_WRITER_TOKEN } from '../messages.js';

export { SELF_DEVICE_ID };
// The generic parts (people, devices, the push barrier) are the plugin authors' helpers.
export { addDevice, cipher, closeOpened, expectFailure, person, received, settle, type Device, type Person } from '../../../testing/people.js';

export interface RecipientEntry {
  user_id: string;
  device_id: string;
  body: string;
}

/** One fresh ciphertext for every device of these people except `sender`, plus the self copy unless told not to. */
export function recipientsFor(sender: Device, people: readonly Person[], options: { selfCopy?: boolean } = {}): RecipientEntry[] {
  const entries: RecipientEntry[] = [];
  for (const p of people) {
    for (const d of p.devices) if (!(d.userId === sender.userId && d.deviceId === sender.deviceId)) entries.push({ user_id: d.userId, device_id: d.deviceId, body: cipher() });
  }
  if (options.selfCopy ?? true) entries.push({ user_id: sender.userId, device_id: SELF_DEVICE_ID, body: cipher() });
  return entries;
}

export interface ConversationView {
  id: string;
  kind: 'dm' | 'group';
  name: string | null;
  created_by: string | null;
  created_at: number;
  last_message_at: number | null;
  unread_count: number;
  members: Array<{ user_id: string; username: string; role: string; joined_at: number }>;
  [extra: string]: unknown;
}

export interface MessageView {
  id: string;
  conversation_id: string;
  sender_id: string;
  sender_device_id: string;
  kind: 'message' | 'control';
  created_at: number;
  deleted_at: number | null;
  body: string | null;
  recipient_body: string | null;
  self_body: string | null;
  [extra: string]: unknown;
}

export interface SendAnswer {
  message_id: string;
  created_at: number;
  duplicate: boolean;
}

export async function createDm(from: Device, to: Person): Promise<ConversationView> {
  const answer = await from.connection.expectOk<{ conversation: ConversationView; created: boolean }>('create_conversation', {
    kind: 'dm',
    user_ids: [to.userId],
  });
  return answer.conversation;
}

export async function createGroup(from: Device, name: string, others: readonly Person[]): Promise<ConversationView> {
  const answer = await from.connection.expectOk<{ conversation: ConversationView }>('create_conversation', {
    kind: 'group',
    name,
    user_ids: others.map((p) => p.userId),
  });
  return answer.conversation;
}

/** Sends a DM message to every device of `members` (the sender's person included) with a self copy. */
export async function sendDm(sender: Device, conversationId: string, members: readonly Person[], extra: Record<string, unknown> = {}) {
  const recipients = recipientsFor(sender, members);
  const answer = await sender.connection.expectOk<SendAnswer>('send_message', { conversation_id: conversationId, recipients, ...extra });
  return { ...answer, recipients };
}

export async function sendGroup(sender: Device, conversationId: string, extra: Record<string, unknown> = {}) {
  const body = cipher();
  const answer = await sender.connection.expectOk<SendAnswer>('send_message', { conversation_id: conversationId, body, ...extra });
  return { ...answer, body };
}

export async function getMessages(device: Device, conversationId: string, options: Record<string, unknown> = {}) {
  return device.connection.expectOk<{ messages: MessageView[]; has_more: boolean }>('get_messages', { conversation_id: conversationId, ...options });
}

export async function listConversations(device: Device): Promise<ConversationView[]> {
  return (await device.connection.expectOk<{ conversations: ConversationView[] }>('list_conversations')).conversations;
}

// ---- the probe: a barrier for pushes --------------------------------------------------------

/**
 * Test plugin: `test_probe {user_ids, nonce}` (no login needed) pushes `test_probe {nonce}` to every
 * connection of those users. Pushes to one connection arrive in the order they were sent, so once
 * a connection has the probe, every push sent to it before has arrived too.
 */
export const probePlugin: AnyPluginDefinition = definePlugin({
  name: 'test-probe',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    handleProbe(api);
    api.handle(
      'test_writer_stats',
      Type.Object({}),
      () => api.use(MESSAGE_WRITER_TOKEN).stats(),
      { auth: false },
    );
    api.handle(
      'test_is_online',
      Type.Object({ user_id: Type.String() }),
      (request) => ({ online: api.core.presence.isOnline(request.user_id) }),
      { auth: false },
    );
    api.handle(
      'test_add_member',
      Type.Object({ conversation_id: Type.String(), user_id: Type.String(), by: Type.String() }),
      async (request) => {
        await api.core.conversations.addMember(request.conversation_id, request.user_id, request.by, 'accept');
        return {};
      },
      { auth: false },
    );
    api.handle(
      'test_require_visible',
      Type.Object({ message_id: Type.String(), user_id: Type.String() }),
      async (request) => api.core.messages.requireVisible(request.message_id, request.user_id),
      { auth: false },
    );
  },
});

// ---- the recorder: taps the hooks ------------------------------------------------------------

export interface HookRecord {
  memberAdded: MemberChange[];
  memberRemoved: MemberChange[];
  conversationDeleting: Array<{ conversationId: string; kind: string; by: string; memberIds: readonly string[] }>;
  messageStored: StoredMessage[];
  messageDeleted: Array<{ id: string; conversationId: string; deletedBy: string }>;
  /** user ids whose addition a memberAdding tap takes over ("invited"). */
  invite: Set<string>;
  /** user ids whose addition a memberAdding tap refuses (conflict). */
  refuseAdding: Set<string>;
  /** client_msg_ids a messageStoring tap refuses (forbidden). */
  refuseStoring: Set<string>;
  /** client_msg_id -> replacement shared body a messageStoring tap puts in. */
  replaceBody: Map<string, string>;
  /** Waiters for messageStored (it runs after the answer). */
  storedWaiters: Array<{ id: string; resolve: (message: StoredMessage) => void }>;
}

export function createRecorder(): { plugin: AnyPluginDefinition; record: HookRecord; waitStored: (id: string) => Promise<StoredMessage> } {
  const record: HookRecord = {
    memberAdded: [],
    memberRemoved: [],
    conversationDeleting: [],
    messageStored: [],
    messageDeleted: [],
    invite: new Set(),
    refuseAdding: new Set(),
    refuseStoring: new Set(),
    replaceBody: new Map(),
    storedWaiters: [],
  };
  const plugin = definePlugin({
    name: 'test-recorder',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.hooks.memberAdding.tap((context): MemberAddingOutcome | undefined => {
        if (record.refuseAdding.has(context.userId)) throw new WireError(WireErrorCode.CONFLICT, 'This person does not accept invitations');
        if (record.invite.has(context.userId)) return { outcome: 'invited', data: { reason: context.reason } };
        return undefined;
      });
      api.hooks.memberAdded.tap((change) => void record.memberAdded.push(change));
      api.hooks.memberRemoved.tap((change) => void record.memberRemoved.push(change));
      api.hooks.conversationDeleting.tap((c) => void record.conversationDeleting.push({ ...c }));
      api.hooks.messageDeleted.tap((m) => void record.messageDeleted.push({ id: m.id, conversationId: m.conversationId, deletedBy: m.deletedBy }));
      api.hooks.messageStoring.tap((message): StoringMessage | undefined => {
        const id = message.clientMsgId;
        if (id !== undefined && record.refuseStoring.has(id)) throw new WireError(WireErrorCode.FORBIDDEN, 'Refused by policy');
        if (id !== undefined && record.replaceBody.has(id)) return { ...message, body: record.replaceBody.get(id)! };
        return undefined;
      });
      api.hooks.messageStored.tap((message) => {
        record.messageStored.push(message);
        for (const waiter of record.storedWaiters.filter((w) => w.id === message.id)) waiter.resolve(message);
        record.storedWaiters = record.storedWaiters.filter((w) => w.id !== message.id);
      });
      api.hooks.messagesFetched.tap((messages, context) => messages.map((m) => ({ ...m, fetched_by: context.userId })));
      api.hooks.conversationsListed.tap((views, context) => views.map((v) => ({ ...v, listed_for: context.userId })));
    },
  });
  const waitStored = (id: string): Promise<StoredMessage> => {
    const done = record.messageStored.find((m) => m.id === id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => record.storedWaiters.push({ id, resolve }));
  };
  return { plugin, record, waitStored };
}
