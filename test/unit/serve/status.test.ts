/**
 * `dumpvault status`, `/metrics` and `--textfile` against a local history: the same numbers
 * the watchdog publishes to CloudWatch, by the same rules (a PARTIAL run is a failure; a job
 * that never succeeded is counted from its first scheduled run after it was first seen), under
 * the Prometheus names that mirror the CloudWatch ones.
 * Bugs caught: a PARTIAL run missing from the failed count and from "last failure"; a new job
 * reported overdue a whole schedule period before its AWS alarm would fire; drill and
 * run-duration gauges never checked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { Job } from '../../../core/config/schema.ts';
import { METRICS } from '../../../core/contracts/cloudwatch.ts';
import { PROMETHEUS_METRICS } from '../../../core/contracts/prometheus.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { jobStatuses, prometheusText } from '../../../core/serve/status.ts';

let dir: string;
let history: LocalHistoryStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-status-'));
  history = new LocalHistoryStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const NOW = Date.parse('2026-01-10T12:00:00Z');
const ago = (hours: number) => new Date(NOW - hours * HOUR).toISOString();

/** One job as the config holds it, with its defaults applied. */
function jobOf(extra: Record<string, unknown> = {}): Job {
  return validateConfig({
    destinations: { local: { type: 'file', path: './b' } },
    jobs: [
      { name: 'app', engine: 'sqlite', source: { url: 'sqlite:./a.db' }, destinations: ['local'], ...extra },
    ],
  }).jobs[0]!;
}

function run(
  runId: string,
  status: HistoryItem['status'],
  hoursAgo: number,
  extra: Partial<HistoryItem> = {},
) {
  return history.save({
    job: 'app',
    runId,
    kind: 'backup',
    status,
    trigger: 'schedule',
    startedAt: ago(hoursAgo),
    finishedAt: ago(hoursAgo),
    ...extra,
  });
}

/** Prometheus text as {`name{labels}`: value}. */
function parse(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

describe('jobStatuses', () => {
  it('counts a PARTIAL backup as a failure, in the failed runs of 24 h and as the last failure, as the watchdog does', async () => {
    await run('old', 'SUCCEEDED', 30, { bytes: 10, durationMs: 4_000 });
    await run('part', 'PARTIAL', 2, { error: 'destination offsite: 403 AccessDenied', durationMs: 9_000 });

    const [status] = await jobStatuses([jobOf()], history, { now: NOW });

    expect(status!.failedRunsLast24Hours).toBe(1);
    expect(status!.lastFailure).toEqual({ at: ago(2), error: 'destination offsite: 403 AccessDenied' });
    expect(status!.lastRun).toEqual({ status: 'PARTIAL', startedAt: ago(2), durationSeconds: 9 });
    const metrics = parse(await prometheusText([status!]));
    expect(metrics['dumpvault_failed_runs_last_24_hours{job="app"}']).toBe(1);
    expect(metrics['dumpvault_last_run_status{job="app",status="PARTIAL"}']).toBe(1);
    expect(metrics['dumpvault_last_run_duration_seconds{job="app"}']).toBe(9);
    expect(metrics['dumpvault_last_backup_duration_seconds{job="app"}']).toBe(4);
  });

  it('measures a job that never succeeded from its first scheduled run after serve first saw it, as the AWS alarm does', async () => {
    // Daily at 03:00 UTC: threshold 1.5 × 24 h + 2 h = 38 h. First seen on the 1st at 04:00,
    // so the first run was due on the 2nd at 03:00 and the job is overdue after the 3rd, 17:00.
    const job = jobOf({ schedule: { cron: '0 3 * * ? *' } });
    const firstSeen = () => '2026-01-01T04:00:00.000Z';
    const at = (iso: string) => jobStatuses([job], history, { now: Date.parse(iso), firstSeen });

    const [early] = await at('2026-01-03T16:59:00Z');
    const [late] = await at('2026-01-03T17:01:00Z');

    expect(early).toMatchObject({ thresholdHours: 38, overdue: false });
    expect(late).toMatchObject({ thresholdHours: 38, overdue: true });
  });

  it('counts a never-succeeded job from its first run when that came before its first scheduled one', async () => {
    const job = jobOf({ schedule: { cron: '0 3 * * ? *' } });
    await run('manual', 'FAILED', 40, { trigger: 'manual', error: 'database app does not exist' });

    const [status] = await jobStatuses([job], history, { now: NOW, firstSeen: () => ago(20) });

    expect(status).toMatchObject({ overdue: true, lastFailure: { at: ago(40) } });
  });

  it('exposes the drill result and the hours since the last successful drill', async () => {
    const job = jobOf({ restoreDrill: { schedule: { rate: '7 days' } } });
    await run('b1', 'SUCCEEDED', 3, { bytes: 10 });
    await run('d1', 'SUCCEEDED', 50, { kind: 'drill' });
    await run('d2', 'FAILED', 1, { kind: 'drill', error: 'row counts differ' });

    const [status] = await jobStatuses([job], history, { now: NOW });
    const metrics = parse(await prometheusText([status!]));

    expect(metrics['dumpvault_drill_succeeded{job="app"}']).toBe(0);
    expect(metrics['dumpvault_hours_since_last_drill_success{job="app"}']).toBe(50);
    expect(metrics['dumpvault_hours_since_last_success{job="app"}']).toBe(3);
  });
});

describe('metric names', () => {
  // The per-job CloudWatch metrics of the watchdog and the restore record, and their Prometheus twins.
  const twins = [
    METRICS.hoursSinceLastSuccess,
    METRICS.lastBackupDurationSeconds,
    METRICS.lastBackupBytes,
    METRICS.failedRunsLast24Hours,
    METRICS.hoursSinceLastDrillSuccess,
    METRICS.standbyLagSeconds,
    METRICS.drillSucceeded,
  ];
  const snake = (name: string) =>
    `dumpvault_${name
      .replace(/([a-z])([A-Z0-9])/g, '$1_$2')
      .replace(/(\d)([A-Z])/g, '$1_$2')
      .toLowerCase()}`;

  it.each(twins)('serves CloudWatch %s under its snake-case name, whose help names it', (cloudwatch) => {
    const metric = Object.values(PROMETHEUS_METRICS).find((m) => m.name === snake(cloudwatch));
    expect(metric, snake(cloudwatch)).toBeDefined();
    expect(metric!.help).toContain(`CloudWatch ${cloudwatch}`);
  });
});
