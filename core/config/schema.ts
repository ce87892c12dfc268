/**
 * The configuration contract (DESIGN.md §3): one zod schema read by the CLI, the task and
 * the CDK app, also emitted as `dumpvault.schema.json` for editors.
 */
import { z } from 'zod';
import { DEFAULT_RETENTION, RETENTION_FOREVER, type RetentionRules } from '../contracts/retention.ts';
import {
  LOCK_WAIT_TIMEOUT_SECONDS,
  RUN_TIMEOUT_MINUTES,
  S3_CONNECT_TIMEOUT_SECONDS,
  S3_REQUEST_TIMEOUT_SECONDS,
  S3_STALL_TIMEOUT_SECONDS,
} from '../contracts/timeouts.ts';
import { cronProblem, rateProblem, timeZoneProblem } from '../schedule/index.ts';

const show = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value));

/** A string checked by a function that says what is wrong with it (the schedule module's checks). */
const checkedString = (problem: (value: string) => string | undefined) =>
  z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }).superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
const timeZone = checkedString(timeZoneProblem);

/** A whole number ≥ min whose errors read `expected a whole number ≥ 0, got -1`. */
const wholeNumber = (min: number) => {
  const error = (iss: { input?: unknown }) => `expected a whole number ≥ ${min}, got ${show(iss.input)}`;
  return z.int({ error }).min(min, { error });
};

const nonEmpty = (what: string) =>
  z
    .string({ error: (iss) => `expected ${what}, got ${show(iss.input)}` })
    .min(1, { error: `expected ${what}` });

/** Names of jobs and destinations: they appear in object keys, stack ids and metric dimensions. */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const name = (what: string) =>
  z.string().regex(NAME_PATTERN, {
    error: (iss) =>
      `expected a ${what} name of lowercase letters, digits and dashes (at most 63), got ${show(iss.input)}`,
  });

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  error: (iss) => `expected an environment variable name, got ${show(iss.input)}`,
});
const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, {
  error: (iss) => `expected a Secrets Manager secret ARN, got ${show(iss.input)}`,
});

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

export const DestinationSchema = z.discriminatedUnion('type', [S3DestinationSchema, FileDestinationSchema], {
  error: (iss) => `expected a destination with "type": "s3" or "file", got ${show(iss.input)}`,
});

export const OpenPgpEncryptionSchema = z.strictObject({
  type: z.literal('openpgp'),
  recipients: z
    .array(nonEmpty('a path to an armored public key'), { error: 'expected a list of public key files' })
    .min(1, { error: 'expected at least one recipient public key' })
    .describe('Armored OpenPGP public key files (relative to the config file). Public keys only.'),
  privateKeySecret: secretArn
    .optional()
    .describe(
      'Secrets Manager ARN holding the armored private key of one recipient (or JSON {"privateKey", "passphrase"}); read only by restores and drills in AWS, never by backups.',
    ),
});

export const PassphraseEncryptionSchema = z
  .strictObject({
    type: z.literal('passphrase'),
    passphraseSecret: secretArn.optional().describe('Secrets Manager ARN holding the passphrase (AWS).'),
    passphraseEnv: envName.optional().describe('Env variable holding the passphrase (local).'),
  })
  .refine((v) => v.passphraseSecret || v.passphraseEnv, {
    error: 'expected "passphraseSecret" (AWS) or "passphraseEnv" (local)',
  });

export const EncryptionSchema = z.discriminatedUnion(
  'type',
  [OpenPgpEncryptionSchema, PassphraseEncryptionSchema],
  {
    error: (iss) => `expected an encryption with "type": "openpgp" or "passphrase", got ${show(iss.input)}`,
  },
);

export const ENGINES = ['postgres', 'mysql', 'sqlite', 'mongodb'] as const;
export type EngineName = (typeof ENGINES)[number];
export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const ScheduleSchema = z
  .strictObject({
    cron: checkedString(cronProblem)
      .optional()
      .describe('EventBridge Scheduler cron body, e.g. "0 3 * * ? *".'),
    rate: checkedString(rateProblem).optional().describe('EventBridge Scheduler rate body, e.g. "6 hours".'),
    timezone: timeZone.default('UTC').describe('IANA time zone of the cron expression.'),
  })
  .refine((s) => Boolean(s.cron) !== Boolean(s.rate), { error: 'expected exactly one of "cron" or "rate"' });

