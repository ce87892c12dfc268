/** `restore --list` (what a backup holds) and the checks of `--table` / `--schema`. */
import type { Connection, Selection } from '../../../core/engine.ts';
import { UsageError } from '../../../core/errors.ts';
import { manifestId, parseBackupSelector } from '../../../core/pipeline/catalog.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { type DecryptKeys, requireKeysFor } from '../../../core/pipeline/decode.ts';
import { readGlobals } from '../../../core/pipeline/globals.ts';
import { readContents } from '../../../core/pipeline/selection.ts';
import { redact } from '../../../core/redact.ts';
import type { Flags } from '../args.ts';
import type { Output } from '../output.ts';
import { findCopy, readableDestinations } from './catalog.ts';
import { recordedRestore } from './restore-foreign.ts';

/**
 * Refuses, in one sentence and before anything runs, the `--list` / `--table` / `--schema`
 * combinations that cannot work; returns the selection asked for, if any.
 */
export function checkSelectionFlags(ctx: JobContext, flags: Flags): Selection | undefined {
  const tables = flags.table ?? [];
  const schemas = flags.schema ?? [];
  const engine = ctx.engine;
  if (flags.globals) {
    const extra = (['list', 'drop', 'from', 'table', 'schema'] as const).filter(
      (f) => flags[f] !== undefined,
    );
    if (extra.length) {
      throw new UsageError(
        `--globals restores roles and tablespaces only; leave out ${extra.map((f) => `--${f}`).join(', ')}`,
      );
    }
    if (!engine.restoreGlobals)
      throw new UsageError(`--globals is for PostgreSQL; job ${ctx.job.name} uses ${engine.name}`);
    return undefined;
  }
  if (flags.list) {
    const extra = (['to', 'drop', 'from', 'table', 'schema', 'yes', 'skip-verify'] as const).filter(
      (f) => flags[f] !== undefined,
    );
    if (extra.length) {
      throw new UsageError(
        `--list only reads the backup; leave out ${extra.map((f) => `--${f}`).join(', ')}`,
      );
    }
    if (!engine.contents) throw new UsageError(`--list is not available for ${engine.name} jobs`);
    return undefined;
  }
  if (tables.length === 0 && schemas.length === 0) return undefined;
  const asked = schemas.length ? '--schema' : '--table';
  if (!engine.selects?.tables) {
    throw new UsageError(`${asked} is not available for ${engine.name} jobs; restore the whole backup`);
  }
  if (schemas.length && !engine.selects.schemas) {
    throw new UsageError(
      `--schema is for PostgreSQL; job ${ctx.job.name} uses ${engine.name}: name its tables with --table`,
    );
  }
  if (tables.length && schemas.length) {
    throw new UsageError(
      '--table and --schema do not combine; name the table with its schema: --table billing.invoices',
    );
  }
  if (flags.drop) {
    throw new UsageError(
      `--drop replaces the whole database; ${asked} restores into a scratch database or an empty --to target`,
    );
  }
  if (flags.from) throw new UsageError(`${asked} needs a backup with a manifest; leave out --from`);
  const empty = [...tables, ...schemas].find((n) => n.trim() === '');
  if (empty !== undefined) throw new UsageError(`${asked} needs a name, got an empty one`);
  return tables.length ? { tables } : { schemas };
}

/** `restore <job> [<id>] --globals`: the backup's roles and tablespaces into a server, recorded as a restore. */
export async function restoreGlobalsCommand(
  ctx: JobContext,
  keys: DecryptKeys | undefined,
  flags: Flags,
  selector: string | undefined,
  target: Connection,
  out: Output,
): Promise<number> {
  readableDestinations(ctx, flags);
  parseBackupSelector(selector ?? 'latest');
  const done = await recordedRestore(ctx, `globals of ${selector ?? 'latest'}`, async () => {
    const { manifest, from } = await findCopy(ctx, flags, selector ?? 'latest', out);
    const id = manifestId(manifest);
    requireKeysFor(manifest, keys, id);
    const script = await readGlobals(from, manifest, keys, id, ctx.signal);
    const what = await ctx.engine.restoreGlobals!(target, script, ctx.signal);
    return { id, what, target: redact(target.url) };
  });
  if (out.isJson)
    out.result({ status: 'SUCCEEDED', backup: done.id, target: done.target, globals: done.what });
  else out.line(`SUCCEEDED restored the globals of ${done.id} into ${done.target}: ${done.what}`);
  return 0;
}

/** `restore <job> [<id>] --list`: the backup's tables (with their row counts at backup time). */
export async function listBackupContents(
  ctx: JobContext,
  keys: DecryptKeys | undefined,
  flags: Flags,
  selector: string | undefined,
  out: Output,
): Promise<number> {
  readableDestinations(ctx, flags);
  parseBackupSelector(selector ?? 'latest');
  const { manifest, from } = await findCopy(ctx, flags, selector ?? 'latest', out);
  const id = manifestId(manifest);
  requireKeysFor(manifest, keys, id);
  const contents = await readContents(ctx.engine, manifest, from, keys, ctx.signal);
  const rows = (table: string) => manifest.stats.tables[table];
  if (out.isJson) {
    out.result({
      backup: id,
      startedAt: manifest.startedAt,
      tables: contents.tables.map((name) => ({ name, rows: rows(name) ?? null })),
      ...(contents.schemas ? { schemas: contents.schemas } : {}),
    });
    return 0;
  }
  const n = contents.tables.length;
  out.line(`backup ${id} (started ${manifest.startedAt}) holds ${n} table${n === 1 ? '' : 's'}`);
  if (contents.schemas) out.line(`schemas: ${contents.schemas.join(', ') || '(none)'}`);
  const width = Math.max(0, ...contents.tables.map((t) => t.length));
  for (const table of contents.tables) {
    const count = rows(table);
    out.line(`  ${table.padEnd(width)}  ${count === undefined ? '' : `${count} rows`}`.trimEnd());
  }
  if (contents.unselectable) out.line(contents.unselectable);
  return 0;
}
