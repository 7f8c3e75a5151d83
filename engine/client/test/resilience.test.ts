/**
 * The connection under stress, through a real server: a server restart in mid-conversation
 * (closed and started again on the same data and port) and a connection dropped while a message
 * was being stored lose nothing and duplicate nothing (the exact request is re-sent and the
 * server de-duplicates it by client_msg_id); request timeouts, pending requests failing at once on
 * a disconnect, a clear error for an unreachable or untrusted server, the protocol version check,
 * and the WebSocket transport.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Type } from 'typebox';
import { ClientError } from '../../errors.js';
import { definePlugin } from '../../plugin/define.js';
import { forEachBackend, startTestServer, type TestServer } from '../../testing/index.js';
import { ChatClient } from '../client.js';
import { clientFor, closeAll, registerUser, removeHomes, tempHome, waitFor, waitForText, type User } from './helpers.js';
import { connectionDropper } from './server-tools.js';

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/** A handler that answers only when the test lets it. */
function slowPlugin() {
  const waiting: Array<() => void> = [];
  const plugin = definePlugin({
    name: 'slow-op',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.handle('slow_op', Type.Object({}), () => new Promise<object>((resolve) => waiting.push(() => resolve({ done: true }))), { auth: false });
    },
  });
  return { plugin, release: () => waiting.splice(0).forEach((resolve) => resolve()) };
}

/** `echo_body`: answers with the request's binary body reversed, as a binary body of its own. */
const echoBody = definePlugin({
  name: 'echo-body',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.handle(
      'echo_body',
      Type.Object({ note: Type.String() }),
      async (request, ctx) => {
        const body = Uint8Array.from(ctx.body ?? new Uint8Array(0)).reverse();
        // The answer goes out with its body first; the handler's own (second) answer is ignored by the client.
        await ctx.send({ type: 'echo_body', request_id: ctx.requestId, status: 'ok', data: { note: request.note, length: body.length } }, body);
        return { ignored: true };
      },
      { auth: false, maxBodyBytes: 1024 * 1024 },
    );
  },
});

