import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { formatPlan, planRetention, type RetentionCandidate } from '../../../core/retention/plan.ts';
import { candidate, deletedIds, keptRules, policy } from './candidates.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-11-21T06:00:00Z');

describe('planRetention rules', () => {
  it('labels every rule that keeps a backup and deletes what no rule selects', () => {
    // Prepare
    const backups = [
      candidate('2026-11-21T03:00:00Z', '00000001'),
      candidate('2026-11-20T03:00:00Z', '00000002'),
      candidate('2026-11-19T03:00:00Z', '00000003'),
      candidate('2026-11-15T03:00:00Z', '00000004'), // Sunday of 2026-W46
      candidate('2026-11-09T03:00:00Z', '00000005'), // Monday of 2026-W46
      candidate('2026-10-20T03:00:00Z', '00000006'),
      candidate('2026-09-01T03:00:00Z', '00000007'),
      candidate('2025-12-31T03:00:00Z', '00000008'),
    ];
    const retention = policy({ keepLast: 2, daily: 3, weekly: 2, monthly: 3, yearly: 2 });

    // Act
    const plan = planRetention({ backups, policy: retention, now: NOW, lastRunFailed: false });

    // Assess
    expect(plan.runnable).toBe(true);
    expect(keptRules(plan)).toEqual({
      '2026-11-21T030000Z-00000001': [
        'newest',
        'keepLast 1/2',
        'daily 2026-11-21',
        'weekly 2026-W47',
        'monthly 2026-11',
        'yearly 2026',
      ],
      '2026-11-20T030000Z-00000002': ['keepLast 2/2', 'daily 2026-11-20'],
      '2026-11-19T030000Z-00000003': ['daily 2026-11-19'],
      '2026-11-15T030000Z-00000004': ['weekly 2026-W46'],
      '2026-10-20T030000Z-00000006': ['monthly 2026-10'],
      '2026-09-01T030000Z-00000007': ['monthly 2026-09'],
      '2025-12-31T030000Z-00000008': ['yearly 2025'],
    });
    expect(plan.decisions.find((d) => d.action === 'delete')?.rules).toEqual(['not selected by any rule']);
    expect(deletedIds(plan)).toEqual(['2026-11-09T030000Z-00000005']);
  });

  it('lists decisions newest first whatever the input order, breaking equal times by id', () => {
    const a = candidate('2026-11-20T03:00:00Z', 'aaaaaaaa');
    const b = candidate('2026-11-20T03:00:00Z', 'bbbbbbbb');
    const c = candidate('2026-11-21T03:00:00Z', 'cccccccc');
    const plan = planRetention({ backups: [a, c, b], policy: policy(), now: NOW, lastRunFailed: false });
    expect(plan.decisions.map((d) => d.backup)).toEqual([c, b, a]);
  });

  it('counts only periods that hold a backup, so gaps do not use up slots', () => {
    const backups = [
      candidate('2026-11-21T03:00:00Z', '00000001'),
      candidate('2026-11-01T03:00:00Z', '00000002'),
      candidate('2026-06-01T03:00:00Z', '00000003'),
    ];
    const plan = planRetention({ backups, policy: policy({ daily: 3 }), now: NOW, lastRunFailed: false });
    expect(deletedIds(plan)).toEqual([]);
  });

  it('keeps the newest complete backup when maxAgeDays, keepLast 0 and empty buckets would drop everything', () => {
    const backups = [
      candidate('2025-01-01T03:00:00Z', '00000001'),
      candidate('2024-01-01T03:00:00Z', '00000002'),
    ];
    const plan = planRetention({
      backups,
      policy: policy({ maxAgeDays: 30 }),
      now: NOW,
      lastRunFailed: false,
    });
    expect(keptRules(plan)).toEqual({ '2025-01-01T030000Z-00000001': ['newest'] });
    expect(plan.decisions[1]?.rules).toEqual(['older than maxAgeDays 30']);
  });

  it('lets maxAgeDays override keepLast and bucket rules', () => {
    const backups = [
      candidate('2026-11-21T03:00:00Z', '00000001'),
      candidate('2026-01-01T03:00:00Z', '00000002'),
    ];
    const retention = policy({ keepLast: 5, daily: 5, monthly: 12, yearly: 5, maxAgeDays: 100 });
    const plan = planRetention({ backups, policy: retention, now: NOW, lastRunFailed: false });
    expect(deletedIds(plan)).toEqual(['2026-01-01T030000Z-00000002']);
  });

  it('keeps a backup exactly maxAgeDays × 24 h old and deletes one a millisecond older', () => {
    // Europe/Berlin: the window spans the October fall-back, and still counts 24-hour days.
    const cutoff = new Date(NOW.getTime() - 30 * DAY_MS);
    const atCutoff: RetentionCandidate = {
      ...candidate('2026-10-22T06:00:00Z', '00000002'),
      startedAt: cutoff,
    };
    const justOlder: RetentionCandidate = {
      ...candidate('2026-10-22T06:00:00Z', '00000003'),
      startedAt: new Date(cutoff.getTime() - 1),
    };
    const backups = [candidate('2026-11-21T03:00:00Z', '00000001'), atCutoff, justOlder];
    const retention = policy({ keepLast: 10, maxAgeDays: 30, timezone: 'Europe/Berlin' });
    const plan = planRetention({ backups, policy: retention, now: NOW, lastRunFailed: false });
    expect(keptRules(plan)[atCutoff.id]).toEqual(['keepLast 2/10']);
    expect(plan.decisions.find((d) => d.backup === justOlder)).toMatchObject({
      action: 'delete',
      rules: ['older than maxAgeDays 30'],
    });
  });
});

