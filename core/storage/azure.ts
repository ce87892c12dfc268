/**
 * A destination in an Azure Blob Storage container (native Blob API, `@azure/storage-blob`).
 *
 * `write` stages blocks as the body flows (BlockWriter: memory is a fixed set of block
 * buffers) and commits the block list only after the body ended cleanly, so a failed write
 * never makes a blob. On failure it waits for its requests to settle, then deletes what it may
 * have made: a blob it committed before the failure was noticed, or its uncommitted blocks
 * (Delete Blob on a name that has only uncommitted blocks discards them; Azure also discards
 * uncommitted blocks on its own a week after the last Put Block). A name that already held a
 * committed blob keeps it: that blob is not this write's to delete.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { S3_CLEANUP_TIMEOUT_SECONDS, S3_STALL_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';
import { IntegrityError, NotFoundError, StorageError, UserError } from '../errors.ts';
import { redact } from '../redact.ts';
import { BlockWriter, MAX_BLOCK_BYTES, MAX_BLOCKS, TooManyBlocksError } from './azure-blocks.ts';
import type { Destination, ObjectInfo, WriteOptions, WriteResult } from './destination.ts';
import { assertKeyPrefix, assertObjectKey, compareKeys } from './keys.ts';
import { UploadStalledError } from './stall-watch.ts';

const MiB = 1024 * 1024;
/** How many times the expected size a write's blocks must hold (backups grow; blocks cannot). */
const BLOCK_HEADROOM = 4;

export interface AzureDestinationOptions {
  /** The destination's name in the config; error messages point at `destinations.<name>`. */
  readonly name: string;
  /** A client of the container, with its credentials (see azure-client.ts). */
  readonly container: ContainerClient;
  /**
   * Root inside the container: every key is relative to it.
   * @default ""
   */
  readonly prefix?: string;
  /**
   * Bytes per staged block.
   * @default 8 MiB
   */
  readonly blockSizeBytes?: number;
  /**
   * Blocks staged in parallel; a write holds (queueSize + 1) × blockSizeBytes of buffers.
   * @default 2
   */
  readonly queueSize?: number;
  /**
   * Blocks a write may have (tests lower it).
   * @default 50,000 (Azure's limit)
   */
  readonly maxBlocks?: number;
  /**
   * How long a write may wait on the store with no request completing before it fails.
   * @default 300 s
   */
  readonly stallTimeoutMs?: number;
  /**
   * The longest the clean-up of a failed write may take.
   * @default the stall timeout, at most 60 s
   */
  readonly cleanupTimeoutMs?: number;
}

/** What the SDK puts on a failed request (RestError), read structurally. */
function describeFailure(err: unknown): { name: string; message: string; status?: number; code?: string } {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : undefined;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  // The store's message ends with "RequestId:… Time:…" lines; the first line says it.
  return { name: err.name, message: err.message.split('\n')[0] ?? '', status, code };
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('the write was aborted'), { name: 'AbortError', cause: reason });
}

/** A {@link Destination} in an Azure Blob Storage container, under an optional root prefix. */
export class AzureDestination implements Destination {
  readonly name: string;
  readonly description: string;
  /** Root inside the container, `""` or ending with `/`. */
  readonly root: string;
  private readonly container: ContainerClient;
  private readonly blockSize: number;
  private readonly queueSize: number;
  private readonly maxBlocks: number;
  private readonly stallTimeoutMs: number;
  private readonly cleanupTimeoutMs: number;

  /** See {@link AzureDestinationOptions}; nothing is sent until the first call. */
  constructor(options: AzureDestinationOptions) {
    this.name = options.name;
    this.container = options.container;
    const prefix = options.prefix ?? '';
    this.root = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    if (this.root !== '') assertKeyPrefix(options.name, this.root);
    this.blockSize = options.blockSizeBytes ?? 8 * MiB;
    this.queueSize = options.queueSize ?? 2;
    this.maxBlocks = options.maxBlocks ?? MAX_BLOCKS;
    this.stallTimeoutMs = options.stallTimeoutMs ?? S3_STALL_TIMEOUT_SECONDS * 1000;
    this.cleanupTimeoutMs =
      options.cleanupTimeoutMs ?? Math.min(this.stallTimeoutMs, S3_CLEANUP_TIMEOUT_SECONDS * 1000);
    this.description = `azure://${this.container.accountName}/${this.container.containerName}/${this.root}`;
  }

