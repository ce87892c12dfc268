/**
 * Restoring part of a backup (`restore --table` / `--schema`) and listing what a backup holds
 * (`restore --list`): both read the dump itself, so they work for every backup, old ones too.
 */
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupContents, Engine, Selection, TableStats } from '../engine.ts';
import { UsageError, UserError } from '../errors.ts';
import type { Manifest } from '../manifest.ts';
import type { Destination } from '../storage/destination.ts';
import { type DecryptKeys, decodeStages } from './decode.ts';

/**
 * Reads what the stored backup holds through the engine's {@link Engine.contents}: one read
 * of the object, decoded, stopped as soon as the engine has what it needs.
 */
export async function readContents(
  engine: Engine,
  manifest: Manifest,
  from: Destination,
  keys: DecryptKeys | undefined,
  signal?: AbortSignal,
): Promise<BackupContents> {
  if (!engine.contents) {
    throw new UserError(`the ${engine.name} engine cannot list or select the tables of a backup`);
  }
  const input = await from.read(manifest.object.key);
  const done = new AbortController();
  const both = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
  const feed = new PassThrough({ highWaterMark: 1 << 20 });
  const listing = engine.contents(feed, { dumpFormat: manifest.dumpFormat, ...(signal ? { signal } : {}) });
  const piping = pipeline([input, ...decodeStages(manifest, keys), feed], { signal: both }).catch(
    (err: unknown) => {
      // Stopped because the engine had read enough: not a failure.
      if (done.signal.aborted && !signal?.aborted) return;
      throw err;
    },
  );
  const [contents] = await Promise.all([listing.finally(() => done.abort()), piping]);
  return contents;
}

/** What the backup holds, as one phrase for messages: `public.a, public.b (2 tables)`. */
function holds(contents: BackupContents): string {
  const n = contents.tables.length;
  if (n === 0) return 'no tables';
  return `${[...contents.tables].sort().join(', ')} (${n} table${n === 1 ? '' : 's'})`;
}

/**
 * Matches the names asked for with what the backup holds: a table given with or without its
 * schema (`orders` finds `public.orders` when no other schema has one). Throws one sentence
 * listing what the backup holds when a name matches nothing or more than one table.
 */
export function resolveSelection(contents: BackupContents, asked: Selection, id: string): Selection {
  if (contents.unselectable) throw new UserError(contents.unselectable);
  if (asked.schemas?.length) {
    const schemas = contents.schemas ?? [];
    const unknown = asked.schemas.filter((s) => !schemas.includes(s));
    if (unknown.length) {
      throw new UserError(
        `backup ${id} has no schema ${unknown.map((s) => `"${s}"`).join(', ')}; it holds schemas ${schemas.join(', ') || '(none)'}`,
      );
    }
    return { schemas: [...new Set(asked.schemas)] };
  }
  const tables = new Set<string>();
  for (const name of asked.tables ?? []) {
    if (contents.tables.includes(name)) {
      tables.add(name);
      continue;
    }
    const matches = contents.tables.filter(
      (t) => t.endsWith(`.${name}`) && t.indexOf('.') === t.length - name.length - 1,
    );
    if (matches.length === 1) tables.add(matches[0]!);
    else if (matches.length > 1) {
      throw new UsageError(
        `--table ${name} matches ${matches.join(' and ')} in backup ${id}; name one of them`,
      );
    } else throw new UserError(`backup ${id} has no table "${name}"; it holds ${holds(contents)}`);
  }
  return { tables: [...tables] };
}

/** The manifest's row counts of the selected tables only: what a selective restore must match. */
export function selectedStats(tables: TableStats, selection: Selection): TableStats {
  const schemas = selection.schemas ?? [];
  const names = new Set(selection.tables ?? []);
  return Object.fromEntries(
    Object.entries(tables).filter(
      ([name]) => names.has(name) || schemas.some((s) => name.startsWith(`${s}.`)),
    ),
  );
}

/** The selection as words for progress lines and history: `tables public.a, public.b`. */
export function describeSelection(selection: Selection): string {
  if (selection.schemas?.length)
    return `schema${selection.schemas.length > 1 ? 's' : ''} ${selection.schemas.join(', ')}`;
  const tables = selection.tables ?? [];
  return `table${tables.length > 1 ? 's' : ''} ${tables.join(', ')}`;
}
