/**
 * Account commands: who you are, resetting a broken encrypted session, logging out, quitting.
 */
import type { Member } from '../../../engine/client/types.js';
import { notFoundError, usageError } from '../errors.js';
import { oneLine } from '../render.js';
import type { ChatCommand, ChatSession } from './types.js';

/** Someone you share a conversation with, by username (the open conversation's members first). */
function findPerson(session: ChatSession, username: string): Member {
  const wanted = username.replace(/^@/, '').toLowerCase();
  const seen = new Map<string, Member>();
  const current = session.current;
  const sources = current ? [current, ...session.conversations.filter((c) => c.id !== current.id)] : session.conversations;
  for (const conversation of sources) {
    for (const member of conversation.members) {
      if (member.userId !== session.self.userId && member.username.toLowerCase() === wanted && !seen.has(member.userId)) seen.set(member.userId, member);
    }
    // The open conversation decides when it has a match: usernames are not unique.
    if (conversation === current && seen.size > 0) break;
  }
  if (seen.size === 0) throw notFoundError(`You share no conversation with anyone called "${oneLine(username)}".`);
  if (seen.size > 1) throw usageError(`Several people are called "${oneLine(username)}": open the conversation you share with the one you mean, then try again.`);
  return [...seen.values()][0]!;
}

export const accountCommands: readonly ChatCommand[] = [
  {
    name: 'whoami',
    summary: 'show your account, this device and the server',
    run(_input, session) {
      const { self, style } = session;
      session.print(`${style.bold(oneLine(self.username))} <${oneLine(self.email)}>`);
      session.print(`  device   ${self.deviceId}`);
      const info = session.client.serverInfo;
      session.print(`  server   ${session.serverLabel}${info ? ` (Kecalek ${oneLine(info.serverVersion)})` : ''}`);
      const plugins = info?.plugins.map((plugin) => `${oneLine(plugin.name)} ${oneLine(plugin.version)}`) ?? [];
      session.print(`  plugins  ${plugins.length > 0 ? plugins.join(', ') : 'none'}`);
    },
  },
  {
    name: 'reset-session',
    usage: '<username>',
    summary: 'start a fresh encrypted session with someone (when messages cannot be decrypted)',
    async run(input, session) {
      if (input.args.length !== 1) throw usageError('Usage: /reset-session <username>');
      const person = findPerson(session, input.args[0]!);
      await session.client.resetSession(person.userId);
      session.notice(`session with ${oneLine(person.username)} reset: the next message starts a new one`);
    },
  },
  {
    name: 'logout',
    summary: 'log out and go back to the start screen',
    async run(_input, session) {
      await session.logout();
    },
  },
  {
    name: 'quit',
    aliases: ['exit', 'q'],
    summary: 'leave the chat (Ctrl+D works too)',
    run(_input, session) {
      session.quit();
    },
  },
];
