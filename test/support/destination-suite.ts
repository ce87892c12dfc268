/**
 * The contract of core/storage/destination.ts, as tests every destination must pass
 * (restic's `internal/backend/test`): each implementation's test file hands this suite a
 * factory of fresh, empty instances and nothing else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError, StorageError } from '../../core/errors.ts';
import type { Destination } from '../../core/storage/destination.ts';
import { removeMany } from '../../core/storage/remove-many.ts';

export const MiB = 1024 * 1024;

/** A fresh, empty destination plus a way to see what a failed write may have left behind. */
export interface DestinationFixture {
  readonly destination: Destination;
  /**
   * What unfinished writes left that must never exist: temp files of a file destination,
   * pending multipart uploads of an S3 one. The suite expects it to be empty after failures.
   */
  leftovers(): Promise<string[]>;
  dispose(): Promise<void>;
}

/** The largest part size the suite assumes; writes of 12 MiB then span at least three parts. */
export const SUITE_PART_SIZE = 5 * MiB;

/** Random bytes in 256 KiB chunks, with their SHA-256, so a round trip can be checked without holding them. */
export function randomBody(bytes: number): { body: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  function* chunks() {
    for (let sent = 0; sent < bytes; ) {
      const chunk = randomBytes(Math.min(256 * 1024, bytes - sent));
      hash.update(chunk);
      sent += chunk.byteLength;
      yield chunk;
    }
  }
  return { body: Readable.from(chunks()), sha256: () => hash.digest('hex') };
}

/** A body that yields `bytes` bytes and then fails with `error`, as a dump tool dying mid-dump would. */
export function failingBody(bytes: number, error: Error): Readable {
  async function* chunks() {
    for (let sent = 0; sent < bytes; sent += MiB) yield randomBytes(Math.min(MiB, bytes - sent));
    throw error;
  }
  return Readable.from(chunks());
}

/** Writes `bytes` random bytes into `stream`, honouring backpressure; stops quietly if it is destroyed. */
export async function feed(stream: PassThrough, bytes: number): Promise<void> {
  for (let sent = 0; sent < bytes && !stream.destroyed; sent += MiB) {
    if (!stream.write(randomBytes(Math.min(MiB, bytes - sent)))) {
      // The losing wait is cancelled, so its listeners do not pile up on the stream.
      const waits = new AbortController();
      const { signal } = waits;
      await Promise.race([once(stream, 'drain', { signal }), once(stream, 'close', { signal })]).catch(
        () => {},
      );
      waits.abort();
    }
  }
}

