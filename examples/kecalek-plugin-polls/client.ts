/**
 * The client part of the polls plugin. A poll is an ordinary encrypted message whose payload
 * carries `poll: {poll_id, question, options, multiple}`; the server only counts votes per option
 * number. This part
 *   - exposes `client.plugins.polls.{create, vote, results, close}`,
 *   - recognises poll messages as they arrive (they stay visible messages) and remembers their
 *     texts — or finds them in the device's message cache — so that results can name the options,
 *   - keeps the counts up to date from `poll_updated` pushes (stored in the message's `extra`, so
 *     a front end re-renders it), and shows them under the poll in the terminal,
 *   - adds the terminal commands /poll, /vote, /results and /close-poll.
 */
import { randomUUID } from 'node:crypto';
import type { ClientPluginApi, DecoratedMessage, TerminalCommandContext, TerminalDecoration } from 'kecalek/plugin';
import {
  MAX_OPTION_LENGTH,
  MAX_OPTIONS,
  MAX_QUESTION_LENGTH,
  MIN_OPTIONS,
  isUuid,
  readPollPayload,
  type PollPayload,
  type PollResultsWire,
  type PollUpdatedPush,
  type PollsConfig,
} from './shared.js';

/** The key under which a poll message's latest counts are kept in its `extra`. */
export const RESULTS_FIELD = 'poll_results';

export interface CreatePollOptions {
  /** Let people choose several options (default false). */
  readonly multiple?: boolean;
}

export interface CreatedPoll {
  readonly pollId: string;
  readonly messageId: string;
}

export interface PollOptionResult {
  /** 0-based option number (the terminal shows it 1-based). */
  readonly index: number;
  /** The option's text from the decrypted poll message; undefined if this device has not seen it. */
  readonly text: string | undefined;
  readonly count: number;
  /** Whether the current user chose it. */
  readonly mine: boolean;
}

export interface PollResults {
  readonly pollId: string;
  readonly conversationId: string;
  /** From the decrypted poll message; undefined if this device has not seen it. */
  readonly question: string | undefined;
  readonly multiple: boolean;
  readonly closed: boolean;
  readonly voters: number;
  readonly createdBy: string | null;
  readonly options: readonly PollOptionResult[];
}

/** What `client.plugins.polls` offers. */
export interface PollsMethods {
  create(conversationId: string, question: string, options: readonly string[], settings?: CreatePollOptions): Promise<CreatedPoll>;
  vote(pollId: string, optionIndexes: readonly number[]): Promise<PollResults>;
  results(pollId: string): Promise<PollResults>;
  close(pollId: string): Promise<PollResults>;
  /** The poll a message carries, if this device has seen it. */
  pollOfMessage(messageId: string): string | undefined;
}

/** A poll message this device has seen. */
interface KnownPoll {
  readonly conversationId: string;
  readonly messageId: string;
  readonly senderId: string;
  readonly poll: PollPayload;
}

interface Counts {
  readonly counts: readonly number[];
  readonly voters: number;
  readonly closed: boolean;
  readonly myVotes?: readonly number[];
}

