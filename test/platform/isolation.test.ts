/**
 * Plugins cannot disturb each other or the engine: a throwing handler answers only its own
 * request with internal_error (logged with the plugin's name) and the connection goes on; a
 * throwing tap of a fail-open hook does not skip the other taps; a failing guard tap refuses the
 * operation (fail-closed); services pass between plugins only along declared dependencies; each
 * plugin's key-value store is its own.
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { Type } from 'typebox';
import { createToken, definePlugin, errors, WireError, WireErrorCode } from '../../engine/plugin/index.js';
import { createLogger } from '../../engine/server/logger.js';
import {
  closeAll,
  createAccount,
  forEachBackend,
  registerUser,
  removeHomes,
  startTestServer,
  waitFor,
  type TestServer,
} from '../../engine/testing/index.js';

interface LogLine {
  level: number;
  msg: string;
  plugin?: string;
  hook?: string;
  type?: string;
  err?: { message: string };
}

/** A logger whose lines the test can read. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

const fragile = definePlugin({
  name: 'fragile',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.handle('fragile_throw', Type.Object({}), () => {
      throw new TypeError('a bug in fragile');
    });
    api.handle('fragile_reject', Type.Object({}), async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('an asynchronous bug in fragile');
    });
    api.handle('fragile_refuse', Type.Object({}), () => {
      throw errors.forbidden('fragile says no');
    });
    api.handle('fragile_ok', Type.Object({ n: Type.Integer() }), (request) => ({ n: request.n }));
  },
});

/** What the well-behaved taps saw. */
const seen = { authenticated: [] as string[], stored: [] as string[], guarded: [] as string[] };
let refuseAdditions = false;

/** Every tap of this plugin throws. It starts first, so its taps run before the others'. */
const brokenTaps = definePlugin({
  name: 'broken-taps',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.hooks.authenticated.tap(() => {
      throw new Error('authenticated tap broke');
    });
    api.hooks.messageStored.tap(() => {
      throw new Error('messageStored tap broke');
    });
    api.hooks.conversationsListed.tap(() => {
      throw new Error('conversationsListed tap broke');
    });
    api.hooks.capabilities.tap(() => {
      throw new Error('capabilities tap broke');
    });
  },
});

const goodTaps = definePlugin({
  name: 'good-taps',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.hooks.authenticated.tap((event) => {
      seen.authenticated.push(event.session.userId);
    });
    api.hooks.messageStored.tap((message) => {
      seen.stored.push(message.id);
    });
    api.hooks.conversationsListed.tap((views) => views.map((view) => ({ ...view, good_taps: 'decorated' })));
    api.hooks.capabilities.tap((capabilities) => ({ ...capabilities, good_taps: true }));
  },
});

/** Guards: a throwing guard tap refuses, a returned WireError refuses with its code. */
const guard = definePlugin({
  name: 'guard',
  version: '1.0.0',
  apiVersion: 1,
  server(api) {
    api.hooks.beforeRequest.tap((request) => {
      if (request.type === 'guard_broken') throw new Error('guard tap broke');
      if (request.type === 'guard_refused') return new WireError(WireErrorCode.FORBIDDEN, 'not today');
      return undefined;
    });
    api.hooks.memberAdding.tap(() => {
      if (refuseAdditions) throw new Error('memberAdding tap broke');
    });
    for (const type of ['guard_broken', 'guard_refused', 'guard_open']) {
      api.handle(type, Type.Object({}), () => {
        seen.guarded.push(type);
        return { ran: type };
      });
    }
  },
});

const kvPlugin = (name: string, prefix: string) =>
  definePlugin({
    name,
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.handle(`${prefix}_set`, Type.Object({ key: Type.String(), value: Type.String() }), async (request) => {
        await api.kv.set(request.key, { value: request.value });
        return {};
      });
      api.handle(`${prefix}_get`, Type.Object({ key: Type.String() }), async (request) => ({
        found: (await api.kv.get<{ value: string }>(request.key)) ?? null,
        all: await api.kv.list(),
      }));
      api.handle(`${prefix}_delete`, Type.Object({ key: Type.String() }), async (request) => ({ deleted: await api.kv.delete(request.key) }));
    },
  });

