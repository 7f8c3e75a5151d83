/**
 * Plugin fields on cached messages (`extra`) through a real server: a message decrypted late
 * (undecryptable first, readable when processed again) keeps what plugins stored on it meanwhile
 * merged with the fetched row's fields; and updates of one message — plugins' `updateMessage` and
 * the client's own writes — are serialised, so that concurrent ones never overwrite each other.
 */
import { expect } from 'chai';
import { definePlugin } from '../../plugin/define.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import type { DeviceContext } from '../core.js';
import type { CachedMessage } from '../history.js';
import type { Messenger } from '../messenger.js';
import { closeAll, registerUser, removeHomes, waitFor, waitForText, type User } from './helpers.js';

interface MarkMethods {
  update(conversationId: string, messageId: string, patch: Record<string, unknown>): Promise<boolean>;
}

/** Every fetched message carries `server_mark`; the client part exposes updateMessage. */
const mark = definePlugin({
  name: 'mark',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.hooks.messagesFetched.tap((messages) => messages.map((message) => ({ ...message, server_mark: 'fetched' })));
  },
  client(api) {
    api.expose({ update: (conversationId: string, messageId: string, patch: Record<string, unknown>) => api.client.updateMessage(conversationId, messageId, patch) });
  },
});

/** The client's internals this white-box suite reaches into: the message cache and the messenger. */
function internals(user: User): { context: DeviceContext; messenger: Messenger } {
  return user.client as unknown as { context: DeviceContext; messenger: Messenger };
}

async function cached(user: User, conversationId: string, messageId: string): Promise<CachedMessage> {
  const message = await internals(user).context.cache.get(conversationId, messageId);
  if (!message) throw new Error(`message ${messageId} is not cached`);
  return message;
}

/** The message once readable again (a background sync of the client may be the one that retries it). */
async function readableAgain(user: User, conversationId: string, messageId: string): Promise<CachedMessage> {
  return waitFor('the message readable again', async () => {
    const message = await cached(user, conversationId, messageId);
    return message.undecryptable ? undefined : message;
  });
}

/**
 * Turns a readable cached message back into an undecryptable placeholder (as if this device had
 * not been able to read it), with plugin fields stored on it meanwhile. The server holds the
 * device's self copy, so processing the row again decrypts it.
 */
async function makePlaceholder(user: User, conversationId: string, messageId: string, extra: Record<string, unknown>): Promise<void> {
  const { context, messenger } = internals(user);
  await messenger.flushSelfCopies();
  const message = await cached(user, conversationId, messageId);
  await context.cache.put({
    ...message,
    payload: {},
    undecryptable: true,
    extra,
    raw: {
      id: message.id,
      conversation_id: conversationId,
      sender_id: message.senderId,
      sender_device_id: message.senderDeviceId,
      kind: 'message',
      created_at: message.createdAt,
      deleted_at: null,
      body: null,
      recipient_body: null,
      self_body: null,
      extra: {},
    },
  });
}

forEachBackend('ChatClient: plugin fields of cached messages', (backend) => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  const marks = (user: User) => user.client.plugins.mark as unknown as MarkMethods;

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [mark] });
    alice = await registerUser(server, { username: 'alice', plugins: [mark] });
    bob = await registerUser(server, { username: 'bob', plugins: [mark] });
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(alice, bob);
    await server?.close();
    await removeHomes();
  });

  it('keeps plugin fields of a message decrypted late, merged with the fetched row’s', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    const sent = await alice.client.sendMessage(dm.id, 'read me later');
    await waitForText(bob, dm.id, 'read me later');
    // Syncs of a conversation run one at a time: this one waits out any background sync still
    // running, so that none of them retries (and throttles) the placeholder made next.
    await bob.client.syncConversation(dm.id);
    await makePlaceholder(bob, dm.id, sent.id, { reactions: [{ user_id: alice.self.userId, reaction: 'like', created_at: 1 }], server_mark: 'stale' });
    expect((await bob.client.getCachedMessages(dm.id)).find((m) => m.id === sent.id)?.undecryptable).to.equal(true);

    await bob.client.syncConversation(dm.id);
    const readable = await readableAgain(bob, dm.id, sent.id);
    expect(readable.payload.text).to.equal('read me later');
    // The plugin's field stayed; the row's field (the server's state now) won over the stale copy.
    expect(readable.extra).to.deep.equal({ reactions: [{ user_id: alice.self.userId, reaction: 'like', created_at: 1 }], server_mark: 'fetched' });
    const updated = bob.events.of('message_updated').map(([message]) => message).filter((message) => message.id === sent.id);
    expect(updated[updated.length - 1]?.extra).to.deep.include({ server_mark: 'fetched' });
  });

  it('serialises concurrent updateMessage calls of one message: none is lost', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    const sent = await alice.client.sendMessage(dm.id, 'many hands');
    await waitForText(bob, dm.id, 'many hands');
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => marks(bob).update(dm.id, sent.id, { [`k${i}`]: i })));
    expect(results.every((ok) => ok)).to.equal(true);
    const extra = (await cached(bob, dm.id, sent.id)).extra;
    for (let i = 0; i < 30; i++) expect(extra[`k${i}`], `k${i}`).to.equal(i);
    // Removing and setting at once, concurrently with more setting.
    await Promise.all([marks(bob).update(dm.id, sent.id, { k0: undefined, k1: 'one' }), marks(bob).update(dm.id, sent.id, { k2: undefined }), marks(bob).update(dm.id, sent.id, { fresh: true })]);
    const after = (await cached(bob, dm.id, sent.id)).extra;
    expect(after).to.not.have.property('k0');
    expect(after).to.not.have.property('k2');
    expect(after).to.include({ k1: 'one', k3: 3, fresh: true });
    expect(await marks(bob).update(dm.id, '01940000-0000-7000-8000-00000000dead', { x: 1 })).to.equal(false);
  });

  it('serialises updateMessage with the client’s own write of the message (a late decrypt): both survive', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    const sent = await alice.client.sendMessage(dm.id, 'raced');
    await waitForText(bob, dm.id, 'raced');
    await makePlaceholder(bob, dm.id, sent.id, { before: 'placeholder' });
    // The decrypt (a read, a decryption, a write) and plugin updates start together.
    const [, ...updates] = await Promise.all([
      bob.client.syncConversation(dm.id),
      marks(bob).update(dm.id, sent.id, { during: 1 }),
      marks(bob).update(dm.id, sent.id, { during2: 2 }),
    ]);
    expect(updates).to.deep.equal([true, true]);
    const message = await readableAgain(bob, dm.id, sent.id);
    expect(message.payload.text).to.equal('raced');
    expect(message.extra).to.deep.equal({ before: 'placeholder', during: 1, during2: 2, server_mark: 'fetched' });
  });

  it('keeps plugin fields when the message is confirmed, deleted, or its deletion is refused', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    const sent = await alice.client.sendMessage(dm.id, 'mine');
    await Promise.all([marks(alice).update(dm.id, sent.id, { a: 1 }), alice.client.deleteMessage(dm.id, sent.id), marks(alice).update(dm.id, sent.id, { b: 2 })]);
    const deleted = await cached(alice, dm.id, sent.id);
    expect(deleted.deleted).to.equal(true);
    expect(deleted.extra).to.include({ a: 1, b: 2 });
  });
});
