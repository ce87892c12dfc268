/**
 * One backup run (DESIGN.md §1, §4, §6):
 *
 *   dump tool stdout ─> meter(raw) ─> compress ─> meter ─> 512 KiB chunks ─> encrypt ─> meter(sha256) ─> every destination
 *
 * With zstd, the engine pipes its dump tool straight into the `zstd` process (`pg_dump | zstd`)
 * where it can, so the raw dump never passes through Node; zstd then reports the raw byte count.
 *
 * Ordering invariants: the data object is completed only after the dump tool exited 0 and the
 * stream ended; the manifest is written after the data object; history SUCCEEDED after the
 * manifest; retention only after all of that. On any failure every destination's upload is
 * aborted (and objects already completed elsewhere are removed), history says FAILED with a
 * one-line cause, an alert goes out, and the error is rethrown for a non-zero exit.
 */
import { pipeline } from 'node:stream/promises';
import { encryptStage } from '../crypto/openpgp.ts';
import { LeaseHeldError, messageOf, ToolError } from '../errors.ts';
import type { HistoryItem } from '../history/history.ts';
import { FORMAT_VERSION, type Manifest, newRunId, objectKeys } from '../manifest.ts';
import { notifyOutcome } from '../notify/alerts.ts';
import { redact } from '../redact.ts';
import { compressStage, zstdThrough } from './compress.ts';
import type { JobContext } from './context.ts';
import { fanOut } from './fanout.ts';
import { Meter } from './meter.ts';
import { type PruneResult, pruneJob } from './prune.ts';
import { asDuplex, coalesce } from './stages.ts';

export interface BackupResult {
  readonly job: string;
  readonly runId: string;
  readonly id: string;
  readonly manifest: Manifest;
  readonly destinations: string[];
  readonly durationMs: number;
  readonly prune: PruneResult[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Chunk size of the compressed stream from encryption on (see {@link coalesce}). */
const COALESCE_BYTES = 512 * 1024;

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
    await history.save({ ...item, status: 'SKIPPED', finishedAt: now().toISOString(), durationMs: 0, error });
    await notifyOutcome(history, ctx.notifier, {
      job: job.name,
      kind: 'backup',
      runId,
      status: 'SKIPPED',
      error,
      investigate: ctx.investigate(runId),
    });
    throw new LeaseHeldError(error);
  }

  try {
    await history.save(item);
    let result: Omit<BackupResult, 'prune'>;
    try {
      result = await dumpAndStore(ctx, runId, started, step);
    } catch (err) {
      const error = redact(messageOf(err)).split('\n')[0]!;
      const finished = now();
      await history.save({
        ...item,
        status: 'FAILED',
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
        error,
      });
      const sent = await notifyOutcome(history, ctx.notifier, {
        job: job.name,
        kind: 'backup',
        runId,
        status: 'FAILED',
        error,
        durationMs: finished.getTime() - started.getTime(),
        investigate: ctx.investigate(runId),
      });
      if (sent.error) step(`could not send the failure alert: ${redact(messageOf(sent.error))}`);
      throw err;
    }
    const m = result.manifest;
    const succeeded: HistoryItem = {
      ...item,
      status: 'SUCCEEDED',
      finishedAt: m.finishedAt,
      durationMs: result.durationMs,
      key: m.object.key,
      bytes: m.object.bytes,
      rawBytes: m.rawBytes,
      sha256: m.object.sha256,
      details: { destinations: result.destinations, tables: Object.keys(m.stats.tables).length },
    };
    await history.save(succeeded);
    const sent = await notifyOutcome(history, ctx.notifier, {
      job: job.name,
      kind: 'backup',
      runId,
      status: 'SUCCEEDED',
      durationMs: result.durationMs,
      key: m.object.key,
      bytes: m.object.bytes,
      investigate: ctx.investigate(runId),
    });
    if (sent.error) step(`could not send the recovery alert: ${redact(messageOf(sent.error))}`);

    if (ctx.pruneAfterBackup === false) return { ...result, prune: [] };
    step('applying retention');
    const prune = await pruneJob(ctx, { dryRun: false, lastRunFailed: false, runId });
    if (prune.some((p) => p.deleted.length > 0)) {
      await history.save({ ...succeeded, pruned: prune.flatMap((p) => p.deleted) });
    }
    return { ...result, prune };
  } finally {
    await history.releaseLease(job.name, runId);
  }
}

/** The stored size of the job's latest successful backup, to size multipart parts by. */
async function previousBackupBytes(ctx: JobContext): Promise<number | undefined> {
  const recent = await ctx.history.list(ctx.job.name, { limit: 50 });
  return recent.find((item) => item.kind === 'backup' && item.status === 'SUCCEEDED' && item.bytes)?.bytes;
}

