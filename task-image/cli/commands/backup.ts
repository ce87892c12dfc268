import { messageOf, SourceAccessError } from '../../../core/errors.ts';
import { jobPrefix } from '../../../core/manifest.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { DEFAULT_LEVEL, probeZstd } from '../../../core/pipeline/compress.ts';
import { freeSpaceWarnings, previousBackupBytes } from '../../../core/pipeline/free-space.ts';
import { redact } from '../../../core/redact.ts';
import type { Flags } from '../args.ts';
import { withInterrupts } from '../interrupts.ts';
import { formatBytes, formatDuration, type Io, type Output } from '../output.ts';
import { openJob } from '../resolve.ts';
import { runTimeoutOf, runTimer } from '../run-timeout.ts';

/** `dumpvault check <job>`: everything a backup needs, tested without writing a backup. */
export async function checkCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { ctx } = await openJob(job, flags, io);
  const results: Array<{ check: string; ok: boolean; detail: string; problems?: string[] }> = [];
  const attempt = async (check: string, fn: () => Promise<string>) => {
    try {
      results.push({ check, ok: true, detail: await fn() });
    } catch (err) {
      const problems = err instanceof SourceAccessError ? err.problems.map(redact) : undefined;
      results.push({ check, ok: false, detail: redact(messageOf(err)), ...(problems ? { problems } : {}) });
    }
  };
  await attempt('source', async () => {
    const info = await ctx.engine.inspect(ctx.source);
    return `${ctx.engine.name} ${info.serverVersion}, database ${info.database}; ${info.tool.name} ${info.tool.version} is compatible`;
  });
  for (const dest of ctx.destinations) {
    await attempt(`destination ${dest.name}`, async () => {
      await dest.checkWritable(jobPrefix(ctx.prefix, ctx.job.name));
      return `${dest.description} is writable`;
    });
  }
  // A warning, not a failure: the next backup may be smaller than the last.
  const warnings = await freeSpaceWarnings(
    ctx.destinations,
    await previousBackupBytes(ctx.history, ctx.job.name),
  ).catch((err: unknown) => [`free space unknown: ${redact(messageOf(err))}`]);
  if (ctx.job.compression === 'zstd') {
    await attempt('compression', async () => {
      const level = ctx.job.compressionLevel ?? DEFAULT_LEVEL.zstd;
      return `zstd ${await probeZstd(level)} compresses at level ${level} and reports the raw byte count`;
    });
  }
  await attempt('encryption', async () => {
    if (!ctx.encryption) return 'none (warning: backups are not encrypted by dumpvault)';
    if (ctx.encryption.type === 'passphrase') return 'passphrase is set';
    return `public keys readable: ${ctx.encryption.recipients.fingerprints.join(', ')}`;
  });
  if (out.isJson)
    out.result({ job: ctx.job.name, ok: results.every((r) => r.ok), checks: results, warnings });
  else {
    for (const warning of warnings) out.warn(warning);
    for (const r of results) {
      // One line per kind of object the source's user cannot read.
      const lines = r.problems ?? [r.detail];
      out.line(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.check.padEnd(22)} ${lines[0]}`);
      for (const more of lines.slice(1)) out.line(`${' '.repeat(29)}${more}`);
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

/** `dumpvault backup <job>`: one run; exit 0 only when the backup is complete. */
export async function backupCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { progress: out.progress, metaBackup: true });
  if (!ctx.encryption)
    out.warn(`job ${ctx.job.name} is not encrypted: anyone who can read the destination can read the dump`);
  if (!out.isJson) out.line(`backup ${ctx.job.name}`);
  // Ctrl-C, SIGTERM or the run's timeout stop the run the way any failure does: upload
  // aborted, FAILED recorded.
  const timer = runTimer(runTimeoutOf(flags.timeout, ctx.job));
  let result: Awaited<ReturnType<typeof runBackup>>;
  try {
    result = await withInterrupts(io.interrupts, { ...ctx, signal: timer.signal }, runBackup);
  } finally {
    timer.dispose();
  }
  const m = result.manifest;
  const deleted = result.prune.flatMap((p) => p.deleted);
  const pruneErrors = result.prune.flatMap((p) => p.errors);
  const pruneProblems = result.prune.flatMap((p) =>
    p.problems.map((x) => ({ destination: p.destination, ...x })),
  );
  const partial = result.status === 'PARTIAL';
  if (out.isJson) {
    out.result({
      status: result.status,
      job: m.job,
      runId: m.runId,
      id: result.id,
      key: m.object.key,
      bytes: m.object.bytes,
      rawBytes: m.rawBytes,
      sha256: m.object.sha256,
      durationMs: result.durationMs,
      destinations: result.destinations,
      ...(partial ? { failures: result.failures } : {}),
      tables: m.stats.tables,
      pruned: deleted,
      pruneErrors,
      pruneProblems,
      ...(result.meta ? { metaBackup: result.meta } : {}),
    });
  } else {
    out.line(
      `${result.status} ${result.id}: ${formatBytes(m.rawBytes)} dumped, ${formatBytes(m.object.bytes)} stored in ${formatDuration(result.durationMs)} -> ${result.destinations.join(', ')}`,
    );
    for (const f of result.failures) out.line(`  FAILED  ${f.error}`);
    out.line(`  object  ${m.object.key}`);
    out.line(`  sha256  ${m.object.sha256}`);
    out.line(
      `  tables  ${Object.keys(m.stats.tables).length} (${Object.values(m.stats.tables).reduce((a, b) => a + b, 0)} rows)`,
    );
    out.line(
      `  pruned  ${partial ? 'nothing: retention does not run after a PARTIAL backup' : deleted.length ? deleted.join(', ') : 'nothing'}`,
    );
    if (result.meta?.status === 'ok') out.line(`  config  ${result.meta.key} (meta-backup)`);
    for (const e of pruneErrors) out.warn(`retention could not delete ${e}`);
    for (const p of pruneProblems)
      out.warn(`retention left alone ${p.key} in ${p.destination}: ${p.problem}`);
  }
  if (result.meta?.status === 'failed')
    out.warn(`${result.meta.error}; the backup itself is complete (docs/recovery.md)`);
  if (!partial && ctx.job.standby) {
    // The backup stands whatever the standby does; a failed standby run still fails the command.
    const { followWithStandby, justWritten, printStandby } = await import('./standby.ts');
    try {
      const standby = await withInterrupts(io.interrupts, ctx, (run) =>
        followWithStandby(loaded, run, io, justWritten(run, m, result.destinations)),
      );
      if (!out.isJson) printStandby(out, standby);
    } catch (err) {
      io.stderr.write(
        `error: standby of ${ctx.job.name} FAILED (the backup SUCCEEDED): ${redact(messageOf(err))}\n`,
      );
      return 1;
    }
  }
  if (partial) {
    // stderr too, so cron mail and scripts that only keep errors see which copy is missing.
    for (const f of result.failures) io.stderr.write(`error: ${redact(f.error)}\n`);
    return 1;
  }
  return pruneErrors.length ? 1 : 0;
}
