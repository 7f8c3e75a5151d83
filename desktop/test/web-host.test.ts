/**
 * The web host: the renderer over HTTP on 127.0.0.1 with the security headers, the bridge over a
 * token-protected WebSocket, and a full round trip against a real server.
 */
import { expect } from 'chai';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { closeAll, FAST_ENVELOPE, PASSWORD, readOutboxCode, registerUser, removeHomes, startTestServer, tempHome, uniqueName, waitFor, waitForText, type TestServer, type User } from '../../engine/testing/index.js';
import { webHostCsp } from '../main/csp.js';
import type { BridgeWireEvent, BridgeWireReply } from '../shared/bridge.js';
import { startWebHost, type WebHost } from '../web-host/web-host.js';
import { echoPlugin } from './bridge-fixtures.js';

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a WebSocket; resolves with it when open, or with the HTTP status that refused it. */
function openSocket(url: string, headers: Record<string, string> = {}): Promise<{ socket?: WebSocket; status?: number; closed?: boolean }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.on('open', () => resolve({ socket }));
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode;
      res.on('close', () => resolve({ status, closed: true }));
      res.resume();
    });
    socket.on('error', () => undefined);
  });
}

/** A minimal wire client: numbered requests, replies by id, events recorded. */
class WireClient {
  private next = 1;
  private readonly waiting = new Map<number, (reply: BridgeWireReply) => void>();
  readonly events: BridgeWireEvent[] = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as BridgeWireReply | BridgeWireEvent;
      if ('id' in message) this.waiting.get(message.id)?.(message);
      else this.events.push(message);
    });
  }

  call(method: string, args: unknown): Promise<BridgeWireReply> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ id, method, args }));
    });
  }

  async result<T>(method: string, args: unknown): Promise<T> {
    const reply = await this.call(method, args);
    if (!reply.ok) throw new Error(`${method}: ${reply.error.code} ${reply.error.message}`);
    return reply.result as T;
  }
}