async function dumpAndStore(
  ctx: JobContext,
  runId: string,
  started: Date,
  step: (message: string) => void,
): Promise<Omit<BackupResult, 'prune'>> {
  const now = ctx.now ?? (() => new Date());
  const { job, engine } = ctx;
  const format = job.dumpFormat;
  step(`inspecting ${redact(ctx.source.url)}`);
  const server = await engine.inspect(ctx.source);
  const keys = objectKeys({
    prefix: ctx.prefix,
    job: job.name,
    startedAt: started,
    runId,
    dumpExt: engine.dumpExtension({ format }),
    compression: job.compression,
    encrypted: ctx.encryption !== undefined,
  });
  step(
    `dumping ${server.database} (${engine.name} ${server.serverVersion}, ${server.tool.name} ${server.tool.version}) to ${ctx.destinations.map((d) => d.description).join(', ')}`,
  );

  const expectedBytes = await previousBackupBytes(ctx);
  const controller = new AbortController();
  const t0 = Date.now();
  const raw = new Meter();
  const compressed = new Meter();
  const stored = new Meter({
    sha256: true,
    onBytes: (n) => {
      if (ctx.progress && (n - lastReport > 4 << 20 || n === 0)) {
        lastReport = n;
        ctx.progress({
          type: 'bytes',
          raw: session.piped ? undefined : raw.bytes,
          compressed: compressed.bytes,
          stored: n,
          elapsedMs: Date.now() - t0,
        });
      }
    },
  });
  let lastReport = 0;
  let firstFailure: unknown;
  const fail = (err: unknown) => {
    firstFailure ??= err;
    controller.abort(err);
  };
  const onAbort = () => fail(ctx.signal?.reason ?? new ToolError('the run was aborted'));
  if (ctx.signal?.aborted) onAbort();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  let pipedRawBytes = 0;
  const session = engine.dump(ctx.source, {
    format,
    ...(job.compression === 'zstd'
      ? { through: zstdThrough(job.compressionLevel, (bytes) => (pipedRawBytes = bytes)) }
      : {}),
  });
  const rawBytes = () => (session.piped ? pipedRawBytes : raw.bytes);
  session.stats.catch(() => {}); // awaited below; a dump failure is the better cause
  const { sink, writes } = fanOut(
    ctx.destinations,
    keys.dataKey,
    controller.signal,
    fail,
    () =>
      rawBytes() === 0
        ? new ToolError(`${engine.name} dump produced no output; nothing was stored`)
        : undefined,
    expectedBytes,
  );
  const encrypt = ctx.encryption
    ? encryptStage(
        ctx.encryption.type === 'openpgp'
          ? { recipients: ctx.encryption.recipients }
          : { passphrase: ctx.encryption.passphrase },
      )
    : undefined;
  const stages = [
    session.output,
    ...(session.piped ? [] : [raw, asDuplex(compressStage(job.compression, job.compressionLevel))]),
    compressed,
    coalesce(COALESCE_BYTES),
    ...(encrypt ? [asDuplex(encrypt)] : []),
    stored,
    sink,
  ];
  const streamed = pipeline(stages, { signal: controller.signal }).catch((err: unknown) => {
    fail(err);
    throw err;
  });
  const settled = await Promise.allSettled([streamed, ...writes]);
  ctx.signal?.removeEventListener('abort', onAbort);
  const failed = settled.some((s) => s.status === 'rejected');
  if (failed || firstFailure) {
    // Objects that completed on some destinations must not survive a failed run.
    await Promise.all(
      ctx.destinations.map((d, i) =>
        settled[i + 1]?.status === 'fulfilled' ? d.remove(keys.dataKey).catch(() => {}) : Promise.resolve(),
      ),
    );
    throw rootCause(firstFailure, settled);
  }
  let stats: Awaited<typeof session.stats>;
  try {
    stats = await session.stats;
  } catch (err) {
    // Without row counts there is no manifest, and a data object without one must not stay.
    await Promise.all(ctx.destinations.map((d) => d.remove(keys.dataKey).catch(() => {})));
    throw err;
  }
  const finished = now();
  const manifest: Manifest = {
    formatVersion: FORMAT_VERSION,
    job: job.name,
    runId,
    engine: engine.name,
    serverVersion: server.serverVersion,
    tool: server.tool,
    database: server.database,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    dumpFormat: engine.dumpFormat({ format }),
    compression: job.compression,
    encryption: {
      type: ctx.encryption?.type ?? 'none',
      recipients: ctx.encryption?.type === 'openpgp' ? ctx.encryption.recipients.fingerprints : [],
    },
    object: { key: keys.dataKey, bytes: stored.bytes, sha256: stored.sha256() },
    rawBytes: rawBytes(),
    stats: { tables: stats },
  };
  step(`writing manifest ${keys.manifestKey}`);
  const body = `${JSON.stringify(manifest, null, 2)}\n`;
  try {
    await Promise.all(
      ctx.destinations.map((d) => d.put(keys.manifestKey, body, { contentType: 'application/json' })),
    );
  } catch (err) {
    await Promise.all(
      ctx.destinations.flatMap((d) => [
        d.remove(keys.manifestKey).catch(() => {}),
        d.remove(keys.dataKey).catch(() => {}),
      ]),
    );
    throw err;
  }
  return {
    job: job.name,
    runId,
    id: keys.id,
    manifest,
    destinations: ctx.destinations.map((d) => d.name),
    durationMs: finished.getTime() - started.getTime(),
  };
}

/** The error that explains a failed run: the first real failure, not the aborts it caused. */
function rootCause(first: unknown, settled: PromiseSettledResult<unknown>[]): unknown {
  const isAbort = (e: unknown) =>
    e instanceof Error && (e.name === 'AbortError' || /aborted/i.test(e.message));
  if (first && !isAbort(first)) return first;
  for (const s of settled) if (s.status === 'rejected' && !isAbort(s.reason)) return s.reason;
  return first ?? new Error('backup failed');
}
