/**
 * Conversation commands: listing, opening and closing, starting DMs and groups, membership,
 * renaming, leaving and deleting.
 */
import { EMAIL_PATTERN } from '../../../engine/protocol/validation.js';
import type { Conversation, Member } from '../../../engine/client/types.js';
import { notFoundError, usageError } from '../errors.js';
import { parseIndex } from '../parse.js';
import { conversationTitle, oneLine, renderMemberLine, sortedMembers } from '../render.js';
import type { ChatCommand, ChatSession } from './types.js';

const EMAIL = new RegExp(EMAIL_PATTERN);

function checkEmail(value: string): string {
  const email = value.trim();
  if (!EMAIL.test(email)) throw usageError(`"${oneLine(email)}" is not an email address.`);
  return email;
}

function requireGroup(session: ChatSession, action: string): Conversation {
  const conversation = session.requireOpen();
  if (conversation.kind !== 'group') throw usageError(`You can only ${action} in a group; this is a direct conversation.`);
  return conversation;
}

/** A member of the open conversation by username or by their number in /members. */
function findMember(conversation: Conversation, reference: string): Member {
  const index = parseIndex(reference);
  if (index !== undefined) {
    const member = sortedMembers(conversation.members)[index - 1];
    if (!member) throw notFoundError(`There is no member ${index} (see /members).`);
    return member;
  }
  const wanted = reference.replace(/^@/, '').toLowerCase();
  const matches = conversation.members.filter((member) => member.username.toLowerCase() === wanted);
  if (matches.length === 0) throw notFoundError(`Nobody called "${oneLine(reference)}" is a member of ${conversationTitle(conversation)} (see /members).`);
  if (matches.length > 1) throw usageError(`Several members are called "${oneLine(reference)}": use their number from /members.`);
  return matches[0]!;
}

