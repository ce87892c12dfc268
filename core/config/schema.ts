/**
 * The configuration contract (DESIGN.md §3): one zod schema read by the CLI, the task and
 * the CDK app, also emitted as `dumpvault.schema.json` for editors. The sections live in
 * destination-schema.ts, encryption-schema.ts, notify-schema.ts and aws-schema.ts; their
 * schemas and types are exported here too, so readers of the config import this file only.
 */
import { z } from 'zod';
import { DEFAULT_RETENTION, RETENTION_FOREVER, type RetentionRules } from '../contracts/retention.ts';
import { DEFAULT_TASK_SIZE } from '../contracts/task-size.ts';
import { LOCK_WAIT_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';
import { cronProblem, rateProblem } from '../schedule/index.ts';
import { AwsSchema } from './aws-schema.ts';
import { DestinationSchema } from './destination-schema.ts';
import { EncryptionSchema } from './encryption-schema.ts';
import { MetaBackupSchema } from './meta-backup-schema.ts';
import { JobNotifySchema, NotifySchema } from './notify-schema.ts';
import {
  checkedString,
  type DigestTimeSchema,
  envName,
  name,
  nonEmpty,
  secretArn,
  show,
  timeZone,
  wholeNumber,
} from './schema-fields.ts';
import { StandbySchema } from './standby-schema.ts';

export { AwsSchema } from './aws-schema.ts';
export { AzureDestinationSchema, GcsDestinationSchema } from './cloud-destinations.ts';
export {
  type AzureDestinationConfig,
  type Destination,
  DestinationSchema,
  type FileDestinationConfig,
  FileDestinationSchema,
  type GcsDestinationConfig,
  S3_STORAGE_CLASSES,
  type S3DestinationConfig,
  S3DestinationSchema,
} from './destination-schema.ts';
export {
  type Encryption,
  EncryptionSchema,
  OpenPgpEncryptionSchema,
  PassphraseEncryptionSchema,
} from './encryption-schema.ts';
export { type MetaBackupConfig, MetaBackupSchema } from './meta-backup-schema.ts';
export {
  type ChannelConfig,
  ChannelSchema,
  CommandChannelSchema,
  JobNotifySchema,
  type NotifyConfig,
  NotifySchema,
  SmtpChannelSchema,
  WebhookChannelSchema,
} from './notify-schema.ts';
export { DigestTimeSchema, NAME_PATTERN } from './schema-fields.ts';

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
  globals: z
    .boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` })
    .optional()
    .describe(
      'PostgreSQL only: each backup also stores `pg_dumpall --globals-only` (roles with their password hashes, tablespaces) as an object beside the dump, compressed and encrypted like it; restore with `restore --globals`. Default false.',
    ),
});

export const JobSchema = z.strictObject({
  name: name('job'),
  engine: z.enum(ENGINES, {
    error: (iss) => `expected one of ${ENGINES.join(', ')}, got ${show(iss.input)}`,
  }),
  source: SourceSchema,
  schedule: ScheduleSchema.optional().describe(
    'When backups run: by `dumpvault serve` locally and by EventBridge Scheduler in AWS (one dialect); `dumpvault backup` runs at once whatever it says.',
  ),
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
        .default(DEFAULT_TASK_SIZE.cpu),
      memoryMiB: wholeNumber(512).default(DEFAULT_TASK_SIZE.memoryMiB),
      timeoutMinutes: wholeNumber(1).default(DEFAULT_TASK_SIZE.timeoutMinutes),
      spot: z
        .boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` })
        .optional()
        .describe("Run this job's backups on Fargate Spot; omitted = `aws.task.spot`."),
    })
    .optional()
    .describe('Fargate size of this job.'),
  restoreDrill: z
    .strictObject({ schedule: ScheduleSchema, engineImage: z.string().optional() })
    .optional()
    .describe('Scheduled restore drill into a throw-away database.'),
  notify: JobNotifySchema.optional(),
  standby: StandbySchema.optional(),
});
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
  metaBackup: MetaBackupSchema.optional(),
  aws: AwsSchema.optional(),
});

export type Config = z.output<typeof ConfigSchema>;
export type DigestTime = z.output<typeof DigestTimeSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type Job = z.output<typeof JobSchema>;
/** Retention rules (counts, maxAgeDays, time zone). */
export type Retention = z.output<typeof RetentionRulesSchema>;
/** What a job says about retention: rules or "forever". */
export type JobRetention = z.output<typeof RetentionSchema>;

/** The retention a job runs with: its own, or {@link DEFAULT_RETENTION} when it sets none. */
export function jobRetention(job: Pick<Job, 'retention'>): JobRetention {
  return job.retention ?? DEFAULT_RETENTION;
}

/**
 * Whether a job's backups start on Fargate Spot: the job's `task.spot`, else `aws.task.spot`,
 * else not. Only the first attempt: a run Spot interrupted is retried once on-demand.
 */
export function backupsOnSpot(config: Pick<Config, 'aws'>, job: Pick<Job, 'task'>): boolean {
  return job.task?.spot ?? config.aws?.task?.spot ?? false;
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
