/**
 * The server part of the polls plugin: four request types and one push. It stores a poll's
 * conversation, option count and votes by option number — never the question or the options,
 * which only the members' clients can decrypt.
 *
 * Membership is checked on every request; a poll in a conversation the caller does not belong to
 * answers `not_found`, exactly like a poll that does not exist.
 */
import { Type } from 'typebox';
import { Uuid } from 'kecalek/protocol';
import { errors, isUniqueViolation, toBool, type AuthedRequestContext, type Knex, type ServerPluginApi } from 'kecalek/plugin';
import { MAX_OPTIONS, MIN_OPTIONS, type PollResultsWire, type PollUpdatedPush, type PollsConfig } from './shared.js';

const POLLS = 'polls_polls';
const VOTES = 'polls_votes';

interface PollRow {
  poll_id: string;
  conversation_id: string;
  created_by: string | null;
  option_count: number;
  multiple: boolean | number;
  closed_at: number | string | null;
  created_at: number | string;
}

const CreatePoll = Type.Object({
  conversation_id: Uuid(),
  poll_id: Uuid(),
  option_count: Type.Integer({ minimum: MIN_OPTIONS, maximum: MAX_OPTIONS }),
  multiple: Type.Boolean(),
});

const VotePoll = Type.Object({
  poll_id: Uuid(),
  // An empty list withdraws the caller's vote.
  option_indexes: Type.Array(Type.Integer({ minimum: 0, maximum: MAX_OPTIONS - 1 }), { maxItems: MAX_OPTIONS }),
});

const PollRef = Type.Object({ poll_id: Uuid() });

export function pollsServer(api: ServerPluginApi<PollsConfig>): void {
  const db = api.db;

  /** The poll if it exists and the user is a member of its conversation; otherwise not_found. */
  async function visiblePoll(pollId: string, userId: string, source: Knex | Knex.Transaction = db): Promise<PollRow> {
    const poll = (await source(POLLS).where({ poll_id: pollId }).first()) as PollRow | undefined;
    if (!poll || !(await api.core.conversations.isMember(poll.conversation_id, userId))) throw errors.notFound('No such poll');
    return poll;
  }

  async function results(poll: PollRow, userId: string): Promise<PollResultsWire> {
    const votes = (await db(VOTES).where({ poll_id: poll.poll_id }).select('user_id', 'option_index')) as Array<{ user_id: string; option_index: number }>;
    const counts = new Array<number>(poll.option_count).fill(0);
    const voters = new Set<string>();
    const mine: number[] = [];
    for (const vote of votes) {
      if (vote.option_index < counts.length) counts[vote.option_index]! += 1;
      voters.add(vote.user_id);
      if (vote.user_id === userId) mine.push(vote.option_index);
    }
    return {
      poll_id: poll.poll_id,
      conversation_id: poll.conversation_id,
      created_by: poll.created_by,
      multiple: toBool(poll.multiple),
      counts,
      voters: voters.size,
      my_votes: mine.sort((a, b) => a - b),
      closed: poll.closed_at !== null,
    };
  }

  /** Tells every member's devices (except the connection that caused it) the new counts. */
  async function announce(result: PollResultsWire, context: AuthedRequestContext): Promise<void> {
    const push: PollUpdatedPush = {
      poll_id: result.poll_id,
      conversation_id: result.conversation_id,
      counts: result.counts,
      voters: result.voters,
      closed: result.closed,
    };
    const members = await api.core.conversations.memberIds(result.conversation_id);
    api.notify(members, 'poll_updated', push, { exceptConnectionId: context.connection.id });
  }

  api.handle(
    'create_poll',
    CreatePoll,
    async (request, context) => {
      const userId = context.session.userId;
      await api.core.conversations.requireMember(request.conversation_id, userId);
      if (request.option_count > api.config.maxOptions) {
        throw errors.badRequest('option_count', `must be at most ${api.config.maxOptions} on this server`);
      }
      if (request.multiple && !api.config.allowMultipleChoice) {
        throw errors.badRequest('multiple', 'multiple-choice polls are switched off on this server');
      }
      const createdAt = Date.now();
      try {
        await db(POLLS).insert({
          poll_id: request.poll_id,
          conversation_id: request.conversation_id,
          created_by: userId,
          option_count: request.option_count,
          multiple: request.multiple,
          closed_at: null,
          created_at: createdAt,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw errors.conflict('A poll with this poll_id already exists');
        throw error;
      }
      context.log.debug({ options: request.option_count }, 'poll created');
      return {
        poll_id: request.poll_id,
        conversation_id: request.conversation_id,
        option_count: request.option_count,
        multiple: request.multiple,
        created_at: createdAt,
      };
    },
    { rateLimit: { points: 30, durationSec: 60, key: 'user' } },
  );

  api.handle(
    'vote_poll',
    VotePoll,
    async (request, context) => {
      const userId = context.session.userId;
      const poll = await visiblePoll(request.poll_id, userId);
      const chosen = request.option_indexes;
      chosen.forEach((index, position) => {
        if (index >= poll.option_count) throw errors.badRequest(`option_indexes[${position}]`, `must be an option number below ${poll.option_count}`);
      });
      if (new Set(chosen).size !== chosen.length) throw errors.badRequest('option_indexes', 'must not name an option twice');
      if (!toBool(poll.multiple) && chosen.length > 1) throw errors.badRequest('option_indexes', 'this poll allows only one choice');

      // With SQLite there is one connection: inside the transaction only `trx` is used.
      await db.transaction(async (trx) => {
        const current = (await trx(POLLS).where({ poll_id: poll.poll_id }).first('closed_at')) as Pick<PollRow, 'closed_at'> | undefined;
        if (!current) throw errors.notFound('No such poll');
        if (current.closed_at !== null) throw errors.conflict('The poll is closed');
        await trx(VOTES).where({ poll_id: poll.poll_id, user_id: userId }).delete();
        if (chosen.length > 0) {
          await trx(VOTES).insert(chosen.map((index) => ({ poll_id: poll.poll_id, user_id: userId, option_index: index })));
        }
      });
      const result = await results(poll, userId);
      await announce(result, context);
      return result;
    },
    { rateLimit: { points: 60, durationSec: 60, key: 'user' } },
  );

  api.handle('close_poll', PollRef, async (request, context) => {
    const userId = context.session.userId;
    const poll = await visiblePoll(request.poll_id, userId);
    if (poll.created_by !== userId) throw errors.forbidden('Only the poll’s creator can close it');
    if (poll.closed_at !== null) return results(poll, userId);
    const closedAt = Date.now();
    await db(POLLS).where({ poll_id: poll.poll_id }).update({ closed_at: closedAt });
    const result = await results({ ...poll, closed_at: closedAt }, userId);
    await announce(result, context);
    return result;
  });

  api.handle('get_poll_results', PollRef, async (request, context) => {
    const userId = context.session.userId;
    return results(await visiblePoll(request.poll_id, userId), userId);
  });
}
