/**
 * Destinations in other clouds (DESIGN.md §3, issue 15 §1): Azure Blob Storage through its
 * native API, and Google Cloud Storage through its S3-compatible XML API with HMAC keys.
 */
import { z } from 'zod';
import {
  S3_CONNECT_TIMEOUT_SECONDS,
  S3_REQUEST_TIMEOUT_SECONDS,
  S3_STALL_TIMEOUT_SECONDS,
} from '../contracts/timeouts.ts';
import { envName, nonEmpty, secretArn, show, wholeNumber } from './schema-fields.ts';

/** Azure's container names: 3–63 lowercase letters, digits and single dashes, starting and ending alphanumeric. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
/** Azure's storage account names: 3–24 lowercase letters and digits. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

const requestTimeoutSeconds = wholeNumber(1)
  .optional()
  .describe(
    `A request attempt that takes longer fails (and is retried); default ${S3_REQUEST_TIMEOUT_SECONDS}.`,
  );
const stallTimeoutSeconds = wholeNumber(1)
  .optional()
  .describe(
    `An upload fails when no request to the store completes for this long while one is waiting; default ${S3_STALL_TIMEOUT_SECONDS}.`,
  );

export const AzureDestinationSchema = z
  .strictObject({
    type: z.literal('azure'),
    account: z
      .string()
      .regex(ACCOUNT_NAME, {
        error: (iss) =>
          `expected a storage account name of 3 to 24 lowercase letters and digits, got ${show(iss.input)}`,
      })
      .optional()
      .describe('Storage account name; the blob endpoint is https://<account>.blob.core.windows.net.'),
    accountUrl: z
      .url({ error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` })
      .optional()
      .describe(
        'Blob endpoint of the account instead of the public one (Azurite: http://127.0.0.1:10000/devstoreaccount1).',
      ),
    container: z.string().regex(CONTAINER_NAME, {
      error: (iss) =>
        `expected a container name of 3 to 63 lowercase letters, digits and single dashes, got ${show(iss.input)}`,
    }),
    prefix: z.string().default('').describe('Name prefix inside the container, e.g. "backups/".'),
    connectionStringEnv: envName.optional().describe('Locally: env variable holding a connection string.'),
    accountKeyEnv: envName
      .optional()
      .describe('Locally: env variable holding the account key (with "account").'),
    sasTokenEnv: envName
      .optional()
      .describe(
        'Locally: env variable holding a SAS token with read, add, create, write, delete and list permission.',
      ),
    credentialsSecret: secretArn
      .optional()
      .describe('Secrets Manager ARN holding JSON {"connectionString"} or {"accountKey"} or {"sasToken"}.'),
    blockSizeMiB: wholeNumber(1)
      .max(4000)
      .default(8)
      .describe('Size of each staged block in MiB (50,000 blocks per blob: 8 MiB holds 390 GiB).'),
    queueSize: wholeNumber(1).max(16).default(2).describe('Blocks staged in parallel.'),
    requestTimeoutSeconds,
    stallTimeoutSeconds,
  })
  .refine(
    (d) =>
      [d.connectionStringEnv, d.accountKeyEnv, d.sasTokenEnv, d.credentialsSecret].filter(Boolean).length ===
      1,
    {
      error:
        'expected exactly one of "connectionStringEnv", "accountKeyEnv", "sasTokenEnv" (locally) or "credentialsSecret" (AWS)',
    },
  )
  .refine((d) => !d.accountKeyEnv || d.account, {
    error: 'expected "account" next to "accountKeyEnv" (a key signs for one account)',
  })
  .refine((d) => !d.sasTokenEnv || d.account || d.accountUrl, {
    error: 'expected "account" or "accountUrl" next to "sasTokenEnv"',
  })
  .describe(
    'A container in Azure Blob Storage (native Blob API, blocks committed only after a complete dump).',
  );

export const GcsDestinationSchema = z
  .strictObject({
    type: z.literal('gcs'),
    bucket: nonEmpty('a bucket name'),
    prefix: z.string().default('').describe('Object name prefix inside the bucket, e.g. "backups/".'),
    endpoint: z
      .url({ error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` })
      .optional()
      .describe('XML API endpoint; default https://storage.googleapis.com.'),
    accessKeyIdEnv: envName.optional().describe('Locally: env variable holding the HMAC access id.'),
    secretAccessKeyEnv: envName.optional().describe('Locally: env variable holding the HMAC secret.'),
    credentialsSecret: secretArn
      .optional()
      .describe('Secrets Manager ARN holding JSON {"accessKeyId", "secretAccessKey"} (an HMAC key).'),
    partSizeMiB: wholeNumber(5)
      .max(5120)
      .default(8)
      .describe('Size of the first multipart parts in MiB (as for "s3").'),
    queueSize: wholeNumber(1).max(16).default(2).describe('Parts uploaded in parallel.'),
    connectTimeoutSeconds: wholeNumber(1)
      .optional()
      .describe(
        `A connection that takes longer to open fails (and is retried); default ${S3_CONNECT_TIMEOUT_SECONDS}.`,
      ),
    requestTimeoutSeconds,
    stallTimeoutSeconds,
  })
  .refine((d) => Boolean(d.accessKeyIdEnv && d.secretAccessKeyEnv) !== Boolean(d.credentialsSecret), {
    error:
      'expected an HMAC key: "accessKeyIdEnv" and "secretAccessKeyEnv" (locally) or "credentialsSecret" (AWS)',
  })
  .describe("A Google Cloud Storage bucket through GCS's S3-compatible XML API, with an HMAC key.");
