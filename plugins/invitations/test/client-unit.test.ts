/**
 * The invitations client part on a stand-in plugin API: how pushes become plugin events (and
 * which carry a notice), and the terminal commands' answers to bad input, without a server.
 */
import { expect } from 'chai';
import invitations from '../index.js';
import { FakeClientApi, FakeTerminal } from './fake-api.js';

const ME = { userId: '11111111-1111-4111-8111-111111111111', username: 'me', deviceId: 'd1' };
const ALICE = '22222222-2222-4222-8222-222222222222';
const BOB = '33333333-3333-4333-8333-333333333333';
const GROUP = '01940000-0000-7000-8000-00000000b001';

function setup(request?: (type: string, fields: Record<string, unknown>) => unknown) {
  const fake = new FakeClientApi('invitations', { self: ME, request });
  void invitations.client!(fake.api);
  return fake;
}

describe('invitations: client part', () => {
  it('turns group_invitation into an invitation event with a notice', () => {
    const fake = setup();
    fake.push('group_invitation', { conversation_id: GROUP, conversation_name: 'Hik\ning', invited_by: ALICE, invited_by_username: 'alice', created_at: 5 });
    expect(fake.emitted).to.deep.equal([
      {
        type: 'invitation',
        data: { conversationId: GROUP, conversationName: 'Hik\ning', invitedBy: ALICE, invitedByUsername: 'alice', createdAt: 5, notice: 'alice invited you to Hik ing — /invites' },
      },
    ]);
  });

  it('copes with a group without a name and a malformed push', () => {
    const fake = setup();
    fake.push('group_invitation', { conversation_id: GROUP, conversation_name: null, invited_by: ALICE, invited_by_username: '' });
    fake.push('group_invitation', null);
    expect(fake.emitted.map((e) => (e.data as { notice: string }).notice)).to.deep.equal(['someone invited you to a group — /invites', 'someone invited you to a group — /invites']);
  });

  it('announces a decline to the inviter, and only updates the invitee\'s other devices', () => {
    const fake = setup();
    fake.push('invitation_declined', { conversation_id: GROUP, user_id: BOB, username: 'bob', conversation_name: 'Hiking' });
    fake.push('invitation_declined', { conversation_id: GROUP, user_id: ME.userId, username: 'me', conversation_name: 'Hiking' });
    expect(fake.emitted).to.deep.equal([
      { type: 'invitation_declined', data: { conversationId: GROUP, userId: BOB, username: 'bob', notice: 'bob declined your invitation to Hiking' } },
      { type: 'invitation_removed', data: { conversationId: GROUP, reason: 'declined' } },
    ]);
  });

  it('announces a withdrawn invitation to the invitee and to an inviter whose invitation someone else withdrew', () => {
    const fake = setup();
    fake.push('invitation_cancelled', { conversation_id: GROUP, conversation_name: 'Hiking', user_id: ME.userId, username: 'me', cancelled_by: ALICE });
    fake.push('invitation_cancelled', { conversation_id: GROUP, conversation_name: 'Hiking', user_id: BOB, username: 'bob', cancelled_by: ALICE });
    expect(fake.emitted).to.deep.equal([
      { type: 'invitation_removed', data: { conversationId: GROUP, userId: ME.userId, reason: 'cancelled', notice: 'Your invitation to Hiking was withdrawn' } },
      { type: 'invitation_cancelled', data: { conversationId: GROUP, userId: BOB, reason: 'cancelled', notice: 'The invitation of bob to Hiking was withdrawn' } },
    ]);
  });

  it('sends the frames the methods stand for', async () => {
    const answers: Record<string, unknown> = {
      list_invitations: { invitations: [{ conversation_id: GROUP, conversation_name: 'Hiking', invited_by: ALICE, invited_by_username: 'alice', created_at: 7, member_count: 3 }] },
      accept_invitation: { conversation_id: GROUP },
      decline_invitation: {},
      cancel_invitation: {},
      list_conversation_invitations: { invitations: [{ user_id: BOB, username: 'bob', invited_by: ALICE, invited_by_username: 'alice', created_at: 8 }] },
    };
    const fake = setup((type) => answers[type]);
    const methods = fake.exposed as {
      list(): Promise<unknown>;
      accept(id: string): Promise<unknown>;
      decline(id: string): Promise<unknown>;
      cancel(id: string, userId: string): Promise<unknown>;
      invited(id: string): Promise<unknown>;
    };
    expect(await methods.list()).to.deep.equal([{ conversationId: GROUP, conversationName: 'Hiking', invitedBy: ALICE, invitedByUsername: 'alice', createdAt: 7, memberCount: 3 }]);
    expect(await methods.accept(GROUP)).to.deep.equal({ conversationId: GROUP });
    expect(await methods.decline(GROUP)).to.equal(undefined);
    expect(await methods.cancel(GROUP, BOB)).to.equal(undefined);
    expect(await methods.invited(GROUP)).to.deep.equal([{ userId: BOB, username: 'bob', invitedBy: ALICE, invitedByUsername: 'alice', createdAt: 8 }]);
    expect(fake.requests).to.deep.equal([
      { type: 'list_invitations', fields: {} },
      { type: 'accept_invitation', fields: { conversation_id: GROUP } },
      { type: 'decline_invitation', fields: { conversation_id: GROUP } },
      { type: 'cancel_invitation', fields: { conversation_id: GROUP, user_id: BOB } },
      { type: 'list_conversation_invitations', fields: { conversation_id: GROUP } },
    ]);
  });

  it('answers bad command arguments with a usage line and sends nothing', async () => {
    const fake = setup((type) => (type === 'list_invitations' ? { invitations: [] } : {}));
    for (const args of [[], ['0'], ['-1'], ['1', '2'], ['x']]) {
      const terminal = new FakeTerminal(undefined);
      await fake.command('accept').run(args, terminal);
      expect(terminal.errors).to.deep.equal(['Usage: /accept <n> — the number /invites shows.']);
    }
    const empty = new FakeTerminal(undefined);
    await fake.command('decline').run(['1'], empty);
    expect(empty.errors).to.deep.equal(['You have no pending invitations.']);
    const noName = new FakeTerminal(GROUP);
    await fake.command('uninvite').run([], noName);
    expect(noName.errors).to.deep.equal(['Usage: /uninvite <username> — /invited shows who is invited.']);
    const closed = new FakeTerminal(undefined);
    await fake.command('invited').run([], closed);
    expect(closed.errors).to.deep.equal(['Open a group first (/open <n>).']);
    expect(fake.command('invited').needsConversation).to.equal(true);
    expect(fake.requests.map((r) => r.type)).to.deep.equal(['list_invitations']);
  });
});
