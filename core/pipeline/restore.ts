/**
 * Restore (and the local restore drill). Order of operations, each a promise to the operator:
 *   1. resolve the backup and check the target is allowed (scratch, empty, or --drop) — the run
 *      is recorded RUNNING first, so every refusal (backup not found or ambiguous, wrong engine,
 *      no key, target has data) ends FAILED with its reason and one alert, like every failure;
 *   2. verify pass: size, sha256, decryption, decompression — before the target is touched;
 *   3. restore pass: a second streaming read pinned to the verified object (If-Match);
 *   4. compare table names, row counts and object counts (tables, views, routines, triggers,
 *      sequences) with the manifest; record and notify.
 */
import type { Connection, Selection } from '../engine.ts';
import { messageOf, UserError } from '../errors.ts';
import type { HistoryItem, RunKind } from '../history/history.ts';
import { type Manifest, newRunId } from '../manifest.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import { manifestId } from './catalog.ts';
import type { StatsComparison } from './compare.ts';
import type { JobContext } from './context.ts';
import { type DecryptKeys, requireKeysFor } from './decode.ts';
import { finishRun, pipelineFinishDeps } from './finish-run.ts';
import { restoreInto } from './restore-into.ts';
import { describeSelection, readContents, resolveSelection } from './selection.ts';
import { type VerifyResult, verifyBackup } from './verify.ts';

export type RestoreTarget =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'connection'; readonly connection: Connection; readonly drop: boolean };

/** The backup to restore and where to read it from (normally the job's first destination). */
export interface RestoreSource {
  readonly manifest: Manifest;
  readonly from: Destination;
}

export type RestoreRequest = (
  | RestoreSource
  | {
      /** Finds the backup inside the run, so a selector that finds nothing is recorded too. */
      readonly resolve: () => Promise<RestoreSource>;
    }
) & {
  readonly target: RestoreTarget;
  readonly keys: DecryptKeys | undefined;
  readonly skipVerify?: boolean;
  /**
   * Restore only these tables or schemas (names as the user gave them): checked against what
   * the backup holds before anything is written; the comparison then covers only them.
   */
  readonly select?: Selection;
  /** 'drill' drops the scratch database afterwards. */
  readonly kind?: Extract<RunKind, 'restore' | 'drill'>;
};

export interface RestoreResult {
  readonly runId: string;
  readonly id: string;
  readonly target: string;
  readonly verify?: VerifyResult;
  readonly comparison: StatsComparison;
  readonly durationMs: number;
  readonly dropped: boolean;
}

/**
 * Restores a backup. Rejects — after recording FAILED and alerting — when the target is not
 * allowed, the object fails verification (target untouched), the tool fails, or the restored
 * tables differ from the manifest.
 */
