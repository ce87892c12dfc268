/**
 * A custom-format archive's table of contents, as `pg_restore --list --verbose` prints it, and
 * the selection of entries a `restore --table` / `--schema` restores through `pg_restore
 * --use-list`.
 *
 * Why a list and not pg_restore's own `-t`/`-n`: `-t` restores the table and its data but none
 * of its indexes, constraints, defaults or triggers, and `-n` leaves out the CREATE SCHEMA
 * itself. The list keeps the archive's order, so pg_restore still reads its input front to
 * back in one pass (it can skip forward over data blocks on a pipe, never back).
 */
import { spawn } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';
import { childEnvironment } from '../../core/child-env.ts';
import type { Selection } from '../../core/engine.ts';
import { ToolError } from '../../core/errors.ts';
import { summarizeStderr } from '../../core/tool-stderr.ts';

/** One line of the listing: `217; 1259 16701 TABLE public accounts postgres` (+ `;	depends on: …`). */
export interface TocEntry {
  readonly id: number;
  readonly desc: string;
  /** `-` for objects outside any schema. */
  readonly schema: string;
  /** The rest of the line after the schema, owner included (names may hold spaces). */
  readonly rest: string;
  readonly deps: number[];
  /** The line itself, as `--use-list` reads it back. */
  readonly line: string;
}

/** Descriptions of more than one word; any other description is the line's first word. */
const LONG_DESCS = [
  'MATERIALIZED VIEW DATA',
  'SEQUENCE OWNED BY',
  'TABLE DATA',
  'SEQUENCE SET',
  'FK CONSTRAINT',
  'CHECK CONSTRAINT',
  'MATERIALIZED VIEW',
  'FOREIGN TABLE',
  'ROW SECURITY',
  'INDEX ATTACH',
  'DEFAULT ACL',
  'SECURITY LABEL',
  'LARGE OBJECT',
  'BLOB METADATA',
  'EVENT TRIGGER',
  'PUBLICATION TABLE',
  'PUBLICATION TABLES IN SCHEMA',
  'TEXT SEARCH CONFIGURATION',
  'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH PARSER',
  'TEXT SEARCH TEMPLATE',
  'FOREIGN DATA WRAPPER',
  'USER MAPPING',
  'OPERATOR CLASS',
  'OPERATOR FAMILY',
  'ACCESS METHOD',
  'PROCEDURAL LANGUAGE',
  'SHELL TYPE',
  'DATABASE PROPERTIES',
].sort((a, b) => b.length - a.length);

/** Relations: selected or not as a whole, never pulled in as a dependent of another. */
const RELATIONS = new Set(['TABLE', 'VIEW', 'MATERIALIZED VIEW', 'FOREIGN TABLE']);

/** What belongs to a relation and comes with it: restored only when everything it needs is. */
const BELONGING = new Set([
  'TABLE DATA',
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'DEFAULT',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'INDEX',
  'INDEX ATTACH',
  'TRIGGER',
  'RULE',
  'POLICY',
  'ROW SECURITY',
  'COMMENT',
  'SECURITY LABEL',
  'ACL',
  'STATISTICS',
  'MATERIALIZED VIEW DATA',
]);

/** Session settings every restore script starts with. */
const SETTINGS = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);

/** Parses `pg_restore --list --verbose` output. */
export function parseToc(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const deps = /^;\s*depends on:([\d ]*)$/.exec(line);
    if (deps) {
      const last = entries.at(-1);
      if (last) last.deps.push(...deps[1]!.trim().split(/\s+/).filter(Boolean).map(Number));
      continue;
    }
    const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (!m) continue;
    const body = m[2]!;
    const desc = LONG_DESCS.find((d) => body.startsWith(`${d} `)) ?? body.split(' ')[0]!;
    const after = body.slice(desc.length + 1);
    const space = after.indexOf(' ');
    entries.push({
      id: Number(m[1]),
      desc,
      schema: space < 0 ? after : after.slice(0, space),
      rest: space < 0 ? '' : after.slice(space + 1),
      deps: [],
      line,
    });
  }
  return entries;
}

/** A relation's name: the rest of its line without the owner (the last word). */
function relationName(entry: TocEntry): string {
  const space = entry.rest.lastIndexOf(' ');
  return space < 0 ? entry.rest : entry.rest.slice(0, space);
}

/** `schema.table` of every table the archive creates, in archive order. */
export function tocTables(entries: readonly TocEntry[]): string[] {
  return entries.filter((e) => e.desc === 'TABLE').map((e) => `${e.schema}.${relationName(e)}`);
}

/** Every schema the archive creates or puts objects in, sorted. */
export function tocSchemas(entries: readonly TocEntry[]): string[] {
  const schemas = new Set<string>();
  for (const e of entries) {
    if (e.desc === 'SCHEMA') schemas.add(relationName(e));
    else if (e.schema !== '-' && !SETTINGS.has(e.desc)) schemas.add(e.schema);
  }
  return [...schemas].sort();
}

