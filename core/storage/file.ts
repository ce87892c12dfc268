/**
 * A destination in a local directory. Objects appear atomically: bytes go to a hidden temp
 * file in the target folder, which is fsynced, renamed over the final name and followed by an
 * fsync of the folder, so after a crash a key holds either its old content or its new one.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { type FileHandle, open, readdir, rename, stat, statfs, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Destination as DestinationConfig } from '../config/schema.ts';
import { IntegrityError, NotFoundError, StorageError } from '../errors.ts';
import type { CreateDestinationOptions } from './create-options.ts';
import type { Destination, ObjectInfo, WriteOptions, WriteResult } from './destination.ts';
import { errnoCode, mapFileError } from './file-errors.ts';
import { fsyncCreatedFolders, fsyncDirectory, makeFolders } from './file-folders.ts';
import { asBytes, MAX_BATCH_BYTES, writeAll, writeAllv } from './file-writes.ts';
import { assertKeyPrefix, assertObjectKey, compareKeys } from './keys.ts';

/** Temp files are `.<name>.partial-<random hex>`; list() hides them and keys may not look like them. */
const TEMP_FILE = /^\..+\.partial-[0-9a-f]+$/;

/** Objects may hold database contents: readable by the owner only, whatever the umask. */
const FILE_MODE = 0o600;
/** The identity `read(ifMatch)` pins: inode, size and nanosecond mtime, which a rewrite changes. */
function fileEtag(info: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `${info.ino.toString(16)}-${info.size.toString(16)}-${info.mtimeNs.toString(16)}`;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('the write was aborted'), { name: 'AbortError', cause: reason });
}

