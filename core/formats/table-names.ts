/**
 * The tables an SQL dump script creates, read from the lines that create them as the script
 * streams by (`restore --list` of MariaDB/MySQL, SQLite and plain PostgreSQL dumps). Row data
 * never starts a line with these prefixes (its newlines are escaped), so no statement is parsed.
 */
import type { Readable } from 'node:stream';
import { LinePrefixScanner } from './checker.ts';
import { mysqldumpTableOf } from './mysqldump-filter.ts';

/** Takes one SQL identifier (quoted or bare) from the start of `text`; returns it and the rest. */
function takeIdentifier(text: string): [string, string] | undefined {
  const quotes: Record<string, string> = { '"': '"', '`': '`', '[': ']', "'": "'" };
  const open = text[0];
  if (open && quotes[open]) {
    const close = quotes[open]!;
    let i = 1;
    let name = '';
    while (i < text.length) {
      if (text[i] === close) {
        if (text[i + 1] === close && close !== ']') {
          name += close;
          i += 2;
          continue;
        }
        return [name, text.slice(i + 1)];
      }
      name += text[i];
      i++;
    }
    return undefined;
  }
  const m = /^[^\s.(]+/.exec(text);
  return m ? [m[0], text.slice(m[0].length)] : undefined;
}

/** `CREATE TABLE [IF NOT EXISTS] name(` of SQLite's `.dump`. */
export function sqliteTableOf(line: string): string | undefined {
  const m = /^CREATE TABLE (?:IF NOT EXISTS )?/i.exec(line);
  if (!m) return undefined;
  return takeIdentifier(line.slice(m[0].length))?.[0];
}

/** `CREATE [UNLOGGED ]TABLE schema.name (` of a plain pg_dump script, as `schema.name`. */
export function pgPlainTableOf(line: string): string | undefined {
  const m = /^CREATE (?:UNLOGGED )?TABLE /.exec(line);
  if (!m) return undefined;
  const schema = takeIdentifier(line.slice(m[0].length));
  if (!schema?.[1].startsWith('.')) return undefined;
  const table = takeIdentifier(schema[1].slice(1));
  return table ? `${schema[0]}.${table[0]}` : undefined;
}

/** Which lines of which script create tables. */
export const TABLE_LINES = {
  mysqldump: { prefix: '-- Table structure for table `', tableOf: mysqldumpTableOf },
  sqlite: { prefix: 'CREATE TABLE ', tableOf: sqliteTableOf },
  pgPlain: { prefix: 'CREATE ', tableOf: pgPlainTableOf },
} as const;

/** Reads all of `input` and returns the tables its lines create, in script order. */
export async function scanTableNames(
  input: Readable,
  lines: { readonly prefix: string; readonly tableOf: (line: string) => string | undefined },
  signal?: AbortSignal,
): Promise<string[]> {
  const found = new Set<string>();
  const scanner = new LinePrefixScanner([lines.prefix], (_k, line) => {
    const table = lines.tableOf(line);
    if (table !== undefined) found.add(table);
  });
  for await (const chunk of input) {
    signal?.throwIfAborted();
    scanner.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  scanner.end();
  return [...found];
}