forEachBackend('platform: plugins are isolated from each other', (backend) => {
  let server: TestServer;
  let logs: LogLine[];

  before(async function () {
    this.timeout(60_000);
    const captured = capturedLogger();
    logs = captured.lines;
    server = await startTestServer({
      databaseUrl: backend.databaseUrl,
      plugins: [fragile, brokenTaps, goodTaps, guard, kvPlugin('kv-red', 'red'), kvPlugin('kv-blue', 'blue')],
      logger: captured.logger,
    });
  });

  after(async function () {
    this.timeout(30_000);
    await server?.close();
    await removeHomes();
  });

  it('answers a throwing handler with internal_error and goes on serving that connection and the others', async function () {
    this.timeout(30_000);
    const account = await createAccount(server);
    const other = await createAccount(server);
    const connection = account.connection;
    // Pipelined: the failures sit between requests that must still be answered.
    const answers = await Promise.all([
      connection.request('fragile_throw'),
      connection.request('fragile_ok', { n: 1 }),
      connection.request('fragile_reject'),
      connection.request('fragile_ok', { n: 2 }),
      connection.request('fragile_refuse'),
      other.connection.request('fragile_ok', { n: 3 }),
      connection.request('get_prekey_count'),
    ]);
    expect(answers.map((answer) => (answer.status === 'ok' ? 'ok' : answer.data.code))).to.deep.equal([
      'internal_error',
      'ok',
      'internal_error',
      'ok',
      'forbidden',
      'ok',
      'ok',
    ]);
    // The caller learns nothing about the bug.
    const internal = answers[0]!;
    expect(internal.status === 'error' && internal.data.message).not.to.contain('fragile');
    expect(connection.isClosed).to.equal(false);
    expect((await connection.expectOk<{ n: number }>('fragile_ok', { n: 4 })).n).to.equal(4);

    // Logged with the plugin's name and the type; a deliberate WireError is not a failure.
    const failures = logs.filter((line) => line.msg === 'handler failed');
    expect(failures.map((line) => [line.plugin, line.type, line.err?.message])).to.deep.equal([
      ['fragile', 'fragile_throw', 'a bug in fragile'],
      ['fragile', 'fragile_reject', 'an asynchronous bug in fragile'],
    ]);
  });

  it('runs the other taps of a fail-open hook when one tap throws, and logs the one that threw', async function () {
    this.timeout(60_000);
    const alice = await registerUser(server);
    const bob = await registerUser(server);
    try {
      // authenticated (series): the broken tap ran first, the good one still saw both logins.
      expect(seen.authenticated).to.include.members([alice.self.userId, bob.self.userId]);
      // capabilities (sync waterfall): hello still carries the good plugin's field.
      const hello = (await server.connect()).hello as unknown as Record<string, unknown>;
      expect(hello.good_taps).to.equal(true);
      // conversationsListed (waterfall): the good tap's decoration arrives.
      const dm = await alice.client.createDm(bob.email);
      const listed = await alice.client.listConversations();
      expect(listed.find((c) => c.id === dm.id)?.extra.good_taps).to.equal('decorated');
      // messageStored (parallel): the good tap saw the message.
      const sent = await alice.client.sendMessage(dm.id, 'hooks keep going');
      await waitFor('the good messageStored tap', () => seen.stored.includes(sent.id));
      for (const hook of ['authenticated', 'messageStored', 'conversationsListed', 'capabilities']) {
        expect(
          logs.some((line) => line.plugin === 'broken-taps' && line.hook === hook && line.err?.message === `${hook} tap broke`),
          `a log line for the broken ${hook} tap`,
        ).to.equal(true);
      }
    } finally {
      await closeAll(alice, bob);
    }
  });

  it('refuses the operation when a guard tap throws or refuses (fail-closed)', async function () {
    this.timeout(30_000);
    const account = await createAccount(server);
    const other = await createAccount(server);
    const handledBefore = seen.guarded.length;
    await account.connection.expectError('guard_broken', {}, 'internal_error');
    const refused = await account.connection.expectError('guard_refused', {}, 'forbidden');
    expect(refused.message).to.equal('not today');
    expect(await account.connection.expectOk('guard_open')).to.deep.equal({ ran: 'guard_open' });
    expect(seen.guarded.slice(handledBefore)).to.deep.equal(['guard_open']);
    expect(logs.some((line) => line.plugin === 'guard' && line.hook === 'beforeRequest' && line.msg.includes('refusing'))).to.equal(true);

    // memberAdding: a failing guard keeps the person out of the group.
    const { conversation } = await account.connection.expectOk<{ conversation: { id: string } }>('create_conversation', { kind: 'group', name: 'guarded', user_ids: [] });
    refuseAdditions = true;
    try {
      await account.connection.expectError('add_member', { conversation_id: conversation.id, user_id: other.userId }, 'internal_error');
    } finally {
      refuseAdditions = false;
    }
    const members = await server.server.database.knex('conversation_members').where({ conversation_id: conversation.id }).pluck('user_id');
    expect(members).to.deep.equal([account.userId]);
    await account.connection.expectOk('add_member', { conversation_id: conversation.id, user_id: other.userId });
  });

  it('gives each plugin its own key-value namespace', async function () {
    this.timeout(30_000);
    const { connection } = await createAccount(server);
    await connection.expectOk('red_set', { key: 'colour', value: 'red' });
    await connection.expectOk('blue_set', { key: 'colour', value: 'blue' });
    await connection.expectOk('blue_set', { key: 'extra', value: 'only blue' });
    expect(await connection.expectOk('red_get', { key: 'colour' })).to.deep.equal({ found: { value: 'red' }, all: [{ key: 'colour', value: { value: 'red' } }] });
    expect((await connection.expectOk<{ found: unknown }>('blue_get', { key: 'colour' })).found).to.deep.equal({ value: 'blue' });
    expect((await connection.expectOk<{ found: unknown }>('red_get', { key: 'extra' })).found).to.equal(null);
    expect(await connection.expectOk('red_delete', { key: 'extra' })).to.deep.equal({ deleted: false });
    expect(await connection.expectOk('red_delete', { key: 'colour' })).to.deep.equal({ deleted: true });
    expect((await connection.expectOk<{ found: unknown }>('blue_get', { key: 'colour' })).found).to.deep.equal({ value: 'blue' });
    const rows = await server.server.database.knex('plugin_kv').select('plugin', 'key').orderBy(['plugin', 'key']);
    expect(rows).to.deep.equal([
      { plugin: 'kv-blue', key: 'colour' },
      { plugin: 'kv-blue', key: 'extra' },
    ]);
  });
});

