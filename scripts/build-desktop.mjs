#!/usr/bin/env node
/**
 * Builds the desktop app with three plain esbuild calls (no bundler framework):
 *
 *   desktop/dist/main/entry.js       the Electron main process: ESM for Node, `electron` and the
 *                                    npm packages external (native modules load from node_modules)
 *   desktop/dist/preload/preload.cjs the preload: one CommonJS file (sandboxed preloads cannot be
 *                                    ESM), only `electron` external
 *   desktop/dist/renderer/           the Lit renderer: ESM for the browser, minified, from
 *                                    desktop/renderer/index.ts, with index.html and static assets,
 *                                    and the virtual module `virtual:kecalek-ui-plugins` listing the
 *                                    UI part of every plugins/<name>/ui.ts and examples/<name>/ui.ts
 *
 * Until desktop/renderer/index.ts exists only main and preload are built (with a warning).
 *
 *   node scripts/build-desktop.mjs          build
 *   node scripts/build-desktop.mjs --start  build, then run Electron on the main bundle
 *   --out <dir>       build into another folder (default desktop/dist)
 *   --renderer <dir>  take the renderer from another folder (default desktop/renderer)
 *   --ui-plugin <dir|package>  also bundle a third-party plugin's ui.ts (repeatable)
 *
 * A build-manifest.json beside the outputs lists them and the UI plugins the renderer bundled.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const desktop = join(root, 'desktop');

/** Where each part goes under `dist`. */
export function outputsIn(dist) {
  return {
    main: join(dist, 'main', 'entry.js'),
    preload: join(dist, 'preload', 'preload.cjs'),
    renderer: join(dist, 'renderer'),
    manifest: join(dist, 'build-manifest.json'),
  };
}

/** Files copied beside the renderer bundle (besides everything under desktop/renderer/static/). */
const STATIC_EXTENSIONS = new Set(['.html', '.css', '.svg', '.png', '.ico', '.webp', '.woff', '.woff2', '.ttf', '.webmanifest', '.txt']);

/**
 * `createRequire(import.meta.url)('../../package.json')` (the engine's version modules) reads a
 * file relative to the source, which is elsewhere once bundled: inline the JSON at build time.
 */
