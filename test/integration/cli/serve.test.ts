/**
 * `dumpvault serve` with real backups (sqlite3, file and s3rver destinations, local history)
 * on a hand-moved clock: two jobs due at once, /metrics scraped over HTTP and parsed, SIGHUP
 * with a broken config, SIGTERM during a backup; and `dumpvault status` exit codes.
 */
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Scheduler } from '../../../core/serve/scheduler.ts';
import { serveCommand } from '../../../task-image/cli/commands/serve.ts';
import { type Io, Output } from '../../../task-image/cli/output.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { ManualClock } from '../../support/manual-clock.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let s3: S3rverHandle;
const job = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  engine: 'sqlite',
  source: { url: 'sqlite:./a.db' },
  destinations: ['local'],
  encryption: 'ops',
  ...extra,
});

beforeAll(async () => {
  ws = await createWorkspace();
  createSqliteDb(path.join(ws.dir, 'a.db'));
  s3 = await startS3rver({ buckets: ['backups'] });
});
afterAll(async () => {
  await s3?.stop();
  await ws?.remove();
});

/** serve in-process on `clock`, its log captured, signals from an emitter the test owns. */
function startServe(clock: ManualClock, args: { listen?: string; env?: Record<string, string> } = {}) {
  const log: string[] = [];
  const stderr = new Writable({
    write(chunk: Buffer, _enc, cb) {
      log.push(chunk.toString());
      cb();
    },
  });
  const io: Io = { stdout: stderr, stderr, env: { ...process.env, ...S3RVER_ENV, ...args.env } };
  const signals = new EventEmitter();
  let address: AddressInfo | undefined;
  let started!: (scheduler: Scheduler) => void;
  const scheduler = new Promise<Scheduler>((resolve) => (started = resolve));
  const exit = serveCommand(
    { config: ws.configFile, ...(args.listen ? { listen: args.listen } : {}) },
    new Output(io, false),
    io,
    {
      clock,
      signals,
      onListening: (a) => {
        address = a;
      },
      onStarted: (s) => started(s),
    },
  );
  return {
    exit,
    signals,
    log: () => log.join(''),
    url: (route: string) => `http://127.0.0.1:${address!.port}${route}`,
    idle: async () => {
      // Every firing has ended (their outcome is in history) and the scheduler waits again.
      await (await scheduler).settled();
      await clock.sleeping();
    },
  };
}

/** Prometheus text as {`name{labels}`: value}. */
function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

