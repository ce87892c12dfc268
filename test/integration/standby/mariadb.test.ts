/**
 * MariaDB standby end to end (issue 16 §2), on the real server: the backup's tables moved into
 * the standby by one RENAME TABLE while a reader queries it, the previous tables kept in
 * <db>__dv_prev, a corrupt backup never swapped in.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import {
  createMariaDb,
  dropMariaDb,
  MY,
  mariadb,
  mariaFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';
import { alerts, corruptNewestObject, inflateNewestRowCount, readInLoop, standbyRuns } from './support.ts';

const JOB = 'my-standby';
let ws: Workspace;
let source: string;
let standby: string;
const env = () => ({ DUMPVAULT_PRIVATE_KEY: ws.privateKey });
const cli = (...args: string[]) => runCli([...args, '--config', ws.configFile], env());
const count = (db: string) => mariadb(db, 'SELECT COUNT(*) FROM orders').trim();

beforeAll(async () => {
  ws = await createWorkspace();
  source = createMariaDb();
  standby = uniqueName('dvt_sb');
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: JOB,
        engine: 'mysql',
        source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${source}` },
        destinations: ['local'],
        encryption: 'ops',
        standby: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${standby}` },
      },
    ],
  });
});

afterAll(async () => {
  dropMariaDb(source);
  for (const d of [standby, `${standby}__dv_next`, `${standby}__dv_prev`]) dropMariaDb(d);
  await ws?.remove();
});

describe('MariaDB standby', () => {
  it('restores each successful backup into the standby, tables and view, verified against the manifest', async () => {
    const backup = await cli('backup', JOB);

    expect(backup.stderr).not.toMatch(/^error/m);
    expect(backup.code).toBe(0);
    expect(mariaFingerprint(standby)).toBe(mariaFingerprint(source));
    expect(mariadb(standby, 'SELECT COUNT(*) FROM big_orders').trim()).toBe(
      mariadb(source, 'SELECT COUNT(*) FROM big_orders').trim(),
    );
    const [run] = await standbyRuns(ws.dir, JOB);
    expect(run).toMatchObject({ kind: 'standby', status: 'SUCCEEDED' });
  }, 180_000);

  it('swaps all tables in one RENAME under a querying reader (old or new counts, never an error) and keeps the previous tables in __dv_prev', async () => {
    const previous = mariaFingerprint(standby);
    const oldCount = count(standby);
    mariadb(source, 'INSERT INTO orders (customer_id, total) SELECT 1, seq FROM seq_1_to_300');
    const newCount = count(source);
    const reader = await mysql.createConnection({
      host: MY.host,
      port: MY.port,
      user: MY.user,
      database: standby,
    });
    let swapping = true;
    const log = readInLoop(
      async () => {
        const [rows] = await reader.query('SELECT COUNT(*) AS n FROM orders');
        return String((rows as { n: number }[])[0]?.n);
      },
      () => !swapping,
    );
    const backup = await cli('backup', JOB);
    swapping = false;
    const seen = await log;
    await reader.end();

    expect(backup.code).toBe(0);
    expect(seen.errors).toEqual([]);
    expect(seen.answers.every((n) => n === oldCount || n === newCount)).toBe(true);
    expect(seen.answers.at(-1)).toBe(newCount);
    expect(mariaFingerprint(standby)).toBe(mariaFingerprint(source));
    expect(mariaFingerprint(`${standby}__dv_prev`)).toBe(previous);
  }, 300_000);

  it('does not replace the standby with a backup whose restore differs from its manifest: content unchanged, FAILED naming the table, one alert', async () => {
    // The object verifies (size, sha256, completeness); only the comparison after the restore
    // into __dv_next can tell. A swap before that comparison, or despite it, fails this test.
    const held = mariaFingerprint(standby);
    const before = (await alerts(ws.dir)).length;
    const table = await inflateNewestRowCount(ws.dir, JOB);

    const run = await cli('standby', JOB);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /the restored standby differs from backup .*expected \d+ rows, found \d+.*the standby was not replaced/,
    );
    expect(mariaFingerprint(standby)).toBe(held);
    const [latest] = await standbyRuns(ws.dir, JOB);
    expect(latest).toMatchObject({ kind: 'standby', status: 'FAILED' });
    expect(latest?.error).toContain(table);
    const raised = (await alerts(ws.dir)).slice(before);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ kind: 'standby', status: 'FAILED' });
  }, 300_000);

  it('does not replace the standby with a corrupt backup: content unchanged, FAILED recorded, one alert', async () => {
    const held = mariaFingerprint(standby);
    const before = (await alerts(ws.dir)).length;
    await corruptNewestObject(ws.dir, JOB);

    const run = await cli('standby', JOB);

    expect(run.code).toBe(1);
    expect(mariaFingerprint(standby)).toBe(held);
    const [latest] = await standbyRuns(ws.dir, JOB);
    expect(latest).toMatchObject({ kind: 'standby', status: 'FAILED' });
    expect(latest?.error).toMatch(/sha256|modified/);
    const raised = (await alerts(ws.dir)).slice(before);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ kind: 'standby', status: 'FAILED' });
  }, 300_000);
});
