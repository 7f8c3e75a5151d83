/**
 * What the server and client parts of the pins plugin share: the settings schema and the wire
 * shapes of its frames.
 */
import { Type, type Static } from 'typebox';

export const PinsConfigSchema = Type.Object(
  {
    /** Most pinned messages one conversation may have at a time. */
    maxPinsPerConversation: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
    /** pin_message requests per user per minute. */
    ratePerMinute: Type.Integer({ minimum: 1, maximum: 100_000, default: 60 }),
  },
  // A misspelt setting stops start-up instead of being ignored.
  { additionalProperties: false },
);

export type PinsConfig = Static<typeof PinsConfigSchema>;

/** The answer to pin_message: the message's pin as it is now. */
export interface PinAnswer {
  readonly message_id: string;
  readonly pinned: boolean;
  readonly changed: boolean;
  /** When it was pinned (null when not pinned). */
  readonly pinned_at: number | null;
  /** Who pinned it (null when not pinned). */
  readonly pinned_by: string | null;
}

/** One entry of get_pinned_messages. */
export interface PinEntry {
  readonly message_id: string;
  readonly pinned_by: string;
  /** The pinner's username (null if the account is unknown). */
  readonly pinned_by_username: string | null;
  readonly pinned_at: number;
  /** Who sent the pinned message, and when. */
  readonly sender_id: string;
  readonly message_created_at: number;
}

export interface GetPinnedAnswer {
  readonly pins: PinEntry[];
}

/** The `message_pinned` push. */
export interface MessagePinnedPush {
  readonly message_id: string;
  readonly conversation_id: string;
  readonly user_id: string;
  readonly username: string;
  readonly pinned_at: number;
}

/** The `message_unpinned` push. */
export interface MessageUnpinnedPush {
  readonly message_id: string;
  readonly conversation_id: string;
  readonly user_id: string;
  readonly username: string;
}

export const PIN_BADGE = '📌';
