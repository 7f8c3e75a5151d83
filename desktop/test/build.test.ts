/**
 * scripts/build-desktop.mjs: main (ESM, electron external), preload (one CommonJS file, no
 * import), renderer (ESM for the browser, minified, with the virtual UI plugin list and the static
 * files). The main bundle is also started under plain Node with a stand-in `electron` module, to
 * show that the bundle itself wires everything up.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import vm from 'node:vm';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(root, 'scripts', 'build-desktop.mjs');

interface Manifest {
  main: string;
  preload: string;
  renderer: string | null;
  uiPlugins: string[];
}

async function buildInto(out: string, extra: string[] = []): Promise<{ stdout: string; stderr: string; manifest: Manifest }> {
  const { stdout, stderr } = await run(process.execPath, [script, '--out', out, ...extra], { cwd: root, timeout: 120_000 });
  const manifest = JSON.parse(await readFile(join(out, 'build-manifest.json'), 'utf8')) as Manifest;
  return { stdout, stderr, manifest };
}

async function existingUiPlugins(): Promise<string[]> {
  const found: string[] = [];
  for (const folder of ['plugins', 'examples']) {
    const entries = await readdir(join(root, folder), { withFileTypes: true }).catch(() => []);
    for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      if (existsSync(join(root, folder, entry.name, 'ui.ts'))) found.push(`${folder}/${entry.name}/ui.ts`);
    }
  }
  return found;
}

/** A stand-in for the electron module: records what the main bundle does, then drives one round. */
const FAKE_ELECTRON = String.raw`
const out = (step) => process.stdout.write(JSON.stringify(step) + '\n');
class Emitter {
  constructor() { this.listeners = new Map(); }
  on(event, listener) { this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]); return this; }
  once(event, listener) { return this.on(event, listener); }
  fire(event, ...args) { for (const listener of this.listeners.get(event) ?? []) listener(...args); }
}
const handlers = {};
export const protocol = {
  registerSchemesAsPrivileged(schemes) { out({ step: 'privileged', schemes }); },
  handle(scheme, handler) { handlers.protocol = handler; out({ step: 'protocol', scheme }); },
};
export const session = { defaultSession: {
  setPermissionRequestHandler(handler) { handlers.permission = handler; },
  setPermissionCheckHandler(handler) { handlers.check = handler; },
} };
export const ipcMain = {
  handle(channel, handler) { handlers.ipc = handler; out({ step: 'ipc', channel }); },
  removeHandler() { delete handlers.ipc; },
};
export const shell = { async openExternal(url) { out({ step: 'external', url }); } };
class WebContents extends Emitter {
  setWindowOpenHandler(handler) { this.openHandler = handler; }
  send(channel, message) { out({ step: 'event', channel, event: message.event }); }
  isDestroyed() { return false; }
  getURL() { return this.url; }
}
export class BrowserWindow extends Emitter {
  constructor(options) { super(); this.webContents = new WebContents(); out({ step: 'window', webPreferences: options.webPreferences }); }
  async loadURL(url) { this.webContents.url = url; out({ step: 'load', url }); setTimeout(() => exercise(this).catch((error) => { out({ step: 'failed', message: String(error) }); process.exit(3); }), 50); }
  show() {}
  isDestroyed() { return false; }
  isMinimized() { return false; }
  restore() {}
  focus() {}
}
class App extends Emitter {
  enableSandbox() { out({ step: 'sandbox' }); }
  requestSingleInstanceLock() { return true; }
  whenReady() { return Promise.resolve(); }
  quit() { out({ step: 'quit' }); process.exit(0); }
  exit(code) { out({ step: 'exit', code }); process.exit(code); }
}
export const app = new App();
async function exercise(window) {
  const page = await handlers.protocol(new Request('app://kecalek/index.html'));
  out({ step: 'page', status: page.status, csp: page.headers.get('content-security-policy') });
  let granted;
  handlers.permission({}, 'media', (answer) => { granted = answer; }, {});
  out({ step: 'permission', granted });
  out({ step: 'state', reply: await handlers.ipc({ senderFrame: { url: 'app://kecalek/index.html' } }, 'getState', {}) });
  out({ step: 'foreign', reply: await handlers.ipc({ senderFrame: { url: 'https://evil.example/' } }, 'getState', {}) });
  out({ step: 'open', action: window.webContents.openHandler({ url: 'https://kecalek.example/' }).action });
  let prevented = false;
  app.fire('will-quit', { preventDefault() { prevented = true; } });
  out({ step: 'will-quit', prevented });
}
`;

/**
 * Module hooks: \`electron\` is the stand-in; npm packages resolve from the repository's
 * node_modules (the bundle keeps them external, and this build lives in a temporary folder).
 */
