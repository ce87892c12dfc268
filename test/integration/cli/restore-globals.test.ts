/**
 * PostgreSQL globals (`source.globals`) through the real CLI and the real server: each backup
 * also stores `pg_dumpall --globals-only`, encrypted like the dump and listed in the manifest;
 * `restore --globals` brings a dropped role back with its password hash; a globals dump that
 * fails fails the run and stores nothing.
 */
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import { createPostgresDb, dropPostgresDb, PG, psql, uniqueName } from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let source: string;
const role = uniqueName('dvt_role');

beforeAll(async () => {
  source = createPostgresDb();
  psql('postgres', `CREATE ROLE ${role} LOGIN PASSWORD 'not-in-any-log' CONNECTION LIMIT 7`);
  ws = await createWorkspace();
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${source}`, globals: true },
        destinations: ['local'],
        compression: 'zstd',
        encryption: 'ops',
        retention: { keepLast: 5 },
      },
    ],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  psql('postgres', `DROP ROLE IF EXISTS ${role}`);
  dropPostgresDb(source);
  await ws?.remove();
});

const hashOf = () =>
  psql('postgres', `SELECT rolpassword || ' ' || rolconnlimit FROM pg_authid WHERE rolname = '${role}'`);

describe('postgres globals', () => {
  // Bug caught: source.globals was ignored (no object, no manifest entry), or restore --globals
  // did not create the dropped role (or not with its password hash and attributes).
  it(
    'a backup stores the encrypted globals; restore --globals brings a dropped role back',
    async () => {
      const before = hashOf();
      expect(before).toMatch(/^SCRAM-SHA-256\$.* 7\n$/);
      const backup = await runCli(['backup', 'pg', '--config', ws.configFile]);
      expect(backup.stderr).not.toMatch(/error/i);
      expect(backup.code).toBe(0);
      const files = await ws.files('backups');
      const manifestFile = files.find((f) => f.endsWith('.manifest.json'))!;
      const manifest = JSON.parse(await readFile(path.join(ws.dir, 'backups', manifestFile), 'utf8')) as {
        globals?: { key: string; bytes: number };
      };
      expect(manifest.globals?.key).toMatch(/\.globals\.sql\.zst\.gpg$/);
      const stored = await readFile(path.join(ws.dir, 'backups', manifest.globals!.key));
      expect(stored.length).toBe(manifest.globals!.bytes);
      expect(stored.includes(Buffer.from(role))).toBe(false); // encrypted

      psql('postgres', `DROP ROLE ${role}`);
      const restore = await runCli([
        'restore',
        'pg',
        '--globals',
        '--key',
        ws.privateKey,
        '--config',
        ws.configFile,
      ]);
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(0);
      const created = /created \d+ roles? \(([^)]*)\); \d+ existed already and were left as they are/
        .exec(restore.stdout)?.[1]
        ?.split(', ');
      // The globals hold every role of the cluster: a role another suite on this server created
      // before our backup and dropped since is created too (seen with two suites at once). The
      // output names them; they are dropped again so that they do not outlive their suite.
      for (const r of created ?? []) if (r !== role) psql('postgres', `DROP ROLE IF EXISTS ${r}`);
      expect(created).toContain(role);
      expect(hashOf()).toBe(before);
      expect(await ws.everything()).not.toContain('not-in-any-log');
    },
    TIMEOUT.roundTrips,
  );

  // Bug caught: a failed pg_dumpall was ignored and the run SUCCEEDED without the roles.
  it(
    'a globals dump that fails fails the run and stores nothing',
    async () => {
      const bin = await mkdtemp(path.join(tmpdir(), 'dvt-pgbin-'));
      const realDump = psql('postgres', 'SHOW server_version_num').trim().slice(0, 2);
      await symlink(`/usr/lib/postgresql/${realDump}/bin/pg_dump`, path.join(bin, 'pg_dump'));
      await symlink(`/usr/lib/postgresql/${realDump}/bin/psql`, path.join(bin, 'psql'));
      await writeFile(
        path.join(bin, 'pg_dumpall'),
        '#!/bin/sh\necho "pg_dumpall: error: permission denied for table pg_authid" >&2\nexit 1\n',
      );
      await chmod(path.join(bin, 'pg_dumpall'), 0o755);
      const before = (await ws.files('backups')).length;
      const saved = process.env.PG_DUMP_PATH;
      process.env.PG_DUMP_PATH = bin;
      try {
        const run = await runCli(['backup', 'pg', '--config', ws.configFile]);
        expect(run.code).not.toBe(0);
        expect(run.stderr).toMatch(
          /globals dump \(pg_dumpall --globals-only\) failed: .*permission denied for table pg_authid/,
        );
      } finally {
        if (saved === undefined) delete process.env.PG_DUMP_PATH;
        else process.env.PG_DUMP_PATH = saved;
        await rm(bin, { recursive: true, force: true });
      }
      expect((await ws.files('backups')).length).toBe(before);
    },
    TIMEOUT.roundTrips,
  );
});
