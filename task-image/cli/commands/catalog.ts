import { isNotFound, messageOf, UsageError } from '../../../core/errors.ts';
import { describeCount, OBJECT_KINDS, type ObjectCounts } from '../../../core/formats/checker.ts';
import { historyToCsv } from '../../../core/history/local.ts';
import { manifestId, resolveBackup } from '../../../core/pipeline/catalog.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import {
  destinationNamed,
  listCopies,
  type ResolvedCopy,
  resolveCopy,
} from '../../../core/pipeline/copies.ts';
import type { DecryptKeys } from '../../../core/pipeline/decode.ts';
import { verifyBackup } from '../../../core/pipeline/verify.ts';
import { redact } from '../../../core/redact.ts';
import { FUTURE_TOLERANCE_MS } from '../../../core/retention/plan.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { type Flags, limitFlag } from '../args.ts';
import { formatBytes, formatDuration, historyLines, type Io, type Output } from '../output.ts';
import { openJob, resolveDecryptKeys } from '../resolve.ts';

/** The destinations a reading command looks at: `--destination <name>` alone, or all of the job's. */
export function readableDestinations(ctx: JobContext, flags: Flags): readonly Destination[] {
  return flags.destination !== undefined
    ? [destinationNamed(ctx.destinations, flags.destination, ctx.job.name)]
    : ctx.destinations;
}

/**
 * Selects the backup and the copy to read (see core/pipeline/copies.ts), and says on stderr
 * which destination is read when the job has several, and why others were passed over.
 */
export async function findCopy(
  ctx: JobContext,
  flags: Flags,
  selector: string,
  out: Output,
): Promise<ResolvedCopy> {
  const copy = await resolveCopy(readableDestinations(ctx, flags), ctx.prefix, ctx.job.name, selector);
  for (const s of copy.skipped) out.warn(s.reason);
  if (ctx.destinations.length > 1 || copy.skipped.length > 0)
    out.warn(
      `reading backup ${manifestId(copy.manifest)} from destination ${copy.from.name} (${copy.from.description})`,
    );
  return copy;
}

/** `dumpvault list <job>` — from the manifests, not from history. */
export async function listCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { ctx } = await openJob(job, flags, io, { forReading: true, offline: true });
  const destinations = readableDestinations(ctx, flags);
  const { backups, problems, skipped } = await listCopies(destinations, ctx.prefix, ctx.job.name);
  for (const p of problems) out.warn(p);
  for (const s of skipped) out.warn(`${s.reason}; listing the other destinations`);
  const several = destinations.length > 1;
  const believable = Date.now() + FUTURE_TOLERANCE_MS;
  for (const { manifest: m } of backups) {
    if (Date.parse(m.startedAt) > believable) {
      out.warn(
        `${manifestId(m)} is stamped ${m.startedAt}, in the future: check the clock of the machine that wrote it (retention never counts it as the newest backup)`,
      );
    }
  }
  if (out.isJson) {
    out.result(
      backups.map(({ manifest: m, destinations: holding }) => ({
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
        destinations: holding,
      })),
    );
    return 0;
  }
  const where = several
    ? `${destinations.length - skipped.length} of ${destinations.length} destinations (${destinations.map((d) => d.name).join(', ')})`
    : destinations[0]!.description;
  out.line(`${backups.length} backup(s) of ${ctx.job.name} in ${where}`);
  if (backups.length) {
    out.line(
      `${'id'.padEnd(28)} ${'stored'.padStart(10)} ${'raw'.padStart(10)} ${'took'.padStart(8)}  format${several ? '  (destinations)' : ''}`,
    );
  }
  for (const { manifest: m, destinations: holding } of backups) {
    const took = Date.parse(m.finishedAt) - Date.parse(m.startedAt);
    out.line(
      `${manifestId(m).padEnd(28)} ${formatBytes(m.object.bytes).padStart(10)} ${formatBytes(m.rawBytes).padStart(10)} ${formatDuration(took).padStart(8)}  ${m.dumpFormat}, ${m.compression}, ${m.encryption.type}${several ? `  (${holding.join(', ')})` : ''}`,
    );
  }
  return 0;
}