/**
 * The entries that restore `selection` (names as {@link tocTables} / {@link tocSchemas} give
 * them): the selected tables (or every object of the selected schemas, and the schemas), what
 * belongs to them (data, sequences, defaults, constraints, indexes, triggers, comments, grants)
 * when everything that needs is restored too (a foreign key to a table left out is left out),
 * and what they need that is not a relation (schemas, types, functions, extensions). Returned
 * as the listing `--use-list` reads, in archive order.
 */
export function selectToc(entries: readonly TocEntry[], selection: Selection): string {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const tables = new Set(selection.tables ?? []);
  const schemas = new Set(selection.schemas ?? []);
  const chosen = new Set<number>();
  for (const e of entries) {
    if (SETTINGS.has(e.desc)) chosen.add(e.id);
    else if (e.desc === 'SCHEMA' && schemas.has(relationName(e))) chosen.add(e.id);
    else if (schemas.has(e.schema)) chosen.add(e.id);
    else if (e.desc === 'TABLE' && tables.has(`${e.schema}.${relationName(e)}`)) chosen.add(e.id);
  }
  /** Adds what `e` needs that is not a relation or part of one; false when it needs one left out. */
  const pullIn = (e: TocEntry, seen: Set<number>): boolean => {
    for (const id of e.deps) {
      if (chosen.has(id) || seen.has(id)) continue;
      const dep = byId.get(id);
      if (!dep) continue;
      if (RELATIONS.has(dep.desc) || BELONGING.has(dep.desc)) return false;
      seen.add(id);
      if (!pullIn(dep, seen)) return false;
    }
    return true;
  };
  let grew = true;
  while (grew) {
    grew = false;
    for (const e of entries) {
      if (chosen.has(e.id)) continue;
      if (!BELONGING.has(e.desc) || !e.deps.some((id) => chosen.has(id))) continue;
      const needed = new Set<number>();
      if (!pullIn(e, needed)) continue;
      chosen.add(e.id);
      for (const id of needed) chosen.add(id);
      grew = true;
    }
  }
  // The chosen roots' own needs (a schema, an enum type, a function a default calls).
  for (const e of entries) {
    if (!chosen.has(e.id)) continue;
    const needed = new Set<number>();
    if (pullIn(e, needed)) for (const id of needed) chosen.add(id);
  }
  return `${entries
    .filter((e) => chosen.has(e.id))
    .map((e) => e.line)
    .join('\n')}\n`;
}

/** The listing, and the whole archive again from its first byte for the restore that follows. */
export interface TocRead {
  readonly listing: string;
  /** Every byte of `input`: those the listing read, then the rest (not read yet). */
  readonly replay: Readable;
}

/**
 * Runs `pg_restore --list --verbose` on the head of `input`, keeping the bytes it was fed, and
 * returns the listing together with a stream that replays the archive from its start: one
 * read of the stored object serves both the table of contents and the restore. Only the head
 * is held in memory (the table of contents and what was in flight when pg_restore had read it).
 */
export async function readToc(
  pgRestore: string,
  env: Record<string, string | undefined>,
  input: Readable,
  signal?: AbortSignal,
): Promise<TocRead> {
  signal?.throwIfAborted();
  const child = spawn(pgRestore, ['--list', '--verbose'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: childEnvironment(env),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    if (stderr.length < 65536) stderr += c;
  });
  const sink = child.stdin as Writable;
  sink.on('error', () => {}); // EPIPE once it has read the table of contents: expected
  const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => resolve({ code, sig }));
  });
  const stop = () => child.kill('SIGTERM');
  signal?.addEventListener('abort', stop, { once: true });
  const head: Buffer[] = [];
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Promise<IteratorResult<Buffer>> | undefined;
  try {
    const done = exited.then((r) => ({ exit: r }) as const);
    for (;;) {
      pending ??= it.next();
      const next = await Promise.race([pending.then((r) => ({ data: r }) as const), done]);
      if ('exit' in next) break;
      pending = undefined;
      if (next.data.done) {
        sink.end();
        await done;
        break;
      }
      const chunk = Buffer.from(next.data.value);
      head.push(chunk);
      if (!sink.write(chunk)) {
        await Promise.race([new Promise((r) => sink.once('drain', r)), done]);
      }
    }
    const { code, sig } = await exited;
    signal?.throwIfAborted();
    if (code !== 0) {
      const why = summarizeStderr(stderr);
      throw new ToolError(
        `pg_restore --list ${sig ? `was killed by ${sig}` : `exited with code ${code}`}${why ? `: ${why}` : ''}`,
      );
    }
  } catch (err) {
    input.destroy();
    throw err;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  const rest = pending;
  async function* replay(): AsyncGenerator<Buffer> {
    yield* head;
    head.length = 0;
    if (rest) {
      const r = await rest;
      if (r.done) return;
      yield Buffer.from(r.value);
    }
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.from(r.value);
    }
  }
  const replayed = Readable.from(replay(), { objectMode: false });
  // A failure of the restore that reads the replay stops the download and decoding too.
  replayed.once('close', () => {
    if (!replayed.readableEnded) input.destroy();
  });
  return { listing: stdout, replay: replayed };
}
