/**
 * Synth-time checks of a config against what the deployment can do: Fargate sizes, schedules,
 * alarm thresholds, Object Lock versus retention, and destinations AWS cannot reach. Messages
 * are lowercase, name the JSON path, the value received and what is allowed.
 */
import {
  type Config,
  type Job,
  jobDestinations,
  type jobRetention,
  type Retention,
} from '../core/config/schema.ts';
import { RETENTION_FOREVER } from '../core/contracts/retention.ts';
import { RUN_TIMEOUT_MINUTES } from '../core/contracts/timeouts.ts';
import { isAgeOnly } from '../core/retention/plan.ts';
import { scheduleGaps } from './schedule-gaps.ts';

export { alarmThresholdHours } from '../core/schedule/index.ts';

/** Memory (MiB) Fargate accepts for each CPU value. */
export const FARGATE_MEMORY: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: Array.from({ length: 13 }, (_, i) => 4096 + i * 1024),
  4096: Array.from({ length: 23 }, (_, i) => 8192 + i * 1024),
};

/** The Object Lock of a bucket created without an `objectLock` setting: short, and GOVERNANCE. */
export const DEFAULT_OBJECT_LOCK = { mode: 'GOVERNANCE', days: 7 } as const;

/** The object lock default retention of the bucket the deployment creates, or undefined for none. */
export function effectiveObjectLock(
  config: Config,
  options: { readonly bucketProvided?: boolean } = {},
): { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly days: number } | undefined {
  const bucket = config.aws?.bucket;
  if (options.bucketProvided || bucket?.existingBucketName || bucket?.objectLock === false) return undefined;
  return bucket?.objectLock ?? DEFAULT_OBJECT_LOCK;
}

/** The longest `task.timeoutMinutes` of the config's jobs (RUN_TIMEOUT_MINUTES for a job without a `task` section). */
export function longestTaskTimeoutMinutes(config: Config): number {
  return Math.max(...config.jobs.map((job) => job.task?.timeoutMinutes ?? RUN_TIMEOUT_MINUTES));
}

/**
 * Days after which S3 aborts an incomplete multipart upload: longer than the longest task
 * may run, so no upload of a running backup is ever aborted under it.
 */
export function abortIncompleteUploadDays(config: Config): number {
  return Math.max(1, Math.ceil((longestTaskTimeoutMinutes(config) + 60) / (24 * 60)));
}

/**
 * A lower bound, in hours, on the age at which retention may delete a backup of a job that
 * runs at least `minGapHours` apart: a backup leaves `keepLast` after that many runs, and a
 * calendar rule protects every backup only when there is at most one run per calendar period.
 */
export function earliestDeletionHours(retention: Retention, minGapHours: number): number {
  // maxAgeDays alone keeps every backup younger than it.
  if (isAgeOnly(retention)) return retention.maxAgeDays! * 24;
  let bound = retention.keepLast * minGapHours;
  // A daylight-saving change shortens a calendar day to 23 h without adding a run to it.
  minGapHours += 1;
  if (minGapHours >= 24) bound = Math.max(bound, retention.daily * 24);
  if (minGapHours >= 7 * 24) bound = Math.max(bound, retention.weekly * 7 * 24);
  if (minGapHours >= 31 * 24) bound = Math.max(bound, retention.monthly * 28 * 24);
  if (minGapHours >= 366 * 24) bound = Math.max(bound, retention.yearly * 365 * 24);
  if (retention.maxAgeDays !== undefined) bound = Math.min(bound, retention.maxAgeDays * 24);
  return bound;
}

/** True when a job writes to the deployment's own bucket. */
export function usesManagedBucket(config: Config, job: Job): boolean {
  return jobDestinations(job).some(({ name }) => {
    const dest = config.destinations[name];
    return dest?.type === 's3' && dest.bucket === 'managed';
  });
}

/** `6 h`, `36 h`, `7 days`: hours below two days, days above. */
const duration = (hours: number): string =>
  hours < 48 ? `${Math.round(hours * 100) / 100} h` : `${Math.round((hours / 24) * 10) / 10} days`;

