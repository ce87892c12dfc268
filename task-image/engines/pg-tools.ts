/**
 * PostgreSQL client binaries by major version. pg_dump refuses (or worse, silently misses
 * features) when it is older than the server, and a pg_dump archive can only be read by a
 * pg_restore at least as new as the pg_dump that wrote it. Debian-style images install each
 * major side by side under /usr/lib/postgresql/<major>/bin, so the engine picks from there.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ToolError, UserError } from '../../core/errors.ts';
import { runCommand } from '../../core/process.ts';
import { findOnPath, isExecutable } from './executables.ts';

/** The PostgreSQL client programs the engine runs. */
export type PgToolName = 'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql';

/** Where to look for PostgreSQL client binaries. */
export interface PgToolSearch {
  /**
   * Directories holding one sub-directory per major version, each with a `bin/`.
   * @default ['/usr/lib/postgresql']
   */
  readonly libRoots: readonly string[];
  /** PATH and PG_DUMP_PATH come from here. */
  readonly env: NodeJS.ProcessEnv;
}

/** Where Debian and Ubuntu (and the task image) install each client major side by side. */
export const DEFAULT_PG_LIB_ROOTS: readonly string[] = ['/usr/lib/postgresql'];

/** A PostgreSQL version as reported by a server or a client tool. */
export interface PgVersion {
  /** As printed, e.g. `15.20`. */
  readonly text: string;
  /** 15 for 15.x; 9.6 for 9.6.x (before 10 the major had two parts). */
  readonly major: number;
}

/** The major version of a `server_version_num` (150020 → 15, 90624 → 9.6). */
export function majorFromVersionNum(num: number): number {
  if (!Number.isInteger(num) || num < 10000) throw new ToolError(`unexpected server_version_num ${num}`);
  if (num >= 100000) return Math.floor(num / 10000);
  return Math.floor(num / 10000) + (Math.floor(num / 100) % 100) / 10;
}

/** Parses `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` (also 9.6.24 and 17beta1). */
export function parsePgToolVersion(output: string): PgVersion {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(\S*)/.exec(output) ?? /\b(\d+)(?:\.(\d+))?(\S*)/.exec(output);
  if (!m) throw new ToolError(`cannot read a PostgreSQL version from ${JSON.stringify(output.trim())}`);
  const first = Number(m[1]);
  const second = m[2] === undefined ? undefined : Number(m[2]);
  const major = first >= 10 || second === undefined ? first : first + second / 10;
  const text = `${m[1]}${m[2] === undefined ? '' : `.${m[2]}`}${m[3] ?? ''}`;
  return { text, major };
}

/** The major as people write it: `15`, `9.6`. */
export function formatMajor(major: number): string {
  return Number.isInteger(major) ? String(major) : major.toFixed(1);
}

/**
 * Refuses a pg_dump older than the server with the fix in the message; pg_dump itself would
 * only fail after connecting, with "aborting because of server version mismatch".
 */
export function checkPgDumpCanDump(tool: PgVersion, serverMajor: number, where: string): void {
  if (tool.major >= serverMajor) return;
  const server = formatMajor(serverMajor);
  throw new UserError(
    `pg_dump ${formatMajor(tool.major)} cannot dump PostgreSQL ${server} at ${where}: install postgresql-client-${server} (or set PG_DUMP_PATH)`,
  );
}

/** Versioned client directories under the search roots, newest first. */
async function versionedBinaries(
  tool: PgToolName,
  roots: readonly string[],
): Promise<{ major: number; file: string }[]> {
  const found: { major: number; file: string }[] = [];
  for (const root of roots) {
    let entries: string[];
    try {
      entries = await readdir(root);
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!/^\d+(\.\d+)?$/.test(entry)) continue;
      const file = path.join(root, entry, 'bin', tool);
      if (await isExecutable(file)) found.push({ major: Number(entry), file });
    }
  }
  return found.sort((a, b) => b.major - a.major);
}

/** The tool inside PG_DUMP_PATH (the pg_dump executable, or the directory holding it), if set. */
async function fromPgDumpPath(tool: PgToolName, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const configured = env.PG_DUMP_PATH;
  if (!configured) return undefined;
  let isDir = false;
  try {
    isDir = (await stat(configured)).isDirectory();
  } catch {
    throw new UserError(`PG_DUMP_PATH is set to ${configured}, which does not exist; fix or unset it`);
  }
  if (!isDir && tool === 'pg_dump') return configured;
  const sibling = path.join(isDir ? configured : path.dirname(configured), tool);
  if (await isExecutable(sibling)) return sibling;
  if (tool === 'pg_dump') {
    throw new UserError(`PG_DUMP_PATH is set to ${configured}, which holds no pg_dump; fix or unset it`);
  }
  return undefined;
}

/**
 * Finds a PostgreSQL client binary: PG_DUMP_PATH first (the pg_dump file or its directory;
 * psql and pg_restore are taken from the same directory when present), then the newest
 * `<root>/<major>/bin/<tool>` whose major is at least `minMajor`, then PATH. When only older
 * versioned binaries exist the newest of them is returned, so the caller's version check can
 * say which version to install. Throws a ToolError when the tool is nowhere.
 */
export async function locatePgTool(
  tool: PgToolName,
  minMajor: number | undefined,
  search: PgToolSearch,
): Promise<string> {
  const pinned = await fromPgDumpPath(tool, search.env);
  if (pinned) return pinned;
  const versioned = await versionedBinaries(tool, search.libRoots);
  const fitting = versioned.find((v) => minMajor === undefined || v.major >= minMajor);
  if (fitting) return fitting.file;
  const onPath = await findOnPath([tool], search.env);
  if (onPath) return onPath;
  if (versioned[0]) return versioned[0].file;
  const pkg = minMajor === undefined ? 'postgresql-client' : `postgresql-client-${formatMajor(minMajor)}`;
  throw new ToolError(`${tool} is not installed or not on PATH; install ${pkg} (or set PG_DUMP_PATH)`);
}

/** Runs `<tool> --version` and parses it. */
export async function pgToolVersion(file: string): Promise<PgVersion> {
  return parsePgToolVersion(await runCommand({ command: file, args: ['--version'] }));
}
