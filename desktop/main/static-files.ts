/**
 * Finding a renderer file for a URL path, inside the renderer's dist folder only: no `..`, no
 * encoded separators, no hidden files, no symlinks that lead outside. Shared by Electron's app://
 * handler and the web host.
 */
import { realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export function contentTypeFor(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export type StaticLookup =
  | { readonly kind: 'file'; readonly path: string; readonly contentType: string; readonly size: number }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'not_found' };

/** The file for a URL pathname (already without query), `/` meaning index.html. */
export async function resolveStatic(root: string, pathname: string): Promise<StaticLookup> {
  if (!pathname.startsWith('/')) return { kind: 'forbidden' };
  const raw = pathname === '/' ? ['index.html'] : pathname.slice(1).split('/');
  const segments: string[] = [];
  for (const part of raw) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return { kind: 'forbidden' };
    }
    // Empty, dot and hidden segments, separators smuggled in encoded, NUL: never a renderer file.
    if (segment === '' || segment.startsWith('.') || /[/\\\0]/.test(segment) || segment.includes(':')) return { kind: 'forbidden' };
    segments.push(segment);
  }
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { kind: 'not_found' };
  }
  let real: string;
  try {
    real = await realpath(join(realRoot, ...segments));
  } catch {
    return { kind: 'not_found' };
  }
  if (!real.startsWith(realRoot + sep)) return { kind: 'forbidden' };
  const info = await stat(real).catch(() => undefined);
  if (!info?.isFile()) return { kind: 'not_found' };
  return { kind: 'file', path: real, contentType: contentTypeFor(real), size: info.size };
}