const inlineJsonRequire = {
  name: 'kecalek-inline-json-require',
  setup(esbuild) {
    const pattern = /createRequire\(import\.meta\.url\)\((['"])([^'"]+\.json)\1\)/g;
    esbuild.onLoad({ filter: /[\\/]engine[\\/].*\.ts$/ }, async (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!pattern.test(source)) return undefined;
      pattern.lastIndex = 0;
      const contents = source.replace(pattern, (_match, _quote, file) => {
        const json = readFileSync(resolve(dirname(args.path), file), 'utf8');
        return `(${JSON.stringify(JSON.parse(json))})`;
      });
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * A third-party plugin's UI part, given by folder, file or package name (`--ui-plugin`): its
 * `ui.ts` (or `ui.js`). Fails with one line when there is none.
 */
export function resolveUiPlugin(entry) {
  let base = resolve(entry);
  if (!existsSync(base) && !entry.startsWith('.') && !entry.startsWith('/')) {
    try {
      base = dirname(createRequire(join(root, 'package.json')).resolve(`${entry}/package.json`));
    } catch {
      throw new Error(`UI plugin "${entry}" is neither a folder nor an installed package`);
    }
  }
  if (existsSync(base) && !statSync(base).isDirectory()) return base;
  for (const name of ['ui.ts', 'ui.js', 'ui.mjs']) {
    const file = join(base, name);
    if (existsSync(file)) return file;
  }
  throw new Error(`UI plugin "${entry}" has no ui.ts or ui.js in ${base}`);
}

/** Every `plugins/<name>/ui.ts` and `examples/<name>/ui.ts` in a stable order, then the extra ones given. */
async function findUiPlugins(extra = []) {
  const found = [];
  for (const folder of ['plugins', 'examples']) {
    const base = join(root, folder);
    let entries = [];
    try {
      entries = await readdir(base, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = join(base, entry.name, 'ui.ts');
      if (existsSync(file)) found.push(file);
    }
  }
  for (const file of extra) if (!found.includes(file)) found.push(file);
  return found;
}

/** `virtual:kecalek-ui-plugins`: `export const uiPlugins: UiPluginDefinition[]` (each ui.ts default-exports one). */
function uiPluginsModule(extra) {
  return {
    name: 'kecalek-ui-plugins',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^virtual:kecalek-ui-plugins$/ }, () => ({ path: 'ui-plugins', namespace: 'kecalek-virtual' }));
      esbuild.onLoad({ filter: /.*/, namespace: 'kecalek-virtual' }, async () => {
        const files = await findUiPlugins(extra);
        const lines = files.map((file, index) => `import plugin${index} from ${JSON.stringify(file)};`);
        lines.push(`export const uiPlugins = [${files.map((_file, index) => `plugin${index}`).join(', ')}];`);
        return {
          contents: `${lines.join('\n')}\n`,
          loader: 'js',
          resolveDir: root,
          watchFiles: files,
          watchDirs: [join(root, 'plugins'), join(root, 'examples')],
        };
      });
    },
  };
}

async function copyStatic(rendererSource, target) {
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(rendererSource, { withFileTypes: true })) {
    if (entry.isFile() && STATIC_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
      await cp(join(rendererSource, entry.name), join(target, entry.name));
    }
  }
  const staticDir = join(rendererSource, 'static');
  if (existsSync(staticDir) && (await stat(staticDir)).isDirectory()) {
    await cp(staticDir, target, { recursive: true });
  }
}

export async function buildDesktop({
  dist = join(desktop, 'dist'),
  rendererSource = join(desktop, 'renderer'),
  uiPlugins: extraUiPlugins = [],
  log = (line) => process.stdout.write(`${line}\n`),
} = {}) {
  const OUTPUTS = outputsIn(dist);
  const extraUi = extraUiPlugins.map(resolveUiPlugin);
  const rendererEntry = join(rendererSource, 'index.ts');
  await rm(join(dist, 'main'), { recursive: true, force: true });
  await rm(join(dist, 'preload'), { recursive: true, force: true });
  await rm(OUTPUTS.renderer, { recursive: true, force: true });
  await rm(OUTPUTS.manifest, { force: true });
  const manifest = { main: relative(dist, OUTPUTS.main), preload: relative(dist, OUTPUTS.preload), renderer: null, uiPlugins: [] };
  const writeManifest = () => writeFile(OUTPUTS.manifest, `${JSON.stringify(manifest, null, 2)}\n`);

  await build({
    entryPoints: [join(desktop, 'main', 'entry.ts')],
    outfile: OUTPUTS.main,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['electron'],
    packages: 'external',
    sourcemap: 'linked',
    plugins: [inlineJsonRequire],
    logLevel: 'warning',
  });
  log(`built ${relative(root, OUTPUTS.main)}`);

  await build({
    entryPoints: [join(desktop, 'preload', 'preload.ts')],
    outfile: OUTPUTS.preload,
    bundle: true,
    platform: 'browser',
    format: 'cjs',
    target: 'chrome120',
    external: ['electron'],
    // Short local names: the file reads as what it is, a script with `require("electron")` and no import.
    minifyIdentifiers: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  log(`built ${relative(root, OUTPUTS.preload)}`);

  if (!existsSync(rendererEntry)) {
    process.stderr.write(`warning: ${relative(root, rendererEntry)} does not exist yet: built main and preload only, no renderer.\n`);
    await writeManifest();
    return manifest;
  }
  const bundled = await build({
    entryPoints: { index: rendererEntry },
    outdir: OUTPUTS.renderer,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    loader: { '.svg': 'file', '.png': 'file', '.woff': 'file', '.woff2': 'file', '.ttf': 'file' },
    assetNames: 'assets/[name]-[hash]',
    plugins: [uiPluginsModule(extraUi)],
    metafile: true,
    logLevel: 'warning',
  });
  await copyStatic(rendererSource, OUTPUTS.renderer);
  // The UI plugins that really went into the bundle (the virtual module imported them).
  const inputs = new Set(Object.keys(bundled.metafile.inputs).map((input) => resolve(root, input)));
  const plugins = (await findUiPlugins(extraUi)).filter((file) => inputs.has(file));
  manifest.renderer = relative(dist, OUTPUTS.renderer);
  manifest.uiPlugins = plugins.map((file) => relative(root, file));
  await writeManifest();
  log(`built ${relative(root, OUTPUTS.renderer)}/ (UI plugins: ${plugins.map((file) => relative(root, dirname(file))).join(', ') || 'none'})`);
  return manifest;
}

/** The Electron executable, or undefined when the package was installed without its binary. */
function electronBinary() {
  const require = createRequire(import.meta.url);
  let packageDir;
  try {
    packageDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return undefined;
  }
  const pathFile = join(packageDir, 'path.txt');
  const name = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : undefined;
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const binary = override ? join(override, name ?? 'electron') : name ? join(packageDir, 'dist', name) : undefined;
  return binary && existsSync(binary) ? binary : undefined;
}

function startElectron(main) {
  const binary = electronBinary();
  if (!binary) {
    process.stderr.write(
      [
        'The Electron binary is not installed: the electron npm package is here, but its download was skipped',
        '(ELECTRON_SKIP_BINARY_DOWNLOAD, or no access to Electron\'s downloads), so there is nothing to run.',
        'Where downloads work, run `npx install-electron` once; here, run the same app in a browser with `npm run desktop:web`.',
        '',
      ].join('\n'),
    );
    process.exit(1);
  }
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE;
  const child = spawn(binary, [main], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let values;
  try {
    ({ values } = parseArgs({
      options: { out: { type: 'string' }, renderer: { type: 'string' }, 'ui-plugin': { type: 'string', multiple: true }, start: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${error.message}\nusage: node scripts/build-desktop.mjs [--out dir] [--renderer dir] [--ui-plugin dir|package]... [--start]\n`);
    process.exit(2);
  }
  const dist = values.out ? resolve(values.out) : join(desktop, 'dist');
  try {
    await buildDesktop({ dist, uiPlugins: values['ui-plugin'] ?? [], ...(values.renderer ? { rendererSource: resolve(values.renderer) } : {}) });
  } catch (error) {
    // esbuild has printed the details already.
    process.stderr.write(`desktop build failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
    process.exit(1);
  }
  if (values.start) startElectron(outputsIn(dist).main);
}
