/**
 * Errors that name their destination, as a wrapper around any destination (like retry.ts): a
 * store that is unreachable, full or refuses a request fails with `destination <name>: <cause>`
 * whichever command met it (backup, prune, list, restore, check), and a failure the
 * implementation did not recognise still becomes a StorageError — a user-facing failure with
 * its cause — never an internal error ("this is a bug in dumpvault").
 */
import type { Readable } from 'node:stream';
import { messageOf, StorageError, UserError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { Destination, ObjectInfo, RemoveFailure, WriteOptions, WriteResult } from './destination.ts';
import { removeMany } from './remove-many.ts';

/** The prefix every error of destination `name` starts with. */
export function destinationPrefix(name: string): string {
  return `destination ${name}:`;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/**
 * `err` as destination `name` reports it. A StorageError gets the prefix; other user-facing
 * errors (a missing object, an integrity failure) and aborts pass unchanged; anything else
 * came from the store (a request, a file system call) unless `fromBody` — a write's body
 * failing, e.g. the dump — and becomes a StorageError naming the destination.
 */
export function nameDestinationError(
  name: string,
  operation: string,
  err: unknown,
  fromBody = false,
): unknown {
  const prefix = destinationPrefix(name);
  if (err instanceof StorageError) {
    if (err.message.startsWith(prefix)) return err;
    return new StorageError(`${prefix} ${err.message}`, { cause: err, permanent: err.permanent });
  }
  if (err instanceof UserError || isAbort(err) || fromBody) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' && !messageOf(err).includes(code) ? ` (${code})` : '';
  return new StorageError(redact(`${prefix} ${operation} failed${detail}: ${messageOf(err)}`), {
    cause: err,
  });
}

/**
 * Wraps `dest` so that every failure names it (see the module comment). A write's failure that
 * is not a StorageError is its body's (the dump, compression, encryption) and passes unchanged.
 */
export function withDestinationName(dest: Destination): Destination {
  const named = async <T>(operation: string, fn: () => Promise<T>, fromBody = false): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw nameDestinationError(dest.name, operation, err, fromBody);
    }
  };
  return {
    name: dest.name,
    description: dest.description,
    write: (key: string, body: Readable, opts?: WriteOptions): Promise<WriteResult> =>
      named(`write ${key}`, () => dest.write(key, body, opts), true),
    put: (key: string, data: Buffer | string, opts?: { contentType?: string }): Promise<WriteResult> =>
      named(`put ${key}`, () => dest.put(key, data, opts)),
    read: (key: string, opts?: { ifMatch?: string }): Promise<Readable> =>
      named(`read ${key}`, () => dest.read(key, opts)),
    stat: (key: string): Promise<ObjectInfo> => named(`stat ${key}`, () => dest.stat(key)),
    list: (prefix: string): Promise<ObjectInfo[]> => named(`list ${prefix}`, () => dest.list(prefix)),
    remove: (key: string): Promise<void> => named(`remove ${key}`, () => dest.remove(key)),
    removeMany: async (keys: readonly string[]): Promise<RemoveFailure[]> =>
      (await removeMany(dest, keys)).map(({ key, error }) => ({
        key,
        error: nameDestinationError(dest.name, `remove ${key}`, error),
      })),
    checkWritable: (prefix: string): Promise<void> =>
      named(`check ${prefix}`, () => dest.checkWritable(prefix)),
    ...(dest.freeBytes
      ? { freeBytes: (): Promise<number> => named('read free space', () => dest.freeBytes!()) }
      : {}),
    ...(dest.removeUnfinished
      ? {
          removeUnfinished: (keyPrefix: string): Promise<string[]> =>
            named(`remove unfinished writes of ${keyPrefix}`, () => dest.removeUnfinished!(keyPrefix)),
        }
      : {}),
  };
}
