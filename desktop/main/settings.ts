/**
 * The desktop's own settings, in `<home>/desktop-settings.json` (mode 0600, written atomically):
 * the theme, the server address chosen at first run, and the usernames of the accounts signed in
 * on this computer (the key store seals the username, and the sign-in screen wants to show it).
 * No keys, no passwords, nothing secret.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BridgeSettings } from '../shared/bridge.js';

export const SETTINGS_FILE = 'desktop-settings.json';
export const DEFAULT_SETTINGS: BridgeSettings = Object.freeze({ theme: 'system' });
const THEMES: ReadonlySet<string> = new Set(['system', 'dark', 'light']);

export interface StoredDesktopState {
  readonly settings: BridgeSettings;
  /** `host:port` (or a tls:// / wss:// address) remembered from the first run. */
  readonly server: string | undefined;
  /** email -> username of accounts this app signed in to. */
  readonly accounts: Readonly<Record<string, string>>;
}

interface FileShape {
  v: 1;
  theme?: unknown;
  server?: unknown;
  accounts?: unknown;
}

export class DesktopSettingsStore {
  readonly path: string;
  private state: StoredDesktopState = { settings: DEFAULT_SETTINGS, server: undefined, accounts: {} };
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly home: string) {
    this.path = join(home, SETTINGS_FILE);
  }

  get current(): StoredDesktopState {
    return this.state;
  }

  /** Reads the file; a missing or unreadable file gives the defaults (a broken file is replaced at the next save). */
  async load(): Promise<StoredDesktopState> {
    let parsed: FileShape | undefined;
    try {
      parsed = JSON.parse(await readFile(this.path, 'utf8')) as FileShape;
    } catch {
      parsed = undefined;
    }
    const theme = parsed?.theme;
    const accounts: Record<string, string> = {};
    if (parsed?.accounts && typeof parsed.accounts === 'object' && !Array.isArray(parsed.accounts)) {
      for (const [email, username] of Object.entries(parsed.accounts as Record<string, unknown>)) {
        if (typeof username === 'string') accounts[email] = username;
      }
    }
    this.state = {
      settings: { theme: typeof theme === 'string' && THEMES.has(theme) ? (theme as BridgeSettings['theme']) : DEFAULT_SETTINGS.theme },
      server: typeof parsed?.server === 'string' && parsed.server.length > 0 ? parsed.server : undefined,
      accounts,
    };
    return this.state;
  }

  async update(patch: { settings?: Partial<BridgeSettings>; server?: string; account?: { email: string; username: string } }): Promise<StoredDesktopState> {
    const accounts = patch.account ? { ...this.state.accounts, [patch.account.email]: patch.account.username } : this.state.accounts;
    this.state = {
      settings: { ...this.state.settings, ...(patch.settings ?? {}) },
      server: patch.server ?? this.state.server,
      accounts,
    };
    const snapshot = this.state;
    // Writes are serialised: the file always ends with the newest state.
    const write = this.writing.then(() => this.write(snapshot));
    this.writing = write.catch(() => undefined);
    await write;
    return snapshot;
  }

  private async write(state: StoredDesktopState): Promise<void> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    const body: FileShape = { v: 1, theme: state.settings.theme, accounts: state.accounts, ...(state.server ? { server: state.server } : {}) };
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      await rename(temporary, this.path);
      await chmod(this.path, 0o600);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