describe('desktop: web host', function () {
  this.timeout(90_000);
  let server: TestServer;
  let host: WebHost;
  let scratch: string;
  let peer: User;
  const sockets: WebSocket[] = [];

  before(async () => {
    server = await startTestServer({ plugins: [echoPlugin] });
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-web-host-'));
    const rendererDir = join(scratch, 'renderer');
    await mkdir(rendererDir);
    await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Kecalek</title><script type="module" src="index.js"></script>');
    await writeFile(join(rendererDir, 'index.js'), 'export {};');
    await writeFile(join(scratch, 'secret.txt'), 'outside');
    host = await startWebHost({
      server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
      home: await tempHome(),
      rendererDir,
      plugins: [echoPlugin],
      client: { keyEnvelope: FAST_ENVELOPE, requestTimeoutMs: 20_000 },
    });
    peer = await registerUser(server, { plugins: [echoPlugin] });
  });

  after(async () => {
    for (const socket of sockets) socket.terminate();
    await host?.close();
    await closeAll(peer);
    await server?.close();
    await rm(scratch, { recursive: true, force: true });
    await removeHomes();
  });

  /** The bridge address with this token (the host's own by default, none for null). */
  const bridgeUrl = (token: string | null = host.token): string =>
    `ws://127.0.0.1:${host.port}/bridge${token === null ? '' : `?token=${encodeURIComponent(token)}`}`;

  it('prints a loopback URL carrying a 32-byte base64url token', () => {
    expect(host.url).to.equal(`http://127.0.0.1:${host.port}/?token=${host.token}`);
    expect(host.token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(host.token, 'base64url')).to.have.length(32);
  });

  it('serves the renderer bundle with the CSP, nosniff and no-referrer headers', async () => {
    const page = await get(host.port, `/?token=${host.token}`, { Host: `127.0.0.1:${host.port}` });
    expect(page.status).to.equal(200);
    expect(page.body).to.include('<title>Kecalek</title>');
    expect(page.headers['content-type']).to.equal('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).to.equal(webHostCsp(host.port));
    expect(page.headers['content-security-policy']).to.include(`connect-src 'self' ws://127.0.0.1:${host.port};`);
    expect(page.headers['content-security-policy']).to.include("script-src 'self'");
    expect(page.headers['content-security-policy']).to.not.include('unsafe');
    expect(page.headers['x-content-type-options']).to.equal('nosniff');
    expect(page.headers['referrer-policy']).to.equal('no-referrer');

    const script = await get(host.port, '/index.js', { Host: `127.0.0.1:${host.port}` });
    expect(script.status).to.equal(200);
    expect(script.headers['content-type']).to.equal('text/javascript; charset=utf-8');
    expect(script.headers['content-security-policy']).to.equal(webHostCsp(host.port));

    expect((await get(host.port, '/missing.js', { Host: `127.0.0.1:${host.port}` })).status).to.equal(404);
    const escape = await get(host.port, '/..%2fsecret.txt', { Host: `127.0.0.1:${host.port}` });
    expect(escape.status).to.equal(403);
    expect(escape.body).to.not.include('outside');
    expect((await get(host.port, '/', { Host: `127.0.0.1:${host.port}` }, 'POST')).status).to.equal(405);
    // DNS rebinding: a page of another name that resolves to 127.0.0.1 is refused.
    expect((await get(host.port, '/', { Host: `evil.example:${host.port}` })).status).to.equal(403);
  });

  it('refuses the bridge WebSocket without the token or with a wrong one (403, closed)', async () => {
    const none = await openSocket(bridgeUrl(null));
    expect(none).to.deep.equal({ status: 403, closed: true });
    const wrong = await openSocket(bridgeUrl(`${host.token.startsWith('A') ? 'B' : 'A'}${host.token.slice(1)}`));
    expect(wrong).to.deep.equal({ status: 403, closed: true });
    const short = await openSocket(bridgeUrl('x'));
    expect(short.status).to.equal(403);
  });

  it('refuses a foreign Origin even with the right token', async () => {
    const foreign = await openSocket(bridgeUrl(), { Origin: 'https://evil.example' });
    expect(foreign).to.deep.equal({ status: 403, closed: true });
    const otherPort = await openSocket(bridgeUrl(), { Origin: `http://127.0.0.1:${host.port + 1}` });
    expect(otherPort.status).to.equal(403);
    const own = await openSocket(bridgeUrl(), { Origin: `http://127.0.0.1:${host.port}` });
    expect(own.socket).to.not.equal(undefined);
    sockets.push(own.socket!);
  });

  it('carries the bridge: sign up, DM, send and receive messages against a real server', async () => {
    const opened = await openSocket(bridgeUrl(), { Origin: `http://127.0.0.1:${host.port}` });
    sockets.push(opened.socket!);
    const wire = new WireClient(opened.socket!);

    const state = await wire.result<{ self: unknown; server: { plugins: Array<{ name: string }> } }>('getState', {});
    expect(state.self).to.equal(undefined);

    const unknown = await wire.call('nope', {});
    expect(unknown).to.deep.include({ ok: false });
    if (!unknown.ok) expect(unknown.error.code).to.equal('unknown_method');

    const username = uniqueName('w');
    const email = `${username}@example.test`;
    await wire.result('register', { username, email, password: PASSWORD });
    const self = await wire.result<{ userId: string }>('confirmRegistration', { code: await readOutboxCode(server, email) });
    expect(self.userId).to.be.a('string');
    await waitFor('a state event with self', () => wire.events.find((e) => e.event === 'state' && (e.data as { self?: unknown }).self));

    const dm = await wire.result<{ id: string }>('createDm', { email: peer.email });
    const sent = await wire.result<{ id: string; status: string }>('sendMessage', { conversationId: dm.id, text: 'z prohlížeče' });
    expect(sent.status).to.equal('sent');
    await waitForText(peer, dm.id, 'z prohlížeče');

    await peer.client.sendMessage(dm.id, 'odpověď z terminálu');
    const event = await waitFor('the peer\'s message event', () =>
      wire.events.find((e) => e.event === 'message' && (e.data as { text?: string }).text === 'odpověď z terminálu'),
    );
    expect(event.data).to.include({ conversationId: dm.id, senderId: peer.self.userId, own: false });

    const echoed = await wire.result('pluginCall', { plugin: 'echo', method: 'echo', args: ['hi'] });
    expect(echoed).to.deep.equal({ values: ['hi'], self: username });
  });

  it('closes a socket that sends something other than bridge requests', async () => {
    const opened = await openSocket(bridgeUrl());
    sockets.push(opened.socket!);
    const closed = new Promise<number>((resolve) => opened.socket!.on('close', (code) => resolve(code)));
    opened.socket!.send('not json');
    expect(await closed).to.equal(1007);
  });

  it('listens on 127.0.0.1 only', async () => {
    let error: unknown;
    try {
      await startWebHost({ host: '0.0.0.0' as '127.0.0.1', server: { host: server.host, port: server.port, transport: 'tls' }, home: scratch });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(Error);
  });
});
