/** `restore`, `drill`, `decrypt`: getting data back. */
import { createWriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkSourceUrl, type LoadedConfig, sqlitePath, sqliteUrl } from '../../../core/config/load.ts';
import type { Destination as DestinationConfig } from '../../../core/config/schema.ts';
import { decryptStage, readPrivateKey } from '../../../core/crypto/openpgp.ts';
import type { Connection } from '../../../core/engine.ts';
import { messageOf, UsageError, UserError } from '../../../core/errors.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { newRunId } from '../../../core/manifest.ts';
import { notifyOutcome } from '../../../core/notify/alerts.ts';
import { manifestId, parseBackupSelector } from '../../../core/pipeline/catalog.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { type DecryptKeys, openForeign } from '../../../core/pipeline/decode.ts';
import { type RestoreResult, type RestoreTarget, runRestore } from '../../../core/pipeline/restore.ts';
import { redact, registerSecret } from '../../../core/redact.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { Meter } from '../../../core/streams/meter.ts';
import { asDuplex } from '../../../core/streams/stages.ts';
import type { Flags } from '../args.ts';
import { withInterrupts } from '../interrupts.ts';
import { formatBytes, formatDuration, type Io, type Output } from '../output.ts';
import { openDestination, openJob, resolveDecryptKeys } from '../resolve.ts';
import { findCopy, readableDestinations } from './catalog.ts';

/** Parses `--to`: a URL of the job's engine; a password in it is lifted out and kept secret. */
function targetConnection(ctx: JobContext, url: string, io: Io): Connection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `--to: "${redact(url)}" is not a URL; give a ${ctx.job.engine} URL like the job's source`,
    );
  }
  let password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  if (password) {
    registerSecret(password);
    parsed.password = '';
  }
  const clean = parsed.toString();
  const problem = checkSourceUrl(ctx.job.engine, clean);
  if (problem) throw new UsageError(`--to: ${problem}`);
  password ??= io.env.DUMPVAULT_TARGET_PASSWORD ?? ctx.source.password;
  registerSecret(password);
  const finalUrl = ctx.job.engine === 'sqlite' ? sqliteUrl(path.resolve(sqlitePath(clean))) : clean;
  return { url: finalUrl, ...(password ? { password } : {}) };
}

async function confirmDrop(ctx: JobContext, target: Connection, flags: Flags, io: Io): Promise<void> {
  if (!flags.drop || flags.yes) return;
  if (!io.prompt) {
    throw new UsageError(
      `--drop replaces the data in ${redact(target.url)}: add --yes to confirm (no terminal to ask on)`,
    );
  }
  const answer = await io.prompt(
    `This replaces everything in ${redact(target.url)} with the backup: objects the backup does not have are dropped too. Type the job name (${ctx.job.name}) to continue: `,
  );
  if (answer.trim() !== ctx.job.name) throw new UsageError('not confirmed; nothing was changed');
}

function printRestore(out: Output, result: RestoreResult, from: Destination): void {
  if (out.isJson) {
    out.result({ status: 'SUCCEEDED', ...result, destination: from.name });
    return;
  }
  out.line(
    `SUCCEEDED restored ${result.id} from destination ${from.name} into ${result.target} in ${formatDuration(result.durationMs)}`,
  );
  out.line(
    `  verified: ${result.comparison.tablesCompared} tables, ${result.comparison.rowsCompared} rows match the manifest${result.dropped ? '; scratch database dropped' : ''}`,
  );
}