describe('planRetention calendar edges', () => {
  // Later than every backup below: a backup stamped after `now` would be future-dated.
  const plan = (backups: RetentionCandidate[], overrides: Parameters<typeof policy>[0]) =>
    planRetention({
      backups,
      policy: policy(overrides),
      now: new Date('2027-01-01T00:00:00Z'),
      lastRunFailed: false,
    });

  it('starts a new ISO week on Monday: Sunday and Saturday share one, Monday has its own', () => {
    const monday = candidate('2026-11-23T03:00:00Z', '00000001');
    const sunday = candidate('2026-11-22T03:00:00Z', '00000002');
    const saturday = candidate('2026-11-21T03:00:00Z', '00000003');
    const result = plan([monday, sunday, saturday], { weekly: 2 });
    expect(keptRules(result)).toEqual({
      [monday.id]: ['newest', 'weekly 2026-W48'],
      [sunday.id]: ['weekly 2026-W47'],
    });
  });

  it('puts a late-Sunday UTC backup into the next ISO week in Asia/Kolkata', () => {
    const mondayIst = candidate('2026-11-22T18:45:00Z', '00000001'); // 00:15 Monday IST
    const sundayIst = candidate('2026-11-22T18:15:00Z', '00000002'); // 23:45 Sunday IST
    expect(keptRules(plan([mondayIst, sundayIst], { weekly: 2, timezone: 'Asia/Kolkata' }))).toEqual({
      [mondayIst.id]: ['newest', 'weekly 2026-W48'],
      [sundayIst.id]: ['weekly 2026-W47'],
    });
    expect(deletedIds(plan([mondayIst, sundayIst], { weekly: 2, timezone: 'UTC' }))).toEqual([sundayIst.id]);
  });

  it('treats 2020-12-28 to 2021-01-03 as one ISO week 53, while yearly splits it at 1 January', () => {
    const w01 = candidate('2021-01-04T03:00:00Z', '00000001');
    const jan1 = candidate('2021-01-01T03:00:00Z', '00000002');
    const dec31 = candidate('2020-12-31T03:00:00Z', '00000003');
    const dec28 = candidate('2020-12-28T03:00:00Z', '00000004');
    const w52 = candidate('2020-12-27T03:00:00Z', '00000005');
    const backups = [w01, jan1, dec31, dec28, w52];
    expect(keptRules(plan(backups, { weekly: 3 }))).toEqual({
      [w01.id]: ['newest', 'weekly 2021-W01'],
      [jan1.id]: ['weekly 2020-W53'],
      [w52.id]: ['weekly 2020-W52'],
    });
    expect(keptRules(plan(backups, { yearly: 2 }))).toEqual({
      [w01.id]: ['newest', 'yearly 2021'],
      [dec31.id]: ['yearly 2020'],
    });
  });

  it('counts 2026-10-31T23:30Z as November in Europe/Berlin but October in America/New_York', () => {
    const nov2 = candidate('2026-11-02T03:00:00Z', '00000001');
    const lateOct31 = candidate('2026-10-31T23:30:00Z', '00000002');
    const noonOct31 = candidate('2026-10-31T12:00:00Z', '00000003');
    const backups = [nov2, lateOct31, noonOct31];
    expect(keptRules(plan(backups, { monthly: 2, timezone: 'Europe/Berlin' }))).toEqual({
      [nov2.id]: ['newest', 'monthly 2026-11'],
      [noonOct31.id]: ['monthly 2026-10'],
    });
    expect(keptRules(plan(backups, { monthly: 2, timezone: 'America/New_York' }))).toEqual({
      [nov2.id]: ['newest', 'monthly 2026-11'],
      [lateOct31.id]: ['monthly 2026-10'],
    });
  });

  it('counts two backups in the repeated hour of the Berlin fall-back night as one day', () => {
    const secondPass = candidate('2026-10-25T01:30:00Z', '00000001'); // 02:30 CET
    const firstPass = candidate('2026-10-25T00:30:00Z', '00000002'); // 02:30 CEST
    const dayBefore = candidate('2026-10-24T12:00:00Z', '00000003');
    const result = plan([secondPass, firstPass, dayBefore], { daily: 2, timezone: 'Europe/Berlin' });
    expect(keptRules(result)).toEqual({
      [secondPass.id]: ['newest', 'daily 2026-10-25'],
      [dayBefore.id]: ['daily 2026-10-24'],
    });
  });

  it('counts both sides of the skipped hour of the Berlin spring-forward night as one day', () => {
    const after = candidate('2026-03-29T01:30:00Z', '00000001'); // 03:30 CEST
    const before = candidate('2026-03-29T00:30:00Z', '00000002'); // 01:30 CET
    const dayBefore = candidate('2026-03-28T22:30:00Z', '00000003'); // 23:30 CET on the 28th
    const result = plan([after, before, dayBefore], { daily: 2, timezone: 'Europe/Berlin' });
    expect(keptRules(result)).toEqual({
      [after.id]: ['newest', 'daily 2026-03-29'],
      [dayBefore.id]: ['daily 2026-03-28'],
    });
  });

  it("counts days across Lord Howe's 30-minute spring-forward in local time", () => {
    const afterShift = candidate('2026-10-03T15:40:00Z', '00000001'); // 02:40 +11 on the 4th
    const beforeShift = candidate('2026-10-03T15:20:00Z', '00000002'); // 01:50 +10:30 on the 4th
    const justAfterMidnight = candidate('2026-10-03T13:40:00Z', '00000003'); // 00:10 +10:30 on the 4th
    const justBeforeMidnight = candidate('2026-10-03T13:20:00Z', '00000004'); // 23:50 +10:30 on the 3rd
    const backups = [afterShift, beforeShift, justAfterMidnight, justBeforeMidnight];
    expect(keptRules(plan(backups, { daily: 2, timezone: 'Australia/Lord_Howe' }))).toEqual({
      [afterShift.id]: ['newest', 'daily 2026-10-04'],
      [justBeforeMidnight.id]: ['daily 2026-10-03'],
    });
  });
});

