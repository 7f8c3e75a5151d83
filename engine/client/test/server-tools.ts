/**
 * Server-side tools for the client suites, as plugins of the real test server: a "malicious
 * server" that pushes frames of the test's choosing to a user (standing in for a server that
 * relays ciphertext to someone who should not get it, or invents messages), and a switch that
 * drops a sender's connection while its message is being stored (the answer is lost, the message
 * is not).
 */
import { Type } from 'typebox';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { TestServer } from '../../testing/index.js';

/** `evil_push {user_id, push_type, data}` pushes `{type: push_type, data}` to every connected device of the user. */
export const evilServer: AnyPluginDefinition = definePlugin({
  name: 'evil-server',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.handle(
      'evil_push',
      Type.Object({ user_id: Type.String(), push_type: Type.String(), data: Type.Record(Type.String(), Type.Unknown()) }),
      async (request) => {
        api.notify([request.user_id], request.push_type, request.data);
        return {};
      },
      { auth: false },
    );
  },
});

/**
 * Drops the sending connection of the next message whose sender is armed, inside messageStoring:
 * the server goes on storing it, but the sender never gets the answer.
 */
export function connectionDropper(getServer: () => TestServer | undefined): { plugin: AnyPluginDefinition; arm(userId: string): void; drops(): number } {
  const armed = new Set<string>();
  let dropped = 0;
  const plugin = definePlugin({
    name: 'connection-dropper',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.hooks.messageStoring.tap((message) => {
        if (message.kind !== 'message' || !armed.delete(message.senderId)) return undefined;
        const server = getServer();
        for (const connection of server?.server.registry.deviceConnections(message.senderId, message.senderDeviceId) ?? []) connection.destroy();
        dropped++;
        return undefined;
      });
    },
  });
  return { plugin, arm: (userId) => armed.add(userId), drops: () => dropped };
}

export interface RecordedRequest {
  readonly type: string;
  readonly userId: string;
  readonly deviceId: string;
  /** send_message: the conversation, the kind and the client_msg_id. */
  readonly conversationId?: string;
  readonly kind?: string;
  readonly clientMsgId?: string;
}

/**
 * Records every request of a logged-in connection as the server received it: a send that was
 * answered device_mismatch shows up as a second send_message with the same client_msg_id.
 */
export function requestRecorder(): { plugin: AnyPluginDefinition; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const plugin = definePlugin({
    name: 'request-recorder',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.hooks.beforeRequest.tap(({ type, request, context }) => {
        const session = context.session;
        if (!session) return undefined;
        const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
        requests.push({
          type,
          userId: session.userId,
          deviceId: session.deviceId,
          conversationId: text(request.conversation_id),
          kind: type === 'send_message' ? (text(request.kind) ?? 'message') : undefined,
          clientMsgId: text(request.client_msg_id),
        });
        return undefined;
      });
    },
  });
  return { plugin, requests };
}

/**
 * Holds the first signed pre-key upload of an armed user's device (a device that just logged in
 * for the first time) until released: while it waits, the device is logged in but nobody can
 * encrypt for it yet. The device's connection waits too (requests are handled in order).
 */
export function preKeyGate(): { plugin: AnyPluginDefinition; arm(userId: string): void; reached(): Promise<void>; release(): void } {
  let armed: string | undefined;
  let reached!: () => void;
  let reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  let release!: () => void;
  let released = new Promise<void>((resolve) => (release = resolve));
  const plugin = definePlugin({
    name: 'prekey-gate',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.hooks.beforeRequest.tap(async ({ type, request, context }) => {
        if (type !== 'ensure_prekeys' && type !== 'upload_prekeys') return undefined;
        if (armed === undefined || context.session?.userId !== armed || request.signed_prekey === undefined) return undefined;
        armed = undefined;
        reached();
        await released;
        return undefined;
      });
    },
  });
  return {
    plugin,
    arm(userId) {
      armed = userId;
      reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      released = new Promise<void>((resolve) => (release = resolve));
    },
    reached: () => reachedPromise,
    release: () => release(),
  };
}
