/**
 * A standby run (issue 16 §2): the newest backup restored into a fresh database beside the
 * standby, verified against its manifest, then swapped in. Order of operations, each a promise:
 *   1. recorded RUNNING (kind "standby"); every refusal and failure after this ends FAILED with
 *      its cause and one alert (deduplicated per outage like every run), through finishRun;
 *   2. the standby checked (an existing database not made by dumpvault is refused);
 *   3. the stored object verified (size, sha256, decryption, decompression, dump complete,
 *      object counts) before any database is touched;
 *   4. restored into the next database and compared with the manifest (tables, rows, objects);
 *   5. only then swapped in; the replaced standby is kept as the previous one.
 * A failure in 2-4 drops the next database and leaves the standby exactly as it was.
 * With `exclusive`, the run first takes the job's standby lease ({@link standbyLeaseName}): two
 * standby runs of one job would drop and refill each other's next database, and one could swap
 * in what the other had half restored. A run that finds it held is recorded SKIPPED.
 */
import type { Connection } from '../engine.ts';
import { LeaseHeldError, messageOf, UserError } from '../errors.ts';
import type { HistoryItem } from '../history/history.ts';
import { newRunId } from '../manifest.ts';
import { manifestId } from '../pipeline/catalog.ts';
import type { JobContext } from '../pipeline/context.ts';
import { type DecryptKeys, requireKeysFor } from '../pipeline/decode.ts';
import { finishRun, pipelineFinishDeps } from '../pipeline/finish-run.ts';
import type { RestoreSource } from '../pipeline/restore.ts';
import { restoreInto } from '../pipeline/restore-into.ts';
import { verifyBackup } from '../pipeline/verify.ts';
import { redact } from '../redact.ts';
import type { StandbySwap, SwapOutcome } from './swap.ts';

export interface StandbyRequest {
  /** Finds the backup inside the run (normally the newest), so a missing one is recorded too. */
  readonly resolve: () => Promise<RestoreSource>;
  readonly standby: Connection;
  readonly swap: StandbySwap;
  readonly keys: DecryptKeys | undefined;
  /**
   * Take the job's standby lease for the run (the CLI, `serve`): nothing else keeps two standby
   * runs of a job apart there. On AWS the restore state machine's Resolve step does.
   */
  readonly exclusive?: boolean;
}

export interface StandbyResult {
  readonly runId: string;
  /** The backup the standby now holds. */
  readonly id: string;
  /** When that backup started: the standby's data is as of this time (its lag is measured from it). */
  readonly backupStartedAt: string;
  readonly swapped: SwapOutcome;
  readonly tablesCompared: number;
  readonly rowsCompared: number;
  readonly durationMs: number;
}

