/**
 * Group conversations with Sender Keys through a real server whose membership changes:
 * - a newcomer reads (decrypted) every message sent after joining, and nothing from before;
 * - a removed member cannot read anything sent after its removal — not from pushes a malicious
 *   server sends it, not with the sender keys it held (checked on a copy of its key store) —
 *   because every remaining member rotated its sender key;
 * - forged group messages (a valid-looking message signed by another key, or another member's
 *   ciphertext tampered and injected through send_message by a malicious member) are refused and
 *   reported, never shown;
 * - a member's new device that a sender could not encrypt for yet (its pre-keys were not up when
 *   the message was sent) recovers the message (sender-key request and resend).
 */
import { cp } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { CryptoError, CryptoErrorCode } from '../../errors.js';
import {
  bytesToHex,
  concatBytes,
  deriveLocalStorageKey,
  ed25519KeyPair,
  ed25519Sign,
  nodeProvider,
  peekSenderKeyChainId,
  utf8Encode,
} from '../../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../../protocol/base64.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import { createAccount, type TestAccount } from '../../testing/accounts.js';
import { GroupKeys } from '../groups.js';
import { KeyedSerial } from '../serial.js';
import { AccountStore } from '../store/account-store.js';
import { PASSWORD, closeAll, linkDevice, loginUser, registerUser, removeHomes, tempHome, waitFor, waitForText, type User } from './helpers.js';
import { evilServer, preKeyGate, requestRecorder } from './server-tools.js';

interface BodyRow {
  id: string;
  sender_id: string;
  sender_device_id: string;
  body: string;
  created_at: number;
}

/** The group bodies the server stored for a conversation, oldest first. */
async function groupBodies(server: TestServer, conversationId: string): Promise<BodyRow[]> {
  const rows = (await server.server.database.knex('messages')
    .where({ conversation_id: conversationId, kind: 'message' })
    .whereNotNull('body')
    .orderBy('created_at')
    .select('id', 'sender_id', 'sender_device_id', 'body', 'created_at')) as BodyRow[];
  return rows.map((row) => ({ ...row, created_at: Number(row.created_at) }));
}

