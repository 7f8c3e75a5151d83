/**
 * The engine's core modules. They are plugins in every respect — same registration, same hooks,
 * same api — except that they are always on, are not listed in `hello`, and receive the engine's
 * internals (logging connections in, disconnecting, mailing).
 */
import type { AnyPluginDefinition } from '../../plugin/define.js';
import type { EngineInternals } from './internals.js';
import { createAccountsModule } from './accounts.js';
import { createKeysModule } from './keys.js';
import { createConversationsModule } from './conversations.js';
import { createMessagesModule } from './messages.js';
import { createPresenceModule } from './presence.js';
import { createPairingModule } from './pairing.js';

export function createCoreModules(internals: EngineInternals): AnyPluginDefinition[] {
  return [
    createAccountsModule(internals),
    createKeysModule(internals),
    createPresenceModule(internals),
    createConversationsModule(internals),
    createMessagesModule(internals),
    createPairingModule(internals),
  ];
}
