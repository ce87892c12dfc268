/**
 * The folders of a file destination: made owner-only with the real reason when they cannot be,
 * and made durable (a rename or unlink, or a new folder, survives a crash once its parent is
 * fsynced).
 */
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode } from './file-errors.ts';

/** Folders this destination creates: even the names in them (jobs, times) are the owner's. */
const DIR_MODE = 0o700;

/**
 * `mkdir -p` (folders 0700) that reports the real reason it fails: Node's recursive mkdir
 * answers ENOENT where a level cannot be made for another reason (EROFS on a read-only file
 * system), so on ENOENT the missing levels are made one by one, which fails with the real
 * code. Returns the first folder it created, like `mkdir(…, { recursive: true })`.
 */
export async function makeFolders(folder: string): Promise<string | undefined> {
  try {
    return await mkdir(folder, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const missing: string[] = [];
  for (let dir = folder; ; dir = dirname(dir)) {
    try {
      await stat(dir);
      break;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' || dirname(dir) === dir) throw err;
      missing.unshift(dir);
    }
  }
  for (const dir of missing) {
    await mkdir(dir, { mode: DIR_MODE }).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err;
    });
  }
  return missing[0];
}

/** Opens a directory and fsyncs it, making a rename or unlink inside it durable. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `mkdir -p` made `first` and everything below it up to `folder`: make those entries durable. */
export async function fsyncCreatedFolders(first: string, folder: string): Promise<void> {
  let current = folder;
  while (current !== dirname(first) && current.length >= first.length) {
    current = dirname(current);
    await fsyncDirectory(current);
  }
}
