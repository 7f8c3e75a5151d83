/**
 * Message commands: replying to a message, deleting your own, loading older history.
 */
import { usageError } from '../errors.js';
import { messageReferenceLabel, splitFirst } from '../parse.js';
import type { ChatCommand } from './types.js';

/** `#3` (or `The message` for a reference by id) at the start of a sentence. */
function sentenceLabel(reference: string): string {
  const label = messageReferenceLabel(reference);
  return label.charAt(0).toUpperCase() + label.slice(1);
}

export const messageCommands: readonly ChatCommand[] = [
  {
    name: 'reply',
    aliases: ['re'],
    usage: '<#n> <text>',
    summary: 'reply to message #n of the open conversation',
    needsConversation: true,
    run(input, session) {
      const [reference, text] = splitFirst(input.rest);
      if (reference === '' || text.trim() === '') throw usageError('Usage: /reply <#n> <text>, e.g. /reply #3 sounds good');
      const message = session.resolveMessage(reference);
      const label = sentenceLabel(reference);
      if (message.deleted) throw usageError(`${label} was deleted; there is nothing to reply to.`);
      if (message.status !== 'sent') throw usageError(`${label} has not reached the server yet; reply once it has.`);
      session.send(text, message);
    },
  },
  {
    name: 'del',
    aliases: ['delete-message'],
    usage: '<#n>',
    summary: 'delete your message #n for everyone',
    needsConversation: true,
    async run(input, session) {
      if (input.args.length !== 1) throw usageError('Usage: /del <#n>');
      const message = session.resolveMessage(input.args[0]!);
      const label = sentenceLabel(input.args[0]!);
      if (!message.own) throw usageError(`${label} is not your message: you can only delete your own.`);
      if (message.deleted) {
        session.notice(`${messageReferenceLabel(input.args[0]!)} is already deleted`);
        return;
      }
      if (message.status !== 'sent') throw usageError(`${label} never reached the server, so nobody else has it.`);
      // Shows as "your message #n was deleted".
      await session.client.deleteMessage(message.conversationId, message.id);
    },
  },
  {
    name: 'retry',
    usage: '<#n>',
    summary: 'send your message #n again after it failed (✗ not sent)',
    needsConversation: true,
    run(input, session) {
      if (input.args.length !== 1) throw usageError('Usage: /retry <#n>');
      const message = session.resolveMessage(input.args[0]!);
      const label = sentenceLabel(input.args[0]!);
      if (!message.own || message.status !== 'failed' || message.clientMsgId === undefined) {
        throw usageError(`${label} did not fail: only your messages marked ✗ not sent can be sent again.`);
      }
      session.retry(message);
    },
  },
  {
    name: 'older',
    aliases: ['more'],
    summary: 'load older messages of the open conversation',
    needsConversation: true,
    async run(_input, session) {
      await session.showOlder();
    },
  },
];
