/** How a file destination names what went wrong: errno codes as sentences that say what to fix. */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IntegrityError, NotFoundError, StorageError } from '../errors.ts';

/** The errno code of a file-system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * Turns a file-system error met at `key` of `destination` into NotFoundError or a StorageError
 * naming the path and what to fix; dumpvault's own errors pass through.
 */
export function mapFileError(
  destination: { readonly name: string; readonly root: string },
  err: unknown,
  key: string,
  operation: string,
): unknown {
  if (err instanceof StorageError || err instanceof NotFoundError || err instanceof IntegrityError)
    return err;
  const code = errnoCode(err);
  if (code === undefined) return err;
  const where = key === '' ? destination.root : join(destination.root, ...key.split('/'));
  switch (code) {
    case 'ENOENT':
      if (operation === 'read' || operation === 'stat') {
        return new NotFoundError(`${pathToFileURL(where).href} does not exist`, { cause: err });
      }
      return new StorageError(`cannot ${operation} ${where}: a folder is missing (ENOENT)`, { cause: err });
    case 'EISDIR':
      if (operation === 'read' || operation === 'stat') {
        return new NotFoundError(`${pathToFileURL(where).href} is a folder, not a file`, { cause: err });
      }
      return new StorageError(`cannot ${operation} ${where}: a folder of that name is in the way (EISDIR)`, {
        cause: err,
        permanent: true,
      });
    case 'EACCES':
    case 'EPERM':
      return new StorageError(
        `cannot ${operation} ${where}: permission denied (${code}); fix the permissions of ${destination.root} or destinations.${destination.name}.path`,
        { cause: err, permanent: true },
      );
    case 'EROFS':
      return new StorageError(
        `cannot ${operation} ${where}: the file system is read-only (EROFS); point destinations.${destination.name}.path at a writable directory`,
        { cause: err, permanent: true },
      );
    case 'ENOTDIR':
    case 'EEXIST':
      return new StorageError(
        `cannot ${operation} ${where}: a file is in the way of a folder (${code}); move it or fix destinations.${destination.name}.path`,
        { cause: err, permanent: true },
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError(`cannot ${operation} ${where}: no space left on the device (${code})`, {
        cause: err,
        permanent: true,
      });
    default:
      return new StorageError(`cannot ${operation} ${where}: ${code}`, { cause: err });
  }
}