export const conversationCommands: readonly ChatCommand[] = [
  {
    name: 'list',
    aliases: ['ls'],
    summary: 'list your conversations with unread counts',
    details: ['● marks a direct conversation whose other person is online, # a group.', 'Use the numbers with /open.'],
    async run(_input, session) {
      await session.refreshConversations();
      await session.printConversationList();
    },
  },
  {
    name: 'open',
    aliases: ['o'],
    usage: '<n|name>',
    summary: 'open a conversation (number from /list, or its name)',
    details: ['Shows the recent history and marks it as read. Then plain text you type is sent there.'],
    async run(input, session) {
      if (input.rest.trim() === '') throw usageError('Which conversation? Usage: /open <n|name> (see /list).');
      const conversation = await session.findConversation(input.rest.trim());
      await session.open(conversation);
    },
  },
  {
    name: 'close',
    summary: 'close the open conversation',
    needsConversation: true,
    run(_input, session) {
      const title = conversationTitle(session.requireOpen());
      session.close();
      session.notice(`closed ${title}`);
    },
  },
  {
    name: 'dm',
    usage: '<email>',
    summary: 'start (or open) a direct conversation with someone',
    async run(input, session) {
      if (input.args.length !== 1) throw usageError('Usage: /dm <email>');
      const email = checkEmail(input.args[0]!);
      const conversation = await session.client.createDm(email);
      await session.refreshConversations();
      await session.open(conversation);
    },
  },
  {
    name: 'group',
    usage: '<name> <email> [email...]',
    summary: 'create a group (quote a name with spaces: "Team chat")',
    async run(input, session) {
      if (input.args.length < 2) throw usageError('Usage: /group <name> <email> [email...]');
      const [name, ...rest] = input.args as [string, ...string[]];
      if (name.trim() === '') throw usageError('The group needs a name.');
      const emails = rest.map(checkEmail);
      const created = await session.client.createGroup(name.trim(), emails);
      const others = new Set(emails.map((email) => email.toLowerCase()).filter((email) => email !== session.self.email.toLowerCase()));
      const missing = others.size + 1 - created.members.length;
      if (missing > 0) session.notice(`${missing} of them ${missing === 1 ? 'was' : 'were'} invited rather than added: they join when they accept`);
      await session.refreshConversations();
      await session.open(created);
    },
  },
  {
    name: 'members',
    aliases: ['who'],
    summary: 'list the members of the open conversation',
    needsConversation: true,
    run(_input, session) {
      const conversation = session.requireOpen();
      session.print(`${conversationTitle(conversation)}: ${conversation.members.length} member${conversation.members.length === 1 ? '' : 's'}`);
      sortedMembers(conversation.members).forEach((member, index) => {
        session.print(renderMemberLine(member, index + 1, { style: session.style, selfId: session.self.userId, online: session.isOnline(member.userId) }));
      });
    },
  },
  {
    name: 'add',
    usage: '<email>',
    summary: 'add someone to the open group',
    needsConversation: true,
    async run(input, session) {
      const conversation = requireGroup(session, 'add people');
      if (input.args.length !== 1) throw usageError('Usage: /add <email>');
      const email = checkEmail(input.args[0]!);
      const result = await session.client.addMember(conversation.id, email);
      // A direct addition shows as "<name> joined"; a plugin may have done something else instead.
      if (result.outcome !== 'added') session.notice(`${oneLine(email)}: ${oneLine(result.outcome)} (not added yet)`);
      await session.refreshConversations();
    },
  },
  {
    name: 'remove',
    aliases: ['kick'],
    usage: '<username|n>',
    summary: 'remove a member from the open group (creator only)',
    needsConversation: true,
    async run(input, session) {
      const conversation = requireGroup(session, 'remove people');
      if (input.args.length !== 1) throw usageError('Usage: /remove <username|n> (see /members)');
      const member = findMember(conversation, input.args[0]!);
      if (member.userId === session.self.userId) throw usageError('To leave the group yourself, use /leave.');
      // The change shows as "<name> is no longer in <group>".
      await session.client.removeMember(conversation.id, member.userId);
      await session.refreshConversations();
    },
  },
  {
    name: 'leave',
    summary: 'leave the open group',
    needsConversation: true,
    async run(_input, session) {
      const conversation = requireGroup(session, 'leave');
      const title = conversationTitle(conversation);
      if (!(await session.terminal.confirm(`Leave ${title}? Someone must add you again to come back.`))) {
        session.notice('still in the group');
        return;
      }
      // Shows as "you left <group>" (and closes it).
      await session.client.leaveGroup(conversation.id);
      session.close();
      await session.refreshConversations();
    },
  },
  {
    name: 'rename',
    usage: '<name>',
    summary: 'rename the open group (creator only)',
    needsConversation: true,
    async run(input, session) {
      const conversation = requireGroup(session, 'rename');
      const name = input.rest.trim().replace(/^"(.*)"$/, '$1').trim();
      if (name === '') throw usageError('Usage: /rename <name>');
      // Shows as "<old> is now called <new>".
      await session.client.renameConversation(conversation.id, name);
      await session.refreshConversations();
    },
  },
  {
    name: 'delete',
    summary: 'delete the open conversation (asks first)',
    details: [
      'A direct conversation disappears for you, with its history (it comes back when a new message arrives).',
      'A group is deleted for everyone, with its history; only its creator can do that.',
    ],
    needsConversation: true,
    async run(_input, session) {
      const conversation = session.requireOpen();
      const title = conversationTitle(conversation);
      const question =
        conversation.kind === 'dm'
          ? `Delete your conversation with ${title} and its history on your side?`
          : `Delete the group ${title} and its whole history for all ${conversation.members.length} members?`;
      if (!(await session.terminal.confirm(question))) {
        session.notice('nothing deleted');
        return;
      }
      // Shows as "<title> was deleted" (and closes it).
      await session.client.deleteConversation(conversation.id);
      session.close();
      await session.refreshConversations();
    },
  },
];
