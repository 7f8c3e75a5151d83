/**
 * Files of the local store: folders 0700 and files 0600, set explicitly (never trusting the
 * umask, the original's M13), and atomic replacement: the new content goes to a temporary file in
 * the same folder, is fsynced, renamed over the old file, and the folder is fsynced, so a crash
 * leaves either the old or the new file, never half of one. Temporary files a crash left behind
 * are ignored by readers and removed when the store opens.
 *
 * Rapid repeated writes of one file are coalesced: while a write is running, further writes only
 * replace the content waiting to go next, and every caller is answered once content at least as
 * new as its own is on disk.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` atomically with `data` (0600), durable once this resolves. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${basename(path)}${TEMP_MARKER}${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, 'wx', FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.chmod(FILE_MODE);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}

/** Deletes a file (and makes the deletion durable); a missing file is fine. */
export async function removeFile(path: string): Promise<void> {
  try {
    await rm(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await fsyncDir(dirname(path)).catch(() => undefined);
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

interface PendingWrite {
  data: Uint8Array | null;
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
  submit(data: Uint8Array | null): Promise<void> {
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
        else await writeFileAtomic(this.path, job.data);
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

  write(path: string, data: Uint8Array): Promise<void> {
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