/** What {@link FileDestination.freeBytes} reads of `fs.statfs`. */
export type StatfsFn = (path: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;

/** A {@link Destination} in a directory of the local file system. */
export class FileDestination implements Destination {
  readonly name: string;
  readonly description: string;
  /** Absolute path of the root directory. */
  readonly root: string;

  private readonly statfs: StatfsFn;

  /**
   * `root` is resolved to an absolute path; it is created on the first write if missing.
   * `options.statfs` replaces `fs.statfs` (tests: no tiny file system to fill here).
   */
  constructor(name: string, root: string, options: { statfs?: StatfsFn } = {}) {
    this.statfs = options.statfs ?? ((path) => statfs(path));
    this.name = name;
    this.root = resolve(root);
    this.description = pathToFileURL(this.root).href;
  }

  /**
   * Free bytes of the file system holding the root (of its nearest existing parent folder
   * while the root does not exist yet), as available to unprivileged users.
   */
  async freeBytes(): Promise<number> {
    for (let path = this.root; ; path = dirname(path)) {
      try {
        const fs = await this.statfs(path);
        return Number(fs.bavail) * Number(fs.bsize);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw err;
      }
    }
  }

  /** Streams `body` to a temp file beside `key`, fsyncs it and renames it into place. */
  async write(key: string, body: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    const { signal } = options;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      // Without an error: the caller may have no 'error' listener on its stream; the cause is thrown below.
      body.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      assertObjectKey(this.name, key);
      this.assertNotTempName(key);
      if (signal?.aborted) throw abortError(signal);
      return await this.writeAtomically(key, signal, async (handle) => {
        let bytes = 0;
        for await (const first of body) {
          // Every chunk already buffered goes out with this one in a single writev: the
          // encryption stage emits packet headers of a few bytes between its data chunks.
          const batch = [asBytes(first)];
          let size = batch[0]!.byteLength;
          while (size < MAX_BATCH_BYTES) {
            const more: unknown = body.read();
            if (more === null) break;
            const data = asBytes(more);
            batch.push(data);
            size += data.byteLength;
          }
          await writeAllv(handle, batch);
          bytes += size;
        }
        return bytes;
      });
    } catch (err) {
      // Tell the producer nobody is reading any more, so the pipeline upstream stops too.
      if (!body.destroyed) body.destroy();
      if (aborted && signal) throw abortError(signal);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Writes `data` with the same temp-file, fsync and rename sequence as {@link write}. */
  async put(key: string, data: Buffer | string): Promise<WriteResult> {
    assertObjectKey(this.name, key);
    this.assertNotTempName(key);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return this.writeAtomically(key, undefined, async (handle) => {
      await writeAll(handle, bytes);
      return bytes.byteLength;
    });
  }

  /** Opens `key` for reading; with `ifMatch`, checks the opened file is the one that was stat'ed. */
  async read(key: string, options: { ifMatch?: string } = {}): Promise<Readable> {
    const path = this.pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw mapFileError(this, err, key, 'read');
    }
    try {
      const info = await handle.stat({ bigint: true });
      if (!info.isFile()) throw new NotFoundError(`${this.urlOf(key)} is not a file`);
      // The check is on the open descriptor: a later rename over the path cannot swap the bytes read.
      if (options.ifMatch !== undefined && fileEtag(info) !== options.ifMatch) {
        throw new IntegrityError(`${this.urlOf(key)} changed since it was verified`);
      }
      return handle.createReadStream();
    } catch (err) {
      await handle.close().catch(() => {});
      throw mapFileError(this, err, key, 'read');
    }
  }

  /** Size, mtime and identity of `key`. */
  async stat(key: string): Promise<ObjectInfo> {
    const path = this.pathOf(key);
    try {
      const info = await stat(path, { bigint: true });
      if (!info.isFile()) throw new NotFoundError(`${this.urlOf(key)} is not a file`);
      return { key, size: Number(info.size), lastModified: info.mtime, etag: fileEtag(info) };
    } catch (err) {
      throw mapFileError(this, err, key, 'stat');
    }
  }

  /** Walks only the folder the prefix points into; temp files and non-regular files are skipped. */
  async list(prefix: string): Promise<ObjectInfo[]> {
    assertKeyPrefix(this.name, prefix);
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const keys: string[] = [];
    await this.walk(folder, (key) => {
      if (key.startsWith(prefix)) keys.push(key);
    });
    keys.sort(compareKeys);
    const infos: ObjectInfo[] = [];
    for (const key of keys) {
      try {
        infos.push(await this.stat(key));
      } catch (err) {
        // Removed between the walk and the stat (a concurrent prune): it is simply gone.
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return infos;
  }

  /** Unlinks `key` and fsyncs its folder; a missing key is not an error. */
  async remove(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
      await fsyncDirectory(dirname(path));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw mapFileError(this, err, key, 'remove');
    }
  }

  /** Writes and removes a probe file under `prefix`, creating the folders on the way. */
  async checkWritable(prefix: string): Promise<void> {
    assertKeyPrefix(this.name, prefix);
    const key = `${prefix}.dumpvault-probe-${randomBytes(6).toString('hex')}`;
    await this.put(key, 'dumpvault write probe\n');
    await this.remove(key);
  }

  /**
   * Unlinks the temp files (`.<name>.partial-<hex>`) of keys starting with `keyPrefix`: what a
   * write killed mid-way (SIGKILL, a crash, a power cut) leaves, since only a live write removes
   * its own. The caller makes sure no write of those keys is still running.
   */
  async removeUnfinished(keyPrefix: string): Promise<string[]> {
    assertKeyPrefix(this.name, keyPrefix);
    const slash = keyPrefix.lastIndexOf('/');
    const folder = slash < 0 ? '' : keyPrefix.slice(0, slash);
    const namePrefix = `.${keyPrefix.slice(slash + 1)}`;
    const path = folder === '' ? this.root : join(this.root, ...folder.split('/'));
    let entries: Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw mapFileError(this, err, folder, 'list');
    }
    const removed: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !TEMP_FILE.test(entry.name) || !entry.name.startsWith(namePrefix)) continue;
      try {
        await unlink(join(path, entry.name));
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue;
        throw mapFileError(this, err, folder, 'remove a temp file in');
      }
      removed.push(join(path, entry.name));
    }
    if (removed.length > 0) await fsyncDirectory(path);
    return removed;
  }

  private assertNotTempName(key: string): void {
    if (TEMP_FILE.test(basename(key))) {
      throw new StorageError(
        `key ${JSON.stringify(key)} for destination ${this.name} looks like a temp file of an unfinished write`,
        { permanent: true },
      );
    }
  }

  private pathOf(key: string): string {
    assertObjectKey(this.name, key);
    return join(this.root, ...key.split('/'));
  }

  private urlOf(key: string): string {
    return pathToFileURL(join(this.root, ...key.split('/'))).href;
  }

  /**
   * The atomic write: temp file (exclusive create), fill, fsync, close, rename, fsync the folder
   * (and any folder just created, in its parent). On any failure the temp file is unlinked.
   */
  private async writeAtomically(
    key: string,
    signal: AbortSignal | undefined,
    fill: (handle: FileHandle) => Promise<number>,
  ): Promise<WriteResult> {
    const path = this.pathOf(key);
    const folder = dirname(path);
    const temp = join(folder, `.${basename(path)}.partial-${randomBytes(8).toString('hex')}`);
    let created: string | undefined;
    try {
      created = await makeFolders(folder);
    } catch (err) {
      throw mapFileError(this, err, key, 'write');
    }
    let handle: FileHandle | undefined;
    let renamed = false;
    try {
      handle = await open(temp, 'wx', FILE_MODE);
      const bytes = await fill(handle);
      await handle.sync();
      const info = await handle.stat({ bigint: true });
      await handle.close();
      handle = undefined;
      if (signal?.aborted) throw abortError(signal);
      await rename(temp, path);
      renamed = true;
      await fsyncDirectory(folder);
      if (created !== undefined) await fsyncCreatedFolders(created, folder);
      return { bytes, etag: fileEtag(info) };
    } catch (err) {
      await handle?.close().catch(() => {});
      if (!renamed) await unlink(temp).catch(() => {});
      throw mapFileError(this, err, key, 'write');
    }
  }

  private async walk(folder: string, visit: (key: string) => void): Promise<void> {
    const path = folder === '' ? this.root : join(this.root, ...folder.split('/'));
    let entries: Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw mapFileError(this, err, folder, 'list');
    }
    for (const entry of entries) {
      const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
      if (entry.isDirectory()) await this.walk(key, visit);
      else if (entry.isFile() && !TEMP_FILE.test(entry.name)) visit(key);
    }
  }
}

/**
 * The file destination a config entry describes, under the options' extra prefix, without
 * wrappers (core/storage/index.ts and load.ts add retries and errors that name it).
 */
export function fileDestination(
  name: string,
  config: Extract<DestinationConfig, { type: 'file' }>,
  options: Pick<CreateDestinationOptions, 'baseDir' | 'prefix'>,
): FileDestination {
  const extra = options.prefix ?? '';
  const base = isAbsolute(config.path) ? config.path : resolve(options.baseDir, config.path);
  return new FileDestination(name, extra === '' ? base : join(base, ...extra.split('/').filter(Boolean)));
}
