/**
 * The group-commit message writer against a real database (SQLite, and MariaDB when configured):
 * batching, ordering of ids and created_at, the per-conversation clock and its fences, in-flight
 * idempotency, a bad message failing alone, conversation side effects and a flushing close.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { forEachBackend, startTestServer, type TestServer } from '../../../testing/index.js';
import { isUniqueViolation, toBool, toMillisOrNull } from '../../db/dialect.js';
import { uuidv7 } from '../../ids.js';
import { MessageWriter, type PendingMessage } from '../message-writer.js';
import { WireError } from '../../../errors.js';

forEachBackend('message writer', (backend) => {
  let server: TestServer;
  let db: Knex;
  const users = [randomUUID(), randomUUID()];
  const devices = [randomUUID(), randomUUID()];

  before(async () => {
    server = await startTestServer({ databaseUrl: backend.databaseUrl });
    db = server.server.database.knex;
    const now = Date.now();
    for (const [i, id] of users.entries()) {
      await db('users').insert({ id, username: `w${i}`, email: `writer-${id}@example.test`, identity_key: 'x', login_key: 'y', phantom: false, created_at: now, updated_at: now });
    }
  });

  after(async () => {
    await server?.close();
  });

  async function conversation(kind: 'dm' | 'group' = 'group'): Promise<string> {
    const id = uuidv7();
    const now = Date.now();
    await db('conversations').insert({ id, kind, name: kind === 'group' ? 'w' : null, created_by: users[0], dm_key: null, created_at: now, last_message_at: null });
    await db('conversation_members').insert(
      users.map((user, i) => ({ conversation_id: id, user_id: user, role: i === 0 ? 'creator' : 'member', joined_at: now, cleared_at: null, hidden: false })),
    );
    return id;
  }

  function message(conversationId: string, overrides: Partial<PendingMessage> = {}): PendingMessage {
    return {
      conversationId,
      senderId: users[0]!,
      senderDeviceId: devices[0]!,
      clientMsgId: null,
      kind: 'message',
      body: null,
      recipients: [{ userId: users[1]!, deviceId: devices[1]!, body: 'AAAA' }],
      ...overrides,
    };
  }

  it('commits many queued messages in few transactions and answers each in queue order', async () => {
    const conversationId = await conversation();
    const writer = new MessageWriter(db);
    const tickets = Array.from({ length: 1200 }, (_, i) => writer.write(message(conversationId, { body: i % 2 === 0 ? 'QkJC' : null })));
    const order: number[] = [];
    tickets.forEach((ticket, i) => void ticket.promise.then(() => order.push(i)));
    const written = await Promise.all(tickets.map((t) => t.promise));
    expect(order, 'promises resolve in queue order').to.deep.equal(tickets.map((_, i) => i));
    const stats = writer.stats();
    expect(stats.messages).to.equal(1200);
    expect(stats.batches).to.equal(3);
    expect(stats.largestBatch).to.equal(500);
    expect(stats.failedBatches).to.equal(0);
    for (let i = 1; i < written.length; i++) {
      expect(written[i]!.id > written[i - 1]!.id, 'ids follow commit order').to.equal(true);
      expect(written[i]!.createdAt, 'created_at follows commit order').to.be.above(written[i - 1]!.createdAt);
    }
    const rows: Array<{ id: string; created_at: unknown }> = await db('messages').where({ conversation_id: conversationId }).orderBy('seq').select('id', 'created_at');
    expect(rows.map((r) => r.id)).to.deep.equal(written.map((w) => w.id));
    const recipients = await db('message_recipients').whereIn('message_id', written.slice(0, 10).map((w) => w.id));
    expect(recipients).to.have.length(10);
    await writer.close();
  });

  it('writes thousands of recipient rows in one transaction', async () => {
    const conversationId = await conversation();
    const writer = new MessageWriter(db);
    const perMessage = Array.from({ length: 8 }, () => ({ userId: users[1]!, deviceId: randomUUID(), body: 'Q0NDQw==' }));
    const tickets = Array.from({ length: 500 }, () => writer.write(message(conversationId, { recipients: perMessage })));
    const written = await Promise.all(tickets.map((t) => t.promise));
    expect(writer.stats()).to.include({ batches: 1, messages: 500, largestBatch: 500, failedBatches: 0 });
    const rows = Number((await db('message_recipients').whereIn('message_id', written.map((w) => w.id)).count({ n: '*' }))[0]!.n);
    expect(rows).to.equal(4000);
    await writer.close();
  });

  it('answers a sender only once its message is committed', async () => {
    const conversationId = await conversation();
    const writer = new MessageWriter(db);
    const ticket = writer.write(message(conversationId));
    expect(writer.stats().queued).to.equal(1);
    const written = await ticket.promise;
    const row = await db('messages').where({ id: written.id }).first('id');
    expect(row).to.not.equal(undefined);
    await writer.close();
  });

  it('keeps created_at strictly increasing per conversation without running ahead for others, and honours fences', async () => {
    const a = await conversation();
    const b = await conversation();
    const fixed = Date.now();
    const writer = new MessageWriter(db, { now: () => fixed });
    const inA = Array.from({ length: 20 }, () => writer.write(message(a)).promise);
    const inB = writer.write(message(b)).promise;
    const writtenA = await Promise.all(inA);
    expect(writtenA.map((w) => w.createdAt)).to.deep.equal(writtenA.map((_, i) => fixed + i));
    expect((await inB).createdAt, 'another conversation is not pushed ahead').to.equal(fixed);
    expect(writer.lastStamp(a)).to.equal(fixed + 19);

    writer.fence(b, fixed + 1000);
    expect((await writer.write(message(b)).promise).createdAt).to.equal(fixed + 1001);
    writer.fence(a, fixed + 5);
    expect((await writer.write(message(a)).promise).createdAt, 'a fence behind the clock changes nothing').to.equal(fixed + 20);
    await writer.close();
  });

  it('gives a write with the same (sender, client_msg_id) in flight the first one\'s result and stores once', async () => {
    const conversationId = await conversation();
    const writer = new MessageWriter(db);
    const clientMsgId = `inflight-${randomUUID()}`;
    const first = writer.write(message(conversationId, { clientMsgId }));
    const second = writer.write(message(conversationId, { clientMsgId }));
    expect(first.duplicate).to.equal(false);
    expect(second.duplicate).to.equal(true);
    expect(second.conversationId).to.equal(conversationId);
    const [one, two] = await Promise.all([first.promise, second.promise]);
    expect(two).to.deep.equal(one);
    const rows = await db('messages').where({ sender_id: users[0], client_msg_id: clientMsgId });
    expect(rows).to.have.length(1);
    // Once committed, the writer forgets it: the database's unique key answers from then on.
    const third = writer.write(message(conversationId, { clientMsgId }));
    expect(third.duplicate).to.equal(false);
    const error = await third.promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isUniqueViolation(error)).to.equal(true);
    await writer.close();
  });

  it('retries a failed batch one by one, so that only the bad messages fail', async () => {
    const conversationId = await conversation();
    const taken = `taken-${randomUUID()}`;
    await db('messages').insert({
      id: uuidv7(),
      conversation_id: conversationId,
      sender_id: users[0],
      sender_device_id: devices[0],
      client_msg_id: taken,
      kind: 'message',
      body: null,
      created_at: Date.now(),
    });
    const writer = new MessageWriter(db);
    const tickets = [
      writer.write(message(conversationId)),
      writer.write(message(conversationId, { clientMsgId: taken })),
      writer.write(message(conversationId)),
      writer.write(message(randomUUID())), // no such conversation: a foreign key fails
      writer.write(message(conversationId)),
    ];
    const settled = await Promise.allSettled(tickets.map((t) => t.promise));
    expect(settled.map((s) => s.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(isUniqueViolation((settled[1] as PromiseRejectedResult).reason)).to.equal(true);
    const stats = writer.stats();
    expect(stats.failedBatches).to.equal(1);
    expect(stats.failedMessages).to.equal(2);
    expect(stats.messages).to.equal(3);
    const stored = settled.filter((s): s is PromiseFulfilledResult<{ id: string; createdAt: number }> => s.status === 'fulfilled').map((s) => s.value);
    const rows = await db('messages').whereIn('id', stored.map((w) => w.id));
    expect(rows).to.have.length(3);
    for (let i = 1; i < stored.length; i++) expect(stored[i]!.createdAt).to.be.above(stored[i - 1]!.createdAt);
    await writer.close();
  });

  it('runs tasks inside the batch transaction with the messages; a failing task fails alone', async () => {
    const conversationId = await conversation();
    const writer = new MessageWriter(db);
    const first = writer.write(message(conversationId));
    // Sees the message queued before it: same transaction, after the messages.
    const seen = writer.transact(async (trx) => (await trx('messages').where({ conversation_id: conversationId }).count<Array<{ n: number }>>({ n: '*' }))[0]!.n);
    const failing = writer.transact(async (trx) => {
      await trx('conversation_members').insert({ conversation_id: randomUUID(), user_id: users[0], role: 'member', joined_at: 0, cleared_at: null, hidden: false });
    });
    const second = writer.write(message(conversationId));
    const settled = await Promise.allSettled([first.promise, seen, failing, second.promise]);
    expect(settled.map((s) => s.status)).to.deep.equal(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(Number((settled[1] as PromiseFulfilledResult<number>).value)).to.be.at.least(1);
    const stats = writer.stats();
    expect(stats.messages).to.equal(2);
    expect(stats.tasks).to.equal(1);
    expect(stats.failedBatches).to.equal(1);
    expect(stats.failedMessages).to.equal(0);
    await writer.close();
    const refused = await writer.transact(async () => 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((refused as WireError).code).to.equal('shutting_down');
  });

  it('moves last_message_at and shows hidden DMs again for messages, not for control messages', async () => {
    const conversationId = await conversation('dm');
    await db('conversation_members').where({ conversation_id: conversationId, user_id: users[1] }).update({ hidden: true, cleared_at: Date.now() });
    const writer = new MessageWriter(db);
    const control = await writer.write(message(conversationId, { kind: 'control' })).promise;
    let row = await db('conversations').where({ id: conversationId }).first('last_message_at');
    expect(toMillisOrNull(row.last_message_at)).to.equal(null);
    let member = await db('conversation_members').where({ conversation_id: conversationId, user_id: users[1] }).first('hidden');
    expect(toBool(member.hidden)).to.equal(true);

    const written = await Promise.all([writer.write(message(conversationId)).promise, writer.write(message(conversationId)).promise]);
    row = await db('conversations').where({ id: conversationId }).first('last_message_at');
    expect(toMillisOrNull(row.last_message_at)).to.equal(written[1]!.createdAt);
    expect(written[0]!.createdAt).to.be.above(control.createdAt);
    member = await db('conversation_members').where({ conversation_id: conversationId, user_id: users[1] }).first('hidden');
    expect(toBool(member.hidden)).to.equal(false);

    // last_message_at never goes back (another server process may have written a newer one).
    await db('conversations').where({ id: conversationId }).update({ last_message_at: written[1]!.createdAt + 60_000 });
    await writer.write(message(conversationId)).promise;
    row = await db('conversations').where({ id: conversationId }).first('last_message_at');
    expect(toMillisOrNull(row.last_message_at)).to.equal(written[1]!.createdAt + 60_000);
    await writer.close();
  });

  it('flushes what is queued on close and refuses writes afterwards', async () => {
    const conversationId = await conversation();
    const writer = new MessageWriter(db, { maxBatch: 7 });
    const tickets = Array.from({ length: 30 }, () => writer.write(message(conversationId)));
    await writer.close();
    expect(writer.stats().messages).to.equal(30);
    expect(writer.stats().largestBatch).to.equal(7);
    const written = await Promise.all(tickets.map((t) => t.promise));
    expect(written).to.have.length(30);
    const refused = await writer.write(message(conversationId)).promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).to.be.instanceOf(WireError);
    expect((refused as WireError).code).to.equal('shutting_down');
    await writer.close();
  });
});