  /** Staged blocks, committed only when the body ended cleanly (see the module comment). */
  async write(key: string, body: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    const { signal } = options;
    const blob = this.blobOf(key);
    let failure: { error: Error; fromStore: boolean } | undefined;
    const fail = (err: unknown, fromStore: boolean) => {
      failure ??= { error: asError(err), fromStore };
      // Destroying the body stops the writer reading it and, through its pipeline, the dump.
      if (!body.destroyed) body.destroy(failure.error);
    };
    body.on('error', () => {});
    const writer = new BlockWriter({
      blob,
      blockSize: this.blockSizeFor(options.expectedBytes),
      queueSize: this.queueSize,
      maxBlocks: this.maxBlocks,
      ...(options.contentType ? { contentType: options.contentType } : {}),
      ...(signal ? { signal } : {}),
      onRequestFailed: (err) => fail(err, true),
      stallMs: this.stallTimeoutMs,
    });
    const onAbort = () => {
      if (signal) fail(abortReason(signal), false);
    };
    try {
      if (signal?.aborted) throw abortReason(signal);
      signal?.addEventListener('abort', onAbort, { once: true });
      const output = await writer.write(body);
      // The signal may have fired while the commit was in flight.
      if (failure) throw failure.error;
      return { bytes: writer.bytes, ...(output.etag ? { etag: output.etag } : {}) };
    } catch (err) {
      fail(err, err instanceof TooManyBlocksError);
      const cause = failure ?? { error: asError(err), fromStore: true };
      const leftover = await this.cleanUpFailedWrite(key, blob, writer);
      throw this.writeError(cause.error, cause.fromStore, key, leftover);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      writer.close();
    }
  }

  /** The block size of a write: the configured one, or larger when the expected size × 4 would not fit in 50,000 blocks. */
  blockSizeFor(expectedBytes: number | undefined): number {
    if (!expectedBytes || expectedBytes <= 0) return this.blockSize;
    const needed = Math.ceil((expectedBytes * BLOCK_HEADROOM) / this.maxBlocks / MiB) * MiB;
    return Math.min(MAX_BLOCK_BYTES, Math.max(this.blockSize, needed));
  }

  /** One Put Blob with a Content-MD5 the store checks. */
  async put(
    key: string,
    data: Buffer | string,
    options: { contentType?: string } = {},
  ): Promise<WriteResult> {
    const blob = this.blobOf(key);
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const writer = new BlockWriter({
      blob,
      blockSize: Math.max(1, body.byteLength + 1),
      queueSize: 1,
      ...(options.contentType ? { contentType: options.contentType } : {}),
    });
    try {
      const output = await writer.write([body]);
      return { bytes: body.byteLength, ...(output.etag ? { etag: output.etag } : {}) };
    } catch (err) {
      throw this.mapError(err, 'put', key);
    }
  }

  /** Get Blob, with If-Match when `ifMatch` is given (412 → IntegrityError). */
  async read(key: string, options: { ifMatch?: string } = {}): Promise<Readable> {
    const blob = this.blobOf(key);
    try {
      const output = await blob.download(0, undefined, {
        ...(options.ifMatch !== undefined ? { conditions: { ifMatch: options.ifMatch } } : {}),
      });
      const body = output.readableStreamBody;
      if (!(body instanceof Readable))
        throw new StorageError(`Get Blob of ${this.urlOf(key)} returned no stream`);
      return body;
    } catch (err) {
      throw this.mapError(err, 'read', key);
    }
  }

