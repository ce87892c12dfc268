/** `restore --from`: restoring a file that has no manifest (e.g. made by hand with pg_dump | gpg). */
import path from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LoadedConfig } from '../../../core/config/load.ts';
import type { Destination as DestinationConfig } from '../../../core/config/schema.ts';
import { DUMP_FORMATS } from '../../../core/contracts/dump-formats.ts';
import type { Connection } from '../../../core/engine.ts';
import { messageOf, UsageError, UserError } from '../../../core/errors.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { newRunId } from '../../../core/manifest.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { type DecryptKeys, openForeign } from '../../../core/pipeline/decode.ts';
import { finishRun, pipelineFinishDeps } from '../../../core/pipeline/finish-run.ts';
import { redact } from '../../../core/redact.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { Meter } from '../../../core/streams/meter.ts';
import { peek } from '../../../core/streams/peek.ts';
import type { Flags } from '../args.ts';
import { formatBytes, type Io, type Output } from '../output.ts';
import { openDestination } from '../resolve.ts';

/**
 * Opens a file path or s3://bucket/key as a one-object destination. A bucket the config knows
 * is reached with that destination's endpoint and credentials (its prefix ignored: the URL
 * holds the full key).
 */
async function foreignSource(
  loaded: LoadedConfig,
  location: string,
  io: Io,
): Promise<{ dest: Destination; key: string }> {
  if (location.startsWith('s3://')) {
    const rest = location.slice(5);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw new UsageError(`--from: expected s3://bucket/key, got ${location}`);
    const bucket = rest.slice(0, slash);
    const key = rest.slice(slash + 1);
    const known = Object.entries(loaded.config.destinations).find(
      ([, d]) => d.type === 's3' && d.bucket === bucket,
    );
    const cfg: DestinationConfig = known
      ? { ...(known[1] as Extract<DestinationConfig, { type: 's3' }>), prefix: '' }
      : { type: 's3', bucket, prefix: '', partSizeMiB: 8, queueSize: 2 };
    return { dest: await openDestination(loaded, known?.[0] ?? 'from', cfg, { env: io.env }), key };
  }
  const file = path.resolve(location.replace(/^file:\/\//, ''));
  return {
    dest: createDestination('from', { type: 'file', path: path.dirname(file) }, { baseDir: '/' }),
    key: path.basename(file),
  };
}

function discard(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/**
 * Restores a file that has no manifest (e.g. `pg_dump -Fc | gzip | gpg -e` made by hand):
 * the layers are recognised by their magic bytes; a first pass proves it decodes before the
 * target is touched.
 */
export async function restoreForeign(
  loaded: LoadedConfig,
  ctx: JobContext,
  location: string,
  targetConn: Connection | undefined,
  keys: DecryptKeys | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const restored = await recordedRestore(ctx, location, async () => {
    const { dest, key } = await foreignSource(loaded, location, io);
    const info = await dest.stat(key);
    const step = (m: string) => ctx.progress?.({ type: 'step', message: m });
    if (!flags['skip-verify']) {
      step(`verifying ${location} decodes completely`);
      const { raw, layers } = await openForeign(
        await dest.read(key, info.etag ? { ifMatch: info.etag } : {}),
        keys,
      );
      const meter = new Meter();
      await pipeline(raw, meter, discard(), { signal: ctx.signal });
      if (meter.bytes === 0)
        throw new UserError(`${location} decodes to nothing; it is not a ${ctx.engine.name} dump`);
      step(`layers: ${layers.join(' -> ') || 'none'}; ${formatBytes(meter.bytes)} of dump`);
    }
    let target = targetConn;
    if (target) {
      if (!flags.drop && !(await ctx.engine.isEmpty(target))) {
        throw new UserError(`the target ${redact(target.url)} already has data: pass --drop to replace it`, {
          exitCode: 2,
        });
      }
    } else {
      target = await ctx.engine.createScratch(
        ctx.source,
        `${ctx.job.name}_restore_foreign_${Date.now().toString(36)}`.replace(/-/g, '_'),
      );
    }
    const { raw } = await openForeign(await dest.read(key, info.etag ? { ifMatch: info.etag } : {}), keys);
    const feed = new PassThrough({ highWaterMark: 1 << 20 });
    const dumpFormat = ctx.engine.dumpFormat({ format: ctx.job.dumpFormat });
    const restoring = ctx.engine.restore(target, feed, {
      drop: Boolean(flags.drop),
      dumpFormat: await sniffFormat(ctx, raw, dumpFormat),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    restoring.catch(() => {});
    // An abort (signal, --timeout) destroys the feed; the restore tool, its input gone, is stopped.
    await Promise.all([pipeline(raw, feed, { signal: ctx.signal }), restoring]);
    const stats = await ctx.engine.stats(target);
    const rows = Object.values(stats).reduce((a, b) => a + b, 0);
    return { stats, rows, target: redact(target.url) };
  });
  if (out.isJson)
    out.result({ status: 'SUCCEEDED', from: location, target: restored.target, tables: restored.stats });
  else
    out.line(
      `SUCCEEDED restored ${location} into ${restored.target}: ${Object.keys(restored.stats).length} tables, ${restored.rows} rows (no manifest to compare with)`,
    );
  return 0;
}

/**
 * Runs a restore that has no manifest as a recorded run: RUNNING first, then SUCCEEDED, or
 * FAILED with its one-line cause and one alert — the same record every refusal and failure of
 * a manifest restore gets (runRestore).
 */
export async function recordedRestore<T extends { target: string }>(
  ctx: JobContext,
  source: string,
  body: () => Promise<T>,
): Promise<T> {
  const started = new Date();
  const runId = newRunId(started);
  const item: HistoryItem = {
    job: ctx.job.name,
    runId,
    kind: 'restore',
    status: 'RUNNING',
    trigger: ctx.trigger,
    startedAt: started.toISOString(),
    key: redact(source),
  };
  await ctx.history.save(item);
  try {
    const result = await body();
    const finished = new Date();
    const durationMs = finished.getTime() - started.getTime();
    await finishRun(
      pipelineFinishDeps(ctx),
      {
        ...item,
        status: 'SUCCEEDED',
        finishedAt: finished.toISOString(),
        durationMs,
        details: { from: redact(source), target: result.target },
      },
      { investigate: ctx.investigate(runId) },
    );
    return result;
  } catch (thrown) {
    // Aborted: the signal's reason (which signal, which timeout) is the cause, not the stages' AbortError.
    const err: unknown = ctx.signal?.aborted ? ctx.signal.reason : thrown;
    const finished = new Date();
    const durationMs = finished.getTime() - started.getTime();
    const error = redact(messageOf(err)).split('\n')[0]!;
    await finishRun(
      pipelineFinishDeps(ctx),
      { ...item, status: 'FAILED', finishedAt: finished.toISOString(), durationMs, error },
      { investigate: ctx.investigate(runId) },
    );
    throw err;
  }
}

/** PostgreSQL dumps may be custom or plain; a foreign file says which by its first bytes. */
async function sniffFormat(ctx: JobContext, raw: Readable, fallback: string): Promise<string> {
  if (ctx.engine.name !== 'postgres') return fallback;
  const head = await peek(raw, 5);
  return head.toString('latin1') === 'PGDMP' ? DUMP_FORMATS.pgCustom : DUMP_FORMATS.pgPlain;
}
