import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { text } from 'node:stream/consumers';
import { WireError } from '../../errors.js';
import { FsBlobStore, secureDelete } from '../blobs.js';

async function expectBadFileId(promise: Promise<unknown> | (() => unknown)): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).to.be.instanceOf(WireError);
    expect((error as WireError).code).to.equal('bad_request');
    expect((error as WireError).details).to.deep.equal({ field: 'file_id' });
    return;
  }
  throw new Error('expected bad_request naming file_id');
}

describe('server/blobs FsBlobStore', () => {
  let base: string;
  let root: string;
  let store: FsBlobStore;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'kecalek-blobs-'));
    root = join(base, 'uploads', 'plugin');
    store = new FsBlobStore(root);
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('writes, reads, sizes and streams a blob in a two-level folder, 0700/0600', async () => {
    const id = randomUUID();
    const data = randomBytes(10_000);
    expect(await store.write(id, data)).to.equal(10_000);
    const path = store.pathOf(id);
    expect(path).to.equal(join(root, id.slice(0, 2), id.slice(2, 4), id));
    expect(Buffer.from(await store.read(id)).equals(data)).to.equal(true);
    expect(await store.size(id)).to.equal(10_000);
    expect(await store.exists(id)).to.equal(true);
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
    expect((await stat(root)).mode & 0o777).to.equal(0o700);
    expect((await stat(dirname(path))).mode & 0o777).to.equal(0o700);
    const chunks: Buffer[] = [];
    for await (const chunk of store.createReadStream(id, { start: 100, end: 200 })) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data.subarray(100, 200))).to.equal(true);
    expect(await text(store.createReadStream(id, { start: 50, end: 50 }))).to.equal('');
  });

  it('writes from an async iterable', async () => {
    const id = randomUUID();
    async function* parts(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('hello ');
      yield Buffer.from('world');
    }
    expect(await store.write(id, parts())).to.equal(11);
    expect(Buffer.from(await store.read(id)).toString()).to.equal('hello world');
  });

  it('answers not_found / undefined / false for a missing blob and ignores deleting it', async () => {
    const id = randomUUID();
    expect(await store.size(id)).to.equal(undefined);
    expect(await store.exists(id)).to.equal(false);
    try {
      await store.read(id);
      throw new Error('expected not_found');
    } catch (error) {
      expect((error as WireError).code).to.equal('not_found');
    }
    await store.delete(id);
    await store.discardPartial(id);
  });

  it('refuses traversal attempts, absolute paths, uppercase and non-UUID ids with bad_request naming file_id', async () => {
    const outside = join(base, 'victim.txt');
    await writeFile(outside, 'keep me');
    const attacks = [
      '../victim.txt',
      '../../victim.txt',
      `../${randomUUID()}`,
      `${randomUUID()}/../../victim.txt`,
      outside,
      '/etc/passwd',
      randomUUID().toUpperCase(),
      `${randomUUID()}.part`,
      `${randomUUID()}\0`,
      'not-a-uuid',
      '',
      '..',
      'ab/cd/x',
      '..\\..\\victim.txt',
    ];
    for (const id of attacks) {
      await expectBadFileId(store.write(id, Buffer.from('x')));
      await expectBadFileId(store.read(id));
      await expectBadFileId(store.delete(id));
      await expectBadFileId(store.size(id));
      await expectBadFileId(store.exists(id));
      await expectBadFileId(store.appendPartial(id, Buffer.from('x')));
      await expectBadFileId(store.commitPartial(id));
      await expectBadFileId(store.discardPartial(id));
      await expectBadFileId(() => store.createReadStream(id));
    }
    expect(await readFile(outside, 'utf8')).to.equal('keep me');
    expect(existsSync(root)).to.equal(false);
  });

  it('replaces a blob atomically: readers see the old or the new content, never a mix, and no temporary file stays', async () => {
    const id = randomUUID();
    const first = Buffer.alloc(1024 * 1024, 1);
    const second = Buffer.alloc(1024 * 1024, 2);
    await store.write(id, first);
    const reads: Promise<Uint8Array>[] = [];
    const writing = store.write(id, second);
    for (let i = 0; i < 20; i++) reads.push(readFile(store.pathOf(id)));
    await writing;
    for (const content of await Promise.all(reads)) {
      const bytes = Buffer.from(content);
      expect(bytes.length).to.equal(first.length);
      expect(bytes.equals(first) || bytes.equals(second)).to.equal(true);
    }
    expect(Buffer.from(await store.read(id)).equals(second)).to.equal(true);
    expect(await readdir(dirname(store.pathOf(id)))).to.deep.equal([id]);
  });

  it('leaves no file behind when a streamed write fails', async () => {
    const id = randomUUID();
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial data');
      throw new Error('upload interrupted');
    }
    try {
      await store.write(id, failing());
      throw new Error('expected the write to fail');
    } catch (error) {
      expect((error as Error).message).to.equal('upload interrupted');
    }
    expect(await store.exists(id)).to.equal(false);
    expect(await readdir(dirname(store.pathOf(id)))).to.deep.equal([]);
  });

  it('overwrites the content before unlinking on delete (checked through a hard link to the inode)', async () => {
    const id = randomUUID();
    const secret = Buffer.from('secret ciphertext '.repeat(5000));
    await store.write(id, secret);
    const witness = join(base, 'witness');
    await link(store.pathOf(id), witness);
    await store.delete(id);
    expect(await store.exists(id)).to.equal(false);
    const after = await readFile(witness);
    expect(after.length).to.equal(secret.length);
    expect(after.equals(secret)).to.equal(false);
    expect(after.includes(Buffer.from('secret ciphertext'))).to.equal(false);
  });

  it('keeps partial uploads apart, commits them by rename and wipes discarded ones', async () => {
    const id = randomUUID();
    expect(await store.appendPartial(id, Buffer.from('abc'))).to.equal(3);
    expect(await store.appendPartial(id, Buffer.from('defg'))).to.equal(7);
    expect(await store.exists(id)).to.equal(false);
    expect(existsSync(`${store.pathOf(id)}.part`)).to.equal(true);
    expect((await stat(`${store.pathOf(id)}.part`)).mode & 0o777).to.equal(0o600);
    await store.commitPartial(id);
    expect(Buffer.from(await store.read(id)).toString()).to.equal('abcdefg');
    expect(existsSync(`${store.pathOf(id)}.part`)).to.equal(false);

    const other = randomUUID();
    const content = Buffer.from('unfinished secret upload '.repeat(100));
    await store.appendPartial(other, content);
    const witness = join(base, 'partial-witness');
    await link(`${store.pathOf(other)}.part`, witness);
    await store.discardPartial(other);
    expect(existsSync(`${store.pathOf(other)}.part`)).to.equal(false);
    const after = await readFile(witness);
    expect(after.length).to.equal(content.length);
    expect(after.includes(Buffer.from('unfinished secret'))).to.equal(false);

    try {
      await store.commitPartial(randomUUID());
      throw new Error('expected not_found');
    } catch (error) {
      expect((error as WireError).code).to.equal('not_found');
    }
  });

  it('runs concurrent appends to one upload one after another', async () => {
    const id = randomUUID();
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000, i));
    await Promise.all(chunks.map((chunk) => store.appendPartial(id, chunk)));
    await store.commitPartial(id);
    const content = Buffer.from(await store.read(id));
    expect(content.length).to.equal(50_000);
    for (let i = 0; i < 50; i++) expect(content.subarray(i * 1000, (i + 1) * 1000).equals(chunks[i]!)).to.equal(true);
  });

  it('secureDelete ignores a missing file', async () => {
    await secureDelete(join(base, 'nothing-here'));
  });
});
