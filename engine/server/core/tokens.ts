/** Tokens under which the core modules provide the services behind `api.core`. */
import { createToken } from '../../plugin/tokens.js';
import type { CoreServices } from '../../plugin/core-services.js';

export const CORE_TOKENS = {
  users: createToken<CoreServices['users']>('core-accounts.users'),
  conversations: createToken<CoreServices['conversations']>('core-conversations.conversations'),
  messages: createToken<CoreServices['messages']>('core-messages.messages'),
  presence: createToken<CoreServices['presence']>('core-presence.presence'),
} as const;
