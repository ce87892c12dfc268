/**
 * The rule README and docs/aws.md state for the task image (issue 13 §1): the newest installed
 * PostgreSQL client whose major is at least the server's dumps it, so with the image's clients
 * (the Dockerfile's PG_MAJORS, installed side by side under /usr/lib/postgresql/<major>/bin)
 * pg_dump 18 dumps every server up to 18, and a server newer than every client is refused
 * naming the package to install. Stand-in client files in a temp directory, no Docker.
 */

import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPgDumpCanDump, locatePgTool } from '../../../task-image/engines/pg-tools.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const PG_MAJORS = (
  /^ARG PG_MAJORS="([^"]+)"$/m.exec(readFileSync(path.join(ROOT, 'task-image/Dockerfile'), 'utf8'))?.[1] ?? ''
)
  .split(/\s+/)
  .filter(Boolean);

let lib: string;

beforeAll(async () => {
  lib = await mkdtemp(path.join(tmpdir(), 'dv-pg-rule-'));
  for (const major of PG_MAJORS) {
    for (const tool of ['pg_dump', 'pg_restore', 'psql']) {
      const file = path.join(lib, major, 'bin', tool);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `#!/bin/sh\necho "${tool} (PostgreSQL) ${major}.1"\n`);
      await chmod(file, 0o755);
    }
  }
});
afterAll(async () => {
  await rm(lib, { recursive: true, force: true });
});

/** The major of the client the engine picks in the image for a server of `serverMajor`. */
async function clientFor(tool: 'pg_dump' | 'pg_restore', serverMajor: number): Promise<string> {
  const file = await locatePgTool(tool, serverMajor, { libRoots: [lib], env: { PATH: '' } });
  return path.basename(path.dirname(path.dirname(file)));
}

describe('which pg_dump of the task image dumps which PostgreSQL server', () => {
  it('carries the clients of the supported majors, 18 the newest', () => {
    // Bug caught: PostgreSQL 18 servers without a client in the image (pg_dump 17 refuses them).
    expect(PG_MAJORS).toEqual(['15', '16', '17', '18']);
  });

  it('dumps every server from 9.2 to 18 with pg_dump 18, the newest client at least as new', async () => {
    // Bug caught: an older client picked for a newer server (pg_dump refuses, or misses objects),
    // or the first match instead of the newest.
    for (const server of [9.2, 9.6, 12, 14, 15, 16, 17, 18]) {
      expect(await clientFor('pg_dump', server), `server ${server}`).toBe('18');
      expect(() => checkPgDumpCanDump({ text: '18.1', major: 18 }, server, 'db:5432')).not.toThrow();
    }
    // An archive is read by a pg_restore at least as new as the pg_dump that wrote it.
    expect(await clientFor('pg_restore', 18)).toBe('18');
  });

  it('refuses a server newer than every client, naming the package to install', async () => {
    // Bug caught: PostgreSQL 19 dumped by pg_dump 18 (which refuses mid-run, or worse).
    expect(await clientFor('pg_dump', 19)).toBe('18');
    expect(() => checkPgDumpCanDump({ text: '18.1', major: 18 }, 19, 'db.internal:5432')).toThrow(
      'pg_dump 18 cannot dump PostgreSQL 19 at db.internal:5432: install postgresql-client-19 (or set PG_DUMP_PATH)',
    );
  });
});
