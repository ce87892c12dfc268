/**
 * The dump of one backup run streamed to every destination (DESIGN.md §4): destinations
 * checked first, one dump fanned out to all, each copy completed only when the dump was whole,
 * then the manifests; a copy that lost its data object or its manifest is removed. History,
 * alerts and retention are runBackup's (core/pipeline/backup.ts).
 */
import { pipeline } from 'node:stream/promises';
import { LOCK_WAIT_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';
import { encryptStage } from '../crypto/openpgp.ts';
import { killedBy, messageOf, StorageError, ToolError } from '../errors.ts';
import { FORMAT_VERSION, jobPrefix, type Manifest, objectKeys } from '../manifest.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import { nameDestinationError } from '../storage/named.ts';
import { Meter } from '../streams/meter.ts';
import { asDuplex } from '../streams/stages.ts';
import { completenessStage, completenessTap } from './complete.ts';
import { compressStage, zstdThrough } from './compress.ts';
import type { JobContext } from './context.ts';
import { fanOut } from './fanout.ts';
import { freeSpaceWarnings, previousBackupBytes } from './free-space.ts';
import { dumpGlobals, type GlobalsEntry, storeGlobals } from './globals.ts';

/** What a run stored: the copies that are complete and the destinations that have none. */
export interface StoredBackup {
  readonly job: string;
  readonly runId: string;
  readonly id: string;
  readonly manifest: Manifest;
  /** The destinations that hold the complete backup (data object and manifest), config order. */
  readonly destinations: string[];
  /** The destinations that do not, each with a one-line cause naming it. */
  readonly failures: DestinationFailure[];
  readonly durationMs: number;
}

export interface DestinationFailure {
  readonly destination: string;
  /** `destination <name>: <cause>`, one line, redacted. */
  readonly error: string;
}

/**
 * Dumps the job's database once and streams it to every destination that passed its check:
 * data objects, then manifests. Resolves when at least one destination holds a complete copy
 * (the others are named in `failures`); rejects, leaving nothing behind, when none does or the
 * dump itself failed. Records no history and sends no alert: runBackup does.
 */
export async function dumpAndStore(
  ctx: JobContext,
  runId: string,
  started: Date,
  step: (message: string) => void,
): Promise<StoredBackup> {
  const now = ctx.now ?? (() => new Date());
  const { job, engine } = ctx;
  const format = job.dumpFormat;
  // A store that is down, full or refuses us fails here, before the dump tool starts.
  const refused = await checkDestinations(ctx, step);
  if (refused.length === ctx.destinations.length) throw everyDestinationFailed(refused);
  const destinations = ctx.destinations.filter((d) => !refused.some((r) => r.dest === d));
  // The previous backup's size sizes multipart parts, and warns of a file destination short of room.
  const expectedBytes = await previousBackupBytes(ctx.history, ctx.job.name);
  for (const warning of await freeSpaceWarnings(destinations, expectedBytes)) step(`warning: ${warning}`);
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
  // Before the dump: a globals dump that fails stores nothing at all.
  const globals = await dumpGlobals(ctx);
  step(
    `dumping ${server.database} (${engine.name} ${server.serverVersion}, ${server.tool.name} ${server.tool.version}) to ${destinations.map((d) => d.description).join(', ')}`,
  );

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
  let globalsEntry: GlobalsEntry | undefined;
  if (globals) {
    step(`writing globals ${keys.globalsKey}`);
    globalsEntry = await storeGlobals(holding, keys.globalsKey, globals).catch(async (err: unknown) => {
      await discardAll();
      throw err;
    });
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
    ...(globalsEntry ? { globals: globalsEntry } : {}),
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
    lost.flatMap((d) => [
      d.remove(keys.manifestKey).catch(() => {}),
      d.remove(keys.dataKey).catch(() => {}),
      ...(globalsEntry ? [d.remove(keys.globalsKey).catch(() => {})] : []),
    ]),
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
