import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { ClientError } from '../../errors.js';
import { PROTOCOL_VERSION } from '../../protocol/constants.js';
import { TestConnection, createAccount, startTestServer, type TestServer } from '../../testing/index.js';
import { normaliseIp } from '../transport/index.js';
import { encodeFrameOnce } from '../connection.js';
import { SERVER_VERSION } from '../version.js';
import { MAX_TEST_BODY, TEST_PLUGIN_NAME, captureLogs, createTransportTestPlugin, eventually, sha256, sleep, type HookCounts } from './transport-fixtures.js';

type TransportName = 'tls' | 'ws';
const TRANSPORTS: readonly TransportName[] = ['tls', 'ws'];

async function refusedCode(attempt: Promise<TestConnection>): Promise<string> {
  try {
    const connection = await attempt;
    await connection.close();
  } catch (error) {
    expect(error).to.be.instanceOf(ClientError);
    return (error as ClientError).code;
  }
  throw new Error('expected the connection to be refused');
}

describe('server/transport: one dispatch over TLS and WebSocket', () => {
  let server: TestServer;
  const counts: HookCounts = { opened: new Map(), closed: new Map() };

  before(async () => {
    server = await startTestServer({ plugins: [createTransportTestPlugin(counts)] });
  });
  after(() => server.close());

  for (const transport of TRANSPORTS) {
    describe(`over ${transport}`, () => {
      let connection: TestConnection;
      beforeEach(async () => {
        connection = await server.connect({ transport });
      });
      afterEach(() => connection.close());

      it('greets with hello: protocol version, server version, plugins, limits', () => {
        expect(connection.hello.protocol_version).to.equal(PROTOCOL_VERSION);
        expect(connection.hello.server_version).to.equal(SERVER_VERSION);
        expect(connection.hello.plugins).to.deep.include({ name: TEST_PLUGIN_NAME, version: '1.2.3' });
        expect(connection.hello.limits.max_frame_bytes).to.equal(server.config.limits.maxFrameBytes);
        expect(connection.hello.limits.max_body_bytes).to.equal(server.config.limits.maxBodyBytes);
      });

      it('answers an unknown type with unknown_type and goes on', async () => {
        const error = await connection.expectError('no_such_type', {}, 'unknown_type');
        expect(error.message).to.include('no_such_type');
        expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
      });

      it('reports its transport and a normalised client address', async () => {
        const who = await connection.expectOk<{ transport: string; ip: string; connection_id: string }>('tt_whoami');
        expect(who.transport).to.equal(transport);
        expect(who.ip).to.equal('127.0.0.1');
        expect(who.connection_id).to.match(/^[0-9a-f-]{36}$/);
      });

      it('answers requests before login with not_authenticated', async () => {
        await connection.expectError('tt_secret', {}, 'not_authenticated');
        await connection.expectError('list_conversations', {}, 'not_authenticated');
        expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
      });

      it('carries a binary body to a handler and echoes bodies back through ctx.send, in order', async () => {
        const body = randomBytes(300_000);
        expect(await connection.expectOk('tt_upload', {}, body)).to.deep.equal({ size: body.length, sha256: sha256(body) });
        expect(await connection.expectOk('tt_upload', {}, new Uint8Array(0))).to.deep.equal({ size: 0, sha256: sha256(new Uint8Array(0)) });
        const small = randomBytes(1000);
        const echoed = await connection.request('tt_echo', { chunks: 3 }, small);
        expect(echoed.status).to.equal('ok');
        expect(echoed.data).to.deep.equal({ sent: 3 });
        // The chunks went out before the response, in order, each with the body.
        const chunks = connection.pushes.filter((push) => push.type === 'tt_chunk');
        expect(chunks.map((chunk) => (chunk.data as { index: number }).index)).to.deep.equal([0, 1, 2]);
        for (const chunk of chunks) {
          expect(chunk.frame.request_id).to.equal(echoed.request_id);
          expect(Buffer.from(chunk.body!).equals(small)).to.equal(true);
        }
      });

      it('refuses a body on a type that takes none, and one above the type\'s cap', async () => {
        const none = await connection.expectError('tt_ping', {}, 'bad_request', Buffer.from('x'));
        expect(none.field).to.equal('body_bytes');
        await connection.expectError('tt_upload', {}, 'body_too_large', new Uint8Array(MAX_TEST_BODY + 1));
        expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
      });

      it('answers a throwing handler with internal_error and keeps the connection', async () => {
        const error = await connection.expectError('tt_boom', {}, 'internal_error');
        expect(error.message).to.not.include('kaboom');
        expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
      });

      it('answers unreadable frames with the right code and keeps working', async () => {
        const send = (text: string | Buffer): Promise<void> =>
          transport === 'tls'
            ? connection.sendRaw(Buffer.concat([Buffer.from(text), Buffer.from('\n')]))
            : connection.sendRaw(Buffer.from(text), { binary: false });

        // Invalid JSON whose request_id can still be read: an error response to that request.
        await send('{"type":"tt_ping","request_id":"bad-json-1", oops}');
        const badJson = await connection.waitForResponse('bad-json-1');
        expect(badJson.status).to.equal('error');
        expect((badJson.data as { code: string }).code).to.equal('invalid_json');

        // Invalid UTF-8.
        await send(Buffer.concat([Buffer.from('{"type":"tt_ping","request_id":"bad-utf8","x":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]));
        const badUtf8 = await connection.waitForResponse('bad-utf8');
        expect((badUtf8.data as { code: string }).code).to.equal('invalid_json');

        // JSON without a type.
        await send('{"request_id":"no-type"}');
        const noType = await connection.waitForResponse('no-type');
        expect((noType.data as { code: string }).code).to.equal('invalid_frame');

        // Not an object, and nothing to answer: a protocol_error push.
        await send('[1,2,3]');
        const notObject = await connection.nextPush<{ code: string }>('protocol_error');
        expect(notObject.code).to.equal('invalid_frame');
        await send('not json at all');
        expect((await connection.nextPush<{ code: string }>('protocol_error')).code).to.equal('invalid_json');

        expect(connection.isClosed).to.equal(false);
        expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
      });
    });
  }

  it('calls the connection hooks exactly once per connection, whatever ends it', async () => {
    const before = new Set(counts.closed.keys());
    const polite = await server.connect();
    const politeId = (await polite.expectOk<{ connection_id: string }>('tt_whoami')).connection_id;
    await polite.close();
    const reset = await server.connect();
    const resetId = (await reset.expectOk<{ connection_id: string }>('tt_whoami')).connection_id;
    // Half a frame, then a hard reset: ECONNRESET on the server, which must shrug it off.
    await reset.sendRaw(Buffer.from('{"type":"tt_ping","request_id":"cut'));
    reset.destroy();
    const ws = await server.connect({ transport: 'ws' });
    const wsId = (await ws.expectOk<{ connection_id: string }>('tt_whoami')).connection_id;
    ws.destroy();
    await eventually(() => [politeId, resetId, wsId].every((id) => counts.closed.has(id)), 5000, 'disconnect hooks');
    await sleep(50);
    for (const id of [politeId, resetId, wsId]) {
      expect(before.has(id)).to.equal(false);
      expect(counts.opened.get(id)).to.equal(1);
      expect(counts.closed.get(id)).to.equal(1);
      expect(server.server.registry.get(id)).to.equal(undefined);
    }
    const after = await server.connect();
    expect(await after.expectOk('tt_ping')).to.deep.equal({ pong: true });
    await after.close();
  });

  it('answers 404 on other WebSocket paths and plain HTTP requests', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get({ host: server.host, port: server.wsPort, path: '/elsewhere', ca: server.certificate, servername: 'localhost' }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(status).to.equal(404);
    const upgrade = await new Promise<string>((resolve) => {
      const options: ClientOptions & { servername: string } = { ca: server.certificate, servername: 'localhost' };
      const socket = new WebSocket(`wss://${server.host}:${server.wsPort}/elsewhere`, options);
      socket.on('error', (error) => resolve(error.message));
      socket.on('open', () => {
        socket.terminate();
        resolve('opened');
      });
    });
    expect(upgrade).to.match(/404/);
  });
});

describe('server/transport: TLS hardening', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ plugins: [createTransportTestPlugin()] });
  });
  after(() => server.close());

  function handshake(options: tls.ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | { error: string }> {
    return new Promise((resolve) => {
      const socket = tls.connect({ host: server.host, port: server.port, ca: server.certificate, servername: 'localhost', ...options }, () => {
        const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
        socket.destroy();
        resolve(result);
      });
      socket.on('error', (error: Error & { code?: string }) => resolve({ error: error.code ?? error.message }));
    });
  }

  it('negotiates TLS 1.3 by default and verifies against the generated certificate', async () => {
    const result = await handshake({});
    expect(result).to.have.property('protocol', 'TLSv1.3');
  });

  it('accepts TLS 1.2 with an ECDHE AEAD suite', async () => {
    const result = await handshake({ maxVersion: 'TLSv1.2' });
    expect(result).to.have.property('protocol', 'TLSv1.2');
    expect((result as { cipher: string }).cipher).to.match(/^ECDHE-.*(GCM|CHACHA20)/);
  });

  it('refuses TLS 1.1 (the server answers with a protocol_version alert)', async () => {
    const result = await handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    // An alert received from the server: the client did offer TLS 1.1, the server refused it.
    expect(result).to.deep.equal({ error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
  });

  it('refuses TLS 1.2 without forward secrecy or AEAD (CBC, static RSA)', async () => {
    const result = await handshake({ maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA256' });
    expect(result).to.deep.equal({ error: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
  });

  it('keeps working after handshake failures and non-TLS garbage', async () => {
    const net = await import('node:net');
    await new Promise<void>((resolve) => {
      const socket = net.connect({ host: server.host, port: server.port }, () => socket.end('GET / HTTP/1.0\r\n\r\n'));
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
    const connection = await server.connect();
    expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
  });
});

describe('server/transport: frame cap (C1)', () => {
  const cap = 64 * 1024;
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { limits: { maxFrameBytes: cap, maxMessageBytes: 1024 } } });
  });
  after(() => server.close());

  /** A tt_ping frame of exactly `size` bytes (without the newline). */
  function frameOfSize(size: number, requestId: string): string {
    const base = JSON.stringify({ type: 'tt_ping', request_id: requestId, pad: '' });
    const frame = JSON.stringify({ type: 'tt_ping', request_id: requestId, pad: 'x'.repeat(size - base.length) });
    expect(Buffer.byteLength(frame)).to.equal(size);
    return frame;
  }

  for (const transport of TRANSPORTS) {
    it(`accepts a frame of exactly the cap over ${transport}, refuses one byte more and closes`, async () => {
      const connection = await server.connect({ transport });
      const exact = frameOfSize(cap, 'at-cap');
      if (transport === 'tls') await connection.sendRaw(Buffer.from(`${exact}\n`));
      else await connection.sendRaw(exact, { binary: false });
      const ok = await connection.waitForResponse('at-cap');
      expect(ok.status).to.equal('ok');

      const over = frameOfSize(cap + 1, 'over-cap');
      if (transport === 'tls') await connection.sendRaw(Buffer.from(`${over}\n`));
      else await connection.sendRaw(over, { binary: false });
      const refused = await connection.waitForResponse('over-cap');
      expect(refused.status).to.equal('error');
      expect((refused.data as { code: string; limit: number }).code).to.equal('frame_too_large');
      expect((refused.data as { limit: number }).limit).to.equal(cap);
      await connection.closed;
    });
  }

  it('cuts off 100 MB without a newline after the cap with frame_too_large, and survives', async function () {
    this.timeout(60_000);
    const connection = await server.connect();
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    try {
      while (sent < 100 * 1024 * 1024 && !connection.isClosed) {
        await connection.sendRaw(chunk);
        sent += chunk.length;
      }
    } catch {
      // The server closed the connection under us: that is the point.
    }
    await connection.closed;
    expect(sent).to.be.below(100 * 1024 * 1024);
    const error = connection.pushes.find((push) => push.type === 'protocol_error');
    expect(error, 'a protocol_error push').to.not.equal(undefined);
    expect((error!.data as { code: string }).code).to.equal('frame_too_large');
    const fresh = await server.connect();
    expect(await fresh.expectOk('tt_ping')).to.deep.equal({ pong: true });
    await fresh.close();
  });
});

describe('server/transport: limits', () => {
  it('limits the request rate per connection (burst, then rate_limited with retry_after_ms)', async () => {
    const server = await startTestServer({
      plugins: [createTransportTestPlugin()],
      config: { limits: { connectionRequestsPerSec: 2, connectionBurst: 3 } },
    });
    try {
      const connection = await server.connect();
      const responses = await Promise.all(Array.from({ length: 12 }, () => connection.request('tt_ping')));
      const ok = responses.filter((r) => r.status === 'ok').length;
      const limited = responses.filter((r) => r.status === 'error' && r.data.code === 'rate_limited');
      expect(ok).to.be.within(2, 6);
      expect(limited.length).to.equal(12 - ok);
      for (const response of limited) expect((response.data as { retry_after_ms: number }).retry_after_ms).to.be.a('number').and.be.greaterThan(0);
      // Another connection has its own budget.
      const other = await server.connect({ transport: 'ws' });
      expect(await other.expectOk('tt_ping')).to.deep.equal({ pong: true });
    } finally {
      await server.close();
    }
  });

  it('caps connections per IP with too_many_connections on both transports', async () => {
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { limits: { maxConnectionsPerIp: 2 } } });
    try {
      const first = await server.connect();
      await server.connect({ transport: 'ws' });
      expect(await refusedCode(server.connect())).to.equal('too_many_connections');
      expect(await refusedCode(server.connect({ transport: 'ws' }))).to.equal('too_many_connections');
      // A slot frees up when a connection closes.
      await first.close();
      await eventually(() => server.server.registry.size === 1, 5000, 'the registry to forget the closed connection');
      const again = await server.connect();
      expect(await again.expectOk('tt_ping')).to.deep.equal({ pong: true });
    } finally {
      await server.close();
    }
  });

  it('caps connections globally with too_many_connections', async () => {
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { limits: { maxConnections: 3 } } });
    try {
      for (let i = 0; i < 3; i++) await server.connect({ transport: i % 2 === 0 ? 'tls' : 'ws' });
      expect(await refusedCode(server.connect())).to.equal('too_many_connections');
      expect(await refusedCode(server.connect({ transport: 'ws' }))).to.equal('too_many_connections');
      expect(server.server.registry.size).to.equal(3);
    } finally {
      await server.close();
    }
  });

  it('closes connections that do not log in within the login timeout', async () => {
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { keepalive: { loginTimeoutMs: 150 } } });
    try {
      const tlsConnection = await server.connect();
      const wsConnection = await server.connect({ transport: 'ws' });
      await Promise.all([tlsConnection.closed, wsConnection.closed]);
      await eventually(() => server.server.registry.size === 0, 5000, 'an empty registry');
    } finally {
      await server.close();
    }
  });

  it('keeps logged-in connections past the login timeout, and still closes later idle ones', async () => {
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { keepalive: { loginTimeoutMs: 1000 } } });
    try {
      const account = await createAccount(server);
      // Connections that close early leave the deadline queue without holding up the others.
      for (let i = 0; i < 3; i++) await (await server.connect()).close();
      await sleep(1300);
      expect(account.connection.isClosed).to.equal(false);
      await account.connection.expectOk('tt_whoami');
      const late = await server.connect();
      await late.closed;
      expect(account.connection.isClosed).to.equal(false);
    } finally {
      await server.close();
    }
  });
});

