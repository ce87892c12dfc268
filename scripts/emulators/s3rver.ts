/**
 * An S3 endpoint for tests: s3rver (S3 over HTTP on loopback, objects in a temp directory).
 *
 * s3rver 3.7.1 does not implement two calls dumpvault's failure contract depends on:
 * ListMultipartUploads answers 501 and AbortMultipartUpload answers 405. This harness adds
 * both, over s3rver's own filesystem store (`<dir>/<bucket>/._S3rver_uploads/<uploadId>/`),
 * so tests can assert the real protocol: the destination sends AbortMultipartUpload, and
 * ListMultipartUploads is empty afterwards. The two added calls check the access key id
 * only (s3rver's own V4 signature check is incomplete anyway).
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import {
  type FailedRequestMatch,
  InjectedFailures,
  LostCreateAnswers,
  PartGate,
  RequestGate,
  type RequestMatcher,
} from './s3rver-faults.ts';
import { type KoaContext, type KoaMiddleware, s3Error } from './s3rver-koa.ts';
import { type EmulatedLock, ObjectLocks } from './s3rver-object-lock.ts';

export { type FailedRequestMatch, type RequestMatcher, S3_CALLS } from './s3rver-faults.ts';

/** s3rver's credentials (its built-in dummy account). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** The environment a CLI run reads s3rver's credentials from, under the names {@link s3rverDestination} names. */
export const S3RVER_ENV = {
  DV_S3_KEY: S3RVER_CREDENTIALS.accessKeyId,
  DV_S3_SECRET: S3RVER_CREDENTIALS.secretAccessKey,
} as const;

/** A dumpvault `s3` destination on `bucket` of `s3`: credentials from {@link S3RVER_ENV}, 5 MiB parts. */
export function s3rverDestination(
  s3: { readonly endpoint: string },
  bucket: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: 's3',
    bucket,
    endpoint: s3.endpoint,
    accessKeyIdEnv: 'DV_S3_KEY',
    secretAccessKeyEnv: 'DV_S3_SECRET',
    partSizeMiB: 5,
    ...extra,
  };
}

/** The part of s3rver's API used here (the package ships no types). */
interface S3rverInstance {
  middleware: KoaMiddleware[];
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  port: number;
  address: string;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** One request s3rver received, for asserting which S3 calls were made. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Response status, once the response was sent. */
  status?: number;
}

