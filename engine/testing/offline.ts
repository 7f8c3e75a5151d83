/**
 * Taking a logged-in test client offline for a while, to test what happens to pushes sent
 * meanwhile (they are lost) and what a client and its plugins do when they log in again
 * (`api.onReady` with `reconnected: true`).
 *
 * `offlineSwitch()` gives a server plugin to start the test server with, and two steps:
 * `takeOffline(server, user)` drops the user's connections and holds its next login until
 * `bringOnline(user)`; it resolves once the client is trying to log in again, so that whatever the
 * test does before bringOnline happens while the client is surely offline — no sleeping, no races.
 */
import { normalizeEmail } from '../protocol/auth.js';
import { definePlugin, type AnyPluginDefinition } from '../plugin/define.js';
import type { User } from './clients.js';
import type { TestServer } from './server.js';

export interface OfflineSwitch {
  /** Add to `startTestServer({plugins})` (its name is `test-offline-switch`). */
  readonly plugin: AnyPluginDefinition;
  /** Drops the user's connections and holds its next login; resolves when the client tries to log in again. */
  takeOffline(server: TestServer, user: Pick<User, 'email' | 'self'>): Promise<void>;
  /** Lets the held login through: the client logs in again and its plugins' onReady listeners run. */
  bringOnline(user: Pick<User, 'email'>): void;
}

interface Hold {
  attempted: () => void;
  release: () => void;
  readonly released: Promise<void>;
}

export function offlineSwitch(): OfflineSwitch {
  const holds = new Map<string, Hold>();
  const plugin = definePlugin({
    name: 'test-offline-switch',
    version: '1.0.0',
    apiVersion: 1,
    description: 'Test helper: holds chosen accounts’ logins',
    server(api) {
      api.hooks.beforeRequest.tap(async ({ type, request }) => {
        if (type !== 'login_start') return undefined;
        const email = typeof (request as { email?: unknown }).email === 'string' ? normalizeEmail((request as { email: string }).email) : '';
        const hold = holds.get(email);
        if (!hold) return undefined;
        hold.attempted();
        await hold.released;
        return undefined;
      });
    },
  });

  return {
    plugin,
    async takeOffline(server, user) {
      const email = normalizeEmail(user.email);
      let attempted!: () => void;
      const tried = new Promise<void>((resolve) => (attempted = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      holds.set(email, { attempted, release, released });
      for (const connection of server.server.registry.deviceConnections(user.self.userId, user.self.deviceId)) connection.destroy();
      await tried;
    },
    bringOnline(user) {
      const email = normalizeEmail(user.email);
      const hold = holds.get(email);
      holds.delete(email);
      hold?.release();
    },
  };
}