describe('server/transport: slow consumers and dead peers', () => {
  for (const transport of TRANSPORTS) {
    it(`disconnects a ${transport} client that stops reading while pushes pile up, logging its id`, async function () {
      this.timeout(30_000);
      const logs = captureLogs('warn');
      const server = await startTestServer({
        plugins: [createTransportTestPlugin()],
        config: { limits: { maxWriteBufferBytes: 256 * 1024 } },
        logger: logs.logger,
      });
      try {
        const connection = await server.connect({ transport });
        const { connection_id: id } = await connection.expectOk<{ connection_id: string }>('tt_whoami');
        const live = server.server.registry.get(id)!;
        connection.pauseReading();
        const frame = encodeFrameOnce({ type: 'tt_flood', data: { pad: 'p'.repeat(60 * 1024) } });
        let accepted = 0;
        // Loopback socket buffers hold a few MB; the cap must trip long before 200 MB.
        for (let i = 0; i < 3200 && live.push(frame); i++) {
          accepted++;
          if (i % 50 === 0) await sleep(1);
        }
        expect(live.closed).to.equal(true);
        expect(accepted).to.be.below(3200);
        connection.resumeReading();
        await connection.closed;
        await eventually(() => server.server.registry.get(id) === undefined, 5000, 'the registry to drop the slow consumer');
        const line = logs.lines.find((entry) => String(entry.msg).includes('slow consumer'));
        expect(line, 'a slow-consumer log line').to.not.equal(undefined);
        expect(line!.connection).to.equal(id);
        expect(line!.level).to.equal(40);
        // Everyone else is unaffected.
        const other = await server.connect({ transport });
        expect(await other.expectOk('tt_ping')).to.deep.equal({ pong: true });
      } finally {
        await server.close();
      }
    });
  }

  it('terminates a WebSocket peer that stops answering pings, and keeps one that answers', async () => {
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { keepalive: { wsPingMs: 50 } } });
    try {
      const healthy = await server.connect({ transport: 'ws' });
      // A peer that stays connected but never answers pings (a dead NAT mapping looks like this).
      const options: ClientOptions & { servername: string } = { ca: server.certificate, servername: 'localhost', autoPong: false };
      const dead = new WebSocket(`wss://${server.host}:${server.wsPort}${server.config.wsPath}`, options);
      const closeCode = await new Promise<number>((resolve, reject) => {
        dead.on('error', reject);
        dead.on('close', (code) => resolve(code));
      });
      // Terminated without a close frame.
      expect(closeCode).to.equal(1006);
      await sleep(200);
      expect(healthy.isClosed).to.equal(false);
      expect(await healthy.expectOk('tt_ping')).to.deep.equal({ pong: true });
      await eventually(() => server.server.registry.size === 1, 5000, 'the dead peer to leave the registry');
    } finally {
      await server.close();
    }
  });
});