export interface S3rverHandle {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** The directory s3rver keeps buckets in. */
  readonly directory: string;
  /** A client for the endpoint with s3rver's credentials, path-style, checksums only when required. */
  readonly client: S3Client;
  /** Every request received since start (across restarts), oldest first. */
  readonly requests: RecordedRequest[];
  /**
   * The first request `which` matches, received already or still to come; `which` is asked
   * again when a response is sent, so `(r) => … && r.status === 200` waits for the answer. A
   * request held by {@link holdPartUploads} or {@link holdRequests} is received (no status
   * yet). For awaiting a moment of an upload instead of polling for it.
   */
  nextRequest(which: (request: RecordedRequest) => boolean): Promise<RecordedRequest>;
  /** Stops serving at once (open connections are dropped); the data stays for {@link restart}. */
  interrupt(): Promise<void>;
  /** Serves again on the same port from the same directory (after {@link interrupt}). */
  restart(): Promise<void>;
  /**
   * Holds every UploadPart request (before s3rver reads its body) until `release()`: a store
   * that accepts parts slower than the body produces them, for backpressure tests.
   */
  holdPartUploads(): { release(): void };
  /**
   * Holds every request `which` matches (before s3rver sees it) until `release()`: a store that
   * accepts the connection and the request and never answers. Released requests go on to
   * s3rver (a client that gave up meanwhile has closed its end).
   */
  holdRequests(which: RequestMatcher): { release(): void };
  /**
   * From now until `restore()` (or for the next `count` only), every CreateMultipartUpload is
   * carried out and then its connection dropped before the answer is sent: the store has the
   * upload, the client never learns its id (an answer lost in an outage).
   */
  loseCreateAnswers(count?: number): { restore(): void };
  /**
   * From now until `restore()` (or for the next `count` matching requests only), answers every
   * request that `match` accepts with an S3 error instead of carrying it out: a store that
   * denies access (403 AccessDenied), fails (500 InternalError) and so on.
   */
  failRequests(
    match: (request: FailedRequestMatch) => boolean,
    answer: { readonly status: number; readonly code: string; readonly message?: string },
    count?: number,
  ): { restore(): void };
  /**
   * Locks an object as a bucket's default retention or a legal hold would; HeadObject reports
   * it. Locks sent with PutObject and CreateMultipartUpload are remembered the same way.
   */
  lockObject(bucket: string, key: string, lock: EmulatedLock): void;
  /** Keys of the multipart uploads started and neither completed nor aborted, via ListMultipartUploads. */
  pendingUploads(bucket: string): Promise<string[]>;
  /** Stops the server and deletes its directory. */
  stop(): Promise<void>;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function accessKeyOf(ctx: KoaContext): string | undefined {
  const header = firstValue(ctx.headers['authorization']);
  return header?.match(/Credential=([^/,\s]+)\//)?.[1];
}

/** `<dir>/<bucket>/._S3rver_uploads`: where s3rver's filesystem store keeps multipart uploads. */
const uploadsDir = (directory: string, bucket: string) => join(directory, bucket, '._S3rver_uploads');

/** The two multipart calls s3rver lacks, answered from its store (see the module comment). */
function multipartExtensions(directory: string): KoaMiddleware {
  return async (ctx, next) => {
    const [bucket, ...keyParts] = ctx.path.split('/').filter(Boolean);
    const listing = ctx.method === 'GET' && keyParts.length === 0 && 'uploads' in ctx.query;
    const uploadId = firstValue(ctx.query['uploadId']);
    const aborting = ctx.method === 'DELETE' && keyParts.length > 0 && uploadId !== undefined;
    if (!bucket || !(listing || aborting)) return next();
    if (accessKeyOf(ctx) !== S3RVER_CREDENTIALS.accessKeyId) {
      return s3Error(ctx, 403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist.');
    }
    const dir = uploadsDir(directory, decodeURIComponent(bucket));
    if (aborting) {
      const upload = join(dir, uploadId);
      if (!(await stat(upload).catch(() => undefined))) {
        return s3Error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
      }
      await rm(upload, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = null;
      return;
    }
    const ids = await readdir(dir).catch(() => [] as string[]);
    const uploads = await Promise.all(
      ids.map(async (id) => ({
        Key: await readFile(join(dir, id, 'key'), 'utf8').catch(() => ''),
        UploadId: id,
        Initiated: (await stat(join(dir, id))).mtime.toISOString(),
      })),
    );
    ctx.status = 200;
    ctx.body = {
      ListMultipartUploadsResult: {
        Bucket: decodeURIComponent(bucket),
        KeyMarker: '',
        UploadIdMarker: '',
        MaxUploads: 1000,
        IsTruncated: false,
        Upload: uploads,
      },
    };
  };
}

function recorder(requests: RecordedRequest[], recorded: EventEmitter): KoaMiddleware {
  return async (ctx, next) => {
    const entry: RecordedRequest = {
      method: ctx.method,
      path: ctx.path,
      query: { ...ctx.query },
      headers: { ...ctx.headers },
    };
    requests.push(entry);
    recorded.emit('change');
    // Errors are turned into responses after the middleware chain, so read the status as sent.
    ctx.res.once('finish', () => {
      entry.status = ctx.res.statusCode;
      recorded.emit('change');
    });
    await next();
  };
}

/** The first of `requests` that `which` matches, now or after one of `recorded`'s changes. */
function nextRequest(
  requests: readonly RecordedRequest[],
  recorded: EventEmitter,
  which: (request: RecordedRequest) => boolean,
): Promise<RecordedRequest> {
  return new Promise((resolve) => {
    const look = () => {
      const found = requests.find(which);
      if (!found) return;
      recorded.off('change', look);
      resolve(found);
    };
    recorded.on('change', look);
    look();
  });
}

/**
 * A client for an s3rver endpoint, configured the way dumpvault configures custom endpoints;
 * `overrides` replace credentials or tune retries (`maxAttempts: 1` makes an outage fail fast).
 */
export function s3rverClient(endpoint: string, overrides: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

/**
 * Keeps idle keep-alive connections open for as long as a test may pause between requests.
 * Node closes them after 5 s by default; a client that reuses such a socket in the instant the
 * server closes it gets `read ECONNRESET` (seen when the machine is busy: the client's event
 * loop notices the close too late). Real S3 keeps idle connections open far longer.
 */
export function holdIdleConnections(server: import('node:http').Server | undefined): void {
  if (!server) return;
  server.keepAliveTimeout = 10 * 60_000;
  server.headersTimeout = 10 * 60_000 + 1_000;
}

/**
 * Starts s3rver on 127.0.0.1 with a free port and a fresh temp directory, with `buckets`
 * created. Call `stop()` when done.
 */
export async function startS3rver(options: { buckets?: readonly string[] } = {}): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'dumpvault-s3rver-'));
  const buckets = (options.buckets ?? ['test']).map((name) => ({ name }));
  const requests: RecordedRequest[] = [];
  const recorded = new EventEmitter().setMaxListeners(0);
  const gate = new PartGate();
  const requestGate = new RequestGate();
  const lostCreates = new LostCreateAnswers();
  const injected = new InjectedFailures();
  const locks = new ObjectLocks();
  let server: S3rverInstance | undefined;

  const listen = async (port: number): Promise<number> => {
    const instance = new S3rver({
      port,
      address: '127.0.0.1',
      directory,
      silent: true,
      configureBuckets: buckets,
    });
    // Koa composes its middleware when the server starts: insert before s3rver's router (the last one).
    instance.middleware.unshift(
      recorder(requests, recorded),
      gate.middleware(),
      requestGate.middleware(),
      lostCreates.middleware(),
    );
    instance.middleware.splice(
      instance.middleware.length - 1,
      0,
      injected.middleware(),
      multipartExtensions(directory),
      locks.middleware(),
    );
    const address = await instance.run();
    holdIdleConnections(instance.httpServer);
    server = instance;
    return address.port;
  };
  const halt = async () => {
    const running = server;
    server = undefined;
    if (!running) return;
    const closing = running.close();
    running.httpServer?.closeAllConnections();
    await closing;
  };

  const port = await listen(0);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3rverClient(endpoint);
  return {
    endpoint,
    port,
    directory,
    client,
    requests,
    nextRequest: (which) => nextRequest(requests, recorded, which),
    interrupt: halt,
    async restart() {
      if (server) throw new Error('s3rver is still running: interrupt() it first');
      await listen(port);
    },
    holdPartUploads: () => gate.hold(),
    holdRequests: (which) => requestGate.hold(which),
    loseCreateAnswers(count = Number.POSITIVE_INFINITY) {
      lostCreates.remaining = count;
      return {
        restore: () => {
          lostCreates.remaining = 0;
        },
      };
    },
    failRequests: (match, answer, count = Number.POSITIVE_INFINITY) => injected.set(match, answer, count),
    lockObject: (bucket, key, lock) => locks.set(bucket, key, lock),
    async pendingUploads(bucket) {
      const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (out.Uploads ?? []).map((u) => u.Key ?? '');
    },
    async stop() {
      await halt();
      client.destroy();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
