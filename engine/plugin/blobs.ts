/**
 * Blob storage for bulk ciphertext (attachments, avatars). Ids are UUIDs and nothing else, so a
 * client-supplied id can never name a path outside the store (the original's C6/H7 fixes).
 */
import type { Readable } from 'node:stream';

export interface BlobStore {
  /** Writes a whole blob atomically (temporary file, then rename). Returns its size. */
  write(id: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number>;
  read(id: string): Promise<Uint8Array>;
  /** Streams a blob, optionally a byte range [start, end). */
  createReadStream(id: string, range?: { start?: number; end?: number }): Readable;
  size(id: string): Promise<number | undefined>;
  exists(id: string): Promise<boolean>;
  /** Overwrites the blob's bytes before unlinking it, then removes it. Missing blobs are ignored. */
  delete(id: string): Promise<void>;
  /** Appends to an unfinished upload (kept apart until `commitPartial`). Returns the new size. */
  appendPartial(id: string, chunk: Uint8Array): Promise<number>;
  commitPartial(id: string): Promise<void>;
  discardPartial(id: string): Promise<void>;
}
