/**
 * `api.core.messages.visibleIds` / `visible`: which of many message ids a user may see, in one
 * query per 500 ids, by exactly the rule of `requireVisible` (a member; not deleted; not before
 * joining nor hidden by a "delete for me"; a control message only where the user has a
 * ciphertext). Checked against requireVisible id by id, on SQLite and MariaDB.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Type } from 'typebox';
import { definePlugin } from '../define.js';
import { WireError } from '../../errors.js';
import { closeAll, forEachBackend, registerUser, removeHomes, startTestServer, waitForText, type TestConnection, type TestServer, type User } from '../../testing/index.js';

const probe = definePlugin({
  name: 'visibility-probe',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    const Request = Type.Object({ conversation_id: Type.String(), user_id: Type.String(), message_ids: Type.Array(Type.String()) });
    api.handle(
      'probe_visible',
      Request,
      async (request) => {
        const ids = await api.core.messages.visibleIds(request.conversation_id, request.user_id, request.message_ids);
        const metas = await api.core.messages.visible(request.conversation_id, request.user_id, request.message_ids);
        // The same answer, one id at a time, through requireVisible.
        const oneByOne: string[] = [];
        for (const id of [...new Set(request.message_ids)]) {
          try {
            const meta = await api.core.messages.requireVisible(id, request.user_id);
            if (meta.conversationId === request.conversation_id) oneByOne.push(id);
          } catch (error) {
            if (!(error instanceof WireError)) throw error;
          }
        }
        return { ids: [...ids], metas, one_by_one: oneByOne };
      },
      { auth: false },
    );
  },
});

interface ProbeAnswer {
  ids: string[];
  metas: Array<{ id: string; conversationId: string; senderId: string; kind: string; createdAt: number; deletedAt: number | null }>;
  one_by_one: string[];
}

forEachBackend('api.core.messages.visibleIds', (backend) => {
  let server: TestServer;
  let connection: TestConnection;
  let alice: User;
  let bob: User;
  let carol: User;
  let dave: User;

  const ask = (conversationId: string, user: User, ids: readonly string[]) =>
    connection.expectOk<ProbeAnswer>('probe_visible', { conversation_id: conversationId, user_id: user.self.userId, message_ids: [...ids] });

  /** Every message id of a conversation (control ones too), oldest first. */
  const allIds = async (conversationId: string) =>
    ((await server.server.database.knex('messages').where({ conversation_id: conversationId }).orderBy('seq').select('id', 'kind')) as Array<{ id: string; kind: string }>);

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [probe] });
    connection = await server.connect();
    alice = await registerUser(server, { username: 'alice' });
    bob = await registerUser(server, { username: 'bob' });
    carol = await registerUser(server, { username: 'carol' });
    dave = await registerUser(server, { username: 'dave' });
  });

  after(async function () {
    this.timeout(60_000);
    await connection?.close();
    await closeAll(alice, bob, carol, dave);
    await server?.close();
    await removeHomes();
  });

  it('answers like requireVisible for members, late joiners, outsiders, deleted and control messages', async function () {
    this.timeout(60_000);
    const group = await alice.client.createGroup('Visible', [bob.email]);
    const m1 = await alice.client.sendMessage(group.id, 'one');
    const m2 = await bob.client.sendMessage(group.id, 'two');
    const gone = await alice.client.sendMessage(group.id, 'deleted soon');
    await waitForText(bob, group.id, 'deleted soon');
    await alice.client.deleteMessage(group.id, gone.id);
    await alice.client.addMember(group.id, carol.email);
    const m3 = await alice.client.sendMessage(group.id, 'after carol joined');
    await waitForText(carol, group.id, 'after carol joined');

    const other = await alice.client.createDm(bob.email);
    const elsewhere = await alice.client.sendMessage(other.id, 'another conversation');
    const rows = await allIds(group.id);
    expect(rows.some((row) => row.kind === 'control'), 'sender-key distributions are control messages').to.equal(true);
    const ids = [...rows.map((row) => row.id), elsewhere.id, randomUUID(), m1.id];

    for (const user of [alice, bob, carol, dave]) {
      const answer = await ask(group.id, user, ids);
      expect([...answer.ids].sort(), user.username).to.deep.equal([...answer.one_by_one].sort());
      expect(answer.metas.map((meta) => meta.id), `${user.username}: metas in the order asked`).to.deep.equal(ids.filter((id, index) => answer.ids.includes(id) && ids.indexOf(id) === index));
    }
    const visible = async (user: User) => new Set((await ask(group.id, user, ids)).ids);
    const bobs = await visible(bob);
    expect([m1.id, m2.id, m3.id].every((id) => bobs.has(id))).to.equal(true);
    expect(bobs.has(gone.id) || bobs.has(elsewhere.id)).to.equal(false);
    const carols = await visible(carol);
    expect(carols.has(m3.id)).to.equal(true);
    expect(carols.has(m1.id) || carols.has(m2.id)).to.equal(false);
    expect((await visible(dave)).size).to.equal(0);
    // Control messages: only where addressed (or sent by the user) — some of the group's are not Carol's.
    const controls = rows.filter((row) => row.kind === 'control').map((row) => row.id);
    expect(controls.some((id) => !carols.has(id))).to.equal(true);
    const metaOfM1 = (await ask(group.id, bob, [m1.id])).metas[0];
    expect(metaOfM1).to.include({ id: m1.id, conversationId: group.id, senderId: alice.self.userId, kind: 'message', createdAt: m1.createdAt, deletedAt: null });
  });

  it('hides what a "delete for me" cleared, and takes many ids (several chunks) and none', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(dave.email);
    const before = await alice.client.sendMessage(dm.id, 'before the clear');
    await waitForText(dave, dm.id, 'before the clear');
    await dave.client.deleteConversation(dm.id);
    const after = await alice.client.sendMessage(dm.id, 'after the clear');
    await waitForText(dave, dm.id, 'after the clear');

    const daves = await ask(dm.id, dave, [before.id, after.id]);
    expect(daves.ids).to.deep.equal([after.id]);
    expect(daves.one_by_one).to.deep.equal([after.id]);
    expect((await ask(dm.id, alice, [before.id, after.id])).ids).to.have.members([before.id, after.id]);

    const many = [...Array.from({ length: 1200 }, () => randomUUID()), after.id, before.id];
    const answer = await connection.expectOk<ProbeAnswer>('probe_visible', { conversation_id: dm.id, user_id: alice.self.userId, message_ids: many });
    expect(answer.ids).to.have.members([before.id, after.id]);
    expect(answer.metas.map((meta) => meta.id)).to.deep.equal([after.id, before.id]);
    expect((await ask(dm.id, alice, [])).ids).to.deep.equal([]);
  });
});
