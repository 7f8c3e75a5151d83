/**
 * The web host in a real browser (Debian's Chromium through playwright-core): a page built from
 * the renderer's bridge client connects over the token-protected WebSocket under the web host's
 * CSP, calls the client core and receives events; inline scripts stay blocked; without the token
 * the page gets no bridge. Skipped with the reason printed when Chromium is not installed (unless
 * KECALEK_TEST_CHROMIUM is set, where that is a failure).
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { FAST_ENVELOPE, removeHomes, startTestServer, tempHome, type TestServer } from '../../engine/testing/index.js';
import { startWebHost, type WebHost } from '../web-host/web-host.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const PAGE = `
import { connectBridge } from ${JSON.stringify(join(root, 'desktop', 'renderer', 'bridge', 'index.ts'))};
const report = (key, value) => { document.body.dataset[key] = typeof value === 'string' ? value : JSON.stringify(value); };
connectBridge().then(async (bridge) => {
  bridge.on('state', (state) => report('theme', state.settings.theme));
  const state = await bridge.invoke('getState', {});
  report('server', state.serverAddress);
  await bridge.invoke('setSettings', { theme: 'dark' });
  try {
    await bridge.invoke('listConversations', {});
  } catch (error) {
    report('error', error.code);
  }
}, (error) => report('failed', error.code ?? String(error)));
`;

function chromiumPath(): string | undefined {
  const path = process.env.KECALEK_TEST_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(path)) return path;
  if (process.env.KECALEK_TEST_CHROMIUM) throw new Error(`KECALEK_TEST_CHROMIUM is set but ${path} does not exist`);
  return undefined;
}

describe('desktop: web host in Chromium', function () {
  this.timeout(90_000);
  let server: TestServer;
  let host: WebHost;
  let browser: Browser;
  let scratch: string;

  before(async function () {
    const executablePath = chromiumPath();
    if (!executablePath) {
      console.log('    (skipped: Chromium not found at /usr/bin/chromium; apt-get install -y chromium)');
      this.skip();
    }
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-web-browser-'));
    const rendererDir = join(scratch, 'renderer');
    await build({
      stdin: { contents: PAGE, resolveDir: root, loader: 'js' },
      outfile: join(rendererDir, 'index.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      logLevel: 'warning',
    });
    await writeFile(
      join(rendererDir, 'index.html'),
      '<!doctype html><html><head><script type="module" src="index.js"></script></head><body><script>document.body.dataset.inline = "ran"</script></body></html>',
    );
    server = await startTestServer();
    host = await startWebHost({
      server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
      home: await tempHome(),
      rendererDir,
      client: { keyEnvelope: FAST_ENVELOPE },
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    await browser?.close();
    await host?.close();
    await server?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    await removeHomes();
  });

  it('connects the page to the client core under the CSP, with events, and blocks inline scripts', async () => {
    const page = await browser.newPage();
    const messages: string[] = [];
    page.on('console', (message) => messages.push(message.text()));
    try {
      await page.goto(host.url);
      await page.waitForSelector('body[data-error]', { state: 'attached', timeout: 30_000 });
      const data = await page.evaluate(() => ({ ...document.body.dataset }));
      expect(data.server).to.equal(`${server.host}:${server.port}`);
      expect(data.error).to.equal('not_logged_in');
      expect(data.inline).to.equal(undefined);
      await page.waitForSelector('body[data-theme="dark"]', { state: 'attached', timeout: 10_000 });
      // The one policy violation is the inline script; the bridge's WebSocket was allowed.
      const violations = messages.filter((text) => text.includes('Content Security Policy'));
      expect(violations).to.have.length(1);
      expect(violations[0]).to.include('inline script');
    } finally {
      await page.close();
    }
  });

  it('gives the page no bridge without the token', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${host.port}/`);
      await page.waitForSelector('body[data-failed]', { state: 'attached', timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.failed)).to.equal('bridge_unavailable');
      await page.goto(`http://127.0.0.1:${host.port}/?token=wrong`);
      await page.waitForSelector('body[data-failed]', { state: 'attached', timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.failed)).to.equal('bridge_unavailable');
    } finally {
      await page.close();
    }
  });
});
