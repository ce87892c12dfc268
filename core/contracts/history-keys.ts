/**
 * The key layout of the DynamoDB history table (DESIGN.md §5) that the table definition and its
 * IAM conditions (infra), the store (core/history/dynamodb.ts), the Lambdas and the CLI's
 * `--remote` commands share, and the key of a job's alert de-duplication state.
 *
 *   pk = JOB#{job}  sk = RUN#{startedAt}#{runId}   one item per run
 *   pk = JOB#{job}  sk = LASTSUCCESS#{kind}        copy of the newest SUCCEEDED run of a kind
 *   pk = JOB#{job}  sk = FIRSTSEEN                 when the watchdog first saw the job
 *   pk = JOB#{job}  sk = LEASE                     who runs the job now
 *   pk = JOB#{alert key} sk = ALERT                alert de-duplication state ({@link alertStateKey})
 *   pk = JOBS       sk = JOB#{job}                 registry of jobs that ever ran
 */

/** Attribute names and fixed key values of the history table. */
export const HistoryKeys = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds after which DynamoDB may delete an item (leases and run items). */
  ttlAttribute: 'ttl',
  lease: 'LEASE',
  alert: 'ALERT',
  /** Followed by the run kind: the job's newest SUCCEEDED run of that kind. */
  lastSuccessPrefix: 'LASTSUCCESS#',
  firstSeen: 'FIRSTSEEN',
  runPrefix: 'RUN#',
  jobPrefix: 'JOB#',
  jobsPartition: 'JOBS',
} as const;

/** The partition of one job (also the sort key of its item in the {@link HistoryKeys.jobsPartition} registry). */
export function jobPartition(job: string): string {
  return `${HistoryKeys.jobPrefix}${job}`;
}

/** The sort key of one run. */
export function runSortKey(startedAt: string, runId: string): string {
  return `${HistoryKeys.runPrefix}${startedAt}#${runId}`;
}

/**
 * Alert streaks of a part of a run, kept apart from the run's own: a backup whose meta-backup
 * failed is still a good backup, and alerts (and recovers) the meta-backup on its own streak.
 */
export const AlertPart = {
  /** dumpvault's own config beside the backup (core/meta/step.ts). */
  metaBackup: 'meta-backup',
} as const;
export type AlertPart = (typeof AlertPart)[keyof typeof AlertPart];

/**
 * The key under which a job's alert streak of one run kind is kept (`getAlertState`): backups
 * under the job's name, restores and drills under `{job}:restore` / `{job}:drill`, so a failed
 * drill is not "recovered" by a backup; a part of a run under `{job}:{part}`
 * (`{job}:meta-backup`).
 */
export function alertStateKey(job: string, kind: string, part?: AlertPart): string {
  if (part) return `${job}:${part}`;
  return kind === 'backup' ? job : `${job}:${kind}`;
}

/**
 * The partitions a job's runs of the given kinds (and the given parts of them) touch in
 * DynamoDB: the job's own (runs, lease, backup alerts) and the alert partition of every other
 * kind and part (IAM `dynamodb:LeadingKeys`).
 */
export function jobPartitions(
  job: string,
  kinds: readonly string[] = ['backup'],
  parts: readonly AlertPart[] = [],
): string[] {
  const keys = [jobPartition(job)];
  const streaks = [
    ...kinds.map((kind) => alertStateKey(job, kind)),
    ...parts.map((part) => alertStateKey(job, 'backup', part)),
  ];
  for (const streak of streaks) {
    const key = jobPartition(streak);
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}
