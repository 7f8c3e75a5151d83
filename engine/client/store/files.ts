/**
 * Files of the local store: folders 0700 and files 0600, set explicitly (never trusting the
 * umask, the original's M13), and atomic replacement: the new content goes to a temporary file in
 * the same folder, is fsynced, renamed over the old file, and the folder is fsynced, so a crash
 * leaves either the old or the new file, never half of one. Temporary files a crash left behind
 * are ignored by readers and removed when the store opens.
 *
 * Rapid repeated writes of one file are coalesced: while a write is running, further writes only
 * replace the content waiting to go next, and every caller is answered once content at least as
 * new as its own is on disk. Content may be given as a function that makes the bytes when the
 * write starts, so that content which is costly to build (a whole conversation's cache) is built
 * once per write rather than once per change.
 */
import { randomBytes } from 'node:crypto';
import { close, fchmod, fsync, open as openFd, write } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

// The durable-write path uses plain file descriptors: a FileHandle (fs/promises) costs about 30%
// more CPU per write in object set-up and teardown, and a busy client writes records all the time
// (bench/README.md, relay).
const openAsync = promisify(openFd);
const writeAsync = promisify(write);
const fchmodAsync = promisify(fchmod);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;
/** Temporary files are named `<file>.tmp-<random>`; anything with this marker is never read as data. */
export const TEMP_MARKER = '.tmp-';

export function isTempFile(name: string): boolean {
  return name.includes(TEMP_MARKER);
}

/** Creates a folder (and its parents) and sets 0700 on the folder itself. */
export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  await chmod(path, DIR_MODE);
}

/** The file's bytes, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function fsyncDir(path: string): Promise<void> {
  const fd = await openAsync(path, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
}

/**
 * fsyncs of one folder, shared by the writes that need them: a caller is answered by an fsync that
 * STARTED after its call, so it covers every rename or removal the caller made before calling.
 * While one runs, all callers that arrive share the next one: a store writing many records of one
 * folder at once (sessions, caches) pays one folder fsync per round instead of one per record.
 */
class FolderSync {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly onIdle: () => void,
  ) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  private startQueued(): Promise<void> {
    this.queued = undefined;
    return this.start();
  }

  private start(): Promise<void> {
    const run: Promise<void> = fsyncDir(this.path).finally(() => {
      if (this.running === run) this.running = undefined;
      if (!this.running && !this.queued) this.onIdle();
    });
    this.running = run;
    return run;
  }
}

const folderSyncs = new Map<string, FolderSync>();

/** Makes the folder's entries (renames, removals done before this call) durable. */
function syncFolder(path: string): Promise<void> {
  let folder = folderSyncs.get(path);
  if (!folder) {
    const created: FolderSync = new FolderSync(path, () => {
      if (folderSyncs.get(path) === created) folderSyncs.delete(path);
    });
    folder = created;
    folderSyncs.set(path, folder);
  }
  return folder.sync();
}

async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await writeAsync(fd, data, offset, data.length - offset, offset);
    offset += bytesWritten;
  }
}

/** Replaces `path` atomically with `data` (0600), durable once this resolves. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${basename(path)}${TEMP_MARKER}${randomBytes(6).toString('hex')}`);
  const fd = await openAsync(temp, 'wx', FILE_MODE);
  try {
    await writeAll(fd, data);
    await fchmodAsync(fd, FILE_MODE);
    await fsyncAsync(fd);
  } catch (error) {
    await closeAsync(fd).catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  await closeAsync(fd);
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncFolder(dir);
}

/** Deletes a file (and makes the deletion durable); a missing file is fine. */
export async function removeFile(path: string): Promise<void> {
  try {
    await rm(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await syncFolder(dirname(path)).catch(() => undefined);
}

/** Removes temporary files left behind by a crash, in `dir` and its sub-folders. */
export async function removeStaleTempFiles(dir: string): Promise<number> {
  let removed = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) removed += await removeStaleTempFiles(full);
    else if (isTempFile(entry.name)) {
      await rm(full, { force: true });
      removed++;
    }
  }
  return removed;
}

/** A file's new content: the bytes, or a function that makes them when the write starts. */
export type FileContent = Uint8Array | (() => Uint8Array);

interface PendingWrite {
  data: FileContent | null;
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}

/**
 * One file's writer with coalescing. `write()` resolves once the given content (or newer content
 * written after it) is durably on disk; `remove()` deletes the file in the same order.
 */
class CoalescingFile {
  private running = false;
  private next: PendingWrite | undefined;

  constructor(
    private readonly path: string,
    private readonly onIdle: () => void,
  ) {}

  /** `data` null deletes the file. */
  submit(data: FileContent | null): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.next) this.next = { data, waiters: [] };
      this.next.data = data;
      this.next.waiters.push({ resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.next) {
      const job = this.next;
      this.next = undefined;
      try {
        if (job.data === null) await removeFile(this.path);
        else await writeFileAtomic(this.path, typeof job.data === 'function' ? job.data() : job.data);
        for (const waiter of job.waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of job.waiters) waiter.reject(error);
      }
    }
    this.running = false;
    this.onIdle();
  }
}

/** Coalescing writers for many files, created on demand and forgotten when idle. */
export class FileWriters {
  private readonly files = new Map<string, CoalescingFile>();
  private readonly inFlight = new Set<Promise<void>>();

  write(path: string, data: FileContent): Promise<void> {
    return this.track(this.file(path).submit(data));
  }

  remove(path: string): Promise<void> {
    return this.track(this.file(path).submit(null));
  }

  /** Resolves when every write submitted so far has finished (failed ones included). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track(promise: Promise<void>): Promise<void> {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return promise;
  }

  private file(path: string): CoalescingFile {
    let file = this.files.get(path);
    if (!file) {
      const created: CoalescingFile = new CoalescingFile(path, () => {
        if (this.files.get(path) === created) this.files.delete(path);
      });
      file = created;
      this.files.set(path, file);
    }
    return file;
  }
}
