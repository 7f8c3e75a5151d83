/**
 * Push delivery: events to every connected device of some users, or per-device events. With one
 * server process this is the connection registry; a Redis bus (several processes) implements the
 * same interface.
 */
import { encodeFrameOnce, type EncodedFrame } from './connection.js';
import type { ConnectionRegistry } from './registry.js';

export interface DeviceTarget {
  readonly userId: string;
  readonly deviceId: string;
  readonly data: unknown;
}

export interface PushBus {
  toUsers(userIds: Iterable<string>, type: string, data: unknown, exceptConnectionId?: string): void;
  toDevices(entries: Iterable<DeviceTarget>, type: string, exceptConnectionId?: string): void;
}

export class LocalPushBus implements PushBus {
  constructor(private readonly registry: ConnectionRegistry) {}

  toUsers(userIds: Iterable<string>, type: string, data: unknown, exceptConnectionId?: string): void {
    let frame: EncodedFrame | undefined;
    for (const userId of new Set(userIds)) {
      for (const connection of this.registry.userConnections(userId)) {
        if (connection.id === exceptConnectionId) continue;
        // Serialized once, only if someone is there to receive it.
        frame ??= encodeFrameOnce({ type, data });
        connection.push(frame);
      }
    }
  }

  toDevices(entries: Iterable<DeviceTarget>, type: string, exceptConnectionId?: string): void {
    for (const entry of entries) {
      for (const connection of this.registry.userConnections(entry.userId)) {
        if (connection.id === exceptConnectionId || connection.session?.deviceId !== entry.deviceId) continue;
        connection.push({ type, data: entry.data });
      }
    }
  }
}