async function storedCopies(server: TestServer, clientMsgId: string): Promise<number> {
  const rows = (await server.server.database.knex('messages').where({ client_msg_id: clientMsgId }).count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(rows[0]!.n);
}

forEachBackend('ChatClient connection resilience', (backend) => {
  let server: TestServer | undefined;
  let dataDir: string;
  let alice: User;
  let bob: User;
  const slow = slowPlugin();
  const dropper = connectionDropper(() => server);

  const start = (port = 0, wsPort = 0) =>
    startTestServer({ databaseUrl: backend.databaseUrl, plugins: [dropper.plugin, slow.plugin, echoBody], config: { dataDir, port, wsPort } });

  before(async function () {
    this.timeout(60_000);
    dataDir = await mkdtemp(join(tmpdir(), 'kecalek-client-restart-'));
    server = await start();
    alice = await registerUser(server, { username: 'alice' });
    bob = await registerUser(server, { username: 'bob' });
  });

  after(async function () {
    this.timeout(60_000);
    slow.release();
    await closeAll(alice, bob);
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
    await removeHomes();
  });

  it('survives a server restart in mid-conversation: nothing lost, nothing duplicated', async function () {
    this.timeout(120_000);
    const dm = await alice.client.createDm(bob.email);
    const group = await alice.client.createGroup('Restart', [bob.email]);
    await alice.client.sendMessage(dm.id, 'before the restart');
    await alice.client.sendMessage(group.id, 'group before the restart');
    await waitForText(bob, dm.id, 'before the restart');
    await waitForText(bob, group.id, 'group before the restart');

    const { port, wsPort } = { port: server!.port, wsPort: server!.wsPort };
    await server!.close();
    server = undefined;
    await waitFor('both clients reconnecting', () => alice.client.state === 'reconnecting' && bob.client.state === 'reconnecting');
    // Sent while the server is down: kept and sent once it is back.
    const pendingDm = alice.client.sendMessage(dm.id, 'sent while the server was down');
    const pendingGroup = bob.client.sendMessage(group.id, 'group message while the server was down');
    server = await start(port, wsPort);

    const [dmSent, groupSent] = await Promise.all([pendingDm, pendingGroup]);
    await waitFor('both clients connected', () => alice.client.state === 'connected' && bob.client.state === 'connected');
    await waitForText(bob, dm.id, 'sent while the server was down');
    await waitForText(alice, group.id, 'group message while the server was down');
    await bob.client.sendMessage(dm.id, 'after the restart');
    await waitForText(alice, dm.id, 'after the restart');

    expect(await storedCopies(server, dmSent.clientMsgId!)).to.equal(1);
    expect(await storedCopies(server, groupSent.clientMsgId!)).to.equal(1);
    for (const user of [alice, bob]) {
      for (const id of [dm.id, group.id]) {
        const ids = (await user.client.getCachedMessages(id)).map((m) => m.id);
        expect(new Set(ids).size, `${user.username}: each message once`).to.equal(ids.length);
        expect(ids.some((m) => m.startsWith('pending:')), 'no pending message left').to.equal(false);
      }
    }
    const states = alice.events.of('connection').map(([state]) => state);
    expect(states).to.include('reconnecting');
    expect(states[states.length - 1]).to.equal('connected');
  });

  it('re-sends the exact request after a dropped connection; the server stores it once', async function () {
    this.timeout(60_000);
    const dm = await alice.client.createDm(bob.email);
    const bobBefore = bob.events.messages.length;
    dropper.arm(alice.self.userId);
    const sent = await alice.client.sendMessage(dm.id, 'the answer to this one is lost');
    expect(dropper.drops()).to.be.greaterThan(0);
    expect(await storedCopies(server!, sent.clientMsgId!)).to.equal(1);
    await waitForText(bob, dm.id, 'the answer to this one is lost');
    await bob.client.sendMessage(dm.id, 'and the conversation goes on');
    await waitForText(alice, dm.id, 'and the conversation goes on');
    const atBob = bob.events.messages.slice(bobBefore).filter((m) => m.text === 'the answer to this one is lost');
    expect(atBob.length).to.equal(1);
    const atAlice = (await alice.client.getCachedMessages(dm.id)).filter((m) => m.text === 'the answer to this one is lost');
    expect(atAlice.map((m) => m.id)).to.deep.equal([sent.id]);
  });

  it('times out a request, and fails every pending request at once when the connection drops', async function () {
    this.timeout(60_000);
    const impatient = await clientFor(server!, { options: { requestTimeoutMs: 200, autoReconnect: false } });
    await impatient.connect();
    const timedOut = await rejection(impatient.request('slow_op'));
    expect(timedOut).to.be.instanceOf(ClientError);
    expect(timedOut.code).to.equal('request_timeout');

    const patient = await clientFor(server!, { options: { requestTimeoutMs: 600_000, autoReconnect: false } });
    await patient.connect();
    const pending = [patient.request('slow_op'), patient.request('slow_op')].map((p) => rejection(p));
    await waitFor('the requests reached the server', () => [...server!.server.registry.all()].length > 0);
    // Drop every connection that is not logged in (the two test clients).
    for (const connection of [...server!.server.registry.all()]) if (!connection.session) connection.destroy();
    for (const error of await Promise.all(pending)) {
      expect(error).to.be.instanceOf(ClientError);
      expect(error.code).to.equal('connection_closed');
    }
    slow.release();
    await closeAll(impatient, patient);
  });

  it('reports an unreachable server clearly, and refuses an untrusted certificate unless insecureDev', async function () {
    this.timeout(30_000);
    const home = await tempHome();
    const nowhere = new ChatClient({ server: { host: '127.0.0.1', port: 1, transport: 'tls' }, home });
    const unreachable = await rejection(nowhere.connect());
    expect(unreachable.code).to.equal('not_connected');
    expect(unreachable.message).to.match(/Cannot reach the Kecalek server at 127\.0\.0\.1:1: connection refused/);
    expect(nowhere.state).to.equal('disconnected');

    const untrusting = new ChatClient({ server: { host: '127.0.0.1', port: server!.port, transport: 'tls', servername: 'localhost' }, home });
    const untrusted = await rejection(untrusting.connect());
    expect(untrusted.code).to.equal('not_connected');
    expect(untrusted.message).to.match(/certificate/);

    const dev = new ChatClient({ server: { host: '127.0.0.1', port: server!.port, transport: 'tls', insecureDev: true }, home });
    const info = await dev.connect();
    expect(info.protocolVersion).to.equal(1);
    expect(info.plugins.map((p) => p.name)).to.include.members(['slow-op', 'connection-dropper']);
    expect(info.limits.max_message_bytes).to.be.a('number');
    await dev.close();
  });

  it('carries raw binary bodies both ways (for file transfer)', async function () {
    this.timeout(30_000);
    const client = await clientFor(server!);
    await client.connect();
    const body = new Uint8Array(300_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const answer = await client.exchange<{ note: string; length: number }>('echo_body', { note: 'binary' }, { body });
    expect(answer.data).to.deep.equal({ note: 'binary', length: body.length });
    expect(Buffer.from(answer.body!).equals(Buffer.from(Uint8Array.from(body).reverse()))).to.equal(true);
    await client.close();
  });

  it('refuses a server that speaks another protocol version', async function () {
    this.timeout(30_000);
    const future = definePlugin({
      name: 'future-protocol',
      version: '1.0.0',
      apiVersion: 1,
      server(api) {
        api.hooks.capabilities.tap((capabilities) => ({ ...capabilities, protocol_version: 99 }));
      },
    });
    const other = await startTestServer({ plugins: [future] });
    try {
      const client = await clientFor(other);
      const error = await rejection(client.connect());
      expect(error.code).to.equal('protocol_mismatch');
      expect(error.message).to.match(/version 99/);
    } finally {
      await other.close();
    }
  });

  it('speaks the same protocol over WebSocket', async function () {
    this.timeout(60_000);
    const carol = await registerUser(server!, { username: 'carol', transport: 'ws' });
    const dave = await registerUser(server!, { username: 'dave', transport: 'ws' });
    try {
      const dm = await carol.client.createDm(dave.email);
      await carol.client.sendMessage(dm.id, 'over websocket');
      await waitForText(dave, dm.id, 'over websocket');
      // And with a TLS client of another user.
      const withAlice = await dave.client.createDm(alice.email);
      await dave.client.sendMessage(withAlice.id, 'from ws to tls');
      await waitForText(alice, withAlice.id, 'from ws to tls');
      await alice.client.sendMessage(withAlice.id, 'from tls to ws');
      await waitForText(dave, withAlice.id, 'from tls to ws');
    } finally {
      await closeAll(carol, dave);
    }
  });
});
