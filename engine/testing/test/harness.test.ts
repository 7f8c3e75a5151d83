import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from 'typebox';
import { PLUGIN_API_VERSION, definePlugin } from '../../plugin/index.js';
import { ClientError } from '../../errors.js';
import { TestConnection, forEachBackend, startTestServer, testServerConfig, urlForDatabase, type TestServer } from '../index.js';

const harnessPlugin = definePlugin({
  name: 'harness-probe',
  version: '0.3.0',
  apiVersion: PLUGIN_API_VERSION,
  configSchema: Type.Object({ greeting: Type.String({ default: 'hello' }) }),
  publicConfig: ['greeting'],
  server(api) {
    api.handle('hp_greet', Type.Object({ name: Type.String() }), (request) => ({ text: `${api.config.greeting}, ${request.name}` }), { auth: false });
    api.handle(
      'hp_notify',
      Type.Object({ count: Type.Integer({ minimum: 0, maximum: 10 }), delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })) }),
      async (request, ctx) => {
        const send = async (): Promise<void> => {
          for (let i = 0; i < request.count; i++) await ctx.send({ type: 'hp_note', data: { i } });
        };
        if (request.delay_ms === undefined) await send();
        else setTimeout(() => void send().catch(() => undefined), request.delay_ms);
        return { scheduled: request.count };
      },
      { auth: false },
    );
    api.handle('hp_blob', Type.Object({ size: Type.Integer({ minimum: 0, maximum: 100_000 }) }), async (request, ctx) => {
      await ctx.send({ type: 'hp_blob_data', request_id: ctx.requestId, data: {} }, new Uint8Array(request.size).fill(7));
      return { size: request.size };
    }, { auth: false });
  },
});

describe('testing/startTestServer and TestConnection', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ plugins: [harnessPlugin], settings: { 'harness-probe': { greeting: 'ahoj' } }, config: { limits: { maxRecipients: 7 } } });
  });
  after(() => server.close());

  it('starts a test server with plugin definitions, settings and config overrides', () => {
    expect(server.port).to.be.greaterThan(0);
    expect(server.wsPort).to.be.greaterThan(0);
    expect(server.host).to.equal('127.0.0.1');
    expect(server.config.environment).to.equal('test');
    expect(server.config.limits.maxRecipients).to.equal(7);
    expect(server.server.plugins).to.deep.equal([{ name: 'harness-probe', version: '0.3.0' }]);
    expect(existsSync(server.dataDir)).to.equal(true);
    expect(server.certificate).to.match(/BEGIN CERTIFICATE/);
  });

  for (const transport of ['tls', 'ws'] as const) {
    describe(`over ${transport}`, () => {
      let connection: TestConnection;
      beforeEach(async () => {
        connection = await server.connect({ transport });
      });
      afterEach(() => connection.close());

      it('keeps the hello and answers requests', async () => {
        expect(connection.hello.plugins).to.deep.equal([{ name: 'harness-probe', version: '0.3.0' }]);
        expect(connection.hello.plugin_settings).to.deep.equal({ 'harness-probe': { greeting: 'ahoj' } });
        expect(connection.hello.limits.max_recipients).to.equal(7);
        expect(await connection.expectOk('hp_greet', { name: 'Jana' })).to.deep.equal({ text: 'ahoj, Jana' });
      });

      it('request() resolves error responses; expectOk throws with the code; expectError checks it', async () => {
        const response = await connection.request('hp_greet', {});
        expect(response.status).to.equal('error');
        expect(response.status === 'error' && response.data.code).to.equal('bad_request');
        let thrown: unknown;
        try {
          await connection.expectOk('hp_greet', {});
        } catch (error) {
          thrown = error;
        }
        expect(thrown).to.be.instanceOf(Error);
        expect((thrown as Error).message).to.match(/^hp_greet failed: bad_request: /);
        const data = await connection.expectError('hp_greet', { name: 5 }, 'bad_request');
        expect(data.field).to.equal('name');
        let wrong: unknown;
        try {
          await connection.expectError('hp_greet', { name: 5 }, 'not_found');
        } catch (error) {
          wrong = error;
        }
        expect((wrong as Error).message).to.match(/expected to fail with not_found but failed with bad_request/);
        let succeeded: unknown;
        try {
          await connection.expectError('hp_greet', { name: 'x' }, 'bad_request');
        } catch (error) {
          succeeded = error;
        }
        expect((succeeded as Error).message).to.match(/expected to fail with bad_request but succeeded/);
      });

      it('buffers pushes for nextPush, waits for later ones, and clears them', async () => {
        await connection.expectOk('hp_notify', { count: 2 });
        expect(connection.pushes.map((push) => push.type)).to.deep.equal(['hp_note', 'hp_note']);
        expect(await connection.nextPush('hp_note')).to.deep.equal({ i: 0 });
        expect(await connection.nextPush('hp_note')).to.deep.equal({ i: 1 });
        await connection.expectOk('hp_notify', { count: 1, delay_ms: 50 });
        expect(await connection.nextPush('hp_note', 2000)).to.deep.equal({ i: 0 });
        expect(connection.pushes).to.have.length(3);
        connection.clearPushes();
        expect(connection.pushes).to.have.length(0);
        let timeout: unknown;
        try {
          await connection.nextPush('hp_note', 50);
        } catch (error) {
          timeout = error;
        }
        expect((timeout as ClientError).code).to.equal('request_timeout');
      });

      it('delivers binary bodies with frames', async () => {
        await connection.expectOk('hp_blob', { size: 5000 });
        const frame = await connection.nextPushFrame('hp_blob_data');
        expect(frame.body).to.have.length(5000);
        expect(frame.body![4999]).to.equal(7);
      });

      it('sends raw bytes and reports closing', async () => {
        if (transport === 'tls') await connection.sendRaw(Buffer.from('{"type":"hp_greet","request_id":"raw-1","name":"raw"}\n'));
        else await connection.sendRaw('{"type":"hp_greet","request_id":"raw-1","name":"raw"}');
        const response = await connection.waitForResponse('raw-1');
        expect(response.status === 'ok' && response.data).to.deep.equal({ text: 'ahoj, raw' });
        expect(connection.isClosed).to.equal(false);
        await connection.close();
        expect(connection.isClosed).to.equal(true);
        await connection.closed;
        let refused: unknown;
        try {
          await connection.request('hp_greet', { name: 'late' });
        } catch (error) {
          refused = error;
        }
        expect((refused as ClientError).code).to.equal('connection_closed');
      });
    });
  }

  it('keeps TLS verification on: a client that does not trust the certificate cannot connect', async () => {
    let failure: unknown;
    try {
      const connection = await TestConnection.open({ transport: 'tls', host: server.host, port: server.port });
      await connection.close();
    } catch (error) {
      failure = error;
    }
    expect((failure as NodeJS.ErrnoException).code).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});

