/**
 * The contract between start-backup and the Fargate task (documented for operators at the top
 * of functions/start-backup.ts): environment variable names, how a task is recognised as a
 * dumpvault run, and the single-job config handed to it.
 */
import { type Config, type Job, jobDestinations } from '../../core/config/schema.ts';

/** Environment variables of the task container. */
export const TaskEnv = {
  /** Per run (container override): the job's name. */
  job: 'DUMPVAULT_JOB',
  /** Per run (container override): the run id, 8 hex characters. */
  runId: 'DUMPVAULT_RUN_ID',
  /** Per run (container override): ISO time the run was recorded RUNNING; part of the history key. */
  startedAt: 'DUMPVAULT_STARTED_AT',
  /** Per run (container override): `schedule` or `manual`. */
  trigger: 'DUMPVAULT_TRIGGER',
  /** Per run (container override): a complete single-job config (validateConfig() accepts it). */
  jobJson: 'DUMPVAULT_JOB_JSON',
  /** Task definition: the history table. */
  historyTable: 'DUMPVAULT_HISTORY_TABLE',
  /** Task definition: the managed bucket; destinations with `"bucket": "managed"` mean this one. */
  bucket: 'DUMPVAULT_BUCKET',
  /** Task definition: the alerts topic. */
  topicArn: 'DUMPVAULT_TOPIC_ARN',
  /** Task definition: JSON object mapping each OpenPGP recipient path of the config to its armored key. */
  publicKeys: 'DUMPVAULT_PUBLIC_KEYS_JSON',
} as const;

/** ECS caps the JSON of all overrides of one RunTask at 8 KiB. */
export const MAX_OVERRIDE_BYTES = 8192;

/** `startedBy` of a dumpvault task (ECS allows letters, digits, `-`, `_` and `/`, ≤ 128). */
export function startedByOf(job: string, runId: string): string {
  return `dumpvault/${job}/${runId}`;
}

/** Parses a `startedBy` written by {@link startedByOf}; undefined for any other task. */
export function parseStartedBy(startedBy: string | undefined): { job: string; runId: string } | undefined {
  const m = /^dumpvault\/([a-z0-9-]+)\/([0-9a-z]+)$/.exec(startedBy ?? '');
  return m ? { job: m[1]!, runId: m[2]! } : undefined;
}

/**
 * The config the task needs for one job: that job, only the destinations and the encryption it
 * names, and the prefix. It holds ARNs and names only, never a secret value (the schema has no
 * field for one), and it is itself a valid config.
 */
export function singleJobConfig(config: Config, job: Job): Config {
  const destinations: Config['destinations'] = {};
  for (const { name } of jobDestinations(job)) {
    const destination = config.destinations[name];
    if (destination) destinations[name] = destination;
  }
  const encryption: Config['encryption'] = {};
  if (job.encryption !== undefined) {
    const entry = config.encryption[job.encryption];
    if (entry) encryption[job.encryption] = entry;
  }
  return { prefix: config.prefix, destinations, encryption, jobs: [job] };
}