/** `dumpvault restore <job> [<id>|latest|<time>] [--to <url>] [--drop] [--yes] [--from <file|s3-url>]` */
export async function restoreCommand(
  job: string | undefined,
  selector: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, progress: out.progress });
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  const targetConn = flags.to ? targetConnection(ctx, flags.to, io) : undefined;
  if (flags.drop && !targetConn)
    throw new UsageError('--drop only applies with --to <url>; scratch restores never drop');
  if (targetConn) await confirmDrop(ctx, targetConn, flags, io);
  if (flags.from) {
    if (flags.destination !== undefined)
      throw new UsageError('--from reads the file it names; leave out --destination');
    return restoreForeign(loaded, ctx, flags.from, targetConn, keys, flags, out, io);
  }
  // Command-line mistakes are refused before the run starts (and are not recorded as runs).
  readableDestinations(ctx, flags);
  parseBackupSelector(selector ?? 'latest');
  const target: RestoreTarget = targetConn
    ? { kind: 'connection', connection: targetConn, drop: Boolean(flags.drop) }
    : { kind: 'scratch' };
  if (!out.isJson) out.line(`restore ${ctx.job.name} ${selector ?? 'latest'}`);
  // The backup is found inside the run: one that is missing or ambiguous is recorded FAILED
  // like every other refusal.
  let from: Destination | undefined;
  const resolve = async () => {
    const copy = await findCopy(ctx, flags, selector ?? 'latest', out);
    from = copy.from;
    if (!out.isJson)
      out.line(`  selected backup ${manifestId(copy.manifest)} (started ${copy.manifest.startedAt})`);
    return copy;
  };
  const result = await withInterrupts(io.interrupts, ctx, (run) =>
    runRestore(run, { resolve, target, keys, skipVerify: Boolean(flags['skip-verify']) }),
  );
  printRestore(out, result, from!);
  return 0;
}

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
async function restoreForeign(
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
      await pipeline(raw, meter, discard());
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
    });
    restoring.catch(() => {});
    await Promise.all([pipeline(raw, feed), restoring]);
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
async function recordedRestore<T extends { target: string }>(
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
    await ctx.history.save({
      ...item,
      status: 'SUCCEEDED',
      finishedAt: finished.toISOString(),
      durationMs,
      details: { from: redact(source), target: result.target },
    });
    await notifyOutcome(ctx.history, ctx.notifier, {
      job: ctx.job.name,
      kind: 'restore',
      runId,
      status: 'SUCCEEDED',
      durationMs,
      investigate: ctx.investigate(runId),
    });
    return result;
  } catch (err) {
    const finished = new Date();
    const durationMs = finished.getTime() - started.getTime();
    const error = redact(messageOf(err)).split('\n')[0]!;
    await ctx.history.save({
      ...item,
      status: 'FAILED',
      finishedAt: finished.toISOString(),
      durationMs,
      error,
    });
    await notifyOutcome(ctx.history, ctx.notifier, {
      job: ctx.job.name,
      kind: 'restore',
      runId,
      status: 'FAILED',
      error,
      durationMs,
      investigate: ctx.investigate(runId),
    });
    throw err;
  }
}

/** PostgreSQL dumps may be custom or plain; a foreign file says which by its first bytes. */
async function sniffFormat(
  ctx: JobContext,
  raw: import('node:stream').Readable,
  fallback: string,
): Promise<string> {
  if (ctx.engine.name !== 'postgres') return fallback;
  const { peek } = await import('../../../core/streams/peek.ts');
  const head = await peek(raw, 5);
  return head.toString('latin1') === 'PGDMP' ? 'pg_dump-custom' : 'pg_dump-plain';
}

/** `dumpvault drill <job>`: restore the latest backup into a scratch database, compare, drop it. */
export async function drillCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, progress: out.progress });
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  readableDestinations(ctx, flags);
  if (!out.isJson) out.line(`drill ${ctx.job.name}`);
  let from: Destination | undefined;
  const resolve = async () => {
    const copy = await findCopy(ctx, flags, 'latest', out);
    from = copy.from;
    return copy;
  };
  const result = await withInterrupts(io.interrupts, ctx, (run) =>
    runRestore(run, { resolve, target: { kind: 'scratch' }, keys, kind: 'drill' }),
  );
  printRestore(out, result, from!);
  return 0;
}

/** `dumpvault decrypt <file> --key <private.asc> [-o <out>]` — like `gpg --decrypt`. */
export async function decryptCommand(
  file: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  if (!file)
    throw new UsageError('decrypt needs a file: dumpvault decrypt <file> --key <private.asc> [-o <out>]');
  const keyFile = flags.key ?? io.env.DUMPVAULT_PRIVATE_KEY;
  const passphrase = io.env.DUMPVAULT_PASSPHRASE;
  registerSecret(passphrase);
  if (!keyFile && !passphrase) {
    throw new UsageError(
      'decrypt needs --key <private.asc> (or DUMPVAULT_PASSPHRASE for passphrase-encrypted files)',
    );
  }
  const keyPassphrase = io.env.DUMPVAULT_KEY_PASSPHRASE;
  registerSecret(keyPassphrase);
  const privateKeys = keyFile ? [await readPrivateKey(path.resolve(keyFile), keyPassphrase)] : undefined;
  let input: import('node:fs/promises').FileHandle;
  try {
    input = await open(path.resolve(file));
  } catch {
    throw new UsageError(`cannot read ${file}: check the path`);
  }
  const stage = asDuplex(
    decryptStage({ ...(privateKeys ? { privateKeys } : {}), ...(passphrase ? { passphrase } : {}) }),
  );
  if (!flags.out) {
    await pipeline(input.createReadStream(), stage, io.stdout, { end: false });
    return 0;
  }
  const outFile = path.resolve(flags.out);
  try {
    await pipeline(input.createReadStream(), stage, createWriteStream(outFile, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    // A partial plaintext is worse than none: it looks complete.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(outFile).catch(() => {});
    else throw new UsageError(`${flags.out} already exists; refusing to overwrite it`);
    throw err;
  }
  out.line(`decrypted ${file} -> ${flags.out}`);
  return 0;
}
