import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../../core/errors.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { FileDestination } from '../../../core/storage/file.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { type DestinationFixture, describeDestination } from '../../support/destination-suite.ts';

/** A fresh temp directory; `make` builds the destination from it. Leftovers are unfinished-write temp files. */
async function fileFixture(make: (dir: string) => Destination): Promise<DestinationFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'dumpvault-file-'));
  return {
    destination: make(dir),
    leftovers: async () => (await readdir(dir, { recursive: true })).filter((f) => f.includes('.partial-')),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

describeDestination('FileDestination', () =>
  fileFixture((dir) => new FileDestination('local', join(dir, 'backups'))),
);

describeDestination('FileDestination from createDestination (relative path, retry wrapper)', () =>
  fileFixture((dir) => createDestination('local', { type: 'file', path: './backups' }, { baseDir: dir })),
);

describe('FileDestination on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dumpvault-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hides temp files of unfinished writes from list, and refuses keys that look like them', async () => {
    const dest = new FileDestination('local', dir);
    await dest.put('job/a.dump', 'a');
    await writeFile(join(dir, 'job', '.b.dump.partial-0123abcd'), 'half a dump');

    expect((await dest.list('')).map((o) => o.key)).toEqual(['job/a.dump']);
    await expect(dest.put('job/.b.dump.partial-99', 'x')).rejects.toSatisfy(
      (err: unknown) => err instanceof StorageError && err.permanent,
    );
  });

  it("removeUnfinished removes the temp files of the keys under a prefix (a killed backup's), and nothing else", async () => {
    // Prepare: what a backup killed mid-write leaves, beside a finished object and another run's temp file.
    const dest = createDestination('local', { type: 'file', path: '.' }, { baseDir: dir });
    await dest.put('job/2026-12-01T030000Z-aaa.sql.gz', 'finished');
    await writeFile(join(dir, 'job', '.2026-12-01T030000Z-aaa.sql.gz.partial-0123abcd'), 'half a dump');
    await writeFile(join(dir, 'job', '.2026-12-01T030000Z-aaa.manifest.json.partial-4567'), '{');
    await writeFile(join(dir, 'job', '.2026-12-02T030000Z-bbb.sql.gz.partial-89ab'), 'another run');

    // Act
    const removed = await dest.removeUnfinished!('job/2026-12-01T030000Z-aaa.');

    // Assess
    expect(removed.sort()).toEqual([
      join(dir, 'job', '.2026-12-01T030000Z-aaa.manifest.json.partial-4567'),
      join(dir, 'job', '.2026-12-01T030000Z-aaa.sql.gz.partial-0123abcd'),
    ]);
    expect((await readdir(join(dir, 'job'))).sort()).toEqual([
      '.2026-12-02T030000Z-bbb.sql.gz.partial-89ab',
      '2026-12-01T030000Z-aaa.sql.gz',
    ]);
    expect(await dest.removeUnfinished!('nothing/here.')).toEqual([]);
  });

  it('creates objects readable by their owner only', async () => {
    const dest = new FileDestination('local', dir);

    await dest.write('job/a.dump', Readable.from([Buffer.from('secret rows')]));

    expect((await stat(join(dir, 'job', 'a.dump'))).mode & 0o777).toBe(0o600);
  });

  it('fails with a permanent StorageError naming the path when a file is in the way of a folder', async () => {
    await writeFile(join(dir, 'job'), 'not a folder');
    const dest = new FileDestination('local', dir);

    const error = await dest.put('job/a.manifest.json', '{}').catch((err: unknown) => err);

    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).permanent).toBe(true);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^cannot write ${dir}/job/a\\.manifest\\.json: a file is in the way of a folder \\((ENOTDIR|EEXIST)\\); move it or fix destinations\\.local\\.path$`,
      ),
    );
  });

  it('reads what it opened even when the key is replaced during the read', async () => {
    const dest = new FileDestination('local', dir);
    await dest.put('job/m', 'version-1');
    const verified = await dest.stat('job/m');

    const stream = await dest.read('job/m', { ifMatch: verified.etag! });
    await dest.put('job/m', 'version-2');

    expect(Buffer.concat(await stream.toArray()).toString()).toBe('version-1');
  });
});
