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