/** Every problem of a config for deployment, as `path: message` lines (empty = deployable). */
export function deploymentProblems(
  config: Config,
  options: { readonly bucketProvided?: boolean } = {},
): string[] {
  const problems: string[] = [];
  const lock = effectiveObjectLock(config, options);
  if (config.aws?.network === 'public-subnets' && config.aws.vpc) {
    problems.push(
      'aws.network: "public-subnets" runs tasks in public subnets of the VPC the stack creates, but aws.vpc names an existing VPC by its private subnets only; remove aws.vpc, or keep "private-subnets" (that VPC then needs a NAT gateway or endpoints)',
    );
  }
  if (abortIncompleteUploadDays(config) * 24 * 60 <= longestTaskTimeoutMinutes(config)) {
    problems.push(
      `jobs: the bucket aborts incomplete uploads after ${abortIncompleteUploadDays(config)} days, not longer than the longest task.timeoutMinutes (${longestTaskTimeoutMinutes(config)})`,
    );
  }
  for (const [name, dest] of Object.entries(config.destinations)) {
    if (dest.type === 's3' && dest.bucket === 'managed' && dest.serverSideEncryption?.kmsKeyId) {
      problems.push(
        `destinations.${name}.serverSideEncryption.kmsKeyId: the managed bucket is encrypted with the stack's own KMS key, which the task roles are granted; leave kmsKeyId out, got ${JSON.stringify(dest.serverSideEncryption.kmsKeyId)}`,
      );
    }
  }
  problems.push(...destinationProblems(config));
  config.jobs.forEach((job, i) => {
    const at = `jobs[${i}]`;
    if (job.task) {
      const allowed = FARGATE_MEMORY[job.task.cpu] ?? [];
      if (!allowed.includes(job.task.memoryMiB)) {
        problems.push(
          `${at}.task.memoryMiB: fargate cpu ${job.task.cpu} allows ${allowed[0]}-${allowed[allowed.length - 1]} MiB in steps of ${allowed.length > 1 ? allowed[1]! - allowed[0]! : 1024}, got ${job.task.memoryMiB}`,
        );
      }
    }
    const gaps = job.schedule ? scheduleGaps(job.schedule) : undefined;
    if (job.schedule && !gaps && job.alarmAfterHours === undefined) {
      const expr = job.schedule.cron ?? job.schedule.rate;
      problems.push(
        `${at}.schedule: cannot work out how often ${JSON.stringify(expr)} runs (it does not fire twice within two years from 2025 on); set ${at}.alarmAfterHours`,
      );
    }
    if (job.restoreDrill) problems.push(...drillProblems(config, job, `${at}.restoreDrill`));
    // The lock binds the retention each managed destination runs with: its own, else the job's.
    const lockChecked = new Set<string>();
    jobDestinations(job).forEach((d, j) => {
      const dest = config.destinations[d.name];
      if (!lock || dest?.type !== 's3' || dest.bucket !== 'managed') return;
      const where = d.own !== undefined ? `${at}.destinations[${j}].retention` : `${at}.retention`;
      if (lockChecked.has(where)) return;
      lockChecked.add(where);
      problems.push(
        ...lockProblems(d.retention, where, lock, job.schedule ? (gaps?.minHours ?? 0) : undefined),
      );
    });
  });
  return problems;
}

/**
 * Why `r` (at JSON path `where`) may delete what the managed bucket's Object Lock keeps: a
 * `maxAgeDays` below the lock, or counts that, at a run every `minGapHours` (undefined = no
 * schedule, not checked), let a backup go before the lock ends.
 */
function lockProblems(
  r: ReturnType<typeof jobRetention>,
  where: string,
  lock: { readonly mode: string; readonly days: number },
  minGapHours: number | undefined,
): string[] {
  // "forever" deletes nothing, so it can never collide with a lock.
  if (r === RETENTION_FOREVER) return [];
  const lockHours = lock.days * 24;
  if (r.maxAgeDays !== undefined && r.maxAgeDays < lock.days) {
    return [
      `${where}.maxAgeDays: ${r.maxAgeDays} would delete backups that the bucket's ${lock.mode.toLowerCase()} object lock keeps for ${lock.days} days; set it to at least ${lock.days} or lower aws.bucket.objectLock.days ("objectLock": false turns the lock off)`,
    ];
  }
  if (minGapHours === undefined) return [];
  const earliest = earliestDeletionHours(r, minGapHours);
  if (earliest >= lockHours) return [];
  return [
    `${where}: keepLast ${r.keepLast}, daily ${r.daily}, weekly ${r.weekly}, monthly ${r.monthly} with a run every ${minGapHours > 0 ? duration(minGapHours) : 'unknown interval'} may delete a backup after ${duration(earliest)}, but the bucket's ${lock.mode.toLowerCase()} object lock keeps every object ${lock.days} days; keep backups at least ${lock.days} days (e.g. "daily": ${lock.days} for a daily job) or lower aws.bucket.objectLock.days ("objectLock": false turns the lock off)`,
  ];
}

