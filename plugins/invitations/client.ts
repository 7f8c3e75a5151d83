/**
 * The client part of invitations: `client.plugins.invitations` (list, accept, decline, cancel,
 * invited, pending), plugin events with a `notice` line for the pushes, and the terminal commands
 * `/invites`, `/accept <n>`, `/decline <n>`, `/invited` and `/uninvite <username>`.
 *
 * Pushes missed while offline: after every login (api.onReady) the pending invitations are
 * fetched again. After the first login the user hears how many wait (`invitations` event); after a
 * login following a lost connection, an invitation that arrived meanwhile is announced as if its
 * push had come (`invitation` event, `recovered: true`), and one that went away meanwhile
 * (withdrawn, or answered on another device) as `invitation_removed` with the reason `gone`.
 */
import type { ClientPluginApi, TerminalCommandContext } from '../../engine/plugin/index.js';

/** A pending invitation of the logged-in user. */
export interface Invitation {
  readonly conversationId: string;
  readonly conversationName: string | null;
  readonly invitedBy: string;
  readonly invitedByUsername: string;
  readonly createdAt: number;
  readonly memberCount: number;
}

/** Someone invited to a group (what `invited` lists). */
export interface InvitedPerson {
  readonly userId: string;
  readonly username: string;
  readonly invitedBy: string;
  readonly invitedByUsername: string;
  readonly createdAt: number;
}

/** What `client.plugins.invitations` offers. */
export interface InvitationsMethods {
  /** The user's pending invitations, oldest first. */
  list(): Promise<Invitation[]>;
  /** Joins the group; its conversation arrives as for any new member (conversation_created). */
  accept(conversationId: string): Promise<{ conversationId: string }>;
  decline(conversationId: string): Promise<void>;
  /** Withdraws someone's invitation (whoever invited them, or the group's creator). */
  cancel(conversationId: string, userId: string): Promise<void>;
  /** Who is invited to a group the user belongs to. */
  invited(conversationId: string): Promise<InvitedPerson[]>;
  /** The pending invitations as this client knows them (from the last login's list and the pushes since), oldest first; no request. */
  pending(): Invitation[];
}

interface WireInvitation {
  conversation_id: string;
  conversation_name: string | null;
  invited_by: string;
  invited_by_username: string;
  created_at: number;
  member_count: number;
}