export const RetentionRulesSchema = z
  .strictObject({
    keepLast: wholeNumber(0).default(0).describe('Keep the newest N successful backups.'),
    daily: wholeNumber(0).default(0).describe('Keep the newest backup of each of the last N days.'),
    weekly: wholeNumber(0).default(0).describe('Keep the newest backup of each of the last N ISO weeks.'),
    monthly: wholeNumber(0).default(0).describe('Keep the newest backup of each of the last N months.'),
    yearly: wholeNumber(0).default(0).describe('Keep the newest backup of each of the last N years.'),
    maxAgeDays: wholeNumber(1)
      .optional()
      .describe(
        'With a count above: delete backups older than this, whatever the counts say. Alone: keep every backup younger than this. The newest is never deleted.',
      ),
    timezone: timeZone.default('UTC').describe('Time zone in which days, weeks and months are counted.'),
  })
  .describe(
    'Retention rules; applied after every successful backup. The newest backup is always kept.',
  ) satisfies z.ZodType<RetentionRules>;

/** A job's retention: rules, or "forever" (retention never deletes anything). */
export const RetentionSchema = z
  .union([z.literal(RETENTION_FOREVER), RetentionRulesSchema], {
    error: (iss) =>
      `expected "forever" or an object of rules like { "keepLast": 3, "daily": 7 }, got ${show(iss.input)}`,
  })
  .describe(
    'Which backups retention keeps: rules ({ "keepLast", "daily", "weekly", "monthly", "yearly", "maxAgeDays", "timezone" }) or "forever". Omitted = { "keepLast": 1 }: only the newest backup is kept.',
  );

/**
 * One entry of a job's `destinations`: a destination name, or `{ "name", "retention" }` for a
 * destination with its own retention (the local disk keeps 3, the off-site store keeps years).
 * Read it only through {@link jobDestinations}.
 */
export const JobDestinationSchema = z.union(
  [
    name('destination'),
    z.strictObject({
      name: name('destination'),
      retention: RetentionSchema.optional().describe(
        "This destination's retention; omitted = the job's retention.",
      ),
    }),
  ],
  {
    error: (iss) => `expected a destination name or { "name": …, "retention": … }, got ${show(iss.input)}`,
  },
);

export const SourceSchema = z.strictObject({
  url: nonEmpty('a database URL').describe(
    'postgres://user@host:5432/db, mysql://user@host:3306/db, mongodb://user@host:27017/db, sqlite:./path.db',
  ),
  passwordSecret: secretArn
    .optional()
    .describe('Secrets Manager ARN: a plain password or RDS-style JSON {"password": …}.'),
  passwordEnv: envName.optional().describe('Locally: env variable holding the password.'),
});

const seconds = (what: string, fallback: number) => wholeNumber(1).max(3600).default(fallback).describe(what);
const retries = wholeNumber(0)
  .max(10)
  .default(3)
  .describe('Attempts after the first when delivery fails (1 s, 2 s, 4 s … apart).');
const channelName = name('channel').optional().describe('Name used in logs; default the type and its index.');

