/**
 * One backup run (DESIGN.md §1, §4, §6):
 *
 *   dump tool stdout ─> completeness check ─> meter(raw) ─> compress ─> meter ─> 512 KiB chunks ─> encrypt ─> meter(sha256) ─> every destination
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
import { pipeline } from 'node:stream/promises';
import { LOCK_WAIT_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';
import { encryptStage } from '../crypto/openpgp.ts';
import { killedBy, LeaseHeldError, messageOf, StorageError, ToolError } from '../errors.ts';
import type { DestinationOutcome, HistoryItem } from '../history/history.ts';
import { FORMAT_VERSION, jobPrefix, type Manifest, newRunId, objectKeys } from '../manifest.ts';
import { notifyOutcome } from '../notify/alerts.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import { nameDestinationError } from '../storage/named.ts';
import { Meter } from '../streams/meter.ts';
import { asDuplex, coalesce } from '../streams/stages.ts';
import { failAbandonedRuns } from './abandoned.ts';
import { completenessStage, completenessTap } from './complete.ts';
import { compressStage, zstdThrough } from './compress.ts';
import type { JobContext } from './context.ts';
import { fanOut } from './fanout.ts';
import { type PruneResult, pruneJob } from './prune.ts';

export interface BackupResult {
  /** PARTIAL: some destinations have no copy (see `failures`); the caller must exit non-zero. */
  readonly status: 'SUCCEEDED' | 'PARTIAL';
  readonly job: string;
  readonly runId: string;
  readonly id: string;
  readonly manifest: Manifest;
  /** The destinations that hold the complete backup (data object and manifest), config order. */
  readonly destinations: string[];
  /** The destinations that do not, each with a one-line cause naming it. */
  readonly failures: DestinationFailure[];
  readonly durationMs: number;
  /** Retention results; empty after a PARTIAL run (retention does not run then). */
  readonly prune: PruneResult[];
}

export interface DestinationFailure {
  readonly destination: string;
  /** `destination <name>: <cause>`, one line, redacted. */
  readonly error: string;
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
    await failAbandonedRuns(ctx, runId, step);
    await history.save(item);
    let result: Omit<BackupResult, 'prune' | 'status'>;
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
    const status = result.failures.length > 0 ? 'PARTIAL' : 'SUCCEEDED';
    const error = result.failures.map((f) => f.error).join('; ');
    const outcomes: DestinationOutcome[] = ctx.destinations.map((d) => {
      const failure = result.failures.find((f) => f.destination === d.name);
      return failure
        ? { name: d.name, status: 'failed', error: failure.error }
        : { name: d.name, status: 'ok' };
    });
    const finishedItem: HistoryItem = {
      ...item,
      status,
      finishedAt: m.finishedAt,
      durationMs: result.durationMs,
      key: m.object.key,
      bytes: m.object.bytes,
      rawBytes: m.rawBytes,
      sha256: m.object.sha256,
      ...(status === 'PARTIAL' ? { error } : {}),
      details: { destinations: outcomes, tables: Object.keys(m.stats.tables).length },
    };
    await history.save(finishedItem);
    const sent = await notifyOutcome(history, ctx.notifier, {
      job: job.name,
      kind: 'backup',
      runId,
      status,
      ...(status === 'PARTIAL' ? { error } : {}),
      durationMs: result.durationMs,
      key: m.object.key,
      bytes: m.object.bytes,
      investigate: ctx.investigate(runId),
    });
    if (sent.error)
      step(
        `could not send the ${status === 'PARTIAL' ? 'PARTIAL' : 'recovery'} alert: ${redact(messageOf(sent.error))}`,
      );
    if (status === 'PARTIAL') {
      // A missing copy is a failed run: retention must not thin out what the other copies protect.
      step(`retention not applied: ${error}`);
      return { ...result, status, prune: [] };
    }

