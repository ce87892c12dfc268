/**
 * Object keys are the same on every destination: relative, `/`-separated, no empty, `.` or
 * `..` segments. A key that would mean something else on a file system (an absolute path, a
 * walk out of the root) is refused before any I/O, on S3 too, so one config behaves the same
 * whichever destination it points at.
 */
import { StorageError } from '../errors.ts';

/** S3's limit on key length, applied everywhere so a key valid on one destination is valid on all. */
const MAX_KEY_BYTES = 1024;

function refuse(destination: string, what: string, key: string, why: string): never {
  throw new StorageError(`${what} ${JSON.stringify(key)} for destination ${destination} ${why}`, {
    permanent: true,
  });
}

function checkSegments(destination: string, what: string, key: string, segments: readonly string[]): void {
  if (key.startsWith('/')) refuse(destination, what, key, 'is absolute: keys are relative to the root');
  if (key.includes('\\')) refuse(destination, what, key, 'contains a backslash: separate folders with "/"');
  if (key.includes('\0')) refuse(destination, what, key, 'contains a NUL character');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    refuse(destination, what, key, `is longer than ${MAX_KEY_BYTES} bytes`);
  }
  for (const segment of segments) {
    if (segment === '..') refuse(destination, what, key, 'contains "..": keys cannot leave the root');
    if (segment === '.' || segment === '') {
      refuse(destination, what, key, 'contains an empty or "." folder name');
    }
  }
}

/** Throws a permanent StorageError unless `key` names an object: relative, no `..`, no empty segments. */
export function assertObjectKey(destination: string, key: string): void {
  if (key === '') refuse(destination, 'key', key, 'is empty');
  checkSegments(destination, 'key', key, key.split('/'));
}

/**
 * Throws a permanent StorageError unless `prefix` is a valid list prefix: empty, or a key
 * prefix that may end with `/` or in the middle of a name (`job/2026-`).
 */
export function assertKeyPrefix(destination: string, prefix: string): void {
  if (prefix === '') return;
  const segments = prefix.split('/');
  // The last segment of a prefix may be partial or empty ("job/" or "job/2026-").
  segments.pop();
  checkSegments(destination, 'prefix', prefix, segments);
}

/** Orders keys the way S3 does (by UTF-8 bytes), so every destination lists in the same order. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
