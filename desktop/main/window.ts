/**
 * The app window and the rules every web contents lives by. No value import of electron: the
 * electron objects come in as parameters (entry.ts passes the real ones, tests pass fakes).
 *
 * - The renderer is isolated: contextIsolation, sandbox, no Node integration anywhere, web
 *   security on, insecure content off, no <webview>; the preload exposes one typed bridge.
 * - No new windows: window.open and target=_blank are denied; https links open in the system
 *   browser (shell.openExternal), anything else is dropped.
 * - No navigation away from the app: will-navigate and will-redirect are cancelled (https links
 *   again go to the system browser); <webview> attachment is refused.
 */
import type { BrowserWindow, BrowserWindowConstructorOptions, Shell, WebContents } from 'electron';

export const APP_SCHEME = 'app';
export const APP_HOST = 'kecalek';
/** Where the window loads the renderer from (served by the app:// handler in app.ts). */
export const APP_ENTRY_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/**
 * Whether a URL belongs to the app's own pages. In Node, `new URL('app://kecalek/').origin` is
 * the string "null" (app: is not a special scheme there), so protocol and host are compared
 * instead of origins.
 */
export function isAppUrl(url: string | undefined | null): boolean {
  if (typeof url !== 'string') return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}

/** An https URL without credentials: the only kind of link handed to the system browser. */
export function isExternalLink(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}

export function mainWindowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1180,
    height: 780,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: 'Kecalek',
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: true,
    },
  };
}

export type ShellDeps = Pick<Shell, 'openExternal'>;
export type WebContentsDeps = Pick<WebContents, 'setWindowOpenHandler' | 'on'>;

const hardened = new WeakSet<object>();

function openExternally(shell: ShellDeps, url: string): void {
  if (isExternalLink(url)) shell.openExternal(url).catch(() => undefined);
}

/** Applies the window-open and navigation rules to a web contents (once; later calls do nothing). */
export function hardenWebContents(contents: WebContentsDeps, shell: ShellDeps): void {
  if (hardened.has(contents)) return;
  hardened.add(contents);
  contents.setWindowOpenHandler((details) => {
    openExternally(shell, details.url);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    openExternally(shell, url);
  });
  contents.on('will-redirect', (event) => {
    event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
}

/** What createMainWindow needs of a window. */
export type WindowLike = Pick<BrowserWindow, 'webContents' | 'loadURL' | 'once' | 'show'>;

export interface WindowDeps<W extends WindowLike> {
  readonly BrowserWindow: new (options: BrowserWindowConstructorOptions) => W;
  readonly shell: ShellDeps;
}

/** Creates the app window (hidden until its first paint), hardened, loading the renderer from app://kecalek/. */
export function createMainWindow<W extends WindowLike>(
  deps: WindowDeps<W>,
  options: { readonly preloadPath: string },
): W {
  const window = new deps.BrowserWindow(mainWindowOptions(options.preloadPath));
  hardenWebContents(window.webContents, deps.shell);
  window.once('ready-to-show', () => window.show());
  return window;
}