describe('dumpvault serve', () => {
  it('backs up two jobs due at the same minute, records them as scheduled, and serves their metrics over HTTP', async () => {
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [
        job('one', { schedule: { cron: '0 3 * * ? *', timezone: 'Europe/Berlin' } }),
        job('two', { schedule: { cron: '0 2 * * ? *', timezone: 'UTC' } }),
        // Unscheduled: serve only measures its standby (bug caught: standby lag not exported).
        {
          name: 'replica',
          engine: 'postgres',
          source: { url: 'postgres://app@127.0.0.1:5432/app' },
          destinations: ['local'],
          standby: { url: 'postgres://app@127.0.0.1:5432/app_standby' },
        },
      ],
    });
    // The standby holds a backup that started 6 h before the scrape; an older standby run and a
    // newer FAILED one must not count (the lag is that of the data the standby holds).
    const standbyRun = (
      runId: string,
      status: 'SUCCEEDED' | 'FAILED',
      startedAt: string,
      backupStartedAt: string,
    ) =>
      new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).save({
        job: 'replica',
        runId,
        kind: 'standby',
        status,
        trigger: 'manual',
        startedAt,
        finishedAt: startedAt,
        details: { backupStartedAt },
      });
    await standbyRun('sb1', 'SUCCEEDED', '2026-01-08T21:00:00.000Z', '2026-01-08T20:00:00.000Z');
    await standbyRun('sb2', 'SUCCEEDED', '2026-01-09T21:00:00.000Z', '2026-01-09T20:00:00.000Z');
    await standbyRun('sb3', 'FAILED', '2026-01-10T00:00:00.000Z', '2026-01-09T23:00:00.000Z');
    const clock = new ManualClock('2026-01-10T01:30:00Z');
    const serve = startServe(clock, { listen: '127.0.0.1:0' });
    await clock.sleeping();
    // 03:00 Berlin (winter) and 02:00 UTC are the same instant.
    await clock.set('2026-01-10T02:00:00Z');
    await serve.idle();

    const history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
    for (const name of ['one', 'two']) {
      const [run] = await history.list(name);
      expect(run).toMatchObject({ kind: 'backup', status: 'SUCCEEDED', trigger: 'schedule' });
    }

    const health = await fetch(serve.url('/healthz'));
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', schedules: 2, running: 0 });
    const scraped = await fetch(serve.url('/metrics'));
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = parseMetrics(await scraped.text());
    const one = (await history.list('one'))[0]!;
    expect(metrics['dumpvault_last_run_status{job="one",status="SUCCEEDED"}']).toBe(1);
    expect(metrics['dumpvault_last_run_status{job="one",status="FAILED"}']).toBe(0);
    expect(metrics['dumpvault_last_backup_bytes{job="one"}']).toBe(one.bytes);
    expect(metrics['dumpvault_last_success_timestamp_seconds{job="two"}']).toBeGreaterThan(0);
    expect(metrics['dumpvault_next_run_timestamp_seconds{job="one",kind="backup"}']).toBe(
      Date.parse('2026-01-11T02:00:00Z') / 1000,
    );
    expect(metrics['dumpvault_alarm_threshold_hours{job="two"}']).toBe(38);
    expect(metrics['dumpvault_overdue{job="one"}']).toBe(0);
    expect(metrics['dumpvault_standby_lag_seconds{job="replica"}']).toBe(6 * 3600);
    expect(metrics['dumpvault_standby_lag_threshold_seconds{job="replica"}']).toBe(26 * 3600);
    expect(metrics['dumpvault_standby_lag_seconds{job="one"}']).toBeUndefined();

    serve.signals.emit('SIGTERM');
    expect(await serve.exit).toBe(0);
  }, 180_000);

  it('saves the config (metaBackup) with every scheduled backup, as "dumpvault backup" and the task do', async () => {
    // Bug caught: serve's backups never wrote the meta-backup, so a machine that only ran
    // `serve` (init's config has metaBackup) left `dumpvault recover` nothing to recover from.
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './meta-b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      metaBackup: { recipients: ['keys/ops.pub.asc'] },
      jobs: [job('meta', { destinations: ['local'], schedule: { rate: '1 day' } })],
    });
    const clock = new ManualClock('2026-02-10T00:00:00Z');
    const serve = startServe(clock);
    await clock.sleeping();
    await serve.idle(); // a new rate schedule fires at once

    const [run] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('meta');
    expect(run).toMatchObject({ status: 'SUCCEEDED', trigger: 'schedule' });
    expect((await ws.files('meta-b/_dumpvault')).filter((f) => /config-.*\.json\.gpg$/.test(f))).toHaveLength(
      1,
    );
    serve.signals.emit('SIGTERM');
    expect(await serve.exit).toBe(0);

    // A meta-backup that fails (its passphrase variable is unset) leaves the backup SUCCEEDED
    // and is a warning in serve's log, as it is on `dumpvault backup`'s output.
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './meta-b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      metaBackup: { passphraseEnv: 'DV_META_PASSPHRASE_UNSET' },
      jobs: [job('meta', { destinations: ['local'], schedule: { rate: '1 day' } })],
    });
    const nextDay = new ManualClock('2026-02-11T00:00:00Z');
    const again = startServe(nextDay);
    await nextDay.sleeping();
    await again.idle(); // the day's firing, missed while serve was down, runs at start-up
    const runs = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('meta');
    expect(runs.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(again.log()).toMatch(/backup meta: warning: .*DV_META_PASSPHRASE_UNSET/);
    again.signals.emit('SIGTERM');
    expect(await again.exit).toBe(0);
  }, 180_000);

  it('runs a restore drill on its schedule: the newest backup restored, compared and recorded, its result in /metrics', async () => {
    // Bug caught (possible): drills scheduled but never run by serve, or their result not exported.
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './drill-b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [job('drilled', { restoreDrill: { schedule: { rate: '7 days' } } })],
    });
    expect((await runCli(['backup', 'drilled', '--config', ws.configFile])).code).toBe(0);
    const clock = new ManualClock(Date.now());
    const serve = startServe(clock, { listen: '127.0.0.1:0', env: { DUMPVAULT_PRIVATE_KEY: ws.privateKey } });
    await clock.sleeping();
    await serve.idle(); // a new rate schedule fires at once

    const [drill] = (await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('drilled')).filter(
      (r) => r.kind === 'drill',
    );
    expect(drill).toMatchObject({ status: 'SUCCEEDED', trigger: 'schedule' });
    const metrics = parseMetrics(await (await fetch(serve.url('/metrics'))).text());
    expect(metrics['dumpvault_drill_succeeded{job="drilled"}']).toBe(1);
    expect(metrics['dumpvault_next_run_timestamp_seconds{job="drilled",kind="drill"}']).toBe(
      (clock.now() + 7 * 86_400_000) / 1000,
    );
    serve.signals.emit('SIGTERM');
    expect(await serve.exit).toBe(0);
  }, 180_000);

  it('records a firing SKIPPED while another run of the job holds its lease (never two runs at once)', async () => {
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [job('leased', { schedule: { rate: '1 hour' } })],
    });
    const history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
    expect((await history.acquireLease('leased', 'otherrun', 3_600_000)).acquired).toBe(true);
    try {
      const clock = new ManualClock(Date.now());
      const serve = startServe(clock);
      await clock.sleeping();
      await serve.idle(); // a new rate schedule fires at once

      const [run] = await history.list('leased');
      expect(run).toMatchObject({ status: 'SKIPPED', trigger: 'schedule' });
      expect(serve.log()).toMatch(
        /backup leased: SKIPPED: another run \(otherrun\) of leased is still in progress/,
      );
      serve.signals.emit('SIGTERM');
      expect(await serve.exit).toBe(0);
    } finally {
      await history.releaseLease('leased', 'otherrun');
    }
  }, 180_000);

  it('refuses a broken config on SIGHUP with a log line and keeps running the old schedule', async () => {
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [job('hup', { schedule: { rate: '1 hour' } })],
    });
    const clock = new ManualClock('2026-02-01T00:00:00Z');
    const serve = startServe(clock);
    await clock.sleeping();
    await serve.idle(); // a new rate schedule fires at once

    const good = await readFile(ws.configFile, 'utf8');
    await writeFile(ws.configFile, good.replace('"1 hour"', '"not a rate"'));
    serve.signals.emit('SIGHUP');
    expect(serve.log()).toMatch(
      /SIGHUP: reload refused, keeping the previous config: .*jobs\[0\]\.schedule\.rate: expected/,
    );
    await writeFile(ws.configFile, good);

    await clock.set('2026-02-01T01:00:00Z');
    await serve.idle();
    const runs = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('hup');
    expect(runs.map((r) => `${r.status} ${r.trigger}`)).toEqual(['SUCCEEDED schedule', 'SUCCEEDED schedule']);

    serve.signals.emit('SIGTERM');
    expect(await serve.exit).toBe(0);
  }, 180_000);

  it('on SIGTERM stops a running backup as "dumpvault backup" does: upload aborted, FAILED recorded, exit 1', async () => {
    await ws.writeConfig({
      destinations: { s3: s3rverDestination(s3, 'backups') },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [
        job('term', {
          source: { url: 'sqlite:./big.db' },
          destinations: ['s3'],
          schedule: { cron: '0 4 * * ? *' },
        }),
      ],
    });
    // Big enough for a multipart upload (several 5 MiB parts), whose parts the store holds.
    execFileSync('sqlite3', [
      path.join(ws.dir, 'big.db'),
      'CREATE TABLE big AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 400000) SELECT i, hex(randomblob(32)) AS t FROM c',
    ]);
    const hold = s3.holdPartUploads();
    try {
      const clock = new ManualClock('2026-03-01T03:59:00Z');
      const serve = startServe(clock);
      await clock.sleeping();
      await clock.set('2026-03-01T04:00:00Z');
      // A part held by the store: the multipart upload exists and is mid-way.
      await s3.nextRequest((r) => r.path.startsWith('/backups/term/') && 'partNumber' in r.query);
      serve.signals.emit('SIGTERM');
      hold.release();
      expect(await serve.exit).toBe(1);
    } finally {
      hold.release();
    }
    const [run] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('term');
    expect(run).toMatchObject({ status: 'FAILED', trigger: 'schedule' });
    expect(run!.error).toMatch(/stopped by SIGTERM before it finished/);
    expect(await s3.pendingUploads('backups')).toEqual([]);
  }, 180_000);
});

