/**
 * Who is connected: connections by id, by IP (for the per-IP cap) and logged-in connections by
 * user and device (for pushes and presence).
 */
import type { Connection } from './connection.js';

export class ConnectionRegistry {
  private readonly byId = new Map<string, Connection>();
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly perIp = new Map<string, number>();

  get size(): number {
    return this.byId.size;
  }

  connectionsFromIp(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  add(connection: Connection): void {
    this.byId.set(connection.id, connection);
    this.perIp.set(connection.ip, (this.perIp.get(connection.ip) ?? 0) + 1);
  }

  /** Removes a connection; returns whether it was its user's last one. */
  remove(connection: Connection): { lastConnection: boolean } {
    if (!this.byId.delete(connection.id)) return { lastConnection: false };
    const left = (this.perIp.get(connection.ip) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(connection.ip);
    else this.perIp.set(connection.ip, left);
    return this.unbind(connection);
  }

  get(connectionId: string): Connection | undefined {
    return this.byId.get(connectionId);
  }

  /** Records that a connection logged in; returns whether it is the user's first one. */
  bind(connection: Connection): { firstConnection: boolean } {
    const userId = connection.session?.userId;
    if (!userId) throw new Error('bind() needs a logged-in connection');
    let set = this.byUser.get(userId);
    const firstConnection = !set || set.size === 0;
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(connection);
    return { firstConnection };
  }

  /** Forgets a connection's login (logout, close); returns whether it was the user's last one. */
  unbind(connection: Connection): { lastConnection: boolean } {
    const userId = connection.session?.userId;
    if (!userId) return { lastConnection: false };
    const set = this.byUser.get(userId);
    if (!set || !set.delete(connection)) return { lastConnection: false };
    if (set.size === 0) {
      this.byUser.delete(userId);
      return { lastConnection: true };
    }
    return { lastConnection: false };
  }

  userConnections(userId: string): ReadonlySet<Connection> {
    return this.byUser.get(userId) ?? EMPTY;
  }

  deviceConnections(userId: string, deviceId: string): Connection[] {
    const result: Connection[] = [];
    for (const connection of this.userConnections(userId)) if (connection.session?.deviceId === deviceId) result.push(connection);
    return result;
  }

  isOnline(userId: string): boolean {
    return (this.byUser.get(userId)?.size ?? 0) > 0;
  }

  all(): IterableIterator<Connection> {
    return this.byId.values();
  }
}

const EMPTY: ReadonlySet<Connection> = new Set();
