/**
 * The Electron main-process wiring with fake electron objects (the Electron binary cannot run
 * here): window security flags, the app:// scheme and its CSP header, path escapes, permissions,
 * window.open, navigation, and the IPC sender check.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserWindowConstructorOptions } from 'electron';
import {
  appProtocolHandler,
  denyPermissions,
  forwardBridgeEvents,
  installBridgeIpc,
  registerAppScheme,
  startDesktopApp,
  type BridgeLike,
  type DesktopDeps,
  type DesktopWindow,
  type IpcMainDeps,
  type SessionDeps,
} from '../main/app.js';
import { APP_CSP } from '../main/csp.js';
import { APP_ENTRY_URL, createMainWindow, hardenWebContents, isAppUrl, mainWindowOptions, type WebContentsDeps, type WindowDeps, type WindowLike } from '../main/window.js';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type BridgeReply } from '../shared/bridge.js';

type Listener = (...args: unknown[]) => void;

/** The fakes implement only what the wiring uses; the electron types describe much more. */
function as<T>(fake: unknown): T {
  return fake as T;
}

class FakeEmitter {
  readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  once(event: string, listener: Listener): this {
    const wrapped: Listener = (...args) => {
      this.listeners.set(event, (this.listeners.get(event) ?? []).filter((l) => l !== wrapped));
      listener(...args);
    };
    return this.on(event, wrapped);
  }
  fire(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) listener(...args);
  }
}

class FakeWebContents extends FakeEmitter {
  openHandler: ((details: { url: string }) => { action: string }) | undefined;
  readonly sent: Array<{ channel: string; args: unknown[] }> = [];
  url = '';
  destroyed = false;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.openHandler = handler;
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  getURL(): string {
    return this.url;
  }
  /** Fires a navigation-like event and says whether it was cancelled. */
  attempt(event: string, url: string): boolean {
    let prevented = false;
    this.fire(event, { preventDefault: () => (prevented = true), url }, url);
    return prevented;
  }
}

class FakeWindow extends FakeEmitter {
  static created: FakeWindow[] = [];
  readonly webContents = new FakeWebContents();
  loaded: string[] = [];
  shown = false;
  constructor(readonly options: BrowserWindowConstructorOptions) {
    super();
    FakeWindow.created.push(this);
  }
  async loadURL(url: string): Promise<void> {
    this.loaded.push(url);
    this.webContents.url = url;
  }
  show(): void {
    this.shown = true;
  }
  isDestroyed(): boolean {
    return false;
  }
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  focus(): void {}
}

class FakeShell {
  readonly opened: string[] = [];
  async openExternal(url: string): Promise<void> {
    this.opened.push(url);
  }
}