  /** Get Blob Properties. A name with only uncommitted blocks is not found. */
  async stat(key: string): Promise<ObjectInfo> {
    const blob = this.blobOf(key);
    try {
      const props = await blob.getProperties();
      return {
        key,
        size: props.contentLength ?? 0,
        ...(props.lastModified ? { lastModified: props.lastModified } : {}),
        ...(props.etag ? { etag: props.etag } : {}),
      };
    } catch (err) {
      throw this.mapError(err, 'stat', key);
    }
  }

  /** List Blobs (committed blobs only), every page, keys relative to the root, sorted by UTF-8 bytes. */
  async list(prefix: string): Promise<ObjectInfo[]> {
    assertKeyPrefix(this.name, prefix);
    const infos: ObjectInfo[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix: this.root + prefix })) {
        if (!item.name.startsWith(this.root)) continue;
        infos.push({
          key: item.name.slice(this.root.length),
          size: item.properties.contentLength ?? 0,
          lastModified: item.properties.lastModified,
          ...(item.properties.etag ? { etag: item.properties.etag } : {}),
        });
      }
    } catch (err) {
      throw this.mapError(err, 'list', prefix);
    }
    return infos.sort((a, b) => compareKeys(a.key, b.key));
  }

  /** Delete Blob with its snapshots; a missing blob is not an error. */
  async remove(key: string): Promise<void> {
    const blob = this.blobOf(key);
    try {
      await blob.deleteIfExists({ deleteSnapshots: 'include' });
    } catch (err) {
      const mapped = this.mapError(err, 'remove', key);
      if (mapped instanceof NotFoundError) return;
      throw mapped;
    }
  }

  /**
   * Proves what a backup needs without making a blob: lists under `prefix` (the container
   * exists, the credentials are accepted, listing is allowed), stages one block of a probe
   * name (writing is allowed) and deletes the probe's uncommitted block.
   */
  async checkWritable(prefix: string): Promise<void> {
    assertKeyPrefix(this.name, prefix);
    await this.list(`${prefix}.dumpvault-probe-`);
    const key = `${prefix}.dumpvault-probe-${randomBytes(6).toString('hex')}`;
    const blob = this.blobOf(key);
    const data = Buffer.from('dumpvault write probe\n');
    try {
      await blob.stageBlock(Buffer.from('probe-000001').toString('base64'), data, data.byteLength);
    } catch (err) {
      throw this.mapError(err, 'write', key);
    }
    await this.remove(key);
  }

  private blobOf(key: string): BlockBlobClient {
    assertObjectKey(this.name, key);
    return this.container.getBlockBlobClient(this.root + key);
  }

  private urlOf(key: string): string {
    return `azure://${this.container.accountName}/${this.container.containerName}/${this.root}${key}`;
  }

  /**
   * After a failed write: waits for the writer's requests to settle, then deletes the blob it
   * may have committed, or its uncommitted blocks when no committed blob holds the name.
   * Returns what could not be cleaned up, if anything.
   */
  private async cleanUpFailedWrite(
    key: string,
    blob: BlockBlobClient,
    writer: BlockWriter,
  ): Promise<string | undefined> {
    await writer.settled();
    if (!writer.staged && !writer.committed && !writer.commitUncertain) return undefined;
    const abortSignal = AbortSignal.timeout(this.cleanupTimeoutMs);
    try {
      if (!writer.committed && !writer.commitUncertain) {
        // Only uncommitted blocks of this write: a committed blob of that name is another write's.
        const exists = await blob.exists({ abortSignal });
        if (exists) return undefined;
      }
      await blob.deleteIfExists({ abortSignal, deleteSnapshots: 'include' });
      return undefined;
    } catch (err) {
      const cause = abortSignal.aborted
        ? `the store did not answer within ${Number((this.cleanupTimeoutMs / 1000).toFixed(1))} s`
        : redact(describeFailure(err).message);
      if (writer.committed || writer.commitUncertain) {
        return `the blob ${this.urlOf(key)} it may have committed could not be deleted: ${cause}`;
      }
      return `the uncommitted blocks of ${this.urlOf(key)} could not be deleted (${cause}); they are invisible, and Azure discards them a week after the last one was staged`;
    }
  }

  /** The error a failed write rejects with: the body's own error as is, store failures mapped. */
  private writeError(cause: Error, fromStore: boolean, key: string, leftover: string | undefined): Error {
    let error: Error = cause;
    if (fromStore) {
      const mapped = this.mapError(cause, 'write', key);
      error = mapped instanceof Error ? mapped : cause;
    }
    if (leftover === undefined) return error;
    if (error instanceof StorageError) {
      return new StorageError(`${error.message}; ${leftover}`, { cause, permanent: error.permanent });
    }
    return new StorageError(`write of ${this.urlOf(key)} failed (${redact(error.message)}); ${leftover}`, {
      cause,
    });
  }

  /** Maps an SDK error to NotFoundError, IntegrityError or a StorageError that names what to fix. */
  private mapError(err: unknown, operation: string, key: string): unknown {
    if (err instanceof UserError || isAbortError(err)) return err;
    const failed = describeFailure(err);
    const url = this.urlOf(key);
    const config = `destinations.${this.name}`;
    const account = this.container.accountName;
    const container = this.container.containerName;
    const answer = [failed.status, failed.code].filter((p) => p !== undefined).join(' ');
    const permanent = (message: string) => new StorageError(redact(message), { cause: err, permanent: true });
    switch (failed.code) {
      case 'ContainerNotFound':
        return permanent(
          `container ${container} does not exist in storage account ${account} (${answer}): create it (az storage container create --name ${container}) or fix ${config}.container`,
        );
      case 'BlobNotFound':
        return new NotFoundError(`${url} does not exist`, { cause: err });
      case 'ConditionNotMet':
        return new IntegrityError(`object ${url} changed since it was verified`, { cause: err });
      // Azurite answers a wrong account key with AuthorizationFailure; Azure with AuthenticationFailed.
      case 'AuthenticationFailed':
      case 'InvalidAuthenticationInfo':
      case 'AuthorizationFailure':
        return permanent(
          `storage account ${account} refused the credentials of ${config} (${answer}): the account key, SAS token or connection string is wrong, expired or not allowed here; fix ${config} (connectionStringEnv, accountKeyEnv, sasTokenEnv or credentialsSecret)`,
        );
      case 'AuthorizationPermissionMismatch':
      case 'AuthorizationResourceTypeMismatch':
      case 'AuthorizationServiceMismatch':
        return permanent(
          `storage account ${account} denied ${operation} of ${url} (${answer}): give the SAS token or identity of ${config} read, write, delete and list permission on container ${container}`,
        );
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new StorageError(
          `storage account ${account} could not be found (${failed.code}): check the account name or accountUrl of ${config}`,
          { cause: err },
        );
    }
    if (err instanceof UploadStalledError) {
      return new StorageError(`destination ${this.name}: no progress for ${err.seconds} s`, { cause: err });
    }
    if (err instanceof TooManyBlocksError) {
      return permanent(
        `${url} is larger than ${err.maxBlocks.toLocaleString('en-US')} blocks of ${Math.round(err.blockSize / MiB)} MiB hold: raise ${config}.blockSizeMiB`,
      );
    }
    switch (failed.status) {
      case 404:
        return new NotFoundError(`${url} does not exist`, { cause: err });
      case 412:
        return new IntegrityError(`object ${url} changed since it was verified`, { cause: err });
      case 401:
      case 403:
        return permanent(
          `storage account ${account} denied ${operation} of ${url} (${answer}): fix the credentials or permissions of ${config}`,
        );
      case 400:
        return permanent(
          `storage account ${account} refused to ${operation} ${url} (${answer}: ${failed.message}); check ${config}`,
        );
    }
    const detail = answer === '' ? '' : ` (${answer})`;
    return new StorageError(redact(`could not ${operation} ${url}${detail}: ${failed.message}`), {
      cause: err,
    });
  }
}
