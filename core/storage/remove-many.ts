/**
 * Deleting several objects through any destination: its own batch delete where it has one
 * (S3's DeleteObjects), otherwise one `remove` per key (file, Azure, GCS).
 */
import type { Destination, RemoveFailure } from './destination.ts';

/** Removes `keys` one at a time, in order, and reports each key that failed instead of stopping. */
export async function removeEach(
  dest: Pick<Destination, 'remove'>,
  keys: readonly string[],
): Promise<RemoveFailure[]> {
  const failures: RemoveFailure[] = [];
  for (const key of keys) {
    try {
      await dest.remove(key);
    } catch (error) {
      failures.push({ key, error });
    }
  }
  return failures;
}

/**
 * Removes `keys` from `dest` with its `removeMany` when it has one, else one key at a time.
 * Resolves with the keys not deleted and why (see Destination.removeMany); never rejects.
 */
export async function removeMany(dest: Destination, keys: readonly string[]): Promise<RemoveFailure[]> {
  if (keys.length === 0) return [];
  if (!dest.removeMany) return removeEach(dest, keys);
  try {
    return await dest.removeMany(keys);
  } catch (error) {
    return keys.map((key) => ({ key, error }));
  }
}