/** The sender-key chain id inside a group body (after the 2-byte envelope prefix). */
function chainOf(body: string): string {
  return bytesToHex(peekSenderKeyChainId(decodeBase64(body, 'body').subarray(2)));
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

forEachBackend('ChatClient groups', (backend) => {
  let server: TestServer;
  let alice: User;
  let alice2: User;
  let bob: User;
  let carol: User;
  let dave: User;
  let groupId: string;
  const extra: User[] = [];
  const gate = preKeyGate();
  const recorder = requestRecorder();

  before(async function () {
    this.timeout(120_000);
    server = await startTestServer({ databaseUrl: backend.databaseUrl, plugins: [evilServer, gate.plugin, recorder.plugin] });
    alice = await registerUser(server, { username: 'alice' });
    bob = await registerUser(server, { username: 'bob' });
    carol = await registerUser(server, { username: 'carol' });
    dave = await registerUser(server, { username: 'dave' });
    alice2 = await linkDevice(server, alice);
  });

  after(async function () {
    this.timeout(60_000);
    await closeAll(alice, alice2, bob, carol, dave, ...extra);
    await server?.close();
    await removeHomes();
  });

  it('delivers group messages to every member device, own other devices included', async function () {
    this.timeout(60_000);
    const group = await alice.client.createGroup('Hiking', [bob.email, dave.email]);
    groupId = group.id;
    expect(group.members.map((m) => m.userId)).to.have.members([alice.self.userId, bob.self.userId, dave.self.userId]);
    await alice.client.sendMessage(groupId, 'before carol (alice)');
    await bob.client.sendMessage(groupId, 'before carol (bob)');
    for (const member of [alice, alice2, bob, dave]) {
      await waitForText(member, groupId, 'before carol (alice)');
      await waitForText(member, groupId, 'before carol (bob)');
    }
    await alice2.client.sendMessage(groupId, 'from alice’s second device');
    for (const member of [alice, bob, dave]) await waitForText(member, groupId, 'from alice’s second device');
  });

  it('lets a newcomer read every message sent after it joined (and nothing from before)', async function () {
    this.timeout(60_000);
    const added = await alice.client.addMember(groupId, carol.email);
    expect(added).to.deep.equal({ userId: carol.self.userId, outcome: 'added' });
    // Bob sends at once: his client may not have processed member_added yet; Carol must read it anyway.
    await bob.client.sendMessage(groupId, 'after carol joined (bob)');
    await alice.client.sendMessage(groupId, 'after carol joined (alice)');
    await dave.client.sendMessage(groupId, 'after carol joined (dave)');
    for (const text of ['after carol joined (bob)', 'after carol joined (alice)', 'after carol joined (dave)']) {
      const message = await waitForText(carol, groupId, text);
      expect(message.undecryptable).to.equal(false);
    }
    const texts = (await carol.client.getCachedMessages(groupId)).map((m) => m.text);
    expect(texts).to.not.include('before carol (alice)');
    expect(texts).to.not.include('before carol (bob)');
    await carol.client.sendMessage(groupId, 'hello from carol');
    for (const member of [alice, alice2, bob, dave]) await waitForText(member, groupId, 'hello from carol');
  });

  it('keeps a removed member out of everything sent after its removal; the others rotate their sender keys', async function () {
    this.timeout(90_000);
    await alice.client.sendMessage(groupId, 'last one dave reads');
    await waitForText(dave, groupId, 'last one dave reads');
    // What Dave holds at this point, as a copy: a malicious client would keep exactly this.
    const daveCopy = await tempHome();
    await dave.client.close();
    await cp(dave.home, daveCopy, { recursive: true });
    dave = await loginUser(server, dave, { home: dave.home });

    const before = await groupBodies(server, groupId);
    const chainsBefore = new Map<string, Set<string>>();
    for (const row of before) {
      const key = `${row.sender_id}:${row.sender_device_id}`;
      if (!chainsBefore.has(key)) chainsBefore.set(key, new Set());
      chainsBefore.get(key)!.add(chainOf(row.body));
    }

    await alice.client.removeMember(groupId, dave.self.userId);
    await waitFor('the group removed at Dave', () => dave.events.of('conversation_removed').find(([info]) => info.conversationId === groupId));
    const removedAt = Date.now();

    await alice.client.sendMessage(groupId, 'after dave left (alice)');
    await bob.client.sendMessage(groupId, 'after dave left (bob)');
    await carol.client.sendMessage(groupId, 'after dave left (carol)');
    await alice2.client.sendMessage(groupId, 'after dave left (alice2)');
    for (const member of [alice, alice2, bob, carol]) {
      for (const who of ['alice', 'bob', 'carol', 'alice2']) await waitForText(member, groupId, `after dave left (${who})`);
    }

    // Every remaining member's device sends on a new chain now.
    const after = (await groupBodies(server, groupId)).filter((row) => row.created_at >= removedAt - 1000 && !before.some((b) => b.id === row.id));
    expect(after.length).to.equal(4);
    for (const row of after) {
      const old = chainsBefore.get(`${row.sender_id}:${row.sender_device_id}`);
      expect(old, 'the sender sent before the removal').to.not.equal(undefined);
      expect(old!.has(chainOf(row.body)), 'a new chain after the removal').to.equal(false);
    }

    // Dave gets nothing through the server ...
    expect(dave.events.messages.map((m) => m.text).filter((t) => t.startsWith('after dave left'))).to.deep.equal([]);
    const refused = await rejection(dave.client.request('get_messages', { conversation_id: groupId }));
    expect(refused.code).to.equal('not_found');
    // ... nor when a malicious server pushes him the ciphertext ...
    const evil = await server.connect();
    for (const row of after) {
      await evil.expectOk('evil_push', {
        user_id: dave.self.userId,
        push_type: 'new_message',
        data: { message_id: row.id, conversation_id: groupId, sender_id: row.sender_id, sender_device_id: row.sender_device_id, kind: 'message', created_at: row.created_at, body: row.body, recipient_body: null },
      });
    }
    await evil.expectOk('evil_push', { user_id: dave.self.userId, push_type: 'user_online', data: { user_id: alice.self.userId } });
    await waitFor('the pushes processed at Dave', () => dave.events.of('presence').length > 0);
    expect(dave.events.messages.filter((m) => m.conversationId === groupId && !m.undecryptable && m.text.startsWith('after'))).to.deep.equal([]);
    await evil.close();

    // ... nor with the sender keys he held before the removal.
    const store = new AccountStore(daveCopy, dave.email, nodeProvider);
    const keys = await store.openKeys(utf8Encode(PASSWORD));
    store.unlock(deriveLocalStorageKey(keys.identitySeed));
    const held = new GroupKeys(store, nodeProvider, new KeyedSerial(), (error) => {
      throw error;
    });
    for (const row of after) {
      const body = decodeBase64(row.body, 'body').subarray(2);
      const error = await rejection(held.decrypt(groupId, row.sender_id, row.sender_device_id, body));
      expect(error).to.be.instanceOf(CryptoError);
      expect(error.code).to.equal(CryptoErrorCode.UNKNOWN_CHAIN);
    }
    // The copy really holds the chains from before: an old message is recognised (already read).
    const old = before.find((row) => row.sender_id === bob.self.userId)!;
    const replay = await rejection(held.decrypt(groupId, old.sender_id, old.sender_device_id, decodeBase64(old.body, 'body').subarray(2)));
    expect(replay.code).to.equal(CryptoErrorCode.DUPLICATE_MESSAGE);
    store.lock();
  });

  it('refuses a group message signed by another key (a malicious server inventing one)', async function () {
    this.timeout(60_000);
    const sent = await alice.client.sendMessage(groupId, 'genuine');
    await waitForText(bob, groupId, 'genuine');
    const row = (await groupBodies(server, groupId)).find((r) => r.id === sent.id)!;
    const bytes = decodeBase64(row.body, 'body');
    const message = bytes.subarray(2);
    const unsigned = message.subarray(0, message.length - 64);
    const forgedSignature = ed25519Sign(ed25519KeyPair().privateKey, concatBytes(utf8Encode('KecalekSenderKeyMessage\u0000'), unsigned));
    const forged = concatBytes(bytes.subarray(0, 2), unsigned, forgedSignature);
    const forgedId = randomUUID();
    const evil = await server.connect();
    await evil.expectOk('evil_push', {
      user_id: bob.self.userId,
      push_type: 'new_message',
      data: {
        message_id: forgedId,
        conversation_id: groupId,
        sender_id: alice.self.userId,
        sender_device_id: alice.self.deviceId,
        kind: 'message',
        created_at: Date.now(),
        body: encodeBase64(forged),
        recipient_body: null,
      },
    });
    await evil.close();
    const reported = await waitFor('the forgery reported at Bob', () =>
      bob.events.errors.find((error) => error instanceof CryptoError && (error.details as { messageId?: string } | undefined)?.messageId === forgedId),
    );
    expect((reported as CryptoError).code).to.equal(CryptoErrorCode.BAD_SIGNATURE);
    expect((await bob.client.getCachedMessages(groupId)).some((m) => m.id === forgedId)).to.equal(false);
    expect(bob.events.messages.some((m) => m.id === forgedId)).to.equal(false);
  });

  it('refuses another member’s ciphertext, tampered and injected through send_message by a malicious member', async function () {
    this.timeout(60_000);
    const mallory: TestAccount = await createAccount(server, { username: 'mallory' });
    await alice.client.addMember(groupId, mallory.email);
    const sent = await alice.client.sendMessage(groupId, 'mallory wants to fake this');
    await waitForText(bob, groupId, sent.text);
    const row = (await groupBodies(server, groupId)).find((r) => r.id === sent.id)!;
    const bytes = decodeBase64(row.body, 'body');
    bytes[bytes.length - 80]! ^= 0x01; // inside the ciphertext
    const injected = await mallory.connection.expectOk<{ message_id: string }>('send_message', {
      conversation_id: groupId,
      kind: 'message',
      body: encodeBase64(bytes),
      recipients: [],
    });
    const reported = await waitFor('the injected message reported at Bob', () =>
      bob.events.errors.find((error) => error instanceof CryptoError && (error.details as { messageId?: string } | undefined)?.messageId === injected.message_id),
    );
    expect((reported as CryptoError).code).to.equal(CryptoErrorCode.BAD_SIGNATURE);
    await waitFor('the injected message refused at Carol', () =>
      carol.events.errors.find((error) => (error as CryptoError).details?.messageId === injected.message_id),
    );
    for (const member of [bob, carol, alice2]) {
      expect((await member.client.getCachedMessages(groupId)).some((m) => m.id === injected.message_id)).to.equal(false);
    }
    // An untampered replay under Mallory's name is refused the same way (another member's chain).
    bytes[bytes.length - 80]! ^= 0x01;
    const replayed = await mallory.connection.expectOk<{ message_id: string }>('send_message', {
      conversation_id: groupId,
      kind: 'message',
      body: encodeBase64(bytes),
      recipients: [],
    });
    await waitFor('the replay refused at Bob', () => bob.events.errors.find((error) => (error as CryptoError).details?.messageId === replayed.message_id));
    expect((await bob.client.getCachedMessages(groupId)).some((m) => m.id === replayed.message_id)).to.equal(false);
    await alice.client.removeMember(groupId, mallory.userId);
    await mallory.connection.close();
  });

  it('lets a new device of a member read group messages it has no sender key for yet', async function () {
    this.timeout(90_000);
    const errorsBefore = new Map([alice, bob, carol].map((member) => [member, member.events.errors.length]));
    // Bob's new device is logged in (Alice was told) but its pre-keys are held back: Alice cannot
    // give it her sender key, yet the server hands it the group message.
    gate.arm(bob.self.userId);
    const linking = linkDevice(server, bob);
    await gate.reached();
    const sent = await alice.client.sendMessage(groupId, 'to the new device too');
    gate.release();
    const bob2 = await linking;
    extra.push(bob2);
    const atBob2 = await waitForText(bob2, groupId, 'to the new device too');
    expect(atBob2.id).to.equal(sent.id);
    // It asked Alice for her key (a control message of its own in the group).
    const asked = recorder.requests.filter((r) => r.type === 'send_message' && r.deviceId === bob2.self.deviceId && r.conversationId === groupId && r.kind === 'control');
    expect(asked.length).to.be.greaterThan(0);
    await bob2.client.sendMessage(groupId, 'bob’s new device speaks');
    for (const member of [alice, alice2, bob, carol]) await waitForText(member, groupId, 'bob’s new device speaks');
    for (const member of [alice, bob, carol, bob2]) expect(member.events.errors.slice(errorsBefore.get(member) ?? 0), member.username).to.deep.equal([]);
  });
});