/** The variables a destination may name for its credentials locally; in AWS none of them is set. */
const CREDENTIAL_ENV_FIELDS = [
  'accessKeyIdEnv',
  'secretAccessKeyEnv',
  'connectionStringEnv',
  'accountKeyEnv',
  'sasTokenEnv',
] as const;

/**
 * Destinations of the jobs that AWS cannot reach: a `file` destination (a task's disk does not
 * outlive it, so nothing could restore or prune that copy), or credentials in an env variable
 * (the task and the functions have none; in AWS they come from `credentialsSecret`). Refused at
 * synth, with one sentence each, rather than failing or being skipped at run time.
 */
function destinationProblems(config: Config): string[] {
  const problems: string[] = [];
  const usedBy = new Map<string, string[]>();
  for (const job of config.jobs) {
    for (const { name } of jobDestinations(job)) usedBy.set(name, [...(usedBy.get(name) ?? []), job.name]);
  }
  for (const [name, jobs] of usedBy) {
    const dest = config.destinations[name];
    if (!dest) continue;
    if (dest.type === 'file') {
      problems.push(
        `destinations.${name}: a file destination cannot be used in AWS (a task's disk does not outlive it, so nothing could restore or prune that copy); remove "${name}" from the destinations of ${jobs.join(', ')}, or write that copy to an s3, azure or gcs destination`,
      );
      continue;
    }
    const named = dest as Partial<Record<(typeof CREDENTIAL_ENV_FIELDS)[number], string>>;
    const fromEnv = CREDENTIAL_ENV_FIELDS.filter((field) => named[field] !== undefined);
    if (fromEnv.length) {
      problems.push(
        `destinations.${name}.${fromEnv[0]}: the task and functions in AWS have no environment variable to read credentials from (${fromEnv.join(', ')}); store them in Secrets Manager and set "credentialsSecret" to its ARN instead`,
      );
    }
  }
  return problems;
}

/** What keeps a job's restore drill from working in AWS (see deploymentProblems). */
function drillProblems(config: Config, job: Job, at: string): string[] {
  const drill = job.restoreDrill!;
  const problems: string[] = [];
  if (!scheduleGaps(drill.schedule)) {
    const expr = drill.schedule.cron ?? drill.schedule.rate;
    problems.push(
      `${at}.schedule: cannot work out how often ${JSON.stringify(expr)} runs (it does not fire twice within two years from 2025 on), and the drill alarm needs it; give it a schedule that repeats`,
    );
  }
  const firstName = jobDestinations(job)[0]?.name ?? '';
  const first = config.destinations[firstName];
  if (first && first.type !== 's3') {
    problems.push(
      `${at}: drills read the job's first destination, and "${firstName}" is a ${first.type} destination AWS cannot reach; list an S3 destination first`,
    );
  }
  const enc = job.encryption !== undefined ? config.encryption[job.encryption] : undefined;
  if (enc?.type === 'openpgp' && !enc.privateKeySecret) {
    problems.push(
      `${at}: backups of ${job.name} are encrypted to OpenPGP recipients and encryption.${job.encryption}.privateKeySecret is not set, so a drill cannot decrypt them; set it to the ARN of a secret holding a recipient's private key`,
    );
  }
  if (enc?.type === 'passphrase' && !enc.passphraseSecret) {
    problems.push(
      `${at}: backups of ${job.name} are encrypted with a passphrase and encryption.${job.encryption}.passphraseSecret is not set, so a drill cannot decrypt them`,
    );
  }
  if (job.engine === 'sqlite' && drill.engineImage) {
    problems.push(
      `${at}.engineImage: sqlite drills restore into a file inside the task; remove engineImage, got ${JSON.stringify(drill.engineImage)}`,
    );
  }
  return problems;
}
