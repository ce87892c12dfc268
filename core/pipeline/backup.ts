/**
 * One backup run (DESIGN.md §1, §4, §6):
 *
 *   dump tool stdout ─> completeness check ─> meter(raw) ─> compress ─> meter ─> encrypt ─> meter(sha256) ─> every destination
 *
 * With zstd, the engine relays its dump tool's output to the `zstd` process through the
 * completeness check (`pg_dump | check | zstd`) where it can; zstd then reports the raw byte
 * count.
 *
 * Ordering invariants: the data object is completed only after the dump tool exited 0, printed
 * no error line, and the stream was checked complete in-stream (the format's trailer or archive
 * structure, core/formats); the manifest is written after the data object; history after the
 * manifests; retention only after a run every destination completed.
 *
 * A run of the job left RUNNING by a process that ended without recording a result is marked
 * FAILED (abandoned) first, with its alert, and what it left in the destinations is removed
 * (abandoned.ts).
 *
 * Failures: when the dump itself fails (tool, compression, encryption, completeness, row
 * counts) every destination's upload is aborted and copies already completed are removed:
 * history FAILED with a one-line cause, an alert, the error rethrown for a non-zero exit. When
 * only some destinations fail (their upload or their manifest), the others keep their complete
 * copies with manifests, the failed ones keep nothing, and the run is PARTIAL: history names
 * each failed destination and why, one alert, no retention, and the caller exits 1. When every
 * destination fails, the run is FAILED.
 */
import { LeaseHeldError, messageOf } from '../errors.ts';
import type { DestinationOutcome, HistoryItem } from '../history/history.ts';
import { newRunId } from '../manifest.ts';
import { type MetaOutcome, metaBackupStep } from '../meta/step.ts';
import { redact } from '../redact.ts';
import { failAbandonedRuns } from './abandoned.ts';
import type { JobContext } from './context.ts';
import { dumpAndStore, type StoredBackup } from './dump-to-destinations.ts';
import { type FinishedItem, finishRun, pipelineFinishDeps } from './finish-run.ts';
import { type PruneResult, pruneJob } from './prune.ts';

export type { DestinationFailure } from './dump-to-destinations.ts';

export interface BackupResult extends StoredBackup {
  /** PARTIAL: some destinations have no copy (see `failures`); the caller must exit non-zero. */
  readonly status: 'SUCCEEDED' | 'PARTIAL';
  /** Retention results; empty after a PARTIAL run (retention does not run then). */
  readonly prune: PruneResult[];
  /** The meta-backup written after the copies; undefined without `metaBackup` in the config. */
  readonly meta?: MetaOutcome;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Runs one backup of `ctx.job`. Resolves with the manifest; rejects after recording FAILED. */
export async function runBackup(ctx: JobContext): Promise<BackupResult> {
  const now = ctx.now ?? (() => new Date());
  const { job, history } = ctx;
  const started = ctx.startedAt ?? now();
  const runId = ctx.runId ?? newRunId(started);
  const item: HistoryItem = {
    job: job.name,
    runId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: ctx.trigger,
    startedAt: started.toISOString(),
    ...(ctx.taskArn ? { taskArn: ctx.taskArn } : {}),
  };
  const step = (message: string) => ctx.progress?.({ type: 'step', message });

  const lease = await history.acquireLease(job.name, runId, ctx.leaseTtlMs ?? DAY_MS, started);
  if (!lease.acquired) {
    const error = `another run (${lease.heldBy.runId}) of ${job.name} is still in progress until ${lease.heldBy.expiresAt}; this run was skipped`;
    await finishRun(
      pipelineFinishDeps(ctx),
      { ...item, status: 'SKIPPED', finishedAt: now().toISOString(), durationMs: 0, error },
      { investigate: ctx.investigate(runId) },
    );
    throw new LeaseHeldError(error);
  }

  // Set when the orchestrator takes over a failed run (ctx.leaveFailureToOrchestrator).
  let keepLease = false;
  try {
    await failAbandonedRuns(ctx, runId, step);
    await history.save(item);
    let result: StoredBackup;
    try {
      result = await dumpAndStore(ctx, runId, started, step);
    } catch (err) {
      const error = redact(messageOf(err)).split('\n')[0]!;
      const finished = now();
      const failed: FinishedItem = {
        ...item,
        status: 'FAILED',
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
        error,
      };
      keepLease = ctx.leaveFailureToOrchestrator?.() === true;
      if (keepLease) {
        await history.save(failed);
        step('failure recorded; the alert (or a retry) is left to the orchestrator');
      } else {
        await finishRun(pipelineFinishDeps(ctx), failed, { investigate: ctx.investigate(runId) });
      }
      throw err;
    }
    const m = result.manifest;
    const status = result.failures.length > 0 ? 'PARTIAL' : 'SUCCEEDED';
    const error = result.failures.map((f) => f.error).join('; ');
    const outcomes: DestinationOutcome[] = ctx.destinations.map((d) => {
      const failure = result.failures.find((f) => f.destination === d.name);
      return failure
        ? { name: d.name, status: 'failed', error: failure.error }
        : { name: d.name, status: 'ok' };
    });
    // dumpvault's own config beside the backup; its failure never changes the run's status.
    const meta = ctx.metaBackup ? await metaBackupStep(ctx, ctx.metaBackup, runId, now(), step) : undefined;
    const finishedItem: FinishedItem = {
      ...item,
      status,
      finishedAt: m.finishedAt,
      durationMs: result.durationMs,
      key: m.object.key,
      bytes: m.object.bytes,
      rawBytes: m.rawBytes,
      sha256: m.object.sha256,
      ...(status === 'PARTIAL' ? { error } : {}),
      details: {
        destinations: outcomes,
        tables: Object.keys(m.stats.tables).length,
        ...(meta ? { metaBackup: meta } : {}),
      },
    };
    await finishRun(pipelineFinishDeps(ctx), finishedItem, { investigate: ctx.investigate(runId) });
    if (status === 'PARTIAL') {
      // A missing copy is a failed run: retention must not thin out what the other copies protect.
      step(`retention not applied: ${error}`);
      return { ...result, status, prune: [], ...(meta ? { meta } : {}) };
    }

    if (ctx.pruneAfterBackup === false) return { ...result, status, prune: [], ...(meta ? { meta } : {}) };
    step('applying retention');
    const prune = await pruneJob(ctx, { dryRun: false, lastRunFailed: false, current: result.id });
    if (prune.some((p) => p.deleted.length > 0)) {
      await history.save({ ...finishedItem, pruned: prune.flatMap((p) => p.deleted) });
    }
    return { ...result, status, prune, ...(meta ? { meta } : {}) };
  } finally {
    if (!keepLease) await history.releaseLease(job.name, runId);
  }
}
