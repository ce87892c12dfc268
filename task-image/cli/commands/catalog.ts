import { historyToCsv } from '../../../core/history/local.ts';
import { listBackups, manifestId, resolveBackup } from '../../../core/pipeline/catalog.ts';
import { verifyBackup } from '../../../core/pipeline/verify.ts';
import { FUTURE_TOLERANCE_MS } from '../../../core/retention/plan.ts';
import { type Flags, limitFlag } from '../args.ts';
import { formatBytes, formatDuration, historyLines, type Io, type Output } from '../output.ts';
import { openJob, resolveDecryptKeys } from '../resolve.ts';

/** `dumpvault list <job>` — from the manifests, not from history. */
export async function listCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { ctx } = await openJob(job, flags, io, { forReading: true, offline: true });
  const dest = ctx.destinations[0]!;
  const { manifests, problems } = await listBackups(dest, ctx.prefix, ctx.job.name);
  for (const p of problems) out.warn(p);
  const believable = Date.now() + FUTURE_TOLERANCE_MS;
  for (const m of manifests) {
    if (Date.parse(m.startedAt) > believable) {
      out.warn(
        `${manifestId(m)} is stamped ${m.startedAt}, in the future: check the clock of the machine that wrote it (retention never counts it as the newest backup)`,
      );
    }
  }
  if (out.isJson) {
    out.result(
      manifests.map((m) => ({
        id: manifestId(m),
        startedAt: m.startedAt,
        finishedAt: m.finishedAt,
        key: m.object.key,
        bytes: m.object.bytes,
        rawBytes: m.rawBytes,
        sha256: m.object.sha256,
        compression: m.compression,
        encryption: m.encryption.type,
        engine: m.engine,
        serverVersion: m.serverVersion,
      })),
    );
    return 0;
  }
  out.line(`${manifests.length} backup(s) of ${ctx.job.name} in ${dest.description}`);
  if (manifests.length) {
    out.line(
      `${'id'.padEnd(28)} ${'stored'.padStart(10)} ${'raw'.padStart(10)} ${'took'.padStart(8)}  format`,
    );
  }
  for (const m of manifests) {
    const took = Date.parse(m.finishedAt) - Date.parse(m.startedAt);
    out.line(
      `${manifestId(m).padEnd(28)} ${formatBytes(m.object.bytes).padStart(10)} ${formatBytes(m.rawBytes).padStart(10)} ${formatDuration(took).padStart(8)}  ${m.dumpFormat}, ${m.compression}, ${m.encryption.type}`,
    );
  }
  return 0;
}

/** `dumpvault verify <job> [<id>|latest]` */
export async function verifyCommand(
  job: string | undefined,
  selector: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, offline: true });
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  const dest = ctx.destinations[0]!;
  const manifest = await resolveBackup(dest, ctx.prefix, ctx.job.name, selector ?? 'latest');
  const result = await verifyBackup(dest, manifest, keys);
  if (out.isJson) out.result({ ok: true, ...result });
  else {
    out.line(`OK ${result.id}: ${formatBytes(result.bytes)}, sha256 ${result.sha256} matches the manifest`);
    if (result.decoded)
      out.line(`   decrypted and decompressed to ${formatBytes(result.rawBytes ?? 0)} as recorded`);
    else out.warn('decryption was not checked: pass --key <private-key.asc> (or set DUMPVAULT_PRIVATE_KEY)');
  }
  return 0;
}

/** `dumpvault history <job> [--csv|--json]` */
export async function historyCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const limit = limitFlag(flags);
  const { ctx } = await openJob(job, flags, io, { forReading: true, offline: true });
  const items = await ctx.history.list(ctx.job.name, limit ? { limit } : {});
  if (flags.csv) {
    io.stdout.write(historyToCsv(items));
    return 0;
  }
  if (out.isJson) {
    out.result(items);
    return 0;
  }
  for (const line of historyLines(items)) out.line(line);
  return 0;
}
