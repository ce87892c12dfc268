/**
 * Retention applied to storage: list each destination's backups, plan with the pure planner,
 * read the Object Lock of every object the plan would delete and plan again with it (a locked
 * backup is kept, with the lock as its rule), then delete in batches — every data object
 * before its manifest, so an interrupted prune leaves an orphan data object (cleaned up later),
 * never a manifest pointing at nothing.
 */
import { jobDestinations, jobRetention } from '../config/schema.ts';
import { messageOf, NotFoundError } from '../errors.ts';
import { type HistoryItem, RunKind, RunStatus } from '../history/history.ts';
import { jobPrefix, MANIFEST_SUFFIX } from '../manifest.ts';
import { redact } from '../redact.ts';
import {
  planRetention,
  type RetentionCandidate,
  type RetentionInput,
  type RetentionPlan,
} from '../retention/plan.ts';
import type { Destination } from '../storage/destination.ts';
import { removeMany } from '../storage/remove-many.ts';
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
    const input: RetentionInput = {
      backups,
      policy: retentionOf.get(dest.name) ?? jobRetention(ctx.job),
      now,
      lastRunFailed: options.lastRunFailed,
      ...(options.current ? { current: options.current } : {}),
    };
    const unlocked = planRetention(input);
    // Locks only add reasons to keep, so only what the plan would delete needs reading.
    const doomed = unlocked.decisions.filter((d) => d.action === 'delete').map((d) => d.backup);
    const locks = await readLocks(dest, doomed);
    const plan = doomed.length
      ? planRetention({
          ...input,
          lockedUntil: (b) => locks.get(b.id)?.until,
          held: (b) => locks.get(b.id)?.held,
        })
      : unlocked;
    const deleted: string[] = [];
    // A lock that could not be read keeps its backup, and is a failure to apply retention.
    const errors = doomed.flatMap((b) => {
      const held = locks.get(b.id)?.held;
      return held?.startsWith('object lock unknown') ? [`${b.dataKey}: kept, ${held}`] : [];
    });
    if (!options.dryRun && plan.runnable) {
      // A backup's globals object (PostgreSQL roles) goes with its data object, in the first round.
      const globalsOf = new Map(
        entries.flatMap((e) =>
          e.manifest?.globals && e.manifestKey ? [[e.manifestKey, e.manifest.globals.key]] : [],
        ),
      );
      const globals = plan.deletions.flatMap((d) =>
        globalsOf.has(d.key) ? [{ key: globalsOf.get(d.key)! }] : [],
      );
      const removal = await removeInOrder(
        dest,
        [...globals, ...plan.deletions],
        new Map(backups.map((b) => [b.manifestKey, b.dataKey])),
      );
      deleted.push(...removal.deleted);
      errors.push(...removal.errors);
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

/**
 * Deletes `deletions` in two rounds of batch deletes: first every data object (and data object
 * without a manifest), then the manifests whose data object is gone — a manifest whose data
 * object could not be deleted (Object Lock, permissions) stays, so the object left behind is
 * still found by restores, and an interrupted prune never leaves a manifest pointing at nothing.
 * One batch cannot hold both: the store deletes the keys of one request in no defined order.
 */
async function removeInOrder(
  dest: Destination,
  deletions: readonly { key: string }[],
  dataOf: ReadonlyMap<string, string>,
): Promise<{ deleted: string[]; errors: string[] }> {
  const isManifest = (key: string) => dataOf.has(key);
  const dataKeys = deletions.map((d) => d.key).filter((key) => !isManifest(key));
  const failedData = await removeMany(dest, dataKeys);
  const refused = new Set(failedData.map((f) => f.key));
  const manifestKeys = deletions
    .map((d) => d.key)
    .filter((key) => isManifest(key) && (dataOf.get(key) === key || !refused.has(dataOf.get(key)!)));
  const failedManifests = await removeMany(dest, manifestKeys);
  const failed = [...failedData, ...failedManifests];
  const failedKeys = new Set(failed.map((f) => f.key));
  return {
    deleted: [...dataKeys, ...manifestKeys].filter((key) => !failedKeys.has(key)),
    // Object Lock or a permission problem: reported key by key, never hidden.
    errors: failed.map((f) => `${f.key}: ${redact(messageOf(f.error))}`),
  };
}

/** What keeps a backup's objects from being deleted: the latest retain-until date, or another reason. */
interface BackupLock {
  readonly until?: Date;
  readonly held?: string;
}

/**
 * The Object Lock of each backup's objects (data and manifest), by backup id: the later
 * retain-until date of the two, a legal hold, or — when a lock could not be read — that as the
 * reason to keep it (deleting on a versioned bucket would hide a locked object behind a delete
 * marker instead of failing). A missing object has no lock.
 */
async function readLocks(
  dest: Destination,
  backups: readonly RetentionCandidate[],
): Promise<Map<string, BackupLock>> {
  const locks = new Map<string, BackupLock>();
  for (const backup of backups) {
    const keys = backup.status === 'complete' ? [backup.dataKey, backup.manifestKey] : [backup.dataKey];
    let until: Date | undefined;
    let held: string | undefined;
    for (const key of keys) {
      try {
        const info = await dest.stat(key);
        if (info.legalHold) held = 'object lock: legal hold';
        if (info.retainUntil && (!until || info.retainUntil > until)) until = info.retainUntil;
      } catch (err) {
        if (err instanceof NotFoundError) continue;
        held = `object lock unknown: ${key} could not be read (${redact(messageOf(err))})`;
        break;
      }
    }
    if (until || held) locks.set(backup.id, { ...(until && { until }), ...(held && { held }) });
  }
  return locks;
}