class FakeIpcMain {
  readonly handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  handle(channel: string, handler: (event: unknown, ...args: unknown[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
    this.handlers.set(channel, handler);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  call(url: string | null, method: unknown, args: unknown): Promise<BridgeReply> {
    const handler = this.handlers.get(IPC_INVOKE_CHANNEL);
    if (!handler) throw new Error('no invoke handler');
    return Promise.resolve(handler({ senderFrame: url === null ? null : { url } }, method, args)) as Promise<BridgeReply>;
  }
}

class FakeSession {
  requestHandler: ((contents: unknown, permission: string, callback: (granted: boolean) => void, details: unknown) => void) | undefined;
  checkHandler: ((contents: unknown, permission: string, origin: string, details: unknown) => boolean) | undefined;
  setPermissionRequestHandler(handler: FakeSession['requestHandler']): void {
    this.requestHandler = handler;
  }
  setPermissionCheckHandler(handler: FakeSession['checkHandler']): void {
    this.checkHandler = handler;
  }
}

class FakeProtocol {
  privileged: unknown[] = [];
  handlers = new Map<string, (request: Request) => Promise<Response>>();
  registerSchemesAsPrivileged(schemes: unknown[]): void {
    this.privileged.push(...schemes);
  }
  handle(scheme: string, handler: (request: Request) => Promise<Response>): void {
    this.handlers.set(scheme, handler);
  }
}

class FakeApp extends FakeEmitter {
  readonly calls: string[] = [];
  private ready!: () => void;
  readonly readyPromise = new Promise<void>((resolve) => (this.ready = resolve));
  lock = true;
  enableSandbox(): void {
    this.calls.push('enableSandbox');
  }
  requestSingleInstanceLock(): boolean {
    this.calls.push('requestSingleInstanceLock');
    return this.lock;
  }
  whenReady(): Promise<void> {
    return this.readyPromise;
  }
  becomeReady(): void {
    this.calls.push('ready');
    this.ready();
  }
  quit(): void {
    this.calls.push('quit');
  }
}

class FakeBridge implements BridgeLike {
  readonly calls: Array<{ method: unknown; args: unknown }> = [];
  private listener: ((event: string, data: unknown) => void) | undefined;
  closed = false;
  async start(): Promise<void> {}
  async invoke(method: unknown, args: unknown): Promise<BridgeReply> {
    this.calls.push({ method, args });
    return { ok: true, result: { echoed: method } };
  }
  subscribe(listener: (event: never, data: never) => void): () => void {
    this.listener = listener as (event: string, data: unknown) => void;
    return () => (this.listener = undefined);
  }
  fire(event: string, data: unknown): void {
    this.listener?.(event, data);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe('desktop: window and app wiring (fake electron objects)', () => {
  let rendererDir: string;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-window-'));
    rendererDir = join(scratch, 'renderer');
    await mkdir(join(rendererDir, 'assets'), { recursive: true });
    await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Kecalek</title><script type="module" src="index.js"></script>');
    await writeFile(join(rendererDir, 'index.js'), 'console.log("kecalek")');
    await writeFile(join(rendererDir, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(scratch, 'secret.txt'), 'outside the renderer');
    await symlink(join(scratch, 'secret.txt'), join(rendererDir, 'link.txt'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('creates the window with isolation, sandbox, no Node and web security', () => {
    const options = mainWindowOptions('/app/preload/preload.cjs');
    const web = options.webPreferences!;
    expect(web).to.include({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, preload: '/app/preload/preload.cjs' });
    expect(web.allowRunningInsecureContent).to.not.equal(true);
    expect(web.nodeIntegrationInWorker).to.not.equal(true);
    expect(web.nodeIntegrationInSubFrames).to.not.equal(true);
    expect(web.webviewTag).to.not.equal(true);

    const shell = new FakeShell();
    const window = as<FakeWindow>(createMainWindow(as<WindowDeps<WindowLike>>({ BrowserWindow: FakeWindow, shell }), { preloadPath: '/app/preload/preload.cjs' }));
    expect(window.options.webPreferences).to.deep.equal(web);
    expect(window.options.show).to.equal(false);
    window.fire('ready-to-show');
    expect(window.shown).to.equal(true);
  });

  it('registers app:// as a privileged standard, secure, fetch-capable scheme', () => {
    const protocol = new FakeProtocol();
    registerAppScheme(protocol);
    expect(protocol.privileged).to.deep.equal([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
  });

  it('serves renderer files over app:// with the CSP as a response header', async () => {
    const handler = appProtocolHandler(rendererDir);
    const index = await handler(new Request('app://kecalek/index.html'));
    expect(index.status).to.equal(200);
    expect(index.headers.get('content-security-policy')).to.equal(APP_CSP);
    expect(APP_CSP).to.equal(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(index.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(index.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(await index.text()).to.include('<title>Kecalek</title>');

    const root = await handler(new Request('app://kecalek/'));
    expect(root.status).to.equal(200);
    const script = await handler(new Request('app://kecalek/index.js'));
    expect(script.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    const svg = await handler(new Request('app://kecalek/assets/logo.svg'));
    expect(svg.status).to.equal(200);
    expect(svg.headers.get('content-type')).to.equal('image/svg+xml');

    const missing = await handler(new Request('app://kecalek/nope.js'));
    expect(missing.status).to.equal(404);
    expect(missing.headers.get('content-security-policy')).to.equal(APP_CSP);
    const otherHost = await handler(new Request('app://evil/index.html'));
    expect(otherHost.status).to.equal(403);
    const post = await handler(new Request('app://kecalek/index.html', { method: 'POST', body: 'x' }));
    expect(post.status).to.equal(405);
  });

  it('refuses paths that escape the renderer folder', async () => {
    const handler = appProtocolHandler(rendererDir);
    for (const path of ['..%2Fsecret.txt', '%2e%2e%2fsecret.txt', 'assets%2F..%2F..%2Fsecret.txt', '..%5Csecret.txt', 'link.txt', '.hidden', 'index.html%00.js']) {
      const response = await handler(new Request(`app://kecalek/${path}`));
      expect(response.status, path).to.be.oneOf([403, 404]);
      expect(await response.text(), path).to.not.include('outside the renderer');
    }
    // The URL parser resolves plain dot segments before the handler sees them: still inside the folder.
    const dotted = await handler(new Request('app://kecalek/../../secret.txt'));
    expect(dotted.status).to.equal(404);
    expect((await handler(new Request('app://kecalek/%2e%2e%2fsecret.txt'))).status).to.equal(403);
    expect((await handler(new Request('app://kecalek/link.txt'))).status).to.equal(403);
  });

  it('denies every permission request and check', () => {
    const session = new FakeSession();
    denyPermissions(as<SessionDeps>(session));
    const answers: boolean[] = [];
    for (const permission of ['media', 'notifications', 'geolocation', 'clipboard-read', 'openExternal']) {
      session.requestHandler!({}, permission, (granted) => answers.push(granted), {});
      expect(session.checkHandler!({}, permission, 'app://kecalek', {})).to.equal(false);
    }
    expect(answers).to.deep.equal([false, false, false, false, false]);
  });

  it('denies window.open and opens only https links in the system browser', () => {
    const contents = new FakeWebContents();
    const shell = new FakeShell();
    hardenWebContents(as<WebContentsDeps>(contents), shell);
    expect(contents.openHandler!({ url: 'https://example.org/page' })).to.deep.equal({ action: 'deny' });
    expect(contents.openHandler!({ url: 'http://example.org/' })).to.deep.equal({ action: 'deny' });
    expect(contents.openHandler!({ url: 'file:///etc/passwd' })).to.deep.equal({ action: 'deny' });
    expect(contents.openHandler!({ url: 'javascript:alert(1)' })).to.deep.equal({ action: 'deny' });
    expect(contents.openHandler!({ url: 'https://user:pw@example.org/' })).to.deep.equal({ action: 'deny' });
    expect(shell.opened).to.deep.equal(['https://example.org/page']);
  });

  it('blocks navigation, redirects and <webview>', () => {
    const contents = new FakeWebContents();
    const shell = new FakeShell();
    hardenWebContents(as<WebContentsDeps>(contents), shell);
    hardenWebContents(as<WebContentsDeps>(contents), shell); // a second call changes nothing
    expect(contents.attempt('will-navigate', 'https://example.org/elsewhere')).to.equal(true);
    expect(contents.attempt('will-navigate', 'app://kecalek/other.html')).to.equal(true);
    expect(contents.attempt('will-navigate', 'file:///etc/passwd')).to.equal(true);
    expect(contents.attempt('will-redirect', 'https://example.org/')).to.equal(true);
    expect(contents.attempt('will-attach-webview', 'https://example.org/')).to.equal(true);
    expect(shell.opened).to.deep.equal(['https://example.org/elsewhere']);
  });

  it('answers IPC only from app://kecalek frames', async () => {
    const ipc = new FakeIpcMain();
    const bridge = new FakeBridge();
    const remove = installBridgeIpc(as<IpcMainDeps>(ipc), bridge);
    expect([...ipc.handlers.keys()]).to.deep.equal([IPC_INVOKE_CHANNEL]);

    expect(await ipc.call('app://kecalek/index.html', 'getState', {})).to.deep.equal({ ok: true, result: { echoed: 'getState' } });
    for (const url of ['https://kecalek/', 'app://evil/index.html', 'file:///index.html', 'app://kecalek.evil/', 'app://user@kecalek/', 'null', '', null]) {
      const reply = await ipc.call(url, 'getState', {});
      expect(reply.ok, String(url)).to.equal(false);
      if (!reply.ok) expect(reply.error.code).to.equal('forbidden_sender');
    }
    expect(bridge.calls).to.have.length(1);
    // In Node the origin of app:// URLs is "null": the check compares protocol and host.
    expect(new URL('app://kecalek/').origin).to.equal('null');
    expect(isAppUrl('app://kecalek/index.html')).to.equal(true);
    remove();
    expect(ipc.handlers.size).to.equal(0);
  });

  it('sends bridge events on the event channel only to the app page', () => {
    const bridge = new FakeBridge();
    const contents = new FakeWebContents();
    contents.url = 'app://kecalek/index.html';
    forwardBridgeEvents(bridge, () => contents);
    bridge.fire('presence', { userId: 'u', online: true });
    expect(contents.sent).to.deep.equal([{ channel: IPC_EVENT_CHANNEL, args: [{ event: 'presence', data: { userId: 'u', online: true } }] }]);
    contents.url = 'https://example.org/';
    bridge.fire('presence', { userId: 'u', online: false });
    contents.destroyed = true;
    contents.url = 'app://kecalek/index.html';
    bridge.fire('presence', { userId: 'u', online: false });
    expect(contents.sent).to.have.length(1);
  });

  it('starts the whole app: scheme before ready, then permissions, app:// handler, bridge, IPC and the window', async () => {
    FakeWindow.created = [];
    const app = new FakeApp();
    const protocol = new FakeProtocol();
    const session = new FakeSession();
    const ipcMain = new FakeIpcMain();
    const shell = new FakeShell();
    const bridge = new FakeBridge();
    const deps = { app, protocol, session: { defaultSession: session }, ipcMain, BrowserWindow: FakeWindow, shell } as unknown as DesktopDeps<DesktopWindow & FakeWindow>;
    const started = startDesktopApp(deps, { rendererDir, preloadPath: '/p/preload.cjs', createBridge: () => bridge });
    // Synchronously, before ready: sandbox for every renderer, the privileged scheme, the instance lock.
    expect(app.calls).to.deep.equal(['enableSandbox', 'requestSingleInstanceLock']);
    expect(protocol.privileged).to.have.length(1);
    expect(protocol.handlers.size).to.equal(0);
    app.becomeReady();
    const result = await started;
    expect(result).to.not.equal(undefined);
    expect(session.requestHandler).to.be.a('function');
    expect(protocol.handlers.has('app')).to.equal(true);
    const window = FakeWindow.created[0]!;
    expect(window.loaded).to.deep.equal([APP_ENTRY_URL]);
    expect(window.webContents.openHandler).to.be.a('function');
    expect(await ipcMain.call('app://kecalek/index.html', 'listDevices', {})).to.deep.equal({ ok: true, result: { echoed: 'listDevices' } });
    bridge.fire('devices_changed', {});
    expect(window.webContents.sent.map((s) => s.channel)).to.deep.equal([IPC_EVENT_CHANNEL]);

    // Every other web contents is hardened too.
    const other = new FakeWebContents();
    app.fire('web-contents-created', {}, other);
    expect(other.openHandler!({ url: 'https://example.org/' })).to.deep.equal({ action: 'deny' });

    // Quitting waits for the bridge to close, then quits for real.
    let prevented = false;
    app.fire('will-quit', { preventDefault: () => (prevented = true) });
    expect(prevented).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(bridge.closed).to.equal(true);
    expect(app.calls.at(-1)).to.equal('quit');
    expect(ipcMain.handlers.size).to.equal(0);
  });

  it('quits at once when another instance already runs', async () => {
    const app = new FakeApp();
    app.lock = false;
    const deps = {
      app,
      protocol: new FakeProtocol(),
      session: { defaultSession: new FakeSession() },
      ipcMain: new FakeIpcMain(),
      BrowserWindow: FakeWindow,
      shell: new FakeShell(),
    } as unknown as DesktopDeps<DesktopWindow & FakeWindow>;
    const result = await startDesktopApp(deps, { rendererDir, preloadPath: '/p', createBridge: () => new FakeBridge() });
    expect(result).to.equal(undefined);
    expect(app.calls).to.include('quit');
  });
});