const hooks = (repositoryUrl: string): string => String.raw`
const repository = ${JSON.stringify(repositoryUrl)};
export async function resolve(specifier, context, next) {
  if (specifier === 'electron') return { url: new URL('./fake-electron.mjs', import.meta.url).href, shortCircuit: true };
  const bare = !specifier.startsWith('.') && !specifier.startsWith('/') && !/^[a-z]+:/.test(specifier);
  return next(specifier, bare ? { ...context, parentURL: repository } : context);
}
`;

describe('desktop: build (scripts/build-desktop.mjs)', function () {
  this.timeout(180_000);
  let scratch: string;
  let fixture: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kecalek-build-'));
    // A renderer of our own, so that this suite does not depend on the state of desktop/renderer.
    fixture = join(scratch, 'renderer-src');
    await mkdir(join(fixture, 'static', 'icons'), { recursive: true });
    await writeFile(
      join(fixture, 'index.ts'),
      "import { uiPlugins } from 'virtual:kecalek-ui-plugins';\nexport const pluginNames: string[] = uiPlugins.map((plugin) => plugin.name);\n",
    );
    await writeFile(join(fixture, 'index.html'), '<!doctype html><title>fixture</title><script type="module" src="index.js"></script>');
    await writeFile(join(fixture, 'theme.css'), ':root { --kecalek-bg: #fff; }');
    await writeFile(join(fixture, 'static', 'icons', 'app.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(fixture, 'notes.ts'), 'export const never = 1;');
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('builds main (ESM, electron external) and preload (one CommonJS file without import)', async () => {
    const out = join(scratch, 'dist-a');
    const { manifest } = await buildInto(out, ['--renderer', fixture]);
    expect(manifest.main).to.equal('main/entry.js');
    expect(manifest.preload).to.equal('preload/preload.cjs');

    const main = await readFile(join(out, 'main', 'entry.js'), 'utf8');
    expect(main).to.match(/^import \{[^}]*\bapp\b[^}]*\} from "electron";$/m);
    expect(main).to.not.match(/require\(["']electron["']\)/);
    expect(main).to.not.include('createRequire(import.meta.url)("../../package.json")');
    await run(process.execPath, ['--check', join(out, 'main', 'entry.js')]);

    expect(await readdir(join(out, 'preload'))).to.deep.equal(['preload.cjs', 'preload.cjs.map']);
    const preload = await readFile(join(out, 'preload', 'preload.cjs'), 'utf8');
    expect(preload).to.not.include('import');
    expect(preload.match(/require\(([^)]*)\)/g)).to.deep.equal(['require("electron")']);

    // Run the preload as Electron's sandbox does: a CommonJS script with a `require` for electron only.
    const exposed: Array<{ key: string; api: Record<string, unknown> }> = [];
    const channels: string[] = [];
    const fakeElectron = {
      contextBridge: { exposeInMainWorld: (key: string, api: Record<string, unknown>) => exposed.push({ key, api }) },
      ipcRenderer: { on: (channel: string) => channels.push(channel), invoke: async () => ({ ok: true, result: 'pong' }) },
    };
    const module = { exports: {} };
    vm.runInNewContext(preload, {
      require: (name: string) => {
        if (name !== 'electron') throw new Error(`the preload required ${name}`);
        return fakeElectron;
      },
      module,
      exports: module.exports,
    });
    expect(exposed.map((e) => e.key)).to.deep.equal(['kecalek']);
    expect(Object.keys(exposed[0]!.api).sort()).to.deep.equal(['invoke', 'on']);
    expect(channels).to.deep.equal(['kecalek:event']);
    expect(await (exposed[0]!.api.invoke as (m: string, a: unknown) => Promise<unknown>)('getState', {})).to.equal('pong');
  });

  it('builds the renderer: minified ESM, the virtual UI plugin list, index.html and static files', async () => {
    const out = join(scratch, 'dist-b');
    const { manifest } = await buildInto(out, ['--renderer', fixture]);
    expect(manifest.renderer).to.equal('renderer');
    expect(manifest.uiPlugins).to.deep.equal(await existingUiPlugins());
    const files = await readdir(join(out, 'renderer'));
    expect(files).to.include.members(['index.js', 'index.html', 'theme.css', 'icons']);
    expect(files).to.not.include('notes.ts');
    expect(existsSync(join(out, 'renderer', 'icons', 'app.svg'))).to.equal(true);
    const bundle = await readFile(join(out, 'renderer', 'index.js'), 'utf8');
    expect(bundle).to.match(/export\s*\{/);
    expect(bundle).to.not.include('virtual:kecalek-ui-plugins');
    // Minified: no indented statements left. (Counting lines does not work once UI plugins are
    // bundled: Lit's css`` and html`` templates keep their line breaks.)
    expect(bundle).to.not.match(/^[ \t]+(?:const|let|var|function|return|import|export)\s+[\w${(]/m);
    if (manifest.uiPlugins.length === 0) expect(bundle.split('\n').length).to.be.lessThan(20);
    if (manifest.uiPlugins.length === 0) {
      // Nothing to set up: the bundle can be evaluated here and lists no plugins.
      const loaded = (await import(pathToFileURL(join(out, 'renderer', 'index.js')).href)) as { pluginNames: string[] };
      expect(loaded.pluginNames).to.deep.equal([]);
    }
  });

  it('bundles a third-party UI part given with --ui-plugin, and fails in one line when there is none', async () => {
    const thirdParty = join(scratch, 'kecalek-plugin-shout');
    await mkdir(thirdParty, { recursive: true });
    await writeFile(join(thirdParty, 'ui.ts'), "export default { name: 'shout', setup(): void {} };\n");
    const out = join(scratch, 'dist-ui');
    const { manifest } = await buildInto(out, ['--renderer', fixture, '--ui-plugin', thirdParty]);
    const expected = join(thirdParty, 'ui.ts');
    expect(manifest.uiPlugins.map((file) => resolve(root, file))).to.include(expected);
    expect(await readFile(join(out, 'renderer', 'index.js'), 'utf8')).to.include('shout');

    const empty = join(scratch, 'kecalek-plugin-empty');
    await mkdir(empty, { recursive: true });
    const failed = await run(process.execPath, [script, '--out', join(scratch, 'dist-none'), '--ui-plugin', empty], { cwd: root }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).to.equal(1);
    expect(failed?.stderr.trim().split('\n')).to.have.length(1);
    expect(failed?.stderr).to.include('has no ui.ts or ui.js');
  });

  it('builds the real renderer when desktop/renderer/index.ts exists (and only main+preload otherwise)', async function () {
    const out = join(scratch, 'dist-c');
    const { stderr, manifest } = await buildInto(out);
    if (existsSync(join(root, 'desktop', 'renderer', 'index.ts'))) {
      expect(manifest.renderer).to.equal('renderer');
      expect(existsSync(join(out, 'renderer', 'index.js'))).to.equal(true);
      expect(existsSync(join(out, 'renderer', 'index.html'))).to.equal(true);
      expect(manifest.uiPlugins).to.deep.equal(await existingUiPlugins());
    } else {
      expect(stderr).to.include('does not exist yet');
      expect(manifest.renderer).to.equal(null);
      expect(existsSync(join(out, 'renderer'))).to.equal(false);
    }
  });

  it('runs the main bundle with a stand-in electron: scheme, sandbox, permissions, IPC, window rules, clean quit', async () => {
    const out = join(scratch, 'dist-d');
    await buildInto(out, ['--renderer', fixture]);
    const hooksDir = join(scratch, 'hooks');
    await mkdir(hooksDir, { recursive: true });
    await writeFile(join(hooksDir, 'fake-electron.mjs'), FAKE_ELECTRON);
    await writeFile(join(hooksDir, 'hooks.mjs'), hooks(pathToFileURL(join(root, 'package.json')).href));
    await writeFile(join(hooksDir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
    const home = join(scratch, 'home');

    const child = spawn(process.execPath, ['--import', pathToFileURL(join(hooksDir, 'register.mjs')).href, join(out, 'main', 'entry.js')], {
      cwd: root,
      env: { ...process.env, KECALEK_HOME: home, KECALEK_SERVER: '127.0.0.1:1', KECALEK_INSECURE_DEV: '', NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
    expect(code, `exit code; stderr:\n${stderr}`).to.equal(0);
    // The shipped plugins' client parts load from the bundle; nothing unexpected was logged.
    expect(stderr).to.equal('');

    const steps = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step: string } & Record<string, unknown>);
    const names = steps.map((s) => s.step);
    expect(names.slice(0, 2)).to.deep.equal(['sandbox', 'privileged']);
    const at = (step: string) => steps.find((s) => s.step === step)!;
    expect(at('privileged').schemes).to.deep.equal([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
    expect(at('protocol').scheme).to.equal('app');
    expect(at('ipc').channel).to.equal('kecalek:invoke');
    expect(at('window').webPreferences).to.deep.include({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      preload: join(out, 'preload', 'preload.cjs'),
    });
    expect(at('load').url).to.equal('app://kecalek/index.html');
    expect(at('page')).to.deep.include({ status: 200 });
    expect(at('page').csp).to.include("default-src 'none'");
    expect(at('permission').granted).to.equal(false);
    const state = at('state').reply as { ok: boolean; result: { serverAddress: string; self: unknown; settings: unknown } };
    expect(state.ok).to.equal(true);
    expect(state.result.serverAddress).to.equal('127.0.0.1:1');
    expect(state.result.self).to.equal(undefined);
    expect(at('foreign').reply).to.deep.include({ ok: false });
    expect(at('open').action).to.equal('deny');
    expect(at('will-quit').prevented).to.equal(true);
    expect(names.at(-1)).to.equal('quit');
    // The first run remembers its server address.
    expect(JSON.parse(await readFile(join(home, 'desktop-settings.json'), 'utf8'))).to.include({ server: '127.0.0.1:1' });
  });
});
