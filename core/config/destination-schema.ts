/**
 * The config's `destinations`: an S3 (or S3-compatible) bucket, a local directory, an Azure
 * Blob container or a Google Cloud Storage bucket (cloud-destinations.ts).
 */
import { z } from 'zod';
import {
  S3_CONNECT_TIMEOUT_SECONDS,
  S3_REQUEST_TIMEOUT_SECONDS,
  S3_STALL_TIMEOUT_SECONDS,
} from '../contracts/timeouts.ts';
import { AzureDestinationSchema, GcsDestinationSchema } from './cloud-destinations.ts';
import { envName, nonEmpty, secretArn, show, wholeNumber } from './schema-fields.ts';

/**
 * Storage classes a destination may write: those that read back at once. `verify`, `restore`
 * and `drill` read the object; GLACIER and DEEP_ARCHIVE objects must first be restored by hand.
 */
export const S3_STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
] as const;

/** An Object Lock retention: its mode and how many days from the write it lasts. */
export const ObjectLockSchema = z.strictObject({
  mode: z.enum(['GOVERNANCE', 'COMPLIANCE'], {
    error: (iss) => `expected "GOVERNANCE" or "COMPLIANCE", got ${show(iss.input)}`,
  }),
  days: wholeNumber(1),
});

export const S3DestinationSchema = z
  .strictObject({
    type: z.literal('s3'),
    bucket: nonEmpty('a bucket name, or "managed" for the stack\'s bucket').describe(
      'Bucket name; "managed" means the bucket the CDK stack creates.',
    ),
    prefix: z.string().default('').describe('Key prefix inside the bucket, e.g. "backups/".'),
    endpoint: z
      .url({ error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` })
      .optional()
      .describe('Custom endpoint of an S3-compatible store (R2, MinIO, s3rver). Enables path-style.'),
    region: z
      .string()
      .optional()
      .describe('Region; defaults to AWS_REGION, or "us-east-1" for custom endpoints.'),
    forcePathStyle: z
      .boolean()
      .optional()
      .describe('Path-style addressing; on by default with a custom endpoint.'),
    credentialsSecret: secretArn
      .optional()
      .describe('Secrets Manager secret with {"accessKeyId","secretAccessKey"} for a foreign store.'),
    accessKeyIdEnv: envName.optional().describe('Locally: env variable holding the access key id.'),
    secretAccessKeyEnv: envName.optional().describe('Locally: env variable holding the secret access key.'),
    partSizeMiB: wholeNumber(5)
      .max(5120)
      .default(8)
      .describe(
        'Size of the first multipart parts in MiB; it doubles every 2,000 parts (10,000 parts from 8 MiB hold 484 GiB), and a write starts bigger when the previous backup was so big that such an upload would not hold 4 times it.',
      ),
    queueSize: wholeNumber(1).max(16).default(2).describe('Parts uploaded in parallel.'),
    serverSideEncryption: z
      .strictObject({
        type: z.enum(['SSE-S3', 'SSE-KMS'], {
          error: (iss) => `expected "SSE-S3" or "SSE-KMS", got ${show(iss.input)}`,
        }),
        kmsKeyId: nonEmpty('a KMS key id, alias or ARN')
          .optional()
          .describe('SSE-KMS: the key (id, alias/… or ARN); default: the bucket default or aws/s3.'),
        bucketKey: z.boolean().optional().describe('SSE-KMS: use an S3 Bucket Key (fewer KMS requests).'),
      })
      .refine(
        (sse) => sse.type === 'SSE-KMS' || (sse.kmsKeyId === undefined && sse.bucketKey === undefined),
        {
          error: 'kmsKeyId and bucketKey go with "type": "SSE-KMS" only',
        },
      )
      .optional()
      .describe(
        "Server-side encryption S3 applies to every object written (besides dumpvault's own OpenPGP).",
      ),
    storageClass: z
      .enum(S3_STORAGE_CLASSES, {
        error: (iss) =>
          `expected one of ${S3_STORAGE_CLASSES.join(', ')} (classes verify and restore can read at once; move older backups to GLACIER or DEEP_ARCHIVE with a lifecycle rule), got ${show(iss.input)}`,
      })
      .optional()
      .describe('Storage class of the objects written, e.g. STANDARD_IA or GLACIER_IR for a long-term copy.'),
    tags: z
      .record(z.string().min(1).max(128), z.string().max(256))
      .refine((tags) => Object.keys(tags).length <= 10, { error: 'S3 allows at most 10 tags per object' })
      .optional()
      .describe('Tags of every object written ({"team": "db"}); needs s3:PutObjectTagging.'),
    objectLock: ObjectLockSchema.optional().describe(
      'Object Lock retention set on every object written (mode, and days from the write); the bucket must have Object Lock enabled; needs s3:PutObjectRetention. Prune never deletes a locked object.',
    ),
    // Optional rather than defaulted: typed configs built in code need not spell them out; the
    // defaults live in core/contracts/timeouts.ts and are applied where the client is built.
    connectTimeoutSeconds: wholeNumber(1)
      .optional()
      .describe(
        `A connection to the store that takes longer to open fails (and is retried); default ${S3_CONNECT_TIMEOUT_SECONDS}.`,
      ),
    requestTimeoutSeconds: wholeNumber(1)
      .optional()
      .describe(
        `A request that sends and receives nothing for this long fails (and is retried); default ${S3_REQUEST_TIMEOUT_SECONDS}.`,
      ),
    stallTimeoutSeconds: wholeNumber(1)
      .optional()
      .describe(
        `An upload fails when no request to the store completes for this long while one is waiting (each part must be stored within it); default ${S3_STALL_TIMEOUT_SECONDS}.`,
      ),
  })
  .describe('Any S3 or S3-compatible bucket.');

export const FileDestinationSchema = z
  .strictObject({
    type: z.literal('file'),
    path: nonEmpty('a directory path').describe('Directory, relative to the config file.'),
  })
  .describe('A local directory (written with a temp name, fsync and atomic rename).');

export const DestinationSchema = z.discriminatedUnion(
  'type',
  [S3DestinationSchema, FileDestinationSchema, AzureDestinationSchema, GcsDestinationSchema],
  {
    error: (iss) =>
      `expected a destination with "type": "s3", "file", "azure" or "gcs", got ${show(iss.input)}`,
  },
);

export type Destination = z.output<typeof DestinationSchema>;
export type S3DestinationConfig = z.output<typeof S3DestinationSchema>;
export type FileDestinationConfig = z.output<typeof FileDestinationSchema>;
export type AzureDestinationConfig = z.output<typeof AzureDestinationSchema>;
export type GcsDestinationConfig = z.output<typeof GcsDestinationSchema>;