    if (ctx.pruneAfterBackup === false) return { ...result, status, prune: [] };
    step('applying retention');
    const prune = await pruneJob(ctx, { dryRun: false, lastRunFailed: false, current: result.id });
    if (prune.some((p) => p.deleted.length > 0)) {
      await history.save({ ...finishedItem, pruned: prune.flatMap((p) => p.deleted) });
    }
    return { ...result, status, prune };
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
): Promise<Omit<BackupResult, 'prune' | 'status'>> {
  const now = ctx.now ?? (() => new Date());
  const { job, engine } = ctx;
  const format = job.dumpFormat;
  // A store that is down, full or refuses us fails here, before the dump tool starts.
  const refused = await checkDestinations(ctx, step);
  if (refused.length === ctx.destinations.length) throw everyDestinationFailed(refused);
  const destinations = ctx.destinations.filter((d) => !refused.some((r) => r.dest === d));
  step(`inspecting ${redact(ctx.source.url)}`);
  const server = await engine.inspect(ctx.source, ctx.signal ? { signal: ctx.signal } : {});
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
    `dumping ${server.database} (${engine.name} ${server.serverVersion}, ${server.tool.name} ${server.tool.version}) to ${destinations.map((d) => d.description).join(', ')}`,
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
  // One check of the raw dump: in the relay to zstd when the engine pipes, else a stage below.
  const complete = completenessTap(engine.dumpChecker({ format }), server.tool.name);
  const session = engine.dump(ctx.source, {
    format,
    lockWaitSeconds: job.lockWaitTimeoutSeconds ?? LOCK_WAIT_TIMEOUT_SECONDS,
    ...(job.compression === 'zstd'
      ? {
          through: {
            ...zstdThrough(job.compressionLevel, (bytes) => (pipedRawBytes = bytes)),
            tap: complete,
          },
        }
      : {}),
  });
  const rawBytes = () => (session.piped ? pipedRawBytes : raw.bytes);
  session.stats.catch(() => {}); // awaited below; a dump failure is the better cause
  /** Destinations whose write failed on its own (not because the run failed), by index. */
  const lostDuringStream = new Map<number, unknown>();
  const { sink, writes } = fanOut(destinations, keys.dataKey, controller.signal, {
    beforeEnd: () =>
      rawBytes() === 0
        ? new ToolError(`${engine.name} dump produced no output; nothing was stored`)
        : undefined,
    ...(expectedBytes ? { expectedBytes } : {}),
    onDestinationFailure: (i, err) => {
      if (controller.signal.aborted) return; // the run failed first: not this destination's fault
      lostDuringStream.set(i, err);
      if (lostDuringStream.size < destinations.length)
        step(`${destinationCause(destinations[i]!.name, err)}; the other destinations go on`);
    },
  });
  const encrypt = ctx.encryption
    ? encryptStage(
        ctx.encryption.type === 'openpgp'
          ? { recipients: ctx.encryption.recipients }
          : { passphrase: ctx.encryption.passphrase },
      )
    : undefined;
  const stages = [
    session.output,
    ...(session.piped
      ? []
      : [completenessStage(complete), raw, asDuplex(compressStage(job.compression, job.compressionLevel))]),
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
  const writeResults = await Promise.allSettled(writes); // already settled: typed per destination
  const copies = destinations.map((dest, i) => ({ dest, write: writeResults[i]! }));
  // Destinations that completed the data object and have not lost it since.
  let holding = copies.filter((c) => c.write.status === 'fulfilled').map((c) => c.dest);
  const discardAll = () => Promise.all(holding.map((d) => d.remove(keys.dataKey).catch(() => {})));
  if (settled[0]!.status === 'rejected' || firstFailure) {
    // The dump, compression or encryption failed, or the run was stopped: no copy is complete,
    // even where a destination finished its object.
    await discardAll();
    if (lostDuringStream.size === destinations.length) {
      throw everyDestinationFailed([
        ...refused,
        ...destinations.map((dest, i) => ({ dest, err: lostDuringStream.get(i) })),
      ]);
    }
    throw stoppedBy(ctx.signal, firstFailure) ?? rootCause(firstFailure, settled);
  }
  const failures: { dest: Destination; err: unknown }[] = [...refused];
  for (const { dest, write } of copies) {
    if (write.status === 'rejected') failures.push({ dest, err: write.reason });
    else if (write.value.bytes !== stored.bytes) {
      // A destination that took fewer bytes than the stream carried must not pass for a copy.
      failures.push({
        dest,
        err: new StorageError(`stored ${write.value.bytes} of the ${stored.bytes} bytes written`),
      });
      holding = holding.filter((d) => d !== dest);
      await dest.remove(keys.dataKey).catch(() => {});
    }
  }
  if (holding.length === 0) throw everyDestinationFailed(failures);
  let stats: Awaited<typeof session.stats>;
  try {
    stats = await session.stats;
  } catch (err) {
    // Without row counts there is no manifest, and a data object without one must not stay.
    await discardAll();
    throw stoppedBy(ctx.signal, err) ?? err;
  }
  const finished = now();
  // The checker found the dump complete (or the stream would have failed): what it defines.
  const verdict = complete.verdict();
  const objects = verdict?.complete ? verdict.objects : undefined;
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
    stats: { tables: stats, ...(objects ? { objects } : {}) },
  };
  step(`writing manifest ${keys.manifestKey}`);
  const body = `${JSON.stringify(manifest, null, 2)}\n`;
  const written = await Promise.allSettled(
    holding.map((d) => d.put(keys.manifestKey, body, { contentType: 'application/json' })),
  );
  const lost = holding.filter((_, i) => written[i]!.status === 'rejected');
  for (const [i, dest] of holding.entries()) {
    const w = written[i]!;
    if (w.status === 'rejected') failures.push({ dest, err: w.reason });
  }
  // A data object whose manifest could not be written is not a backup: remove both halves.
  await Promise.all(
    lost.flatMap((d) => [d.remove(keys.manifestKey).catch(() => {}), d.remove(keys.dataKey).catch(() => {})]),
  );
  holding = holding.filter((d) => !lost.includes(d));
  if (holding.length === 0) throw everyDestinationFailed(failures);
  return {
    job: job.name,
    runId,
    id: keys.id,
    manifest,
    destinations: holding.map((d) => d.name),
    failures: ctx.destinations.flatMap((d) => {
      const f = failures.find((x) => x.dest === d);
      return f ? [{ destination: d.name, error: destinationCause(d.name, f.err) }] : [];
    }),
    durationMs: finished.getTime() - started.getTime(),
  };
}