describe('testing/startTestServer lifecycle', () => {
  it('removes its temporary data folder on close, and keeps one it was given', async () => {
    const server = await startTestServer();
    const dataDir = server.dataDir;
    const connection = await server.connect();
    await server.close();
    expect(existsSync(dataDir)).to.equal(false);
    expect(connection.isClosed).to.equal(true);

    const own = await mkdtemp(join(tmpdir(), 'kecalek-own-'));
    try {
      const kept = await startTestServer({ config: { dataDir: own } });
      expect(kept.config.uploadDir).to.equal(join(own, 'uploads'));
      await kept.close();
      expect(existsSync(join(own, 'kecalek.db'))).to.equal(true);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  it('runs with WebSocket off, and refuses a ws connection then', async () => {
    const server = await startTestServer({ config: { wsPort: undefined } });
    try {
      expect(server.wsPort).to.equal(undefined);
      let failure: unknown;
      try {
        await server.connect({ transport: 'ws' });
      } catch (error) {
        failure = error;
      }
      expect((failure as Error).message).to.match(/WebSocket is off/);
    } finally {
      await server.close();
    }
  });

  it('reports a start-up failure and cleans up', async () => {
    let failure: unknown;
    try {
      await startTestServer({ plugins: ['no-such-plugin'] });
    } catch (error) {
      failure = error;
    }
    expect((failure as { code?: string }).code).to.equal('plugin_not_found');
  });

  it('re-exports testServerConfig', () => {
    const config = testServerConfig();
    expect(config.environment).to.equal('test');
    return rm(config.dataDir, { recursive: true, force: true });
  });
});

describe('testing/forEachBackend', () => {
  it('points a server URL at another database, keeping credentials', () => {
    expect(urlForDatabase('mysql://root:pw@127.0.0.1:3306/test', 'kecalek_t_ab')).to.equal('mysql://root:pw@127.0.0.1:3306/kecalek_t_ab');
    expect(urlForDatabase('mysql://root@db/test?ssl=true', 'x')).to.equal('mysql://root@db/x?ssl=true');
  });
});

const seen: string[] = [];
forEachBackend('testing/forEachBackend suite', (backend) => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ plugins: [harnessPlugin], databaseUrl: backend.databaseUrl });
  });
  after(() => server.close());

  it('runs against its backend', async () => {
    seen.push(backend.name);
    if (backend.name === 'sqlite') expect(backend.databaseUrl).to.equal(undefined);
    else expect(backend.databaseUrl).to.match(/^mysql:\/\/.*\/kecalek_t_[0-9a-f]{12}$/);
    expect(server.server.database.kind).to.equal(backend.name);
    const connection = await server.connect();
    expect(await connection.expectOk('hp_greet', { name: backend.name })).to.deep.equal({ text: `hello, ${backend.name}` });
  });
});