export function pollsClient(api: ClientPluginApi<PollsConfig>): void {
  // Every message seen that carries a poll id (a member could copy one), and each poll's creator
  // as the server reports it: the texts count only from a message the creator sent.
  const known = new Map<string, KnownPoll[]>();
  const creators = new Map<string, string | null>();
  const byMessage = new Map<string, string>();
  const counts = new Map<string, Counts>();

  const maxOptions = (): number => Math.min(MAX_OPTIONS, typeof api.config.maxOptions === 'number' ? api.config.maxOptions : 10);
  const multipleAllowed = (): boolean => api.config.allowMultipleChoice !== false;

  function remember(entry: KnownPoll): void {
    const candidates = known.get(entry.poll.poll_id) ?? [];
    if (!candidates.some((candidate) => candidate.messageId === entry.messageId)) candidates.push(entry);
    known.set(entry.poll.poll_id, candidates);
    byMessage.set(entry.messageId, entry.poll.poll_id);
  }

  /** Whether a message may define this poll's texts: it was sent by the poll's creator (when known). */
  function authentic(pollId: string, senderId: string): boolean {
    const creator = creators.get(pollId);
    return creator === undefined || creator === null || creator === senderId;
  }

  /** The poll message whose texts count. */
  function entryFor(pollId: string): KnownPoll | undefined {
    return known.get(pollId)?.find((candidate) => authentic(pollId, candidate.senderId));
  }

  /** Finds the poll message in this device's message cache when it was not seen since start-up. */
  async function lookUp(pollId: string, conversationId: string): Promise<void> {
    if (entryFor(pollId)) return;
    for (const message of await api.client.cachedMessages(conversationId)) {
      const poll = message.deleted ? undefined : readPollPayload(message.payload);
      if (poll) remember({ conversationId, messageId: message.id, senderId: message.senderId, poll });
    }
  }

  async function toResults(wire: PollResultsWire): Promise<PollResults> {
    creators.set(wire.poll_id, wire.created_by);
    await lookUp(wire.poll_id, wire.conversation_id);
    const entry = entryFor(wire.poll_id);
    const texts = entry && entry.poll.options.length === wire.counts.length ? entry.poll.options : undefined;
    return {
      pollId: wire.poll_id,
      conversationId: wire.conversation_id,
      question: entry?.poll.question,
      multiple: wire.multiple,
      closed: wire.closed,
      voters: wire.voters,
      createdBy: wire.created_by,
      options: wire.counts.map((count, index) => ({ index, text: texts?.[index], count, mine: wire.my_votes.includes(index) })),
    };
  }

  /** Records new counts and stores them on the poll message, so that front ends show them. */
  async function store(pollId: string, update: Counts): Promise<void> {
    const previous = counts.get(pollId);
    const merged: Counts = { ...update, myVotes: update.myVotes ?? previous?.myVotes };
    counts.set(pollId, merged);
    const entry = entryFor(pollId);
    if (!entry) return;
    await api.client.updateMessage(entry.conversationId, entry.messageId, {
      [RESULTS_FIELD]: { counts: merged.counts, voters: merged.voters, closed: merged.closed, my_votes: merged.myVotes ?? [] },
    });
  }

  async function fromServer(type: 'vote_poll' | 'get_poll_results' | 'close_poll', fields: Record<string, unknown>): Promise<PollResults> {
    const wire = await api.client.request<PollResultsWire>(type, fields);
    const results = await toResults(wire);
    await store(wire.poll_id, { counts: wire.counts, voters: wire.voters, closed: wire.closed, myVotes: wire.my_votes });
    return results;
  }

  const methods: PollsMethods = {
    async create(conversationId, question, options, settings = {}) {
      const text = question.trim();
      const choices = options.map((option) => option.trim());
      if (!text || text.length > MAX_QUESTION_LENGTH) throw new RangeError(`The question must have 1-${MAX_QUESTION_LENGTH} characters`);
      if (choices.length < MIN_OPTIONS || choices.length > maxOptions()) {
        throw new RangeError(`A poll needs ${MIN_OPTIONS}-${maxOptions()} options on this server`);
      }
      if (choices.some((choice) => !choice || choice.length > MAX_OPTION_LENGTH)) {
        throw new RangeError(`Each option must have 1-${MAX_OPTION_LENGTH} characters`);
      }
      const multiple = settings.multiple === true;
      if (multiple && !multipleAllowed()) throw new RangeError('Multiple-choice polls are switched off on this server');
      const pollId = randomUUID();
      // The server learns the conversation, the number of options and the choice mode; nothing else.
      await api.client.request('create_poll', { conversation_id: conversationId, poll_id: pollId, option_count: choices.length, multiple });
      const poll: PollPayload = { poll_id: pollId, question: text, options: choices, multiple };
      const sent = await api.client.sendPayload(conversationId, { text: `Poll: ${text}`, poll });
      remember({ conversationId, messageId: sent.messageId, senderId: api.client.self?.userId ?? '', poll });
      return { pollId, messageId: sent.messageId };
    },
    vote(pollId, optionIndexes) {
      return fromServer('vote_poll', { poll_id: pollId, option_indexes: [...optionIndexes] });
    },
    results(pollId) {
      return fromServer('get_poll_results', { poll_id: pollId });
    },
    close(pollId) {
      return fromServer('close_poll', { poll_id: pollId });
    },
    pollOfMessage(messageId) {
      return byMessage.get(messageId);
    },
  };
  api.expose({ ...methods });

  // Poll messages stay visible messages: remember them and let them through.
  api.hooks.incomingPayload.tap((payload, context) => {
    const poll = readPollPayload(payload);
    if (poll) remember({ conversationId: context.conversationId, messageId: context.messageId, senderId: context.senderId, poll });
    return undefined;
  });

  api.on('poll_updated', (data) => {
    const push = data as PollUpdatedPush;
    if (!isUuid(push?.poll_id) || !Array.isArray(push.counts)) return;
    const wasClosed = counts.get(push.poll_id)?.closed === true;
    void store(push.poll_id, { counts: push.counts, voters: push.voters, closed: push.closed }).catch(() => undefined);
    const entry = entryFor(push.poll_id);
    const closedNow = push.closed && !wasClosed;
    api.emit('poll_updated', {
      pollId: push.poll_id,
      conversationId: push.conversation_id,
      counts: push.counts,
      voters: push.voters,
      closed: push.closed,
      // The terminal prints a `notice` as one line; a vote is shown by re-rendering the poll instead.
      ...(closedNow ? { notice: `poll closed${entry ? `: ${entry.poll.question}` : ''}` } : {}),
    });
  });

  api.decorate((message) => decoratePoll(message));

  function decoratePoll(message: DecoratedMessage): TerminalDecoration | undefined {
    if (message.deleted) return undefined;
    const poll = readPollPayload(message.payload);
    if (!poll) return undefined;
    remember({ conversationId: message.conversationId, messageId: message.id, senderId: message.senderId, poll });
    if (!authentic(poll.poll_id, message.senderId)) return { badges: ['[poll?]'], notes: ['This copy of a poll was not sent by the poll’s creator.'] };
    const stored = message.extra[RESULTS_FIELD] as { counts?: unknown; voters?: unknown; closed?: unknown; my_votes?: unknown } | undefined;
    const latest: Counts | undefined =
      counts.get(poll.poll_id) ??
      (stored && Array.isArray(stored.counts)
        ? {
            counts: stored.counts as number[],
            voters: Number(stored.voters) || 0,
            closed: stored.closed === true,
            myVotes: Array.isArray(stored.my_votes) ? (stored.my_votes as number[]) : [],
          }
        : undefined);
    const notes = poll.options.map((option, index) => {
      if (!latest) return `${index + 1}. ${option}`;
      const count = latest.counts[index] ?? 0;
      const mine = latest.myVotes?.includes(index) ? ' (your vote)' : '';
      return `${index + 1}. ${option} — ${count} ${count === 1 ? 'vote' : 'votes'}${mine}`;
    });
    if (latest) notes.push(`${latest.voters} ${latest.voters === 1 ? 'person' : 'people'} voted${latest.closed ? '; the poll is closed' : ''}`);
    const badge = latest?.closed ? '[poll, closed]' : poll.multiple ? '[poll, several choices]' : '[poll]';
    return { badges: [badge], notes };
  }

  // ---- terminal commands ------------------------------------------------------------------

  function pollAt(reference: string | undefined, context: TerminalCommandContext): string {
    if (!reference) throw new RangeError('Name the poll by its message number, e.g. #3');
    const messageId = context.resolveMessage(reference);
    const pollId = byMessage.get(messageId);
    if (!pollId) throw new RangeError(`${reference} is not a poll`);
    return pollId;
  }

  function printResults(results: PollResults, context: TerminalCommandContext): void {
    context.print(`${results.question ?? 'Poll'}${results.closed ? ' (closed)' : ''}`);
    for (const option of results.options) {
      const label = option.text ?? `option ${option.index + 1}`;
      context.print(`  ${option.index + 1}. ${label} — ${option.count} ${option.count === 1 ? 'vote' : 'votes'}${option.mine ? ' (your vote)' : ''}`);
    }
    context.print(`  ${results.voters} ${results.voters === 1 ? 'person' : 'people'} voted`);
  }

  /** Runs a command body, printing a user mistake as an error line instead of failing. */
  async function guarded(context: TerminalCommandContext, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      if (error instanceof RangeError) context.error(error.message);
      else throw error;
    }
  }

  api.command({
    name: 'poll',
    usage: '[--multiple] "question" "option 1" "option 2" ...',
    help: 'Starts a poll in this conversation (the texts are end-to-end encrypted)',
    needsConversation: true,
    run: (args, context) =>
      guarded(context, async () => {
        const isFlag = (arg: string): boolean => arg === '--multiple' || arg === '-m';
        const multiple = args.some(isFlag);
        const [question, ...options] = args.filter((arg) => !isFlag(arg));
        if (!question || options.length < MIN_OPTIONS) throw new RangeError('Usage: /poll [--multiple] "question" "option 1" "option 2" ...');
        await methods.create(context.conversationId!, question, options, { multiple });
        context.print(`Poll started with ${options.length} options; vote with /vote <#n> <option number>`);
      }),
  });

  api.command({
    name: 'vote',
    usage: '<#n> <option number(s)>',
    help: 'Votes in the poll #n (several numbers for a multiple-choice poll; none withdraws your vote)',
    needsConversation: true,
    run: (args, context) =>
      guarded(context, async () => {
        const pollId = pollAt(args[0], context);
        const numbers = args.slice(1).flatMap((arg) => arg.split(',')).filter((part) => part.trim() !== '');
        const indexes = numbers.map((part) => {
          const value = Number(part.trim());
          if (!Number.isInteger(value) || value < 1) throw new RangeError(`"${part}" is not an option number`);
          return value - 1;
        });
        printResults(await methods.vote(pollId, indexes), context);
      }),
  });

  api.command({
    name: 'results',
    usage: '<#n>',
    help: 'Shows the current results of the poll #n',
    needsConversation: true,
    run: (args, context) =>
      guarded(context, async () => {
        printResults(await methods.results(pollAt(args[0], context)), context);
      }),
  });

  api.command({
    name: 'close-poll',
    usage: '<#n>',
    help: 'Closes your poll #n: no more votes',
    needsConversation: true,
    run: (args, context) =>
      guarded(context, async () => {
        printResults(await methods.close(pollAt(args[0], context)), context);
      }),
  });
}