/** `dumpvault verify <job> [<id>|latest] [--destination <name> | --all]` */
export async function verifyCommand(
  job: string | undefined,
  selector: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, offline: true });
  if (flags.all && flags.destination !== undefined)
    throw new UsageError('--all verifies the copy in every destination; leave out --destination');
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  if (flags.all) return verifyEveryCopy(ctx, selector ?? 'latest', keys, out);
  const { manifest, from } = await findCopy(ctx, flags, selector ?? 'latest', out);
  const result = await verifyBackup(from, manifest, keys);
  if (out.isJson) out.result({ ok: true, destination: from.name, ...result });
  else {
    out.line(`OK ${result.id}: ${formatBytes(result.bytes)}, sha256 ${result.sha256} matches the manifest`);
    if (result.decoded) {
      out.line(`   decrypted and decompressed to ${formatBytes(result.rawBytes ?? 0)} as recorded`);
      out.line(
        `   the dump is complete${result.objects ? `; it defines ${describeObjects(result.objects)}` : ''}`,
      );
    } else
      out.warn('decryption was not checked: pass --key <private-key.asc> (or set DUMPVAULT_PRIVATE_KEY)');
  }
  return 0;
}

/** One destination's copy of a backup under `verify --all`. */
interface CopyCheck {
  readonly destination: string;
  /** ok: verified; missing: the destination holds no copy; bad: damaged or unreadable. */
  readonly status: 'ok' | 'missing' | 'bad';
  readonly detail: string;
  readonly decoded?: boolean;
}

/**
 * `verify --all`: selects the backup among every destination, then verifies each destination's
 * copy against that destination's own manifest. Exit 1 when any copy is bad or cannot be read;
 * a destination without a copy (after a PARTIAL run) is reported and does not fail the check.
 */
async function verifyEveryCopy(
  ctx: JobContext,
  selector: string,
  keys: DecryptKeys | undefined,
  out: Output,
): Promise<number> {
  const { manifest: selected } = await resolveCopy(ctx.destinations, ctx.prefix, ctx.job.name, selector);
  const id = manifestId(selected);
  const checks: CopyCheck[] = [];
  for (const dest of ctx.destinations) {
    let manifest: typeof selected;
    try {
      manifest = await resolveBackup(dest, ctx.prefix, ctx.job.name, id);
    } catch (err) {
      const missing = isNotFound(err);
      checks.push({
        destination: dest.name,
        status: missing ? 'missing' : 'bad',
        detail: missing ? `no copy of ${id}` : redact(messageOf(err)),
      });
      continue;
    }
    if (manifestId(manifest) !== id) {
      checks.push({ destination: dest.name, status: 'missing', detail: `no copy of ${id}` });
      continue;
    }
    try {
      const result = await verifyBackup(dest, manifest, keys);
      checks.push({
        destination: dest.name,
        status: 'ok',
        detail: `${formatBytes(result.bytes)}, sha256 ${result.sha256} matches its manifest${result.decoded ? `; decodes to ${formatBytes(result.rawBytes ?? 0)} as recorded, a complete dump` : ''}`,
        decoded: result.decoded,
      });
    } catch (err) {
      checks.push({
        destination: dest.name,
        status: 'bad',
        detail: redact(messageOf(err)),
      });
    }
  }
  const ok = checks.every((c) => c.status !== 'bad');
  if (out.isJson) out.result({ ok, id, copies: checks });
  else {
    out.line(`backup ${id} of ${ctx.job.name} in ${checks.length} destination(s):`);
    const label = { ok: 'OK', missing: 'NONE', bad: 'BAD' } as const;
    for (const c of checks)
      out.line(`  ${label[c.status].padEnd(4)}  ${c.destination.padEnd(16)} ${c.detail}`);
    if (checks.some((c) => c.status === 'ok' && !c.decoded))
      out.warn('decryption was not checked: pass --key <private-key.asc> (or set DUMPVAULT_PRIVATE_KEY)');
  }
  if (!ok) {
    for (const c of checks.filter((x) => x.status === 'bad'))
      out.warn(`destination ${c.destination}: the copy of ${id} is bad: ${c.detail}`);
  }
  return ok ? 0 : 1;
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

/** `5 tables, 2 views, 1 routine` — the kinds a dump's format counts, in a fixed order. */
function describeObjects(objects: ObjectCounts): string {
  return OBJECT_KINDS.filter((kind) => objects[kind] !== undefined)
    .map((kind) => describeCount(kind, objects[kind]!))
    .join(', ');
}