export async function runRestore(ctx: JobContext, request: RestoreRequest): Promise<RestoreResult> {
  const now = ctx.now ?? (() => new Date());
  const step = (message: string) => ctx.progress?.({ type: 'step', message });
  const kind = request.kind ?? 'restore';
  const started = now();
  const runId = ctx.runId ?? newRunId(started);
  let item: HistoryItem = {
    job: ctx.job.name,
    runId,
    kind,
    status: 'RUNNING',
    trigger: ctx.trigger,
    startedAt: started.toISOString(),
  };
  await ctx.history.save(item);
  let target: Connection | undefined;
  let created = false;
  let restoring: Promise<unknown> | undefined;
  let id: string | undefined;
  const { signal } = ctx;
  try {
    const { manifest, from } = 'resolve' in request ? await request.resolve() : request;
    id = manifestId(manifest);
    item = { ...item, key: manifest.object.key };
    if (manifest.engine !== ctx.engine.name) {
      throw new UserError(
        `backup ${id} was made by the ${manifest.engine} engine; job ${ctx.job.name} uses ${ctx.engine.name}`,
      );
    }
    requireKeysFor(manifest, request.keys, id);
    signal?.throwIfAborted();
    let select: Selection | undefined;
    if (request.select) {
      if (request.target.kind === 'connection' && request.target.drop) {
        throw new UserError(
          '--drop replaces the whole database; a restore of some tables or schemas never drops',
        );
      }
      step(`reading what backup ${id} holds`);
      select = resolveSelection(
        await readContents(ctx.engine, manifest, from, request.keys, signal),
        request.select,
        id,
      );
      step(`restoring only ${describeSelection(select)}`);
    }
    if (request.target.kind === 'connection') {
      target = request.target.connection;
      step(`checking target ${redact(target.url)}`);
      if (!request.target.drop && !(await ctx.engine.isEmpty(target))) {
        throw new UserError(
          `the target ${redact(target.url)} already has data: pass --drop to replace it, or restore into a scratch database (omit --to)`,
          { exitCode: 2 },
        );
      }
    }
    let verify: VerifyResult | undefined;
    if (!request.skipVerify) {
      step(`verifying ${manifest.object.key} (size, sha256, decryption)`);
      verify = await verifyBackup(from, manifest, request.keys, { signal });
    }
    signal?.throwIfAborted();
    if (request.target.kind === 'scratch') {
      const name = `${ctx.job.name}_${kind}_${runId}`.replace(/-/g, '_');
      target = await ctx.engine.createScratch(ctx.source, name);
      created = true;
      step(`created scratch target ${redact(target.url)}`);
    }
    if (!target) throw new Error('restore target was not resolved');
    step(`restoring into ${redact(target.url)}`);
    const restored = restoreInto({
      engine: ctx.engine,
      manifest,
      from,
      keys: request.keys,
      target,
      drop: request.target.kind === 'connection' && request.target.drop,
      etag: verify?.etag,
      signal,
      select,
    });
    restoring = restored;
    const { comparison, rawBytes } = await restored;
    step('compared tables, row counts and object counts with the manifest');
    let dropped = false;
    if (kind === 'drill' && created) {
      await ctx.engine.dropScratch(target);
      dropped = true;
    }
    const finished = now();
    const durationMs = finished.getTime() - started.getTime();
    const details = {
      backup: id,
      target: redact(target.url),
      ...(select ? { only: describeSelection(select) } : {}),
      tablesCompared: comparison.tablesCompared,
      rowsCompared: comparison.rowsCompared,
      ...(comparison.objectsCompared ? { objectsCompared: comparison.objectsCompared } : {}),
      differences: comparison.differences,
    };
    if (!comparison.matches) {
      throw Object.assign(
        new UserError(
          `restored data differs from backup ${id}: ${comparison.differences.slice(0, 3).join('; ')}${comparison.differences.length > 3 ? ` (+${comparison.differences.length - 3} more)` : ''}`,
        ),
        { details },
      );
    }
    await finishRun(
      pipelineFinishDeps(ctx),
      { ...item, status: 'SUCCEEDED', finishedAt: finished.toISOString(), durationMs, rawBytes, details },
      { key: manifest.object.key, investigate: ctx.investigate(runId) },
    );
    return {
      runId,
      id,
      target: redact(target.url),
      ...(verify ? { verify } : {}),
      comparison,
      durationMs,
      dropped,
    };
  } catch (thrown) {
    // Aborted: the signal's reason (which signal, which timeout) is the cause, not the stages' AbortError.
    const err: unknown = signal?.aborted ? signal.reason : thrown;
    // The restore tool is being stopped; it must be gone before its database can be dropped.
    await restoring?.catch(() => {});
    if (kind === 'drill' && created && target) await ctx.engine.dropScratch(target).catch(() => {});
    const finished = now();
    const error = redact(messageOf(err)).split('\n')[0]!;
    const details = (err as { details?: Record<string, unknown> }).details;
    // Told, not thrown: an alert that could not be sent never hides the restore's own failure.
    await finishRun(
      pipelineFinishDeps(ctx),
      {
        ...item,
        status: 'FAILED',
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
        error,
        ...(details
          ? { details }
          : id
            ? { details: { backup: id, ...(target ? { target: redact(target.url) } : {}) } }
            : {}),
      },
      { investigate: ctx.investigate(runId) },
    );
    throw err;
  }
}
