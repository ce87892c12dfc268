/**
 * A PostgreSQL backup user that cannot read one table. The row counts run in the psql session
 * that exported pg_dump's snapshot; their "permission denied for table" ends that session, and
 * pg_dump, importing the snapshot a moment later, fails with "invalid snapshot identifier" —
 * which said nothing about the cause. The run must report the permission problem and its fix.
 * Real PostgreSQL, a real role without SELECT on one table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { PG, psql, uniqueName } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
const db = uniqueName('dvt_pg_perm');
const role = uniqueName('dvt_reader');

beforeAll(async () => {
  ws = await createWorkspace();
  psql('postgres', `CREATE DATABASE ${db}; CREATE ROLE ${role} LOGIN;`);
  psql(
    db,
    `CREATE TABLE open_rows AS SELECT i FROM generate_series(1, 20000) i;
     CREATE TABLE payroll (id int, salary int); INSERT INTO payroll VALUES (1, 100);
     GRANT SELECT ON open_rows TO ${role};`,
  );
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    jobs: [
      {
        name: 'perm',
        engine: 'postgres',
        source: { url: `postgres://${role}@${PG.host}:${PG.port}/${db}` },
        destinations: ['local'],
      },
    ],
  });
});

afterAll(async () => {
  psql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE); DROP ROLE IF EXISTS ${role};`);
  await ws?.remove();
});

describe('a backup user without read access to one table', () => {
  it('fails naming "permission denied for table payroll" and the grant to add, not "invalid snapshot identifier"', async () => {
    // Twice: which of the two processes notices first varies from run to run.
    const runs = [
      await runCli(['backup', 'perm', '--config', ws.configFile]),
      await runCli(['backup', 'perm', '--config', ws.configFile]),
    ];

    const history = await new LocalHistoryStore(`${ws.dir}/.dumpvault`).list('perm');
    expect(history.map((h) => h.status)).toEqual(['FAILED', 'FAILED']);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('permission denied for table payroll');
      expect(run.stderr).toContain('GRANT pg_read_all_data TO <user>');
      expect(run.stderr).not.toContain('invalid snapshot identifier');
    }
    for (const item of history) {
      expect(item.error).toContain('permission denied for table payroll');
      expect(item.error).not.toContain('invalid snapshot identifier');
    }
    expect(await ws.files('backups')).toEqual([]);
  });
});