/** The history `details` of a SUCCEEDED standby run (what status and metrics read back). */
export interface StandbyDetails {
  readonly backup: string;
  readonly backupStartedAt: string;
  readonly standby: string;
  readonly previous?: string;
  readonly tablesCompared: number;
  readonly rowsCompared: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The lease a job's standby runs take (not the job's own: a standby restore of a large database
 * must not make the job's backups SKIPPED). Job names cannot hold ":".
 */
export function standbyLeaseName(job: string): string {
  return `${job}:standby`;
}

/** Restores, verifies and swaps in the backup `request.resolve` finds; see the file comment. */
export async function runStandby(ctx: JobContext, request: StandbyRequest): Promise<StandbyResult> {
  const now = ctx.now ?? (() => new Date());
  const started = now();
  const runId = ctx.runId ?? newRunId(started);
  const item: HistoryItem = {
    job: ctx.job.name,
    runId,
    kind: 'standby',
    status: 'RUNNING',
    trigger: ctx.trigger,
    startedAt: started.toISOString(),
  };
  if (!request.exclusive) return standbyRun(ctx, request, item, started);
  const lease = standbyLeaseName(ctx.job.name);
  const held = await ctx.history.acquireLease(lease, runId, ctx.leaseTtlMs ?? DAY_MS, started);
  if (!held.acquired) {
    const error = `another standby run (${held.heldBy.runId}) of ${ctx.job.name} is under way until ${held.heldBy.expiresAt}; this one was skipped and the standby left as it is`;
    await finishRun(
      pipelineFinishDeps(ctx),
      { ...item, status: 'SKIPPED', finishedAt: now().toISOString(), durationMs: 0, error },
      { investigate: ctx.investigate(runId) },
    );
    throw new LeaseHeldError(error);
  }
  try {
    return await standbyRun(ctx, request, item, started);
  } finally {
    await ctx.history.releaseLease(lease, runId);
  }
}

async function standbyRun(
  ctx: JobContext,
  request: StandbyRequest,
  running: HistoryItem,
  started: Date,
): Promise<StandbyResult> {
  const now = ctx.now ?? (() => new Date());
  const step = (message: string) => ctx.progress?.({ type: 'step', message });
  const { runId } = running;
  let item = running;
  await ctx.history.save(item);
  const { signal } = ctx;
  let next: Connection | undefined;
  let id: string | undefined;
  try {
    const { manifest, from } = await request.resolve();
    id = manifestId(manifest);
    item = { ...item, key: manifest.object.key };
    if (manifest.engine !== ctx.engine.name) {
      throw new UserError(
        `backup ${id} was made by the ${manifest.engine} engine; job ${ctx.job.name} uses ${ctx.engine.name}`,
      );
    }
    requireKeysFor(manifest, request.keys, id);
    step(`checking standby ${redact(request.standby.url)}`);
    await request.swap.checkStandby(request.standby);
    step(`verifying ${manifest.object.key} (size, sha256, decryption, completeness)`);
    const verify = await verifyBackup(from, manifest, request.keys, { signal });
    signal?.throwIfAborted();
    next = await request.swap.prepareNext(request.standby);
    step(`restoring ${id} into ${redact(next.url)}`);
    const { comparison, rawBytes } = await restoreInto({
      engine: ctx.engine,
      manifest,
      from,
      keys: request.keys,
      target: next,
      drop: false,
      etag: verify.etag,
      signal,
    });
    if (!comparison.matches) {
      throw new UserError(
        `the restored standby differs from backup ${id}: ${comparison.differences.slice(0, 3).join('; ')}${comparison.differences.length > 3 ? ` (+${comparison.differences.length - 3} more)` : ''}; the standby was not replaced`,
      );
    }
    signal?.throwIfAborted();
    step(`swapping ${redact(next.url)} in as ${redact(request.standby.url)}`);
    const outcome = await request.swap.swap(request.standby, next, `${id} ${manifest.startedAt}`);
    const finished = now();
    const durationMs = finished.getTime() - started.getTime();
    const details: StandbyDetails = {
      backup: id,
      backupStartedAt: manifest.startedAt,
      standby: redact(request.standby.url),
      ...(outcome.previous ? { previous: outcome.previous } : {}),
      tablesCompared: comparison.tablesCompared,
      rowsCompared: comparison.rowsCompared,
    };
    await finishRun(
      pipelineFinishDeps(ctx),
      {
        ...item,
        status: 'SUCCEEDED',
        finishedAt: finished.toISOString(),
        durationMs,
        rawBytes,
        details: { ...details },
      },
      { investigate: ctx.investigate(runId) },
    );
    return {
      runId,
      id,
      backupStartedAt: manifest.startedAt,
      swapped: outcome,
      tablesCompared: comparison.tablesCompared,
      rowsCompared: comparison.rowsCompared,
      durationMs,
    };
  } catch (thrown) {
    const err: unknown = signal?.aborted ? signal.reason : thrown;
    // The next database is ours alone: after a failed restore or verification it goes; after a
    // failed swap it holds whatever the swap had not moved yet (prepareNext would drop it anyway).
    if (next) await request.swap.discardNext(next).catch(() => {});
    const finished = now();
    const durationMs = finished.getTime() - started.getTime();
    const error = redact(messageOf(err)).split('\n')[0]!;
    await finishRun(
      pipelineFinishDeps(ctx),
      {
        ...item,
        status: 'FAILED',
        finishedAt: finished.toISOString(),
        durationMs,
        error,
        details: { ...(id ? { backup: id } : {}), standby: redact(request.standby.url) },
      },
      { investigate: ctx.investigate(runId) },
    );
    throw err;
  }
}