interface WireInvited {
  user_id: string;
  username: string;
  invited_by: string;
  invited_by_username: string;
  created_at: number;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function groupName(name: unknown): string {
  return typeof name === 'string' && name.trim() ? oneLine(name) : 'a group';
}

function day(ms: number): string {
  const date = new Date(ms);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

function record(data: unknown): Record<string, unknown> {
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function createInvitationsMethods(api: ClientPluginApi): Omit<InvitationsMethods, 'pending'> {
  return {
    async list() {
      const { invitations } = await api.client.request<{ invitations: WireInvitation[] }>('list_invitations', {});
      return invitations.map((w) => ({
        conversationId: w.conversation_id,
        conversationName: w.conversation_name,
        invitedBy: w.invited_by,
        invitedByUsername: w.invited_by_username,
        createdAt: w.created_at,
        memberCount: w.member_count,
      }));
    },
    async accept(conversationId) {
      const answer = await api.client.request<{ conversation_id: string }>('accept_invitation', { conversation_id: conversationId });
      return { conversationId: answer.conversation_id };
    },
    async decline(conversationId) {
      await api.client.request('decline_invitation', { conversation_id: conversationId });
    },
    async cancel(conversationId, userId) {
      await api.client.request('cancel_invitation', { conversation_id: conversationId, user_id: userId });
    },
    async invited(conversationId) {
      const { invitations } = await api.client.request<{ invitations: WireInvited[] }>('list_conversation_invitations', { conversation_id: conversationId });
      return invitations.map((w) => ({
        userId: w.user_id,
        username: w.username,
        invitedBy: w.invited_by,
        invitedByUsername: w.invited_by_username,
        createdAt: w.created_at,
      }));
    },
  };
}

/** The terminal commands; `/accept` and `/decline` number invitations as the last `/invites` showed them. */
export function invitationCommands(methods: Omit<InvitationsMethods, 'pending'>, self: () => { readonly userId: string } | undefined) {
  let shown: Invitation[] | undefined;

  async function pick(args: string[], context: TerminalCommandContext, verb: string): Promise<Invitation | undefined> {
    const number = Number(args[0]);
    if (args.length !== 1 || !Number.isInteger(number) || number < 1) {
      context.error(`Usage: /${verb} <n> — the number /invites shows.`);
      return undefined;
    }
    shown ??= await methods.list();
    const chosen = shown[number - 1];
    if (!chosen) {
      context.error(shown.length === 0 ? 'You have no pending invitations.' : `There is no invitation ${number}: /invites lists ${shown.length}.`);
      return undefined;
    }
    return chosen;
  }

  return [
    {
      name: 'invites',
      usage: '',
      help: 'Your pending group invitations',
      async run(_args: string[], context: TerminalCommandContext) {
        shown = await methods.list();
        if (shown.length === 0) {
          context.print('You have no pending invitations.');
          return;
        }
        context.print(`Invitations (${shown.length}) — /accept <n> or /decline <n>:`);
        shown.forEach((invitation, index) => {
          const members = `${invitation.memberCount} member${invitation.memberCount === 1 ? '' : 's'}`;
          context.print(`  ${index + 1}. ${groupName(invitation.conversationName)} — from ${oneLine(invitation.invitedByUsername) || 'someone'}, ${members}, ${day(invitation.createdAt)}`);
        });
      },
    },
    {
      name: 'accept',
      usage: '<n>',
      help: 'Joins the group of invitation n (from /invites)',
      async run(args: string[], context: TerminalCommandContext) {
        const chosen = await pick(args, context, 'accept');
        if (!chosen) return;
        await methods.accept(chosen.conversationId);
        shown = shown?.filter((i) => i !== chosen);
        context.print(`You joined ${groupName(chosen.conversationName)} (/list shows it).`);
      },
    },
    {
      name: 'decline',
      usage: '<n>',
      help: 'Declines invitation n (from /invites)',
      async run(args: string[], context: TerminalCommandContext) {
        const chosen = await pick(args, context, 'decline');
        if (!chosen) return;
        await methods.decline(chosen.conversationId);
        shown = shown?.filter((i) => i !== chosen);
        context.print(`You declined the invitation to ${groupName(chosen.conversationName)}.`);
      },
    },
    {
      name: 'invited',
      usage: '',
      help: 'Who is invited to this group and has not answered yet',
      needsConversation: true,
      async run(_args: string[], context: TerminalCommandContext) {
        if (!context.conversationId) {
          context.error('Open a group first (/open <n>).');
          return;
        }
        const people = await methods.invited(context.conversationId);
        if (people.length === 0) {
          context.print('Nobody is invited here right now.');
          return;
        }
        context.print(`Invited, not joined yet (${people.length}):`);
        for (const person of people) {
          const by = person.invitedBy === self()?.userId ? 'you' : oneLine(person.invitedByUsername) || 'someone';
          context.print(`  ${oneLine(person.username) || person.userId} — invited by ${by}, ${day(person.createdAt)}`);
        }
      },
    },
    {
      name: 'uninvite',
      usage: '<username>',
      help: 'Withdraws the invitation of someone to this group',
      needsConversation: true,
      async run(args: string[], context: TerminalCommandContext) {
        if (!context.conversationId) {
          context.error('Open a group first (/open <n>).');
          return;
        }
        const name = (args[0] ?? '').replace(/^@/, '').toLowerCase();
        if (args.length !== 1 || !name) {
          context.error('Usage: /uninvite <username> — /invited shows who is invited.');
          return;
        }
        const matches = (await methods.invited(context.conversationId)).filter((p) => p.username.toLowerCase() === name);
        if (matches.length === 0) {
          context.error(`Nobody called ${oneLine(args[0]!)} is invited here (/invited shows who is).`);
          return;
        }
        for (const person of matches) await methods.cancel(context.conversationId, person.userId);
        context.print(`The invitation of ${oneLine(matches[0]!.username)} was withdrawn.`);
      },
    },
  ];
}

/** The `invitation` event (and its notice) for an invitation the user has received. */
function invitationEvent(invitation: Omit<Invitation, 'memberCount'>, recovered: boolean): Record<string, unknown> {
  const inviter = oneLine(invitation.invitedByUsername) || 'someone';
  return {
    conversationId: invitation.conversationId,
    conversationName: invitation.conversationName,
    invitedBy: invitation.invitedBy,
    invitedByUsername: invitation.invitedByUsername,
    createdAt: invitation.createdAt,
    ...(recovered ? { recovered: true } : {}),
    notice: `${inviter} invited you to ${groupName(invitation.conversationName)} — /invites`,
  };
}

export function invitationsClient(api: ClientPluginApi): void {
  const requests = createInvitationsMethods(api);
  const selfId = () => api.client.self?.userId;
  /** The pending invitations as this client knows them, by conversation. */
  const known = new Map<string, Invitation>();

  const methods: InvitationsMethods = {
    ...requests,
    async list() {
      const invitations = await requests.list();
      known.clear();
      for (const invitation of invitations) known.set(invitation.conversationId, invitation);
      return invitations;
    },
    async accept(conversationId) {
      const answer = await requests.accept(conversationId);
      known.delete(conversationId);
      return answer;
    },
    async decline(conversationId) {
      await requests.decline(conversationId);
      known.delete(conversationId);
    },
    pending: () => [...known.values()].sort((a, b) => a.createdAt - b.createdAt),
  };

  api.on('group_invitation', (data) => {
    const push = record(data);
    const invitation: Invitation = {
      conversationId: text(push.conversation_id),
      conversationName: typeof push.conversation_name === 'string' ? push.conversation_name : null,
      invitedBy: text(push.invited_by),
      invitedByUsername: text(push.invited_by_username),
      createdAt: typeof push.created_at === 'number' ? push.created_at : Date.now(),
      memberCount: known.get(text(push.conversation_id))?.memberCount ?? 0,
    };
    if (invitation.conversationId) known.set(invitation.conversationId, invitation);
    api.emit('invitation', invitationEvent(invitation, false));
  });

  // After every login: what is pending now. Pushes sent while this client was offline are lost,
  // so an invitation (or its withdrawal) of that time is announced here instead.
  api.onReady(async ({ reconnected }) => {
    const before = new Map(known);
    const now = await methods.list();
    if (!reconnected) {
      if (now.length > 0) {
        api.emit('invitations', {
          invitations: now,
          notice: `You have ${now.length} pending group invitation${now.length === 1 ? '' : 's'} — /invites`,
        });
      }
      return;
    }
    for (const invitation of now) if (!before.has(invitation.conversationId)) api.emit('invitation', invitationEvent(invitation, true));
    for (const [conversationId] of before) {
      if (!known.has(conversationId)) api.emit('invitation_removed', { conversationId, reason: 'gone' });
    }
  });

  api.on('invitation_declined', (data) => {
    const push = record(data);
    const conversationId = text(push.conversation_id);
    if (push.user_id === selfId()) {
      // Declined on another of the user's devices: the list changed, nothing to announce.
      known.delete(conversationId);
      api.emit('invitation_removed', { conversationId, reason: 'declined' });
      return;
    }
    api.emit('invitation_declined', {
      conversationId,
      userId: text(push.user_id),
      username: text(push.username),
      notice: `${oneLine(text(push.username)) || 'someone'} declined your invitation to ${groupName(push.conversation_name)}`,
    });
  });

  api.on('invitation_cancelled', (data) => {
    const push = record(data);
    const conversationId = text(push.conversation_id);
    const mine = push.user_id === selfId();
    if (mine) known.delete(conversationId);
    api.emit(mine ? 'invitation_removed' : 'invitation_cancelled', {
      conversationId,
      userId: text(push.user_id),
      reason: 'cancelled',
      notice: mine
        ? `Your invitation to ${groupName(push.conversation_name)} was withdrawn`
        : `The invitation of ${oneLine(text(push.username)) || 'someone'} to ${groupName(push.conversation_name)} was withdrawn`,
    });
  });

  api.expose(methods as unknown as Record<string, unknown>);
  for (const command of invitationCommands(methods, () => api.client.self)) api.command(command);
}