describe('planRetention incomplete backups', () => {
  it('keeps a data object without manifest for 24 h and deletes it a millisecond later', () => {
    const complete = candidate('2026-11-01T03:00:00Z', '00000001');
    const young: RetentionCandidate = {
      ...candidate('2026-11-20T06:00:00Z', '00000002', 'incomplete'),
      startedAt: new Date(NOW.getTime() - DAY_MS),
    };
    const old: RetentionCandidate = {
      ...candidate('2026-11-20T06:00:00Z', '00000003', 'incomplete'),
      startedAt: new Date(NOW.getTime() - DAY_MS - 1),
    };
    const plan = planRetention({
      backups: [complete, young, old],
      policy: policy(),
      now: NOW,
      lastRunFailed: false,
    });
    expect(keptRules(plan)).toEqual({
      [complete.id]: ['newest'],
      [young.id]: ['incomplete (no manifest), at most 24h old'],
    });
    expect(plan.decisions.find((d) => d.backup === old)?.rules).toEqual([
      'incomplete (no manifest), older than 24h',
    ]);
    expect(plan.deletions).toEqual([{ key: old.dataKey }]);
  });

  it('never counts incomplete backups: they take no keepLast slot, no bucket and are never "newest"', () => {
    const orphan = candidate('2026-11-19T03:00:00Z', '00000001', 'incomplete');
    const newest = candidate('2026-11-18T03:00:00Z', '00000002');
    const older = candidate('2026-11-17T03:00:00Z', '00000003');
    const plan = planRetention({
      backups: [orphan, newest, older],
      policy: policy({ keepLast: 2, daily: 2 }),
      now: NOW,
      lastRunFailed: false,
    });
    expect(keptRules(plan)).toEqual({
      [newest.id]: ['newest', 'keepLast 1/2', 'daily 2026-11-18'],
      [older.id]: ['keepLast 2/2', 'daily 2026-11-17'],
    });
    expect(deletedIds(plan)).toEqual([orphan.id]);
  });

  it('refuses to prune when no complete backup exists, so the only data objects survive', () => {
    const orphan = candidate('2026-01-01T03:00:00Z', '00000001', 'incomplete');
    const plan = planRetention({ backups: [orphan], policy: policy(), now: NOW, lastRunFailed: false });
    expect(plan.runnable).toBe(false);
    expect(plan.reason).toMatch(/no complete backup/);
    expect(plan.decisions).toEqual([
      { backup: orphan, action: 'keep', rules: ['not pruned: no complete backup'] },
    ]);
    expect(plan.deletions).toEqual([]);
  });

  it('plans nothing for a job without backups', () => {
    const plan = planRetention({ backups: [], policy: policy(), now: NOW, lastRunFailed: false });
    expect(plan).toMatchObject({ runnable: false, decisions: [], deletions: [] });
  });
});

