/**
 * Where an S3 destination's objects are, and how its failures read: one sentence that names the
 * object, the store and what to fix, with secrets redacted.
 */
import { IntegrityError, NotFoundError, StorageError, UserError } from '../errors.ts';
import { redact } from '../redact.ts';
import { assertObjectKey } from './keys.ts';
import { TooManyPartsError } from './part-sizes.ts';
import { UploadStalledError } from './stall-watch.ts';

const MiB = 1024 * 1024;

/** An S3 destination's place: what its messages name and how its keys map to object keys. */
export interface S3Place {
  /** The destination's name in the config. */
  readonly name: string;
  readonly bucket: string;
  /** Root inside the bucket, `""` or ending with `/`. */
  readonly root: string;
  /** The redacted custom endpoint, or `AWS`. */
  readonly where: string;
}

/** The bucket key of `key` (checked: relative, no `..`), under the place's root. */
export function objectKeyIn(place: S3Place, key: string): string {
  assertObjectKey(place.name, key);
  return place.root + key;
}

/** `s3://bucket/root/key`, for messages. */
export function urlIn(place: S3Place, key: string): string {
  return `s3://${place.bucket}/${place.root}${key}`;
}

/** 400 responses that a retry can fix: a slow connection, a body damaged in transit, a token being refreshed. */
const TRANSIENT_400 = new Set([
  'RequestTimeout',
  'BadDigest',
  'IncompleteBody',
  'XAmzContentSHA256Mismatch',
  'ExpiredToken',
  'TokenRefreshRequired',
]);

/** What the SDK puts on a failed request, read structurally (service errors and network errors differ). */
interface FailedRequest {
  readonly name: string;
  readonly message: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
}

export function describeFailure(err: unknown): FailedRequest {
  if (!(err instanceof Error))
    return { name: 'Error', message: String(err), status: undefined, code: undefined };
  const meta: unknown = '$metadata' in err ? err.$metadata : undefined;
  const status =
    typeof meta === 'object' &&
    meta !== null &&
    'httpStatusCode' in meta &&
    typeof meta.httpStatusCode === 'number'
      ? meta.httpStatusCode
      : undefined;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  return { name: err.name, message: err.message, status, code };
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Maps an SDK error to NotFoundError, IntegrityError or a StorageError that names what to fix. */
export function mapS3Error(place: S3Place, err: unknown, operation: string, key: string): unknown {
  if (err instanceof UserError || isAbortError(err)) return err;
  const failed = describeFailure(err);
  const url = urlIn(place, key);
  const config = `destinations.${place.name}`;
  const permanent = (message: string) => new StorageError(redact(message), { cause: err, permanent: true });
  /** What the store answered, as operators look it up: `403 AccessDenied`, `404 NoSuchBucket`. */
  const answer = (status: number | undefined) =>
    [failed.status ?? status, failed.code ?? failed.name].filter((part) => part !== undefined).join(' ');
  switch (failed.name) {
    case 'NoSuchBucket':
      return permanent(
        `bucket ${place.bucket} does not exist at ${place.where} (${answer(404)}): create it or fix ${config}.bucket`,
      );
    case 'NoSuchKey':
    case 'NoSuchUpload':
      return new NotFoundError(`${url} does not exist`, { cause: err });
    case 'InvalidAccessKeyId':
      return permanent(
        `the access key id of ${config} is not known at ${place.where} (${answer(403)}): fix the credentials of ${config} (accessKeyIdEnv, credentialsSecret or the task role)`,
      );
    case 'SignatureDoesNotMatch':
      return permanent(
        `the secret access key of ${config} does not match its access key id at ${place.where} (${answer(403)}): fix the credentials of ${config}`,
      );
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
    case 'IllegalLocationConstraintException':
      return permanent(`bucket ${place.bucket} is in another region than the client's: set ${config}.region`);
    case 'CredentialsProviderError':
      return permanent(
        `no credentials found for ${config}: run with an AWS role or profile, or set accessKeyIdEnv and secretAccessKeyEnv (or credentialsSecret) in ${config}`,
      );
    case 'PreconditionFailed':
      return new IntegrityError(`object ${url} changed since it was verified`, { cause: err });
  }
  if (err instanceof UploadStalledError) {
    return new StorageError(`destination ${place.name}: no progress for ${err.seconds} s`, { cause: err });
  }
  // The SDK names a reset connection (ECONNRESET, EPIPE) a TimeoutError too; only a code-less
  // one or ETIMEDOUT is a timer that fired.
  if (failed.name === 'TimeoutError' && (failed.code === undefined || failed.code === 'ETIMEDOUT')) {
    const connecting = /without establishing a connection/i.test(failed.message);
    const what = connecting ? 'could not be connected to in time' : 'stopped answering';
    const knob = connecting ? 'connectTimeoutSeconds' : 'requestTimeoutSeconds';
    return new StorageError(
      redact(
        `destination ${place.name}: the store at ${place.where} ${what} (${operation} of ${url} timed out); check that it is up and reachable, or raise ${config}.${knob}`,
      ),
      { cause: err },
    );
  }
  if (err instanceof TooManyPartsError) {
    const partMiB = Math.round(err.partSize / MiB);
    const GiB = 1024 * MiB;
    const capacity =
      err.capacity >= GiB ? `${Math.floor(err.capacity / GiB)} GiB` : `${Math.floor(err.capacity / MiB)} MiB`;
    return permanent(
      `${url} is larger than the ${capacity} that ${err.maxParts.toLocaleString('en-US')} parts starting at ${partMiB} MiB hold: raise ${config}.partSizeMiB`,
    );
  }
  if (failed.status === 400 && /object lock/i.test(failed.message)) {
    return permanent(
      `bucket ${place.bucket} at ${place.where} cannot lock ${url} (${answer(400)}: ${failed.message}): enable Object Lock on the bucket or remove ${config}.objectLock`,
    );
  }
  if (failed.message === 'Region is missing') {
    return permanent(`no region for ${config}: set ${config}.region or AWS_REGION`);
  }
  switch (failed.status) {
    case 404:
      return new NotFoundError(`${url} does not exist`, { cause: err });
    case 412:
      return new IntegrityError(`object ${url} changed since it was verified`, { cause: err });
    case 401:
    case 403:
      return permanent(
        `access to s3://${place.bucket}/${place.root} at ${place.where} was denied (${answer(failed.status)} when asked to ${operation} ${key}): grant the role s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on it, or fix the credentials of ${config}`,
      );
    case 301:
    case 400:
      if (TRANSIENT_400.has(failed.name)) break;
      return permanent(
        `the store at ${place.where} refused to ${operation} ${url} (${answer(failed.status)}: ${failed.message}); check ${config}`,
      );
  }
  return new StorageError(
    redact(`could not ${operation} ${url} at ${place.where} (${answer(undefined)}): ${failed.message}`),
    {
      cause: err,
    },
  );
}
