/**
 * Standby lag (core/standby/lag.ts) on an injected clock: the age of the backup the standby
 * holds, which serve's dumpvault_standby_lag_seconds and the watchdog's StandbyLagSeconds publish.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryItem } from '../../../core/history/history.ts';
import { scheduleGaps } from '../../../core/schedule/index.ts';
import {
  STANDBY_LAG_DEFAULT_HOURS,
  standbyLagSeconds,
  standbyLagThresholdHours,
} from '../../../core/standby/lag.ts';

const run = (
  runId: string,
  kind: HistoryItem['kind'],
  status: HistoryItem['status'],
  startedAt: string,
  backupStartedAt?: string,
): HistoryItem => ({
  job: 'app',
  runId,
  kind,
  status,
  trigger: 'schedule',
  startedAt,
  ...(backupStartedAt ? { details: { backupStartedAt } } : {}),
});

describe('standbyLagSeconds', () => {
  it('measures from the start of the backup the newest SUCCEEDED standby run swapped in, not from the run itself', () => {
    // Bug caught: lag measured from the standby run's start or finish, which hides a backup that
    // took hours (the standby's data is as old as the backup's start).
    const items = [
      run('b2', 'backup', 'SUCCEEDED', '2026-03-02T03:00:00.000Z'),
      run('s1', 'standby', 'SUCCEEDED', '2026-03-01T05:00:00.000Z', '2026-03-01T03:00:00.000Z'),
      run('s2', 'standby', 'SUCCEEDED', '2026-03-02T05:00:00.000Z', '2026-03-02T03:00:00.000Z'),
    ];

    expect(standbyLagSeconds(items, new Date('2026-03-02T05:30:00.000Z'))).toBe(2.5 * 3600);
    expect(standbyLagSeconds(items, new Date('2026-03-03T03:00:00.000Z'))).toBe(24 * 3600);
  });

  it('ignores FAILED and RUNNING standby runs: a failed swap left the old data in place', () => {
    // Bug caught: a FAILED run's backupStartedAt read as the standby's, so the lag looked fresh
    // while the standby still held yesterday's data.
    const items = [
      run('s3', 'standby', 'FAILED', '2026-03-03T05:00:00.000Z', '2026-03-03T03:00:00.000Z'),
      run('s4', 'standby', 'RUNNING', '2026-03-03T06:00:00.000Z', '2026-03-03T03:00:00.000Z'),
      run('s2', 'standby', 'SUCCEEDED', '2026-03-02T05:00:00.000Z', '2026-03-02T03:00:00.000Z'),
    ];

    expect(standbyLagSeconds(items, new Date('2026-03-03T07:00:00.000Z'))).toBe(28 * 3600);
  });

  it('is undefined before any standby run succeeded, and never negative when the clock is behind', () => {
    expect(
      standbyLagSeconds([run('b1', 'backup', 'SUCCEEDED', '2026-03-01T03:00:00.000Z')], new Date()),
    ).toBe(undefined);
    const items = [run('s1', 'standby', 'SUCCEEDED', '2026-03-01T05:00:00.000Z', '2026-03-01T03:00:00.000Z')];
    expect(standbyLagSeconds(items, new Date('2026-03-01T02:00:00.000Z'))).toBe(0);
  });
});

describe('standbyLagThresholdHours', () => {
  it('is lagAlarmHours when set, else twice the longest schedule gap, else 26 h', () => {
    const daily = scheduleGaps({ cron: '0 3 * * ? *', timezone: 'UTC' });

    expect(standbyLagThresholdHours({ lagAlarmHours: 30 }, daily)).toBe(30);
    expect(standbyLagThresholdHours({}, daily)).toBe(48);
    expect(standbyLagThresholdHours({}, scheduleGaps({ rate: '6 hours' }))).toBe(12);
    expect(standbyLagThresholdHours({}, undefined)).toBe(STANDBY_LAG_DEFAULT_HOURS);
  });
});
