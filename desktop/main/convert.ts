/**
 * The client core's objects as the renderer sees them: plain JSON, no class instances, no Maps,
 * nothing that a structured clone or JSON.stringify would change.
 */
import type { ChatMessage, Conversation, Device, SelfInfo } from '../../engine/client/types.js';
import type { UiSelf } from '../../engine/plugin/ui.js';
import type { BridgeConversation, BridgeDevice, BridgeMessage } from '../shared/bridge.js';
import { plainJson } from './errors.js';

function record(value: unknown): Record<string, unknown> {
  const copied = plainJson(value);
  return copied !== null && typeof copied === 'object' && !Array.isArray(copied) ? (copied as Record<string, unknown>) : {};
}

export function toBridgeMessage(message: ChatMessage): BridgeMessage {
  return {
    id: message.id,
    conversationId: message.conversationId,
    senderId: message.senderId,
    senderUsername: message.senderUsername,
    senderDeviceId: message.senderDeviceId,
    createdAt: message.createdAt,
    own: message.own,
    text: message.text,
    payload: record(message.payload),
    deleted: message.deleted,
    undecryptable: message.undecryptable,
    status: message.status,
    extra: record(message.extra),
    ...(message.clientMsgId !== undefined ? { clientMsgId: message.clientMsgId } : {}),
    ...(message.replyTo
      ? { replyTo: { messageId: message.replyTo.messageId, senderId: message.replyTo.senderId, excerpt: message.replyTo.excerpt } }
      : {}),
  };
}

export function toBridgeConversation(conversation: Conversation): BridgeConversation {
  return {
    id: conversation.id,
    kind: conversation.kind,
    name: conversation.name,
    createdBy: conversation.createdBy,
    createdAt: conversation.createdAt,
    lastMessageAt: conversation.lastMessageAt,
    unreadCount: conversation.unreadCount,
    members: conversation.members.map((member) => ({ userId: member.userId, username: member.username, role: member.role, joinedAt: member.joinedAt })),
    extra: record(conversation.extra),
    ...(conversation.peerId !== undefined ? { peerId: conversation.peerId } : {}),
    ...(conversation.lastMessage ? { lastMessage: toBridgeMessage(conversation.lastMessage) } : {}),
  };
}

export function toBridgeDevice(device: Device): BridgeDevice {
  return {
    deviceId: device.deviceId,
    name: device.name,
    createdAt: device.createdAt,
    lastSeenAt: device.lastSeenAt,
    current: device.current,
    online: device.online,
  };
}

export function toBridgeSelf(self: SelfInfo): UiSelf & { email: string } {
  return { userId: self.userId, username: self.username, deviceId: self.deviceId, email: self.email };
}
