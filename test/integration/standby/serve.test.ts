/**
 * The standby follows the backups `dumpvault serve` runs on their schedule (issue 16 §2: "after
 * each successful backup"), against the real PostgreSQL server: the scheduled backup is restored
 * into the standby, recorded as a standby run, and its lag is exported on /metrics.
 * `backup` and `standby` themselves are covered by postgres.test.ts and mariadb.test.ts.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Scheduler } from '../../../core/serve/scheduler.ts';
import { serveCommand } from '../../../task-image/cli/commands/serve.ts';
import { type Io, Output } from '../../../task-image/cli/output.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { ManualClock } from '../../support/manual-clock.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const JOB = 'served-standby';
let ws: Workspace;
let source: string;
let standby: string;

beforeAll(async () => {
  ws = await createWorkspace();
  source = createPostgresDb();
  standby = uniqueName('dvt_sbs');
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: JOB,
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${source}` },
        destinations: ['local'],
        encryption: 'ops',
        schedule: { rate: '1 day' },
        standby: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${standby}` },
      },
    ],
  });
});

afterAll(async () => {
  for (const d of [source, standby, `${standby}__dv_next`, `${standby}__dv_prev`]) dropPostgresDb(d);
  await ws?.remove();
});

describe('dumpvault serve with a standby', () => {
  it('restores each scheduled backup into the standby, records the standby run and exports its lag', async () => {
    // Prepare: serve in-process on a hand-moved clock, listening for /metrics.
    const log: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        log.push(chunk.toString());
        cb();
      },
    });
    const io: Io = {
      stdout: sink,
      stderr: sink,
      env: { ...process.env, DUMPVAULT_PRIVATE_KEY: ws.privateKey },
    };
    const clock = new ManualClock(Date.now());
    const signals = new EventEmitter();
    let address: AddressInfo | undefined;
    let started!: (scheduler: Scheduler) => void;
    const scheduler = new Promise<Scheduler>((resolve) => (started = resolve));

    // Act: a new rate schedule fires at once; wait until that firing (backup + standby) has ended.
    const exit = serveCommand({ config: ws.configFile, listen: '127.0.0.1:0' }, new Output(io, false), io, {
      clock,
      signals,
      onListening: (a) => {
        address = a;
      },
      onStarted: (s) => started(s),
    });
    await clock.sleeping();
    await (await scheduler).settled();
    await clock.sleeping();

    // Assess: the standby holds the scheduled backup, and says so in history and /metrics.
    const runs = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(JOB);
    const backup = runs.find((r) => r.kind === 'backup');
    const standbyRun = runs.find((r) => r.kind === 'standby');
    expect(backup, log.join('')).toMatchObject({ status: 'SUCCEEDED', trigger: 'schedule' });
    expect(standbyRun, log.join('')).toMatchObject({ status: 'SUCCEEDED' });
    expect(standbyRun?.details?.['backupStartedAt']).toBe(backup?.startedAt);
    expect(postgresFingerprint(standby)).toBe(postgresFingerprint(source));
    const metrics = await (await fetch(`http://127.0.0.1:${address!.port}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^dumpvault_standby_lag_seconds\\{job="${JOB}"\\} \\d`, 'm'));
    signals.emit('SIGTERM');
    expect(await exit).toBe(0);
  }, 240_000);
});
