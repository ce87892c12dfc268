/**
 * PostgreSQL `restore --list` and `restore --table` / `--schema`: the archive's table of
 * contents read from the head of the stream (pg-toc.ts), and a restore through
 * `pg_restore --use-list` of the selected entries, fed the same stream from its first byte.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import type { BackupContents, ContentsOptions, RestoreOptions } from '../../core/engine.ts';
import { UserError } from '../../core/errors.ts';
import { scanTableNames, TABLE_LINES } from '../../core/formats/table-names.ts';
import { processInput } from '../../core/process.ts';
import { explainPgFailure } from './pg-failures.ts';
import type { PgTarget } from './pg-target.ts';
import { parseToc, readToc, selectToc, tocSchemas, tocTables } from './pg-toc.ts';

const PLAIN_UNSELECTABLE =
  'this backup is a plain SQL dump: --table and --schema need a custom-format dump (the default "dumpFormat"); restore it whole and copy the tables over';

/** The tables and schemas of a raw dump: the archive's table of contents, or a plain script's CREATE TABLEs. */
export async function pgContents(
  locatePgRestore: () => Promise<string>,
  input: Readable,
  { dumpFormat, signal }: ContentsOptions,
): Promise<BackupContents> {
  if (dumpFormat === DUMP_FORMATS.pgPlain) {
    const tables = await scanTableNames(input, TABLE_LINES.pgPlain, signal);
    const schemas = [...new Set(tables.map((t) => t.slice(0, t.indexOf('.'))))].sort();
    return { tables, schemas, unselectable: PLAIN_UNSELECTABLE };
  }
  try {
    const { listing } = await readToc(await locatePgRestore(), {}, input, signal);
    const entries = parseToc(listing);
    return { tables: tocTables(entries), schemas: tocSchemas(entries) };
  } catch (err) {
    throw explainPgFailure(err);
  }
}

/**
 * Restores the selected tables or schemas of a custom-format archive with `pg_restore
 * --use-list`: the list (no data, only entry lines) goes to a private temporary file, the
 * archive streams in on stdin in one pass.
 */
export async function restoreSelected(
  t: PgTarget,
  pgRestore: string,
  input: Readable,
  { select, drop, dumpFormat, signal }: RestoreOptions,
): Promise<void> {
  if (!select) throw new Error('restoreSelected needs a selection');
  if (drop || dumpFormat !== DUMP_FORMATS.pgCustom) {
    throw new UserError('a restore of some tables or schemas needs a custom-format dump and no --drop');
  }
  const { listing, replay } = await readToc(pgRestore, t.env, input, signal);
  const list = selectToc(parseToc(listing), select);
  const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-list-'));
  try {
    const file = path.join(dir, 'selected.list');
    await writeFile(file, list, { mode: 0o600 });
    await processInput(
      {
        command: pgRestore,
        args: ['--no-owner', '--exit-on-error', '--no-password', `--use-list=${file}`, '--dbname', t.url],
        env: t.env,
        ...(signal ? { signal } : {}),
      },
      replay,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
