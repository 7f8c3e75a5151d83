/**
 * What the server and client parts of the reactions plugin share: the settings schema, the wire
 * shapes of its frames, and the reaction-name <-> emoji mapping used for display.
 */
import { Type, type Static } from 'typebox';

/** The original's six reactions, in the order they are offered. */
export const DEFAULT_REACTIONS: readonly string[] = ['thumbsup', 'heart', 'laugh', 'surprised', 'sad', 'thumbsdown'];

/** A reaction name: 1-32 characters of a-z, 0-9, `_` and `-`. */
export const REACTION_NAME_PATTERN = '^[a-z0-9_-]{1,32}$';
export const MAX_ALLOWED_REACTIONS = 32;
/** Most message ids in one get_reactions. */
export const MAX_REACTION_IDS = 200;

export const ReactionsConfigSchema = Type.Object(
  {
    /** Reaction names users may add, in the order clients offer them. */
    allowed: Type.Array(Type.String({ pattern: REACTION_NAME_PATTERN }), {
      minItems: 1,
      maxItems: MAX_ALLOWED_REACTIONS,
      uniqueItems: true,
      default: [...DEFAULT_REACTIONS],
    }),
    /** Reactions older than this many days are deleted by maintenance; 0 keeps them forever. */
    retentionDays: Type.Integer({ minimum: 0, maximum: 36_500, default: 0 }),
    /** react_message requests per user per minute. */
    ratePerMinute: Type.Integer({ minimum: 1, maximum: 100_000, default: 120 }),
  },
  // A misspelt setting stops start-up instead of being ignored.
  { additionalProperties: false },
);

export type ReactionsConfig = Static<typeof ReactionsConfigSchema>;

/** One reaction as get_messages, get_reactions and react_message carry it. */
export interface ReactionEntry {
  readonly user_id: string;
  readonly reaction: string;
  readonly created_at: number;
}

export type ReactionAction = 'add' | 'remove';

/** The answer to react_message. */
export interface ReactAnswer {
  readonly message_id: string;
  readonly reaction: string;
  readonly action: ReactionAction;
  readonly changed: boolean;
  /** Every reaction of the message after this request, oldest first. */
  readonly reactions: ReactionEntry[];
}

/** The answer to get_reactions. */
export interface GetReactionsAnswer {
  readonly reactions: Record<string, ReactionEntry[]>;
}

/** The `message_reacted` push. */
export interface MessageReactedPush {
  readonly message_id: string;
  readonly conversation_id: string;
  readonly user_id: string;
  readonly username: string;
  readonly reaction: string;
  readonly action: ReactionAction;
  /** Who sent the message that was reacted to. */
  readonly message_sender_id: string;
  /** When the reaction was added; null for a removal. */
  readonly created_at: number | null;
}

const EMOJI: Readonly<Record<string, string>> = {
  thumbsup: '👍',
  heart: '❤',
  laugh: '😂',
  surprised: '😮',
  sad: '😢',
  thumbsdown: '👎',
};

/** How a reaction is shown: its emoji, or `:name:` for a name without one. */
export function reactionEmoji(name: string): string {
  return Object.hasOwn(EMOJI, name) ? EMOJI[name]! : `:${name}:`;
}

/**
 * The reaction name a user typed: a name (`heart`), `:heart:`, or one of the emoji (with or
 * without the emoji variation selector). Undefined when it is none of these.
 */
export function parseReactionInput(input: string): string | undefined {
  const text = input.trim();
  const bare = text.replace(/\uFE0F/g, '');
  for (const [name, emoji] of Object.entries(EMOJI)) if (emoji === bare) return name;
  const named = /^:([a-z0-9_-]{1,32}):$/.exec(text.toLowerCase()) ?? /^([a-z0-9_-]{1,32})$/.exec(text.toLowerCase());
  return named ? named[1] : undefined;
}

/** Reads a `reactions` list as the server attaches it, dropping anything malformed. */
export function readReactions(value: unknown): ReactionEntry[] {
  if (!Array.isArray(value)) return [];
  const out: ReactionEntry[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) continue;
    const { user_id: userId, reaction, created_at: createdAt } = item as Record<string, unknown>;
    if (typeof userId !== 'string' || typeof reaction !== 'string') continue;
    out.push({ user_id: userId, reaction, created_at: typeof createdAt === 'number' ? createdAt : 0 });
  }
  return out;
}