/** SHA-256 and size of a stream's content. */
export async function digest(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function readText(dest: Destination, key: string, ifMatch?: string): Promise<string> {
  const stream = await dest.read(key, ifMatch === undefined ? {} : { ifMatch });
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Registers the destination contract tests under `describe(name)`. `factory` is called before
 * every test and must return an empty destination whose writes use parts of at most
 * {@link SUITE_PART_SIZE} bytes.
 */
export function describeDestination(name: string, factory: () => Promise<DestinationFixture>): void {
  describe(name, () => {
    let fixture: DestinationFixture;
    let dest: Destination;

    beforeEach(async () => {
      fixture = await factory();
      dest = fixture.destination;
    });
    afterEach(async () => {
      await fixture.dispose();
    });

    /** Nothing is visible under `prefix` and nothing unfinished is left behind. */
    async function expectNothingLeft(key: string): Promise<void> {
      await expect(dest.stat(key)).rejects.toBeInstanceOf(NotFoundError);
      expect(await dest.list('')).toEqual([]);
      expect(await fixture.leftovers()).toEqual([]);
    }

    describe('write', () => {
      it('streams a multi-part body and reads back the same bytes', async () => {
        const { body, sha256 } = randomBody(12 * MiB);

        const result = await dest.write('job/2026-11-21T030000Z-a1b2.dump.gz.gpg', body);

        expect(result.bytes).toBe(12 * MiB);
        const info = await dest.stat('job/2026-11-21T030000Z-a1b2.dump.gz.gpg');
        expect(info).toMatchObject({ key: 'job/2026-11-21T030000Z-a1b2.dump.gz.gpg', size: 12 * MiB });
        expect(info.etag).toBe(result.etag);
        expect(await digest(await dest.read(info.key))).toEqual({ sha256: sha256(), bytes: 12 * MiB });
        expect(await fixture.leftovers()).toEqual([]);
      });

      it('writes a body smaller than one part, and an empty body', async () => {
        const small = await dest.write(
          'job/small',
          Readable.from([Buffer.from('hello '), Buffer.from('world')]),
        );
        const empty = await dest.write('job/empty', Readable.from([]));

        expect(small.bytes).toBe(11);
        expect(empty.bytes).toBe(0);
        expect(await readText(dest, 'job/small')).toBe('hello world');
        expect(await readText(dest, 'job/empty')).toBe('');
        expect((await dest.stat('job/empty')).size).toBe(0);
      });

      it('replaces an existing object as a whole', async () => {
        await dest.write('job/k', Readable.from([Buffer.from('first version')]));

        await dest.write('job/k', Readable.from([Buffer.from('second')]));

        expect(await readText(dest, 'job/k')).toBe('second');
        expect((await dest.list('job/')).map((o) => o.key)).toEqual(['job/k']);
      });

      it('rejects with the body error and leaves nothing when the body fails mid-stream', async () => {
        const boom = new Error('pg_dump exited with code 1');

        const writing = dest.write('job/broken.dump', failingBody(11 * MiB, boom));

        await expect(writing).rejects.toBe(boom);
        await expectNothingLeft('job/broken.dump');
      });

      it('rejects and leaves nothing when the signal aborts mid-stream, and destroys the body', async () => {
        const body = new PassThrough();
        const controller = new AbortController();
        const writing = dest.write('job/aborted.dump', body, { signal: controller.signal });
        writing.catch(() => {});
        await feed(body, 7 * MiB);

        controller.abort();

        await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
        expect(body.destroyed).toBe(true);
        await expectNothingLeft('job/aborted.dump');
      });

      it('rejects at once when the signal is already aborted', async () => {
        const controller = new AbortController();
        controller.abort();
        const { body } = randomBody(MiB);

        await expect(dest.write('job/never', body, { signal: controller.signal })).rejects.toMatchObject({
          name: 'AbortError',
        });
        await expectNothingLeft('job/never');
      });

      it('keeps concurrent writes to the same folder apart', async () => {
        const a = randomBody(6 * MiB);
        const b = randomBody(MiB);

        await Promise.all([dest.write('job/a', a.body), dest.write('job/b', b.body)]);

        expect(await digest(await dest.read('job/a'))).toEqual({ sha256: a.sha256(), bytes: 6 * MiB });
        expect(await digest(await dest.read('job/b'))).toEqual({ sha256: b.sha256(), bytes: MiB });
      });
    });

    describe('put, stat and read', () => {
      it('puts strings and buffers that read back byte for byte', async () => {
        const text = '{"formatVersion":1,"job":"prod-daily","note":"ünïcödé"}';

        const result = await dest.put('job/x.manifest.json', text, { contentType: 'application/json' });
        await dest.put('job/bin', Buffer.from([0, 1, 2, 255]));

        expect(result.bytes).toBe(Buffer.byteLength(text));
        expect(await readText(dest, 'job/x.manifest.json')).toBe(text);
        const bin = await dest.read('job/bin');
        expect(Buffer.concat(await bin.toArray())).toEqual(Buffer.from([0, 1, 2, 255]));
        const info = await dest.stat('job/x.manifest.json');
        expect(info).toMatchObject({ key: 'job/x.manifest.json', size: Buffer.byteLength(text) });
        expect(info.etag).toBe(result.etag);
        expect(info.lastModified).toBeInstanceOf(Date);
      });

      it('round-trips keys with spaces and non-ASCII characters', async () => {
        await dest.put('my job/été 2026.txt', 'summer');

        expect(await readText(dest, 'my job/été 2026.txt')).toBe('summer');
        expect((await dest.list('my job/')).map((o) => o.key)).toEqual(['my job/été 2026.txt']);
      });

      it('throws NotFoundError for read and stat of a missing key', async () => {
        await expect(dest.read('job/missing')).rejects.toBeInstanceOf(NotFoundError);
        await expect(dest.stat('job/missing')).rejects.toBeInstanceOf(NotFoundError);
      });

      it('reads with ifMatch while the object is unchanged, and fails with IntegrityError once it changed', async () => {
        await dest.put('job/m', 'version-1');
        const verified = await dest.stat('job/m');

        expect(await readText(dest, 'job/m', verified.etag)).toBe('version-1');
        await dest.put('job/m', 'version-2');

        await expect(dest.read('job/m', { ifMatch: verified.etag! })).rejects.toBeInstanceOf(IntegrityError);
        expect(await readText(dest, 'job/m', (await dest.stat('job/m')).etag)).toBe('version-2');
      });
    });

    describe('list', () => {
      const keys = ['b', 'a/2', 'a/10', 'a/1', 'ab', 'a/b/c', 'job/2026-01-02T000000Z-x.manifest.json'];

      beforeEach(async () => {
        for (const key of keys) await dest.put(key, `content of ${key}`);
      });

      it('lists every object in key order, with sizes, relative to the root', async () => {
        const all = await dest.list('');

        expect(all.map((o) => o.key)).toEqual([
          'a/1',
          'a/10',
          'a/2',
          'a/b/c',
          'ab',
          'b',
          'job/2026-01-02T000000Z-x.manifest.json',
        ]);
        expect(all.find((o) => o.key === 'a/b/c')?.size).toBe(Buffer.byteLength('content of a/b/c'));
      });

      it('filters by prefix, including a prefix that ends mid-name', async () => {
        expect((await dest.list('a/')).map((o) => o.key)).toEqual(['a/1', 'a/10', 'a/2', 'a/b/c']);
        expect((await dest.list('a/1')).map((o) => o.key)).toEqual(['a/1', 'a/10']);
        expect((await dest.list('a')).map((o) => o.key)).toEqual(['a/1', 'a/10', 'a/2', 'a/b/c', 'ab']);
        expect((await dest.list('job/2026-')).map((o) => o.key)).toEqual([
          'job/2026-01-02T000000Z-x.manifest.json',
        ]);
      });

      it('returns an empty list for a prefix nothing lives under', async () => {
        expect(await dest.list('nothing/')).toEqual([]);
        expect(await dest.list('a/b/c/d/')).toEqual([]);
      });
    });

    describe('remove', () => {
      it('removes an object, and succeeds again when it is already gone', async () => {
        await dest.put('job/old', 'old');

        await dest.remove('job/old');
        await dest.remove('job/old');
        await dest.remove('job/never-existed');

        await expect(dest.stat('job/old')).rejects.toBeInstanceOf(NotFoundError);
        expect(await dest.list('job/')).toEqual([]);
      });
    });

    describe('removeMany', () => {
      // Bug caught: a batch delete the store rejects (S3-compatible stores without DeleteObjects,
      // a request the store cannot parse), that leaves keys behind while reporting none failed,
      // or that fails on a key already gone.
      it('removes several objects and a missing key in one call, reporting no failure', async () => {
        const keys = ['job/a', 'job/b c', 'job/sub/d', 'job/é'];
        for (const key of keys) await dest.put(key, key);
        await dest.put('keep/x', 'x');

        expect(await removeMany(dest, [...keys, 'job/never-existed'])).toEqual([]);

        expect(await dest.list('job/')).toEqual([]);
        expect((await dest.list('')).map((o) => o.key)).toEqual(['keep/x']);
      });
    });

    describe('checkWritable', () => {
      it('succeeds on a writable destination and leaves no probe behind', async () => {
        await dest.checkWritable('job/');
        await dest.checkWritable('');

        expect(await dest.list('')).toEqual([]);
      });
    });

    describe('keys', () => {
      it.each([
        ['a walk out of the root', '../escape'],
        ['an absolute path', '/etc/passwd'],
        ['an empty folder name', 'a//b'],
        ['a "." folder', 'a/./b'],
        ['a ".." inside', 'a/../../b'],
        ['an empty key', ''],
      ])('refuses %s with a permanent StorageError', async (_what, key) => {
        await expect(dest.put(key, 'x')).rejects.toSatisfy(
          (err: unknown) => err instanceof StorageError && err.permanent,
        );
        await expect(dest.write(key, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(StorageError);
        await expect(dest.read(key)).rejects.toBeInstanceOf(StorageError);
        await expect(dest.stat(key)).rejects.toBeInstanceOf(StorageError);
        await expect(dest.remove(key)).rejects.toBeInstanceOf(StorageError);
      });

      it('refuses list prefixes that leave the root', async () => {
        await expect(dest.list('../')).rejects.toBeInstanceOf(StorageError);
        await expect(dest.list('/abs/')).rejects.toBeInstanceOf(StorageError);
      });
    });
  });
}