describe('dumpvault status (local)', () => {
  it('calls a job with alarmAfterHours and no schedule overdue once that long has passed since serve first saw it, as its AWS alarm does', async () => {
    // Bug: serve recorded first sight only of scheduled jobs, so a job backed up by hand (or by
    // cron) that never succeeded was never overdue locally; the watchdog counts it from FIRSTSEEN.
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [job('by-hand', { alarmAfterHours: 2 })],
    });
    const serve = startServe(new ManualClock(Date.now() - 3 * 3_600_000));
    await serve.idle();
    serve.signals.emit('SIGTERM');
    expect(await serve.exit).toBe(0);

    const status = await runCli(['status', '--config', ws.configFile]);

    expect(status.stdout).toMatch(/^by-hand .*OVERDUE \(no success for more than 2 h\)/m);
    expect(status.code).toBe(1);
  }, 60_000);

  it('exits 0 while every job is fresh and 1 once one is overdue by the AWS alarm rule, and writes the metrics for node_exporter', async () => {
    const jobs = [
      job('fresh', { schedule: { rate: '1 day' } }),
      job('stale', { schedule: { rate: '6 hours' } }),
      job('unscheduled'),
    ];
    const config = (extra: unknown[]) => ({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [...jobs, ...extra],
    });
    await ws.writeConfig(config([]));
    const history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
    const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3_600_000).toISOString();
    const success = (name: string, runId: string, hoursAgo: number) =>
      history.save({
        job: name,
        runId,
        kind: 'backup',
        status: 'SUCCEEDED',
        trigger: 'schedule',
        startedAt: at(hoursAgo),
        finishedAt: at(hoursAgo),
        bytes: 10,
      });
    await success('fresh', 'f1', 20); // 1.5 × 24 h + 2 h = 38 h
    await success('stale', 's1', 10); // 1.5 × 6 h + 2 h = 11 h
    await success('unscheduled', 'u1', 500); // no schedule, no alarmAfterHours: never overdue

    const textfile = path.join(ws.dir, 'dumpvault.prom');
    const ok = await runCli(['status', '--config', ws.configFile, '--textfile', textfile]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^stale +SUCCEEDED +10\.0 h/m);
    expect(ok.code).toBe(0);
    expect(parseMetrics(await readFile(textfile, 'utf8'))['dumpvault_overdue{job="stale"}']).toBe(0);

    await ws.writeConfig(config([job('late', { schedule: { rate: '6 hours' } })]));
    await success('late', 'l1', 12);
    const over = await runCli(['status', '--config', ws.configFile, '--textfile', textfile]);
    expect(over.code).toBe(1);
    expect(over.stdout).toMatch(/^late .*OVERDUE \(no success for more than 11 h\)/m);
    const metrics = parseMetrics(await readFile(textfile, 'utf8'));
    expect(metrics['dumpvault_overdue{job="late"}']).toBe(1);
    expect(metrics['dumpvault_hours_since_last_success{job="late"}']).toBeCloseTo(12, 1);
  }, 120_000);
});