export const WebhookChannelSchema = z
  .strictObject({
    type: z.literal('webhook'),
    name: channelName,
    url: z
      .url({ protocol: /^https?$/, error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` })
      .optional()
      .describe('Where to POST; use "urlEnv" when the URL holds a token (Slack, Teams).'),
    urlEnv: envName.optional().describe('Env variable holding the URL (never logged; only its host is).'),
    format: z
      .enum(['json', 'slack'], { error: (iss) => `expected "json" or "slack", got ${show(iss.input)}` })
      .default('json')
      .describe('"json": the event as JSON; "slack": {"text": …} for Slack-compatible incoming webhooks.'),
    timeoutSeconds: seconds('A request that has not answered within this time fails (and is retried).', 10),
    retries,
  })
  .refine((v) => Boolean(v.url) !== Boolean(v.urlEnv), { error: 'expected exactly one of "url" or "urlEnv"' })
  .describe('HTTP POST of every alert and digest.');

export const SmtpChannelSchema = z
  .strictObject({
    type: z.literal('smtp'),
    name: channelName,
    host: nonEmpty('an SMTP host name'),
    port: wholeNumber(1).max(65_535).optional().describe('Default 465 with "tls": "implicit", else 587.'),
    tls: z
      .enum(['starttls', 'implicit', 'none'], {
        error: (iss) => `expected "starttls", "implicit" or "none", got ${show(iss.input)}`,
      })
      .default('starttls')
      .describe(
        '"starttls": upgrade the connection and refuse a server that cannot; "implicit": TLS from the first byte (port 465); "none": plain text (loopback relays only).',
      ),
    caFile: z
      .string()
      .optional()
      .describe('PEM file of the CA that signed the server certificate (relative to the config file).'),
    user: z.string().optional().describe('Login name; with it, "passwordEnv" or "passwordSecret".'),
    passwordEnv: envName.optional().describe('Env variable holding the SMTP password.'),
    passwordSecret: secretArn.optional().describe('Secrets Manager ARN holding the SMTP password.'),
    from: nonEmpty('a sender address'),
    to: z
      .array(z.email({ error: (iss) => `expected an e-mail address, got ${show(iss.input)}` }))
      .min(1, { error: 'expected at least one recipient' }),
    timeoutSeconds: seconds('A connection or command that takes longer fails (and is retried).', 30),
    retries,
  })
  .refine((v) => !(v.passwordEnv && v.passwordSecret), {
    error: 'expected at most one of "passwordEnv" or "passwordSecret"',
  })
  .refine((v) => Boolean(v.user) === Boolean(v.passwordEnv || v.passwordSecret), {
    error:
      'expected "user" together with "passwordEnv" or "passwordSecret" (the password never goes in the config)',
  })
  .describe('E-mail over SMTP (nodemailer).');

export const CommandChannelSchema = z
  .strictObject({
    type: z.literal('command'),
    name: channelName,
    command: z
      .array(nonEmpty('a program or argument'), { error: 'expected ["program", "arg", …]' })
      .min(1, { error: 'expected ["program", "arg", …]' })
      .describe('Program and arguments (no shell); the event arrives as JSON on stdin. Exit 0 = delivered.'),
    env: z
      .array(envName)
      .default([])
      .describe("Variables of dumpvault's environment the command gets besides PATH, HOME, locale and TZ."),
    timeoutSeconds: seconds('The command is killed after this time (and retried).', 30),
    retries,
  })
  .describe('A program that receives every alert and digest on stdin.');

export const ChannelSchema = z.discriminatedUnion(
  'type',
  [WebhookChannelSchema, SmtpChannelSchema, CommandChannelSchema],
  {
    error: (iss) => `expected a channel with "type": "webhook", "smtp" or "command", got ${show(iss.input)}`,
  },
);

const channels = z
  .array(ChannelSchema, { error: 'expected a list of channels' })
  .min(1, { error: 'expected at least one channel' });

/** A job's own channels: its alerts go to them and to the global ones. */
export const JobNotifySchema = z
  .strictObject({ channels })
  .describe("Local mode (CLI and serve): channels for this job's alerts, in addition to the global ones.");

export const NotifySchema = z
  .strictObject({
    channels,
    digest: z
      .strictObject({
        at: z
          .string()
          .regex(/^([01]\d|2[0-3]):[0-5]\d$/, {
            error: (iss) => `expected a time of day like "08:00", got ${show(iss.input)}`,
          })
          .describe('Time of day (24 h) at which serve sends the digest.'),
        timezone: timeZone.default('UTC'),
      })
      .optional()
      .describe('Once a day `dumpvault serve` sends one message summarising every job.'),
  })
  .describe(
    'Local mode (CLI and serve): where alerts (one per outage and per new cause, then one "recovered") and digests go, besides .dumpvault/alerts.log. In AWS alerts go to the SNS topic.',
  );

export const JobSchema = z.strictObject({
  name: name('job'),
  engine: z.enum(ENGINES, {
    error: (iss) => `expected one of ${ENGINES.join(', ')}, got ${show(iss.input)}`,
  }),
  source: SourceSchema,
  schedule: ScheduleSchema.optional().describe('When to run in AWS; ignored by the local CLI.'),
  destinations: z
    .array(JobDestinationSchema, { error: 'expected a list of destination names' })
    .min(1, { error: 'expected at least one destination name' })
    .describe(
      'Where each backup goes (one dump, streamed to all): names, or { "name", "retention" } for a destination that keeps backups by its own rules.',
    ),
  compression: z
    .enum(COMPRESSIONS, {
      error: (iss) => `expected one of ${COMPRESSIONS.join(', ')}, got ${show(iss.input)}`,
    })
    // zstd: it keeps up with pg_dump where gzip caps a backup far below it, and its output is
    // smaller (docs/performance.md has the numbers).
    .default('zstd'),
  compressionLevel: wholeNumber(1).max(19).optional().describe('Codec level; gzip 1-9, zstd 1-19.'),
  dumpFormat: z
    .enum(['custom', 'plain'])
    .default('custom')
    .describe('PostgreSQL only: pg_dump --format; the others have one format.'),
  encryption: z.string().optional().describe('Name of an entry in "encryption"; omitted = not encrypted.'),
  lockWaitTimeoutSeconds: wholeNumber(1)
    .optional()
    .describe(
      `How long the dump and its helper sessions (row counts, probes) wait for a table lock before the run fails; default ${LOCK_WAIT_TIMEOUT_SECONDS}.`,
    ),
  retention: RetentionSchema.optional(),
  alarmAfterHours: z
    .number()
    .positive()
    .optional()
    .describe('Alarm when no success for this long; default 1.5 × schedule period + 2 h.'),
  task: z
    .strictObject({
      cpu: z
        .union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)])
        .default(1024),
      memoryMiB: wholeNumber(512).default(2048),
      timeoutMinutes: wholeNumber(1).default(RUN_TIMEOUT_MINUTES),
    })
    .optional()
    .describe('Fargate size of this job.'),
  restoreDrill: z
    .strictObject({ schedule: ScheduleSchema, engineImage: z.string().optional() })
    .optional()
    .describe('Scheduled restore drill into a throw-away database.'),
  notify: JobNotifySchema.optional(),
});

export const AwsSchema = z
  .strictObject({
    account: z.string().optional(),
    region: z.string().optional(),
    stackName: z.string().default('DumpVault'),
    vpc: z
      .strictObject({
        vpcId: z.string(),
        privateSubnetIds: z.array(z.string()).min(1),
        availabilityZones: z.array(z.string()).optional(),
      })
      .optional()
      .describe('Existing VPC; omitted = a new VPC with S3 and DynamoDB gateway endpoints.'),
    bucket: z
      .strictObject({
        existingBucketName: z
          .string()
          .optional()
          .describe('Use this bucket for "managed" destinations instead of creating one.'),
        existingBucketKeyArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/, {
            error: (iss) => `expected a KMS key ARN, got ${show(iss.input)}`,
          })
          .optional()
          .describe('KMS key of the existing bucket, when it uses SSE-KMS with a customer managed key.'),
        noncurrentVersionExpirationDays: wholeNumber(1)
          .default(30)
          .describe('Days a replaced or deleted object version is kept before it expires.'),
        objectLock: z
          .union([
            z.literal(false),
            z.strictObject({
              mode: z.enum(['GOVERNANCE', 'COMPLIANCE'], {
                error: (iss) => `expected "GOVERNANCE" or "COMPLIANCE", got ${show(iss.input)}`,
              }),
              days: wholeNumber(1),
            }),
          ])
          .optional()
          .describe(
            'Object Lock default retention of the new bucket (set only at creation); omitted = GOVERNANCE for 7 days, false = no lock.',
          ),
      })
      .optional(),
    breakGlassPrincipalArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/, {
        error: (iss) => `expected an IAM role or user ARN, got ${show(iss.input)}`,
      })
      .optional()
      .describe('The only principal that may schedule the deletion of the KMS key or disable it.'),
    replication: z
      .strictObject({
        bucket: z.string().min(3).describe('Name of the replica bucket (another region or account).'),
        kmsKeyArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/, {
            error: (iss) => `expected a KMS key ARN, got ${show(iss.input)}`,
          })
          .describe('KMS key that encrypts the replicas.'),
        account: z
          .string()
          .regex(/^\d{12}$/, { error: (iss) => `expected a 12-digit account id, got ${show(iss.input)}` })
          .optional()
          .describe('Account of the replica bucket; replicas are then owned by it.'),
      })
      .optional()
      .describe(
        'Replicate every backup to a bucket in another region or account (deletions are not replicated).',
      ),
    alerts: z
      .strictObject({
        emails: z.array(z.email()).default([]),
        successDigest: z
          .boolean()
          .default(false)
          .describe(
            'Not implemented for AWS yet: `validate` warns when it is true. The daily digest is local only (notify.digest with dumpvault serve).',
          ),
      })
      .optional(),
    logRetentionDays: wholeNumber(1).default(90),
  })
  .describe('Deployment settings for `cdk deploy`.');

/**
 * Why a config `prefix` is unusable, or undefined when it is fine. Keys are
 * `{prefix}{job}/…`, so a prefix must end with "/": "team" + job "app" would be "teamapp/", the
 * folder of job "teamapp" in a config without a prefix, and each would list, prune and restore
 * the other's backups.
 */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  const segments = prefix.split('/');
  if (!prefix.endsWith('/')) {
    const job = 'app';
    return `expected "" or a key prefix ending with "/" like ${JSON.stringify(`${prefix}/`)}, got ${JSON.stringify(prefix)}: keys are {prefix}{job}/…, so without the "/" job "${job}" would be stored under "${prefix}${job}/", the folder of a job named "${prefix}${job}" in a config without a prefix`;
  }
  segments.pop();
  if (
    prefix.startsWith('/') ||
    segments.some((seg) => seg === '' || seg === '.' || seg === '..' || seg.includes('\\'))
  ) {
    return `expected a relative key prefix of folder names separated by "/" (no leading "/", no empty, "." or ".." folders, no backslash), got ${JSON.stringify(prefix)}`;
  }
  return undefined;
}

export const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  prefix: z
    .string()
    .superRefine((value, ctx) => {
      const problem = prefixProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default('')
    .describe('Key prefix for every destination: "" or folder names ending with "/", e.g. "dumpvault/".'),
  stateDir: z
    .string()
    .optional()
    .describe('Local history and lock directory; default .dumpvault/ beside the config.'),
  destinations: z.record(name('destination'), DestinationSchema),
  encryption: z.record(z.string(), EncryptionSchema).default({}),
  jobs: z.array(JobSchema).min(1, { error: 'expected at least one job' }),
  notify: NotifySchema.optional(),
  aws: AwsSchema.optional(),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type Job = z.output<typeof JobSchema>;
export type Destination = z.output<typeof DestinationSchema>;
export type S3DestinationConfig = z.output<typeof S3DestinationSchema>;
export type FileDestinationConfig = z.output<typeof FileDestinationSchema>;
export type Encryption = z.output<typeof EncryptionSchema>;
/** Retention rules (counts, maxAgeDays, time zone). */
export type Retention = z.output<typeof RetentionRulesSchema>;
/** What a job says about retention: rules or "forever". */
export type JobRetention = z.output<typeof RetentionSchema>;

/** The retention a job runs with: its own, or {@link DEFAULT_RETENTION} when it sets none. */
export function jobRetention(job: Pick<Job, 'retention'>): JobRetention {
  return job.retention ?? DEFAULT_RETENTION;
}

/** One of a job's destinations with the retention that applies to the job's backups there. */
export interface JobDestination {
  readonly name: string;
  /** The destination's own retention, else the job's ({@link jobRetention}). */
  readonly retention: JobRetention;
  /** The destination's own `retention` from the config; `undefined` when it inherits the job's. */
  readonly own: JobRetention | undefined;
}

/**
 * A job's destinations in config order, names and `{ "name", "retention" }` entries alike, each
 * with the retention that applies there. Every reader of `job.destinations` goes through this.
 */
export function jobDestinations(job: Pick<Job, 'destinations' | 'retention'>): JobDestination[] {
  return job.destinations.map((entry) => {
    const own = typeof entry === 'string' ? undefined : entry.retention;
    return {
      name: typeof entry === 'string' ? entry : entry.name,
      retention: own ?? jobRetention(job),
      own,
    };
  });
}
export type Schedule = z.output<typeof ScheduleSchema>;
export type ChannelConfig = z.output<typeof ChannelSchema>;
export type NotifyConfig = z.output<typeof NotifySchema>;
