/**
 * PostgreSQL globals: `pg_dumpall --globals-only` (roles with their password hashes, role
 * settings and memberships, tablespaces) at backup time, and the script run again on a server
 * at restore time (`restore --globals`).
 */
import { buffer } from 'node:stream/consumers';
import { processOutput, runCommand } from '../../core/process.ts';
import { explainPgFailure } from './pg-failures.ts';
import { type PgTarget, psqlArgs, withDatabase } from './pg-target.ts';

/** Runs `pg_dumpall --globals-only`; resolves with its script once it exited 0. */
export async function pgDumpGlobals(t: PgTarget, pgDumpall: string, signal?: AbortSignal): Promise<Buffer> {
  try {
    const output = processOutput(
      {
        command: pgDumpall,
        args: ['--globals-only', '--no-password', `--dbname=${t.url}`],
        env: t.env,
        ...(signal ? { signal } : {}),
      },
      undefined,
    );
    return await buffer(output);
  } catch (err) {
    throw explainPgFailure(err);
  }
}

/** A role or tablespace name as pg_dumpall writes it: bare, or double-quoted with `""` inside. */
const NAME = String.raw`("(?:[^"]|"")*"|[^\s;"]+)`;
const ROLE_LINE = new RegExp(`^(?:CREATE|ALTER) ROLE ${NAME}`);
const TABLESPACE_LINE = new RegExp(`^(?:CREATE|ALTER) TABLESPACE ${NAME}`);

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
}

/**
 * Runs a globals script on the server of `t` (connected to its `postgres` database) with
 * ON_ERROR_STOP: roles and tablespaces that exist there already are left as they are (their
 * CREATE and ALTER lines are skipped, so a restore never changes the password of a role the
 * server has), the others are created with the backup's attributes and password hashes;
 * memberships are granted. Resolves with what was done, as a phrase.
 */
export async function pgRestoreGlobals(
  t: PgTarget,
  psql: string,
  script: string,
  signal?: AbortSignal,
): Promise<string> {
  const server = withDatabase(t, 'postgres');
  const run = (sql: string, extra: string[] = []) =>
    runCommand(
      {
        command: psql,
        args: [...psqlArgs(server, extra), '--file', '-'],
        env: t.env,
        ...(signal ? { signal } : {}),
      },
      sql,
    ).catch((err: unknown) => {
      throw explainPgFailure(err);
    });
  const existing = new Set(
    (await run("SELECT 'r:' || rolname FROM pg_roles UNION ALL SELECT 't:' || spcname FROM pg_tablespace;\n"))
      .split('\n')
      .filter(Boolean),
  );
  const created = new Set<string>();
  const kept = new Set<string>();
  const lines = script.split('\n').filter((line) => {
    const role = ROLE_LINE.exec(line);
    const space = role ? undefined : TABLESPACE_LINE.exec(line);
    const name = role ? `r:${unquote(role[1]!)}` : space ? `t:${unquote(space[1]!)}` : undefined;
    if (!name) return true;
    if (existing.has(name)) {
      if (name.startsWith('r:')) kept.add(name);
      return false;
    }
    if (name.startsWith('r:')) created.add(name);
    return true;
  });
  await run(lines.join('\n'));
  const names = [...created].map((n) => n.slice(2));
  return `created ${created.size} role${created.size === 1 ? '' : 's'}${names.length ? ` (${names.join(', ')})` : ''}; ${kept.size} existed already and were left as they are`;
}
