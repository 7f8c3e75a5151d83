/**
 * Support for the renderer's browser tests: builds the renderer bundle (esbuild, as the desktop
 * build does) into a temporary folder with a chosen `virtual:kecalek-ui-plugins`, finds Debian's
 * Chromium (or says why the suite is skipped), and launches it headless for playwright-core.
 */
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RENDERER_DIR = join(ROOT, 'desktop', 'renderer');
export const ARTIFACTS_DIR = join(ROOT, 'test-artifacts', 'desktop');

/** Where Chromium is, or why the browser suites cannot run (a failure when KECALEK_TEST_CHROMIUM is set). */
export function chromiumExecutable(): { path: string } | { skip: string } {
  const configured = process.env.KECALEK_TEST_CHROMIUM;
  const path = configured ?? '/usr/bin/chromium';
  if (existsSync(path)) return { path };
  const reason = `Chromium not found at ${path} (apt-get install -y chromium fonts-noto-color-emoji)`;
  if (configured) throw new Error(`KECALEK_TEST_CHROMIUM is set but ${reason}`);
  return { skip: reason };
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface LaunchedContext {
  readonly context: BrowserContext;
  readonly profile: string;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh temporary profile (one browser process per simulated person). */
export async function launchContext(executablePath: string, options: { colorScheme?: 'light' | 'dark' } = {}): Promise<LaunchedContext> {
  const profile = await mkdtemp(join(tmpdir(), 'kecalek-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 780 },
    colorScheme: options.colorScheme ?? 'light',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  return {
    context,
    profile,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function removeFolder(path: string | undefined): Promise<void> {
  if (path) await rm(path, { recursive: true, force: true });
}

/**
 * Builds the renderer into a new temporary folder. `uiPluginsSource` is the JavaScript of the
 * virtual module (it must export `uiPlugins`); by default the repository's plugins/<name>/ui.ts.
 */
export async function buildRenderer(uiPluginsSource?: string): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'kecalek-renderer-'));
  const virtualPlugins: Plugin = {
    name: 'test-ui-plugins',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^virtual:kecalek-ui-plugins$/ }, () => ({ path: 'ui-plugins', namespace: 'test-virtual' }));
      esbuild.onLoad({ filter: /.*/, namespace: 'test-virtual' }, () => ({
        contents: uiPluginsSource ?? repositoryUiPlugins(),
        loader: 'js',
        resolveDir: ROOT,
      }));
    },
  };
  await build({
    entryPoints: { index: join(RENDERER_DIR, 'index.ts') },
    outdir: out,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    minify: true,
    sourcemap: 'linked',
    plugins: [virtualPlugins],
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'theme.css']) await cp(join(RENDERER_DIR, file), join(out, file));
  return out;
}

/** The module the desktop build generates: every plugins/<name>/ui.ts and examples/<name>/ui.ts. */
function repositoryUiPlugins(): string {
  const files: string[] = [];
  for (const folder of ['plugins', 'examples']) {
    const base = join(ROOT, folder);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = join(base, entry.name, 'ui.ts');
      if (existsSync(file)) files.push(file);
    }
  }
  return uiPluginsModule(files);
}

/** A `virtual:kecalek-ui-plugins` module importing these files (each default-exports a UI plugin). */
export function uiPluginsModule(files: readonly string[], extra = ''): string {
  const imports = files.map((f, i) => `import p${i} from ${JSON.stringify(f)};`).join('\n');
  const names = files.map((_f, i) => `p${i}`);
  return `${imports}\n${extra}\nexport const uiPlugins = [${names.join(', ')}${extra ? `${names.length ? ', ' : ''}...extraPlugins` : ''}];\n`;
}

/** Before a screenshot: no hover, no focus ring, toasts dismissed, transitions over. */
export async function settlePage(page: Page): Promise<void> {
  await page.mouse.move(760, 100);
  await page.evaluate(() => {
    let active = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    (active as HTMLElement | null)?.blur();
    const toasts = document.querySelector('kecalek-app')?.shadowRoot?.querySelector('kecalek-toasts')?.shadowRoot;
    toasts?.querySelectorAll<HTMLButtonElement>('button[aria-label="Dismiss"]').forEach((button) => button.click());
  });
  await page.waitForTimeout(300);
}
