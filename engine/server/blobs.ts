/**
 * Blobs on the local file system (UPLOAD_DIR/<plugin>/). Only canonical lowercase UUIDs name a
 * blob, and every resolved path is checked to stay inside the root (the original's C6/H7 fixes).
 * Files live in two levels of sub-folders by id prefix (`ab/cd/abcd...`) so no folder grows huge.
 * Writes are atomic (temporary file, fsync, rename); deletion overwrites the bytes with random
 * data and fsyncs before unlinking (the original's secure deletion). Folders 0700, files 0600.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { WireError, WireErrorCode, errors } from '../errors.js';
import type { BlobStore } from '../plugin/blobs.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PARTIAL_SUFFIX = '.part';
const WIPE_CHUNK_BYTES = 64 * 1024;

export function isBlobId(id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id);
}

export class FsBlobStore implements BlobStore {
  readonly root: string;
  private rootReady: Promise<void> | undefined;
  /** Operations on one id run one after another (appends must not interleave with a commit). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  async write(id: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number> {
    const path = this.pathOf(id);
    return this.serial(id, async () => {
      await this.ensureFolder(id);
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      let size = 0;
      const handle = await open(temp, 'wx', 0o600);
      try {
        try {
          if (data instanceof Uint8Array) {
            await writeAll(handle, data);
            size = data.length;
          } else {
            for await (const chunk of data) {
              await writeAll(handle, chunk);
              size += chunk.length;
            }
          }
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, path);
      } catch (error) {
        await secureDelete(temp);
        throw error;
      }
      return size;
    });
  }

  async read(id: string): Promise<Uint8Array> {
    const path = this.pathOf(id);
    try {
      return await readFile(path);
    } catch (error) {
      if (isMissing(error)) throw errors.notFound('File not found');
      throw error;
    }
  }

  createReadStream(id: string, range: { start?: number; end?: number } = {}): Readable {
    const path = this.pathOf(id);
    const start = range.start ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) throw errors.badRequest('start', 'start must be a non-negative integer');
    if (range.end !== undefined) {
      if (!Number.isSafeInteger(range.end) || range.end < 0) throw errors.badRequest('end', 'end must be a non-negative integer');
      // An empty range: fs streams cannot express it (their end is inclusive).
      if (range.end <= start) return Readable.from([]);
    }
    const stream: ReadStream = createReadStream(path, { start, end: range.end === undefined ? undefined : range.end - 1 });
    return stream;
  }

  async size(id: string): Promise<number | undefined> {
    const path = this.pathOf(id);
    try {
      return (await stat(path)).size;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async exists(id: string): Promise<boolean> {
    return (await this.size(id)) !== undefined;
  }

  async delete(id: string): Promise<void> {
    const path = this.pathOf(id);
    await this.serial(id, async () => {
      await secureDelete(path);
      await secureDelete(path + PARTIAL_SUFFIX);
      await this.pruneFolders(id);
    });
  }

  async appendPartial(id: string, chunk: Uint8Array): Promise<number> {
    const path = this.pathOf(id) + PARTIAL_SUFFIX;
    return this.serial(id, async () => {
      await this.ensureFolder(id);
      const handle = await open(path, 'a', 0o600);
      try {
        await writeAll(handle, chunk);
        return (await handle.stat()).size;
      } finally {
        await handle.close();
      }
    });
  }

  async commitPartial(id: string): Promise<void> {
    const path = this.pathOf(id);
    await this.serial(id, async () => {
      let handle: FileHandle;
      try {
        handle = await open(path + PARTIAL_SUFFIX, 'r+');
      } catch (error) {
        if (isMissing(error)) throw errors.notFound('No unfinished upload with this file_id');
        throw error;
      }
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(path + PARTIAL_SUFFIX, path);
    });
  }

  async discardPartial(id: string): Promise<void> {
    const path = this.pathOf(id) + PARTIAL_SUFFIX;
    await this.serial(id, async () => {
      await secureDelete(path);
      await this.pruneFolders(id);
    });
  }

  /** The file of a blob id. Throws bad_request naming `file_id` for anything but a lowercase UUID. */
  pathOf(id: string): string {
    if (!isBlobId(id)) throw new WireError(WireErrorCode.BAD_REQUEST, 'file_id must be a lowercase UUID', { field: 'file_id' });
    const path = resolve(this.root, id.slice(0, 2), id.slice(2, 4), id);
    // Defence in depth: whatever the id check allows must still land inside the root.
    if (!path.startsWith(this.root + sep)) throw new WireError(WireErrorCode.BAD_REQUEST, 'file_id is not a valid file id', { field: 'file_id' });
    return path;
  }

  private async ensureFolder(id: string): Promise<void> {
    this.rootReady ??= mkdir(this.root, { recursive: true, mode: 0o700 }).then(() => undefined);
    try {
      await this.rootReady;
    } catch (error) {
      this.rootReady = undefined;
      throw error;
    }
    await mkdir(join(this.root, id.slice(0, 2), id.slice(2, 4)), { recursive: true, mode: 0o700 });
  }

  /** Removes the blob's sub-folders when they became empty (ignored when they are not). */
  private async pruneFolders(id: string): Promise<void> {
    const inner = join(this.root, id.slice(0, 2), id.slice(2, 4));
    try {
      await rmdir(inner);
      await rmdir(join(this.root, id.slice(0, 2)));
    } catch {
      // Not empty, or already gone.
    }
  }

  private serial<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return run;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Overwrites a file with random bytes, fsyncs, then unlinks it. A missing file is ignored; if the
 * overwrite fails (permissions), the file is still unlinked.
 */
export async function secureDelete(path: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r+');
  } catch (error) {
    if (isMissing(error)) return;
  }
  if (handle) {
    try {
      const { size } = await handle.stat();
      let offset = 0;
      while (offset < size) {
        const chunk = randomBytes(Math.min(WIPE_CHUNK_BYTES, size - offset));
        const { bytesWritten } = await handle.write(chunk, 0, chunk.length, offset);
        offset += bytesWritten;
      }
      await handle.sync();
    } catch {
      // Fall back to a plain unlink below.
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
  try {
    await unlink(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