describe('platform: services between plugins (provide / use)', function () {
  this.timeout(30_000);
  const counterToken = createToken<{ next(): number }>('counter.next');

  const counter = definePlugin({
    name: 'counter',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      let value = 0;
      api.provide(counterToken, { next: () => ++value });
    },
  });
  const consumer = definePlugin({
    name: 'consumer',
    version: '1.0.0',
    apiVersion: 1,
    dependsOn: ['counter'],
    server(api) {
      const service = api.use(counterToken);
      api.handle('consumer_next', Type.Object({}), () => ({ value: service.next() }));
    },
  });
  const undeclared = definePlugin({
    name: 'undeclared',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.use(counterToken);
    },
  });
  const impostor = definePlugin({
    name: 'impostor',
    version: '1.0.0',
    apiVersion: 1,
    server(api) {
      api.provide(counterToken, { next: () => 0 });
    },
  });

  async function startFailure(plugins: Parameters<typeof startTestServer>[0]): Promise<Error & { code?: string }> {
    try {
      await (await startTestServer(plugins)).close();
    } catch (error) {
      return error as Error & { code?: string };
    }
    throw new Error('the server started');
  }

  it('lets a plugin use a service of a plugin it depends on, started first whatever the list order', async () => {
    const server = await startTestServer({ plugins: [consumer, counter] });
    try {
      expect(server.server.plugins.map((p) => p.name)).to.deep.equal(['counter', 'consumer']);
      const { connection } = await createAccount(server);
      expect(await connection.expectOk('consumer_next')).to.deep.equal({ value: 1 });
      expect(await connection.expectOk('consumer_next')).to.deep.equal({ value: 2 });
    } finally {
      await server.close();
    }
  });

  it('refuses use() without declaring the provider in dependsOn, and provide() of another plugin’s token', async () => {
    const undeclaredUse = await startFailure({ plugins: [counter, undeclared] });
    expect(undeclaredUse.code).to.equal('plugin_start_failed');
    expect(undeclaredUse.message).to.equal('Plugin "undeclared" failed to start: Plugin "undeclared" uses counter.next but does not declare "counter" in dependsOn');
    const foreign = await startFailure({ plugins: [impostor] });
    expect(foreign.code).to.equal('plugin_start_failed');
    expect(foreign.message).to.equal('Plugin "impostor" failed to start: Plugin "impostor" cannot provide counter.next: tokens are named after their provider');
  });
});
