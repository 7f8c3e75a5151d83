/**
 * The Electron main process's wiring, with the electron objects passed in (entry.ts gives the real
 * ones; the tests give fakes, since the Electron binary cannot run here):
 *
 * - the `app://kecalek/` scheme, privileged (standard, secure, fetch) before the app is ready and
 *   served with protocol.handle from the renderer's dist folder only, every response carrying the
 *   CSP as a header;
 * - every permission request and check denied (no camera, microphone, notifications prompt, ...);
 * - every web contents hardened (window.open denied, navigation blocked; see window.ts);
 * - one IPC channel in (`ipcMain.handle(IPC_INVOKE_CHANNEL)`, only from app://kecalek frames)
 *   and one out (IPC_EVENT_CHANNEL), carrying the ClientBridge.
 */
import { readFile } from 'node:fs/promises';
import type { App, BrowserWindow, BrowserWindowConstructorOptions, IpcMain, Protocol, Session, WebContents } from 'electron';
import { BridgeErrorCode, IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type BridgeReply, type BridgeWireEvent } from '../shared/bridge.js';
import type { ClientBridge } from './bridge.js';
import { APP_CSP, SECURITY_HEADERS } from './csp.js';
import { resolveStatic } from './static-files.js';
import { APP_ENTRY_URL, APP_HOST, APP_SCHEME, createMainWindow, hardenWebContents, isAppUrl, type ShellDeps, type WindowLike } from './window.js';

export type ProtocolDeps = Pick<Protocol, 'registerSchemesAsPrivileged' | 'handle'>;
export type SessionDeps = Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>;
export type IpcMainDeps = Pick<IpcMain, 'handle' | 'removeHandler'>;
/** The part of a ClientBridge the IPC layer uses. */
export type BridgeLike = Pick<ClientBridge, 'start' | 'invoke' | 'subscribe' | 'close'>;

/** Must run before the app is ready. */
export function registerAppScheme(protocol: Pick<Protocol, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
}

function textResponse(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Security-Policy': APP_CSP, ...SECURITY_HEADERS } });
}

/** The app:// handler: files of `rendererDir` only, each with the CSP header. */
export function appProtocolHandler(rendererDir: string): (request: Request) => Promise<Response> {
  return async (request) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return textResponse(400, 'Bad request');
    }
    if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return textResponse(403, 'Forbidden');
    if (request.method !== 'GET' && request.method !== 'HEAD') return textResponse(405, 'Method not allowed');
    const found = await resolveStatic(rendererDir, url.pathname);
    if (found.kind === 'forbidden') return textResponse(403, 'Forbidden');
    if (found.kind === 'not_found') return textResponse(404, 'Not found');
    const body = request.method === 'HEAD' ? null : await readFile(found.path);
    return new Response(body, {
      status: 200,
      headers: { 'Content-Type': found.contentType, 'Content-Length': String(found.size), 'Content-Security-Policy': APP_CSP, ...SECURITY_HEADERS },
    });
  };
}

/** Denies every permission request and answers every permission check with no. */
export function denyPermissions(session: SessionDeps): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

const forbiddenSender: BridgeReply = {
  ok: false,
  error: { code: BridgeErrorCode.FORBIDDEN_SENDER, message: 'Only the Kecalek app may use the bridge' },
};

/**
 * The one IPC handler: `invoke(method, args)` from an app://kecalek frame, answered with a
 * BridgeReply (never a rejection: Electron would turn it into an Error without the code).
 * Returns the function that removes it.
 */
export function installBridgeIpc(ipcMain: IpcMainDeps, bridge: Pick<BridgeLike, 'invoke'>): () => void {
  ipcMain.handle(IPC_INVOKE_CHANNEL, async (event, method: unknown, args: unknown): Promise<BridgeReply> => {
    if (!isAppUrl(event.senderFrame?.url)) return forbiddenSender;
    return bridge.invoke(method, args);
  });
  return () => ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
}

/** Sends every bridge event to the window's page (only while it shows the app). Returns the unsubscribe. */
export function forwardBridgeEvents(
  bridge: Pick<BridgeLike, 'subscribe'>,
  target: () => Pick<WebContents, 'send' | 'isDestroyed' | 'getURL'> | undefined,
): () => void {
  return bridge.subscribe((event, data) => {
    const contents = target();
    if (!contents || contents.isDestroyed() || !isAppUrl(contents.getURL())) return;
    const message: BridgeWireEvent = { event, data };
    contents.send(IPC_EVENT_CHANNEL, message);
  });
}

export type AppDeps = Pick<App, 'whenReady' | 'on' | 'quit' | 'enableSandbox' | 'requestSingleInstanceLock'>;
export type DesktopWindow = WindowLike & Pick<BrowserWindow, 'isDestroyed' | 'isMinimized' | 'restore' | 'focus'>;

export interface DesktopDeps<W extends DesktopWindow> {
  readonly app: AppDeps;
  readonly protocol: ProtocolDeps;
  readonly session: { readonly defaultSession: SessionDeps };
  readonly ipcMain: IpcMainDeps;
  readonly BrowserWindow: new (options: BrowserWindowConstructorOptions) => W;
  readonly shell: ShellDeps;
}

export interface DesktopAppOptions {
  /** The built renderer (index.html, index.js, ...). */
  readonly rendererDir: string;
  /** The bundled preload (one CommonJS file). */
  readonly preloadPath: string;
  /** Creates the ClientBridge once the app is ready. */
  readonly createBridge: () => BridgeLike | Promise<BridgeLike>;
  readonly onError?: (error: unknown) => void;
}

export interface DesktopApp<W> {
  readonly window: W;
  readonly bridge: BridgeLike;
}

/**
 * Starts the desktop app. Call it synchronously at start-up (the scheme must be registered before
 * the app is ready); resolves once the window is loading, or with undefined when another instance
 * already runs (this one quits: two processes must not share one key store).
 */
export function startDesktopApp<W extends DesktopWindow>(deps: DesktopDeps<W>, options: DesktopAppOptions): Promise<DesktopApp<W> | undefined> {
  const { app } = deps;
  app.enableSandbox();
  registerAppScheme(deps.protocol);
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return Promise.resolve(undefined);
  }
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, deps.shell));
  app.on('window-all-closed', () => app.quit());

  return (async () => {
    await app.whenReady();
    denyPermissions(deps.session.defaultSession);
    deps.protocol.handle(APP_SCHEME, appProtocolHandler(options.rendererDir));
    const bridge = await options.createBridge();
    await bridge.start();

    let window = createMainWindow(deps, { preloadPath: options.preloadPath });
    const removeIpc = installBridgeIpc(deps.ipcMain, bridge);
    const stopEvents = forwardBridgeEvents(bridge, () => (window.isDestroyed() ? undefined : window.webContents));
    const open = (): void => {
      window.loadURL(APP_ENTRY_URL).catch((error: unknown) => options.onError?.(error));
    };
    open();

    app.on('second-instance', () => {
      if (window.isDestroyed()) return;
      if (window.isMinimized()) window.restore();
      window.focus();
    });
    app.on('activate', () => {
      if (!window.isDestroyed()) return;
      window = createMainWindow(deps, { preloadPath: options.preloadPath });
      open();
    });

    // The client core closes its connection and flushes its store before the process ends.
    let closed = false;
    app.on('will-quit', (event) => {
      if (closed) return;
      event.preventDefault();
      stopEvents();
      removeIpc();
      bridge
        .close()
        .catch((error: unknown) => options.onError?.(error))
        .finally(() => {
          closed = true;
          app.quit();
        });
    });
    return { window, bridge };
  })();
}
