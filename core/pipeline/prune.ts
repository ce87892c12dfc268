/**
 * Retention applied to storage: list each destination's backups, plan with the pure planner,
 * then delete — each data object before its manifest, so an interrupted prune leaves an
 * orphan data object (cleaned up later), never a manifest pointing at nothing.
 */
import { messageOf } from '../errors.ts';
import { type HistoryItem, RunKind, RunStatus } from '../history/history.ts';
import { MANIFEST_SUFFIX } from '../manifest.ts';
import { redact } from '../redact.ts';
import { planRetention, type RetentionCandidate, type RetentionPlan } from '../retention/plan.ts';
import { listCatalog } from './catalog.ts';
import type { JobContext } from './context.ts';

export interface PruneResult {
  readonly destination: string;
  readonly plan: RetentionPlan;
  readonly deleted: string[];
  readonly errors: string[];
}

/**
 * The job's last finished backup run when it did not succeed: the run that forbids pruning.
 * SKIPPED runs (a start while another run held the lease) and RUNNING ones (a run in progress
 * elsewhere, or one a crash left behind) say nothing about whether the newest backup is good,
 * so they are looked past; any other outcome than SUCCEEDED (FAILED, PARTIAL) blocks retention.
 * `items` are the job's history, newest first.
 */
export function blockingBackupRun(items: readonly HistoryItem[]): HistoryItem | undefined {
  const last = items.find(
    (i) => i.kind === RunKind.backup && i.status !== RunStatus.skipped && i.status !== RunStatus.running,
  );
  return last && last.status !== RunStatus.succeeded ? last : undefined;
}

/**
 * Plans (and unless `dryRun`, applies) retention on every destination of the job. Never runs
 * after a failed backup: with `lastRunFailed` the plan is not runnable and nothing is deleted.
 */
export async function pruneJob(
  ctx: Pick<JobContext, 'job' | 'prefix' | 'destinations' | 'now' | 'progress'>,
  options: { dryRun: boolean; lastRunFailed: boolean; runId?: string },
): Promise<PruneResult[]> {
  const now = (ctx.now ?? (() => new Date()))();
  const results: PruneResult[] = [];
  for (const dest of ctx.destinations) {
    const catalog = await listCatalog(dest, ctx.prefix, ctx.job.name);
    const backups: RetentionCandidate[] = catalog.flatMap((entry): RetentionCandidate[] => {
      const manifestKey = entry.manifestKey ?? `${ctx.prefix}${ctx.job.name}/${entry.id}${MANIFEST_SUFFIX}`;
      const data = entry.dataObjects[0];
      if (!data && !entry.manifestKey) return [];
      return [
        {
          id: entry.id,
          startedAt: entry.startedAt,
          dataKey: data?.key ?? manifestKey,
          manifestKey,
          status: entry.manifestKey && data ? 'complete' : 'incomplete',
        },
      ];
    });
    const plan = planRetention({
      backups,
      policy: ctx.job.retention,
      now,
      lastRunFailed: options.lastRunFailed,
    });
    const deleted: string[] = [];
    const errors: string[] = [];
    if (!options.dryRun && plan.runnable) {
      for (const { key } of plan.deletions) {
        try {
          await dest.remove(key);
          deleted.push(key);
        } catch (err) {
          // Object Lock or a permission problem: keep going, report, never hide it.
          errors.push(`${key}: ${redact(messageOf(err))}`);
        }
      }
    }
    results.push({ destination: dest.name, plan, deleted, errors });
  }
  return results;
}
