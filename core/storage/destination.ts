/**
 * The narrow storage interface every destination implements (file, S3, any S3-compatible
 * store). Modelled on restic's backend: each method states its contract; retries and
 * logging are wrappers (see retry.ts), not flags inside implementations.
 */
import type { Readable } from 'node:stream';

/** What `stat` and `list` report about one object. */
export interface ObjectInfo {
  /** Key relative to the destination root (the config `prefix` is part of it). */
  readonly key: string;
  readonly size: number;
  readonly lastModified?: Date;
  /** S3 ETag or file mtime+size; lets a second read be pinned to the object a first read verified. */
  readonly etag?: string;
  readonly versionId?: string;
  /**
   * Until when Object Lock forbids deleting the object (`stat` only, where the store has Object
   * Lock and the caller may read it; S3 needs s3:GetObjectRetention to say).
   */
  readonly retainUntil?: Date;
  /** Whether an Object Lock legal hold forbids deleting the object, whatever `retainUntil` says (`stat` only). */
  readonly legalHold?: boolean;
}

export interface WriteResult {
  readonly bytes: number;
  readonly etag?: string;
  readonly versionId?: string;
}

/** Options of {@link Destination.write}. */
export interface WriteOptions {
  readonly signal?: AbortSignal;
  readonly contentType?: string;
  /**
   * How big the object is likely to be (e.g. the job's previous backup). A store with a limit on
   * the number of parts sizes its parts so that several times this still fits.
   */
  readonly expectedBytes?: number;
}

/** A key {@link Destination.removeMany} could not delete, with why. */
export interface RemoveFailure {
  readonly key: string;
  readonly error: unknown;
}

export interface Destination {
  /** The destination's name in the config. */
  readonly name: string;
  /** Where it points, for messages (`s3://bucket/prefix`, `file:///dir`); never contains secrets. */
  readonly description: string;

  /**
   * Streams `body` to `key`. The object becomes visible only when the promise resolves; if
   * `body` errors, `signal` aborts, or the store fails, the promise rejects and nothing is
   * visible (multipart upload aborted, temp file removed). `body` is consumed once: this
   * method is never retried by wrappers.
   */
  write(key: string, body: Readable, options?: WriteOptions): Promise<WriteResult>;

  /** Writes a small object (a manifest) in one request. Idempotent: may be retried. */
  put(key: string, data: Buffer | string, options?: { contentType?: string }): Promise<WriteResult>;

  /**
   * Opens an object for streaming. With `ifMatch`, fails with an IntegrityError when the object
   * has changed since it was stat'ed. Throws NotFoundError when absent.
   */
  read(key: string, options?: { ifMatch?: string }): Promise<Readable>;

  /** Size, identity and Object Lock state of one object. Throws NotFoundError when absent. */
  stat(key: string): Promise<ObjectInfo>;

  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;

  /** Deletes an object. Deleting a missing object succeeds (idempotent, may be retried). */
  remove(key: string): Promise<void>;

  /**
   * Deletes `keys` in as few requests as the store allows (S3: DeleteObjects, 1000 keys a
   * request). The order in which the keys of one call go is not defined: a caller that needs one
   * key gone before another makes two calls. Resolves with the keys that were not deleted, each
   * with its error (a request that failed as a whole fails each of its keys); a missing key
   * counts as deleted. Idempotent: may be retried, with the failed keys. Optional:
   * `removeMany()` in remove-many.ts removes one key at a time where it is absent.
   */
  removeMany?(keys: readonly string[]): Promise<RemoveFailure[]>;

  /**
   * Proves the destination is reachable and writable (writes and deletes a probe object under
   * `prefix`). Throws a StorageError naming what to fix.
   */
  checkWritable(prefix: string): Promise<void>;

  /**
   * Bytes free to this process where the destination writes (a file destination: `statfs` of
   * its folder, the space an unprivileged user may fill). Optional: stores with no capacity to
   * ask about (S3, GCS, Azure) have none.
   */
  freeBytes?(): Promise<number>;

  /**
   * Removes what unfinished writes of keys starting with `keyPrefix` left behind when their
   * process was killed before it could clean up (the file destination's temp files, S3's
   * pending multipart uploads); finished objects are not touched. Returns what it removed, for
   * messages. Idempotent: may be retried. Optional: a store whose writes leave nothing needs none.
   */
  removeUnfinished?(keyPrefix: string): Promise<string[]>;
}
