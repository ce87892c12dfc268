import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