describe('server/transport: handler failures are logged with the plugin name', () => {
  it('logs internal_error with the plugin and type, never the stack on the wire', async () => {
    const logs = captureLogs('info');
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], logger: logs.logger });
    try {
      const connection = await server.connect();
      await connection.expectError('tt_boom', {}, 'internal_error');
      expect(await connection.expectOk('tt_ping')).to.deep.equal({ pong: true });
      const line = logs.lines.find((entry) => entry.msg === 'handler failed');
      expect(line, 'a handler failed log line').to.not.equal(undefined);
      expect(line!.plugin).to.equal(TEST_PLUGIN_NAME);
      expect(line!.type).to.equal('tt_boom');
      expect(line!.level).to.equal(50);
      expect(JSON.stringify(line!.err)).to.include('kaboom');
    } finally {
      await server.close();
    }
  });
});

describe('server/transport: client addresses', () => {
  it('normalises IPv4-mapped IPv6 addresses', () => {
    expect(normaliseIp('::ffff:10.0.0.7')).to.equal('10.0.0.7');
    expect(normaliseIp('::FFFF:127.0.0.1')).to.equal('127.0.0.1');
    expect(normaliseIp('::1')).to.equal('::1');
    expect(normaliseIp('2001:DB8::1')).to.equal('2001:db8::1');
    expect(normaliseIp('192.168.1.2')).to.equal('192.168.1.2');
    expect(normaliseIp(undefined)).to.equal('unknown');
  });

  it('counts an IPv4 client of a dual-stack listener by its IPv4 address', async () => {
    const server = await startTestServer({ plugins: [createTransportTestPlugin()], config: { host: '::', limits: { maxConnectionsPerIp: 1 } } });
    try {
      const connection = await TestConnection.open({ transport: 'tls', host: '127.0.0.1', port: server.port, ca: server.certificate });
      const who = await connection.expectOk<{ ip: string }>('tt_whoami');
      expect(who.ip).to.equal('127.0.0.1');
      expect(await refusedCode(TestConnection.open({ transport: 'tls', host: '127.0.0.1', port: server.port, ca: server.certificate }))).to.equal(
        'too_many_connections',
      );
      await connection.close();
    } finally {
      await server.close();
    }
  });
});