describe('planRetention safety', () => {
  const backups = [
    candidate('2026-11-21T03:00:00Z', '00000001'),
    candidate('2026-11-20T03:00:00Z', '00000002'),
    candidate('2026-11-19T03:00:00Z', '00000003', 'incomplete'),
    candidate('2026-11-18T03:00:00Z', '00000004'),
  ];

  it('marks the plan not runnable and deletes nothing when the last run failed', () => {
    const plan = planRetention({ backups, policy: policy({ maxAgeDays: 1 }), now: NOW, lastRunFailed: true });
    expect(plan.runnable).toBe(false);
    expect(plan.reason).toMatch(/failed/);
    expect(plan.deletions).toEqual([]);
    expect(plan.decisions.map((d) => [d.action, d.rules])).toEqual(
      backups.map(() => ['keep', ['not pruned: the last run failed']]),
    );
  });

  it('keeps objects under Object Lock until the retain-until date has passed', () => {
    const until = new Date(NOW.getTime() + 1000);
    const lockedUntil = (b: RetentionCandidate): Date | undefined =>
      b.id.endsWith('00000002') || b.id.endsWith('00000001')
        ? until
        : b.id.endsWith('00000004')
          ? NOW
          : undefined;
    const plan = planRetention({ backups, policy: policy(), now: NOW, lastRunFailed: false, lockedUntil });
    expect(keptRules(plan)).toEqual({
      '2026-11-21T030000Z-00000001': ['newest', 'object lock until 2026-11-21T06:00:01Z'],
      '2026-11-20T030000Z-00000002': ['object lock until 2026-11-21T06:00:01Z'],
    });
    // A retain-until equal to now has expired.
    expect(deletedIds(plan)).toEqual(['2026-11-19T030000Z-00000003', '2026-11-18T030000Z-00000004']);
  });

  it('deletes oldest backup first, each data object before its manifest', () => {
    const plan = planRetention({ backups, policy: policy(), now: NOW, lastRunFailed: false });
    expect(plan.deletions.map((d) => d.key)).toEqual([
      'backups/app/2026-11-18T030000Z-00000004.pgdump.gz',
      'backups/app/2026-11-18T030000Z-00000004.manifest.json',
      'backups/app/2026-11-19T030000Z-00000003.pgdump.gz',
      'backups/app/2026-11-20T030000Z-00000002.pgdump.gz',
      'backups/app/2026-11-20T030000Z-00000002.manifest.json',
    ]);
  });
});

