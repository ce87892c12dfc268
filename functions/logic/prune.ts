/**
 * Retention after a backup, under the job's own prune identity (issue 12 §2): the backup task
 * cannot delete, so once its run SUCCEEDED and its task stopped, task-stopped hands the run to
 * the job's prune function. Pruning is idempotent (the plan is recomputed from the manifests),
 * so a duplicate event deletes nothing more.
 */
import { findJob } from '../../core/config/load.ts';
import type { Config, Job } from '../../core/config/schema.ts';
import type { PruneRequest } from '../../core/contracts/prune.ts';
import { ToolError } from '../../core/errors.ts';
import type { HistoryStore } from '../../core/history/history.ts';
import { blockingBackupRun, pruneJob } from '../../core/pipeline/prune.ts';
import type { Destination } from '../../core/storage/destination.ts';
import { type BackupSourceOptions, openJobDestinations } from './backup-source.ts';
import { PruneEventSchema, parseEvent } from './events.ts';
import type { RunLog } from './log.ts';

export interface PruneDeps {
  readonly config: Config;
  readonly history: HistoryStore;
  /** Every destination of the job, in config order (see {@link deployedPruneDeps}). */
  readonly openDestinations: (job: Job) => Promise<Destination[]>;
  readonly log: RunLog;
  readonly now?: () => Date;
}

export type PruneOutcome =
  | { readonly status: 'PRUNED'; readonly job: string; readonly runId: string; readonly deleted: string[] }
  | { readonly status: 'NOT_RUN'; readonly job: string; readonly runId: string; readonly reason: string };

/**
 * The prune function's dependencies as functions/prune.ts builds them: every destination of
 * the job (s3, gcs, azure), each opened with the credentials its `credentialsSecret` holds,
 * read through `fetchSecret` (Secrets Manager), so each copy gets its own retention.
 */
export function deployedPruneDeps(
  config: Config,
  parts: Pick<PruneDeps, 'history' | 'log' | 'now'> & BackupSourceOptions,
): PruneDeps {
  const { history, log, now, ...sources } = parts;
  return {
    config,
    history,
    log,
    openDestinations: (job) => openJobDestinations(config, job, sources),
    ...(now ? { now } : {}),
  };
}

/** Reads `{job, runId}`; anything else is an error (the event then goes to the DLQ). */
export function parsePruneRequest(event: unknown): PruneRequest {
  return parseEvent(PruneEventSchema, event, 'prune event', (m) => new ToolError(m));
}

/**
 * Applies the job's retention after the SUCCEEDED backup `request.runId`. Does nothing when that
 * run did not succeed or a later run failed (retention never runs after a failure); records
 * the deleted keys on the backup's history item; throws when a deletion failed, so the event is
 * retried and finally lands in the dead-letter queue (which alarms).
 */
export async function pruneAfterBackup(deps: PruneDeps, request: PruneRequest): Promise<PruneOutcome> {
  const job = findJob(deps.config, request.job);
  const items = await deps.history.list(job.name, { limit: 50 });
  const run = items.find((i) => i.runId === request.runId && i.kind === 'backup');
  const notRun = (reason: string): PruneOutcome => {
    deps.log.info('retention not applied', { job: job.name, runId: request.runId, reason });
    return { status: 'NOT_RUN', job: job.name, runId: request.runId, reason };
  };
  if (run?.status !== 'SUCCEEDED') {
    return notRun(`backup run ${request.runId} is ${run ? run.status : 'not in history'}, not SUCCEEDED`);
  }
  const blocking = blockingBackupRun(items);
  if (blocking) return notRun(`the last backup run ${blocking.runId} is ${blocking.status}`);
  const destinations = await deps.openDestinations(job);
  const results = await pruneJob(
    { job, prefix: deps.config.prefix, destinations, ...(deps.now ? { now: deps.now } : {}) },
    { dryRun: false, lastRunFailed: false },
  );
  const deleted = results.flatMap((r) => r.deleted);
  if (deleted.length) await deps.history.save({ ...run, pruned: [...(run.pruned ?? []), ...deleted] });
  const errors = results.flatMap((r) => r.errors.map((e) => `${r.destination}: ${e}`));
  if (errors.length) {
    throw new ToolError(`retention of ${job.name} could not delete ${errors.length} object(s): ${errors[0]}`);
  }
  // What Object Lock kept, and until when: why a backup outlives its retention.
  const locked = results.flatMap((r) =>
    r.plan.decisions.flatMap((d) => {
      const rule = d.rules.find((x) => x.startsWith('object lock'));
      return rule ? [`${r.destination}: ${d.backup.id} (${rule})`] : [];
    }),
  );
  deps.log.info('retention applied', {
    job: job.name,
    runId: request.runId,
    deleted: deleted.length,
    ...(locked.length && { keptLocked: locked }),
  });
  return { status: 'PRUNED', job: job.name, runId: request.runId, deleted };
}
