/**
 * What the server and client parts of the polls plugin share: the settings schema, the limits,
 * and the shape of the poll inside an encrypted message payload (which only clients ever read).
 */
import { Type, type Static } from 'typebox';

export const PLUGIN_NAME = 'polls';

/** The per-deployment settings (`settings.polls` in kecalek.config.json). */
export const pollsConfigSchema = Type.Object(
  {
    /** Most options a poll may have. */
    maxOptions: Type.Integer({ minimum: 2, maximum: 20, default: 10 }),
    /** Whether polls may let people choose several options. */
    allowMultipleChoice: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);

export type PollsConfig = Static<typeof pollsConfigSchema>;

/** The hard ceiling of options; `maxOptions` chooses a value up to it. */
export const MAX_OPTIONS = 20;
export const MIN_OPTIONS = 2;
/** Lengths the client enforces (the server never sees the texts). */
export const MAX_QUESTION_LENGTH = 300;
export const MAX_OPTION_LENGTH = 100;

/** What `get_poll_results`, `vote_poll` and `close_poll` answer. */
export interface PollResultsWire {
  readonly poll_id: string;
  readonly conversation_id: string;
  readonly created_by: string | null;
  readonly multiple: boolean;
  /** Votes per option, by option number (0-based). */
  readonly counts: number[];
  /** How many people voted. */
  readonly voters: number;
  /** The caller's own choices. */
  readonly my_votes: number[];
  readonly closed: boolean;
}

/** The `poll_updated` push. */
export interface PollUpdatedPush {
  readonly poll_id: string;
  readonly conversation_id: string;
  readonly counts: number[];
  readonly voters: number;
  readonly closed: boolean;
}

/** The poll inside a message payload: `{text: 'Poll: <question>', poll: PollPayload}`. Encrypted end to end. */
export interface PollPayload {
  readonly poll_id: string;
  readonly question: string;
  readonly options: string[];
  readonly multiple: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * The poll of a decrypted payload, or undefined when the payload carries none or a malformed one
 * (it came from another member's client: never trust its shape).
 */
export function readPollPayload(payload: Readonly<Record<string, unknown>>): PollPayload | undefined {
  const poll = payload.poll as Record<string, unknown> | undefined;
  if (typeof poll !== 'object' || poll === null) return undefined;
  const { poll_id: pollId, question, options, multiple } = poll;
  if (!isUuid(pollId) || typeof question !== 'string' || typeof multiple !== 'boolean') return undefined;
  if (!Array.isArray(options) || options.length < MIN_OPTIONS || options.length > MAX_OPTIONS) return undefined;
  if (!options.every((option): option is string => typeof option === 'string')) return undefined;
  return {
    poll_id: pollId,
    question: question.slice(0, MAX_QUESTION_LENGTH),
    options: options.map((option) => option.slice(0, MAX_OPTION_LENGTH)),
    multiple,
  };
}