describe('planRetention validation', () => {
  const backups = [candidate('2026-11-21T03:00:00Z')];
  const run = (overrides: Parameters<typeof policy>[0]) => () =>
    planRetention({ backups, policy: policy(overrides), now: NOW, lastRunFailed: false });

  it('fails when the time zone is unknown', () => {
    expect(run({ timezone: 'Europe/Atlantis' })).toThrow(ConfigError);
    expect(run({ timezone: 'Europe/Atlantis' })).toThrow(/retention\.timezone.*"Europe\/Atlantis"/);
  });

  it('fails when a count is negative or fractional', () => {
    expect(run({ daily: -1 })).toThrow(/retention\.daily: expected a whole number ≥ 0, got -1/);
    expect(run({ keepLast: 1.5 })).toThrow(/retention\.keepLast: expected a whole number ≥ 0, got 1\.5/);
  });

  it('fails when maxAgeDays is below 1', () => {
    expect(run({ maxAgeDays: 0 })).toThrow(/retention\.maxAgeDays: expected a whole number ≥ 1, got 0/);
  });

  it('fails when a backup is listed twice or a date is invalid', () => {
    const twice = () =>
      planRetention({ backups: [...backups, ...backups], policy: policy(), now: NOW, lastRunFailed: false });
    expect(twice).toThrow(/listed twice/);
    const badDate = () =>
      planRetention({ backups, policy: policy(), now: new Date(Number.NaN), lastRunFailed: false });
    expect(badDate).toThrow(/invalid date/);
    const badLock = () =>
      planRetention({
        backups,
        policy: policy(),
        now: NOW,
        lastRunFailed: false,
        lockedUntil: () => new Date(Number.NaN),
      });
    expect(badLock).toThrow(/invalid Object Lock date/);
  });
});

describe('formatPlan', () => {
  it('prints one aligned line per backup, newest first, for prune --dry-run', () => {
    const backups = [
      candidate('2026-10-01T03:00:00Z', 'ffff0000'),
      candidate('2026-11-21T03:00:00Z', 'a1b2c3d4'),
    ];
    const plan = planRetention({ backups, policy: policy({ daily: 1 }), now: NOW, lastRunFailed: false });
    expect(formatPlan(plan)).toEqual([
      'keep   2026-11-21T030000Z-a1b2c3d4  newest, daily 2026-11-21',
      'delete 2026-10-01T030000Z-ffff0000  not selected by any rule',
    ]);
  });

  it('starts with the reason when the plan must not run', () => {
    const plan = planRetention({
      backups: [candidate('2026-11-21T03:00:00Z', 'a1b2c3d4')],
      policy: policy(),
      now: NOW,
      lastRunFailed: true,
    });
    expect(formatPlan(plan)).toEqual([
      expect.stringMatching(/^not runnable: the run that triggers pruning failed/),
      'keep   2026-11-21T030000Z-a1b2c3d4  not pruned: the last run failed',
    ]);
  });
});
