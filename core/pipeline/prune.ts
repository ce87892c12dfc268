/**
 * Retention applied to storage: list each destination's backups, plan with the pure planner,
 * then delete — each data object before its manifest, so an interrupted prune leaves an
 * orphan data object (cleaned up later), never a manifest pointing at nothing.
 */
import { jobDestinations, jobRetention } from '../config/schema.ts';
import { messageOf } from '../errors.ts';
import { type HistoryItem, RunKind, RunStatus } from '../history/history.ts';
import { jobPrefix, MANIFEST_SUFFIX } from '../manifest.ts';
import { redact } from '../redact.ts';
import { planRetention, type RetentionCandidate, type RetentionPlan } from '../retention/plan.ts';
import { type CatalogProblem, scanCatalog } from './catalog.ts';
import type { JobContext } from './context.ts';

export interface PruneResult {
  readonly destination: string;
  readonly plan: RetentionPlan;
  readonly deleted: string[];
  readonly errors: string[];
  /**
   * Objects in the job's folder retention left alone and a human should look at: invalid or
   * foreign manifests, future-dated backups, manifest-named files that are no backup.
   */
  readonly problems: CatalogProblem[];
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
 * Plans (and unless `dryRun`, applies) retention on every destination of the job, each with its
 * own rules ({@link jobDestinations}: the destination's `retention`, else the job's) and each
 * from its own listing, so what one destination holds or deletes never changes another's plan
 * and each keeps its own newest complete backup. Never runs after a failed backup: with
 * `lastRunFailed` the plan is not runnable and nothing is deleted.
 */
export async function pruneJob(
  ctx: Pick<JobContext, 'job' | 'prefix' | 'destinations' | 'now' | 'progress'>,
  options: {
    dryRun: boolean;
    lastRunFailed: boolean;
    /** The backup id the running job just wrote: never deleted, whatever the rules say. */
    current?: string;
  },
): Promise<PruneResult[]> {
  const now = (ctx.now ?? (() => new Date()))();
  const results: PruneResult[] = [];
  const retentionOf = new Map(jobDestinations(ctx.job).map((d) => [d.name, d.retention]));
  for (const dest of ctx.destinations) {
    const { entries, strays } = await scanCatalog(dest, ctx.prefix, ctx.job.name);
    const folder = jobPrefix(ctx.prefix, ctx.job.name);
    const backups = entries.flatMap((entry): RetentionCandidate[] => {
      const manifestKey = entry.manifestKey ?? `${folder}${entry.id}${MANIFEST_SUFFIX}`;
      const base = { id: entry.id, startedAt: entry.startedAt, manifestKey };
      if (entry.manifest) {
        // Only the object the manifest names is this backup's data.
        const data = entry.dataObjects.find((d) => d.key === entry.manifest!.object.key);
        return [
          data
            ? { ...base, dataKey: data.key, status: 'complete' }
            : { ...base, dataKey: manifestKey, status: 'incomplete' },
        ];
      }
      if (entry.problem !== undefined) {
        // Garbage or someone else's: it neither protects anything nor is deleted.
        const dataKey = entry.dataObjects[0]?.key ?? manifestKey;
        const problem = entry.problem.startsWith(`${manifestKey} is `)
          ? entry.problem.slice(manifestKey.length + 4)
          : entry.problem;
        return [{ ...base, dataKey, status: 'invalid', problem }];
      }
      const data = entry.dataObjects[0];
      return data ? [{ ...base, dataKey: data.key, status: 'incomplete' }] : [];
    });
    const plan = planRetention({
      backups,
      policy: retentionOf.get(dest.name) ?? jobRetention(ctx.job),
      now,
      lastRunFailed: options.lastRunFailed,
      ...(options.current ? { current: options.current } : {}),
    });
    const deleted: string[] = [];
    const errors: string[] = [];
    if (!options.dryRun && plan.runnable) {
      const dataOf = new Map(backups.map((b) => [b.manifestKey, b.dataKey]));
      const refused = new Set<string>();
      for (const { key } of plan.deletions) {
        // A backup whose data object stays (Object Lock, permissions) keeps its manifest too:
        // without it the object left behind would be unfindable for restores.
        const data = dataOf.get(key);
        if (data !== undefined && data !== key && refused.has(data)) continue;
        try {
          await dest.remove(key);
          deleted.push(key);
        } catch (err) {
          // Object Lock or a permission problem: keep going, report, never hide it.
          refused.add(key);
          errors.push(`${key}: ${redact(messageOf(err))}`);
        }
      }
    }
    const keyOf = new Map(backups.map((b) => [b.id, b.manifestKey]));
    const problems = [
      ...plan.anomalies.map((a) => ({ key: keyOf.get(a.id) ?? a.id, problem: a.problem })),
      ...strays,
    ];
    results.push({ destination: dest.name, plan, deleted, errors, problems });
  }
  return results;
}
