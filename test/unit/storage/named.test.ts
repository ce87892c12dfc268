import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NotFoundError, StorageError, ToolError } from '../../../core/errors.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { withDestinationName } from '../../../core/storage/named.ts';

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (err) {
    return err as StorageError;
  }
  throw new Error('expected a rejection');
}

/** A destination whose every method fails with `error`. */
function failing(error: unknown): Destination {
  const fail = async (): Promise<never> => {
    throw error;
  };
  return {
    name: 'offsite',
    description: 'memory://offsite',
    write: fail,
    put: fail,
    read: fail,
    stat: fail,
    list: fail,
    remove: fail,
    checkWritable: fail,
  };
}

describe('withDestinationName', () => {
  it.each([
    ['put', (d: Destination) => d.put('job/m.json', '{}')],
    ['list', (d: Destination) => d.list('job/')],
    ['checkWritable', (d: Destination) => d.checkWritable('job/')],
    ['write', (d: Destination) => d.write('job/x', Readable.from([]))],
  ])(
    'prefixes a StorageError of %s with "destination <name>:", keeping permanence',
    async (_method, call) => {
      const dest = withDestinationName(
        failing(new StorageError('cannot write /b: no space left (ENOSPC)', { permanent: true })),
      );

      const error = await rejection(call(dest));

      expect(error).toBeInstanceOf(StorageError);
      expect(error.message).toBe('destination offsite: cannot write /b: no space left (ENOSPC)');
      expect(error.permanent).toBe(true);
    },
  );

  it('turns an error it does not know into a StorageError naming the destination and the code, not an internal error', async () => {
    const raw = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const dest = withDestinationName(failing(raw));

    const error = await rejection(dest.list('job/'));

    expect(error).toBeInstanceOf(StorageError);
    expect(error.message).toBe('destination offsite: list job/ failed (ECONNRESET): socket hang up');
    expect(error.cause).toBe(raw);
  });

  it("passes a write's body failure (the dump's), a missing object and an already named error unchanged", async () => {
    const dumpFailed = new ToolError('pg_dump exited with code 1');
    const missing = new NotFoundError('s3://b/job/x does not exist');
    const named = new StorageError('destination offsite: bucket b does not exist');

    expect(
      await withDestinationName(failing(dumpFailed))
        .write('job/x', Readable.from([]))
        .catch((e) => e),
    ).toBe(dumpFailed);
    expect(
      await withDestinationName(failing(new Error('premature close')))
        .write('job/x', Readable.from([]))
        .catch((e) => e),
    ).toMatchObject({ message: 'premature close' });
    expect(
      await withDestinationName(failing(missing))
        .stat('job/x')
        .catch((e) => e),
    ).toBe(missing);
    expect(
      await withDestinationName(failing(named))
        .list('')
        .catch((e) => e),
    ).toBe(named);
  });
});

describe('withDestinationName removeMany', () => {
  // Bug caught: per-key failures of a batch delete returned without the destination's name (the
  // prune report would not say which store refused), or a destination without a batch delete
  // of its own (file, Azure) left without one.
  it('removes key by key where the destination has no batch delete, and names each failure', async () => {
    const removed: string[] = [];
    const dest: Destination = {
      ...failing(new Error('unused')),
      remove: async (key: string) => {
        if (key === 'job/locked') throw new Error('EPERM: operation not permitted');
        removed.push(key);
      },
    };

    const failures = await withDestinationName(dest).removeMany!(['job/a', 'job/locked', 'job/b']);

    expect(removed).toEqual(['job/a', 'job/b']);
    expect(failures.map((f) => [f.key, (f.error as Error).message])).toEqual([
      ['job/locked', 'destination offsite: remove job/locked failed: EPERM: operation not permitted'],
    ]);
    expect(failures[0]!.error).toBeInstanceOf(StorageError);
  });
});