/**
 * Asks every destination to prove it can take the backup (Destination.checkWritable: a cheap
 * probe that leaves nothing behind), all at once. Returns the ones that cannot, with why; the
 * others go on without them.
 */
async function checkDestinations(
  ctx: JobContext,
  step: (message: string) => void,
): Promise<{ dest: Destination; err: unknown }[]> {
  step(`checking ${ctx.destinations.map((d) => d.name).join(', ')}`);
  const prefix = jobPrefix(ctx.prefix, ctx.job.name);
  const checked = await Promise.allSettled(ctx.destinations.map((d) => d.checkWritable(prefix)));
  const refused = ctx.destinations.flatMap((dest, i) => {
    const result = checked[i]!;
    return result.status === 'rejected' ? [{ dest, err: result.reason as unknown }] : [];
  });
  if (refused.length < ctx.destinations.length) {
    for (const r of refused) step(`${destinationCause(r.dest.name, r.err)}; the other destinations go on`);
  }
  return refused;
}

/**
 * One line naming the destination and the cause: `destination offsite: <cause>`. A cause that
 * already names its destination that way is kept as it is.
 */
export function destinationCause(name: string, err: unknown): string {
  const cause = redact(messageOf(err)).split('\n')[0]!;
  const prefix = `destination ${name}:`;
  return cause.startsWith(prefix) ? cause : `${prefix} ${cause}`;
}

/** The error of a run no destination could store: the destination's own error (naming it) when there is one. */
function everyDestinationFailed(failures: readonly { dest: Destination; err: unknown }[]): unknown {
  if (failures.length === 1) return nameDestinationError(failures[0]!.dest.name, 'write', failures[0]!.err);
  return new StorageError(failures.map((f) => destinationCause(f.dest.name, f.err)).join('; '), {
    cause: failures[0]?.err,
  });
}

/**
 * The run's own stop reason when it was stopped (a signal, its timeout) and `failure` is a tool
 * killed by a signal: a signal sent to the whole process group (`timeout`, `kill -TERM -<pgid>`)
 * reaches the tools in the same instant, and their death may be seen before the run's handler
 * runs. Undefined otherwise: a tool that failed on its own before the stop is the cause.
 */
function stoppedBy(signal: AbortSignal | undefined, failure: unknown): unknown {
  return signal?.aborted && killedBy(failure) !== undefined ? signal.reason : undefined;
}

/** The error that explains a failed run: the first real failure, not the aborts it caused. */
function rootCause(first: unknown, settled: PromiseSettledResult<unknown>[]): unknown {
  const isAbort = (e: unknown) =>
    e instanceof Error && (e.name === 'AbortError' || /aborted/i.test(e.message));
  if (first && !isAbort(first)) return first;
  for (const s of settled) if (s.status === 'rejected' && !isAbort(s.reason)) return s.reason;
  return first ?? new Error('backup failed');
}
