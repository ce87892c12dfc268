import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Retention } from '../../../core/config/schema.ts';
import {
  FUTURE_TOLERANCE_MS,
  isAgeOnly,
  planRetention,
  type RetentionCandidate,
  type RetentionInput,
  type RetentionPlan,
} from '../../../core/retention/plan.ts';
import { candidateAt } from './candidates.ts';

const DAY_MS = 86_400_000;
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'America/St_Johns',
] as const;
const RUNS = { numRuns: 400 } as const;

// Ages mix whole days (exact maxAgeDays and 24 h boundaries, equal start times), the last
// few days at minute precision (several backups per local day, DST nights, a few minutes in
// the future within the clock tolerance), years back, and now and then a backup stamped far
// in the future (a skewed clock).
const age = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 800 }).map((days) => days * DAY_MS), weight: 4 },
  { arbitrary: fc.integer({ min: -60, max: 4 * 24 * 60 }).map((minutes) => minutes * 60_000), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 1200 * DAY_MS }), weight: 4 },
  { arbitrary: fc.integer({ min: -400 * DAY_MS, max: 0 }), weight: 1 },
);

const backupSpec = fc.record({
  age,
  runId: fc.stringMatching(/^[0-9a-f]{8}$/),
  // Mostly complete; sometimes a data object without a manifest, sometimes an invalid manifest.
  status: fc.constantFrom<RetentionCandidate['status']>(
    ...Array(6).fill('complete'),
    'incomplete',
    'invalid',
  ),
  lockOffset: fc.option(fc.integer({ min: -10 * DAY_MS, max: 10 * DAY_MS }), { freq: 4, nil: undefined }),
});

const policyArb: fc.Arbitrary<Retention> = fc.record({
  keepLast: fc.integer({ min: 0, max: 5 }),
  daily: fc.integer({ min: 0, max: 10 }),
  weekly: fc.integer({ min: 0, max: 6 }),
  monthly: fc.integer({ min: 0, max: 14 }),
  yearly: fc.integer({ min: 0, max: 3 }),
  maxAgeDays: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
  timezone: fc.constantFrom(...ZONES),
});

/** A planner input whose policy is rules (not "forever"), as the scenarios generate. */
type RulesInput = Omit<RetentionInput, 'policy'> & { readonly policy: Retention };

/**
 * A random job: backups (stamps at second precision, as parsed from keys), locks, a policy,
 * and sometimes the id of the backup the running job just wrote.
 */
const scenario: fc.Arbitrary<RulesInput> = fc
  .record({
    now: fc.date({
      min: new Date('2019-01-01T00:00:00Z'),
      max: new Date('2031-01-01T00:00:00Z'),
      noInvalidDate: true,
    }),
    specs: fc.uniqueArray(backupSpec, { selector: (s) => s.runId, maxLength: 40 }),
    policy: policyArb,
    currentIndex: fc.option(fc.nat(), { freq: 2, nil: undefined }),
  })
  .map(({ now, specs, policy, currentIndex }) => {
    const locks = new Map<string, Date>();
    const backups = specs.map((s) => {
      const startedAt = new Date(Math.floor((now.getTime() - s.age) / 1000) * 1000);
      const backup = {
        ...candidateAt(startedAt, s.runId, s.status),
        ...(s.status === 'invalid' ? { problem: 'job: expected "app", got "other"' } : {}),
      };
      if (s.lockOffset !== undefined) locks.set(backup.id, new Date(now.getTime() + s.lockOffset));
      return backup;
    });
    const current =
      currentIndex !== undefined && backups.length > 0
        ? backups[currentIndex % backups.length]!.id
        : undefined;
    return {
      backups,
      policy,
      now,
      lastRunFailed: false,
      lockedUntil: (b: RetentionCandidate) => locks.get(b.id),
      ...(current ? { current } : {}),
    };
  });

/** Stamped later than the planner believes a clock can drift: never the newest, never deleted. */
const isFutureDated = (b: RetentionCandidate, now: Date): boolean =>
  b.status === 'complete' && b.startedAt.getTime() > now.getTime() + FUTURE_TOLERANCE_MS;

const deletedIdSet = (plan: RetentionPlan): Set<string> =>
  new Set(plan.decisions.filter((d) => d.action === 'delete').map((d) => d.backup.id));

/** The newest complete backup with a believable date: the one the planner must keep. */
const newestComplete = (backups: readonly RetentionCandidate[], now: Date): RetentionCandidate | undefined =>
  backups
    .filter((b) => b.status === 'complete' && !isFutureDated(b, now))
    .reduce<RetentionCandidate | undefined>(
      (best, b) => (!best || b.startedAt > best.startedAt ? b : best),
      undefined,
    );

describe('planRetention invariants', () => {
  it('never deletes the newest complete backup', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const newest = newestComplete(input.backups, input.now);
        fc.pre(newest !== undefined);
        // Several may share the newest start time; at least the one that sorts first is kept,
        // and the latest start time is always represented among the kept backups.
        const plan = planRetention(input);
        const keptNewest = plan.decisions.filter(
          (d) =>
            d.action === 'keep' &&
            d.backup.status === 'complete' &&
            d.backup.startedAt.getTime() === newest!.startedAt.getTime(),
        );
        expect(keptNewest.length).toBeGreaterThanOrEqual(1);
        expect(plan.decisions.filter((d) => d.rules.includes('newest'))).toHaveLength(1);
      }),
      RUNS,
    );
  });

  it('keeps the newest complete backup even with maxAgeDays exceeded, keepLast 0 and every bucket 0', () => {
    fc.assert(
      fc.property(scenario, fc.constantFrom(...ZONES), (input, timezone) => {
        const harsh: Retention = {
          keepLast: 0,
          daily: 0,
          weekly: 0,
          monthly: 0,
          yearly: 0,
          maxAgeDays: 1,
          timezone,
        };
        const newest = newestComplete(input.backups, input.now);
        fc.pre(newest !== undefined);
        const plan = planRetention({ ...input, policy: harsh });
        const kept = plan.decisions.filter((d) => d.action === 'keep' && d.backup.status === 'complete');
        expect(kept.some((d) => d.backup.startedAt.getTime() === newest!.startedAt.getTime())).toBe(true);
        expect(kept.find((d) => d.rules.includes('newest'))?.backup.startedAt).toEqual(newest!.startedAt);
      }),
      RUNS,
    );
  });

  it('deletes nothing and is not runnable when the last run failed', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention({ ...input, lastRunFailed: true });
        expect(plan.runnable).toBe(false);
        expect(plan.reason).toMatch(/failed/);
        expect(plan.deletions).toEqual([]);
        expect(plan.decisions.every((d) => d.action === 'keep')).toBe(true);
        expect(plan.decisions).toHaveLength(input.backups.length);
      }),
      RUNS,
    );
  });

  it('never deletes a backup under Object Lock, and names the lock among its rules', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention(input);
        for (const d of plan.decisions) {
          const until = input.lockedUntil?.(d.backup);
          if (until && until > input.now) {
            expect(d.action).toBe('keep');
            if (plan.runnable)
              expect(d.rules).toContain(`object lock until ${until.toISOString().replace('.000Z', 'Z')}`);
          }
        }
      }),
      RUNS,
    );
  });

  it('never deletes an incomplete backup younger than 24 h', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention(input);
        for (const d of plan.decisions) {
          if (
            d.backup.status === 'incomplete' &&
            input.now.getTime() - d.backup.startedAt.getTime() <= DAY_MS
          ) {
            expect(d.action).toBe('keep');
          }
        }
      }),
      RUNS,
    );
  });

  it('decides on every backup exactly once and deletes exactly the keys of deleted backups, data first', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention(input);
        expect(plan.decisions.map((d) => d.backup.id).sort()).toEqual(input.backups.map((b) => b.id).sort());
        const expectedKeys: string[] = [];
        // Oldest first; per backup: data, then manifest if it exists.
        for (const d of [...plan.decisions].reverse()) {
          expect(d.rules.length).toBeGreaterThanOrEqual(1);
          if (d.action !== 'delete') continue;
          expect(d.rules).toHaveLength(1);
          expectedKeys.push(d.backup.dataKey);
          if (d.backup.status === 'complete') expectedKeys.push(d.backup.manifestKey);
        }
        expect(plan.deletions.map((k) => k.key)).toEqual(expectedKeys);
        const dataIndex = new Map(plan.deletions.map((k, i) => [k.key, i]));
        for (const b of input.backups) {
          const data = dataIndex.get(b.dataKey);
          const manifest = dataIndex.get(b.manifestKey);
          if (manifest !== undefined) expect(data).toBeLessThan(manifest);
        }
      }),
      RUNS,
    );
  });

  it('never deletes more when any count or maxAgeDays is raised', () => {
    const raise = fc.record({
      field: fc.constantFrom('keepLast', 'daily', 'weekly', 'monthly', 'yearly', 'maxAgeDays', 'noMaxAge'),
      by: fc.integer({ min: 1, max: 400 }),
    });
    fc.assert(
      fc.property(scenario, raise, (input, { field, by }) => {
        const before = input.policy;
        // maxAgeDays alone keeps everything younger; a first count switches to counting, which
        // is a different policy, not a raised one (its own property is below).
        fc.pre(!isAgeOnly(before) || field === 'maxAgeDays');
        const after: Retention =
          field === 'noMaxAge'
            ? { ...before, maxAgeDays: undefined }
            : field === 'maxAgeDays'
              ? {
                  ...before,
                  maxAgeDays: before.maxAgeDays === undefined ? undefined : before.maxAgeDays + by,
                }
              : { ...before, [field]: before[field] + by };
        const deletedBefore = deletedIdSet(planRetention(input));
        const deletedAfter = deletedIdSet(planRetention({ ...input, policy: after }));
        for (const id of deletedAfter) expect(deletedBefore.has(id)).toBe(true);
      }),
      RUNS,
    );
  });

  it('is idempotent: planning again after applying a plan deletes nothing more', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const first = planRetention(input);
        const deleted = deletedIdSet(first);
        const remaining = input.backups.filter((b) => !deleted.has(b.id));
        const second = planRetention({ ...input, backups: remaining });
        expect(second.deletions).toEqual([]);
        // No selection depended on a deleted backup, so every survivor is still selected.
        expect(second.decisions.every((d) => d.action === 'keep')).toBe(true);
      }),
      RUNS,
    );
  });

  it('is deterministic and independent of the order backups are listed in', () => {
    const withShuffle = scenario.chain((input) =>
      fc.tuple(
        fc.constant(input),
        fc.shuffledSubarray([...input.backups], {
          minLength: input.backups.length,
          maxLength: input.backups.length,
        }),
      ),
    );
    fc.assert(
      fc.property(withShuffle, ([input, shuffled]) => {
        const a = planRetention(input);
        expect(planRetention(input)).toEqual(a);
        expect(planRetention({ ...input, backups: shuffled })).toEqual(a);
      }),
      RUNS,
    );
  });

  it('does not let incomplete or invalid backups change any decision about complete ones', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const completeOnly = input.backups.filter((b) => b.status === 'complete');
        fc.pre(completeOnly.length > 0);
        const strip = (plan: RetentionPlan) => plan.decisions.filter((d) => d.backup.status === 'complete');
        expect(strip(planRetention(input))).toEqual(
          strip(planRetention({ ...input, backups: completeOnly })),
        );
      }),
      RUNS,
    );
  });

  it('keeps no more complete backups than the rules allow, unless locked, future-dated or the current run', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        fc.pre(!isAgeOnly(input.policy));
        const { keepLast, daily, weekly, monthly, yearly } = input.policy;
        const plan = planRetention({ ...input, lockedUntil: undefined });
        const kept = plan.decisions.filter(
          (d) =>
            d.action === 'keep' &&
            d.backup.status === 'complete' &&
            !isFutureDated(d.backup, input.now) &&
            d.backup.id !== input.current,
        );
        expect(kept.length).toBeLessThanOrEqual(1 + keepLast + daily + weekly + monthly + yearly);
      }),
      RUNS,
    );
  });

  it('keeps the keepLast newest complete backups that are within maxAgeDays', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention({ ...input, lockedUntil: undefined });
        const complete = plan.decisions.filter(
          (d) => d.backup.status === 'complete' && !isFutureDated(d.backup, input.now),
        );
        const cutoff =
          input.policy.maxAgeDays === undefined
            ? -Infinity
            : input.now.getTime() - input.policy.maxAgeDays * DAY_MS;
        for (const d of complete.slice(0, input.policy.keepLast)) {
          if (d.backup.startedAt.getTime() >= cutoff) expect(d.action).toBe('keep');
        }
      }),
      RUNS,
    );
  });
  it('never counts a future-dated backup as the newest, never deletes one, and reports it', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention(input);
        const future = input.backups.filter((b) => isFutureDated(b, input.now));
        for (const d of plan.decisions) {
          if (!isFutureDated(d.backup, input.now)) continue;
          expect(d.action).toBe('keep');
          expect(d.rules).not.toContain('newest');
        }
        expect(
          plan.anomalies
            .filter((a) => a.problem.startsWith('future-dated'))
            .map((a) => a.id)
            .sort(),
        ).toEqual(future.map((b) => b.id).sort());
        // The real newest keeps its protection: with a harsh policy it is still kept as "newest".
        const newest = newestComplete(input.backups, input.now);
        fc.pre(newest !== undefined);
        const harsh = planRetention({
          ...input,
          policy: { ...input.policy, keepLast: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, maxAgeDays: 1 },
        });
        expect(harsh.decisions.find((d) => d.rules.includes('newest'))?.backup.startedAt).toEqual(
          newest.startedAt,
        );
      }),
      RUNS,
    );
  });

  it('never deletes the backup of the current run, whatever the policy and the clocks say', () => {
    const harsh = fc.record({
      keepLast: fc.constant(0),
      daily: fc.constant(0),
      weekly: fc.constant(0),
      monthly: fc.constant(0),
      yearly: fc.constant(0),
      maxAgeDays: fc.constant(1),
      timezone: fc.constantFrom(...ZONES),
    });
    fc.assert(
      fc.property(scenario, fc.option(harsh, { nil: undefined }), (input, policy) => {
        fc.pre(input.current !== undefined);
        const plan = planRetention(policy ? { ...input, policy } : input);
        const current = plan.decisions.find((d) => d.backup.id === input.current);
        expect(current?.action).toBe('keep');
        expect(plan.deletions.map((k) => k.key)).not.toContain(current?.backup.dataKey);
      }),
      RUNS,
    );
  });

  it('never deletes a backup whose manifest is invalid, never counts it as the newest, and reports it', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention(input);
        const invalid = plan.decisions.filter((d) => d.backup.status === 'invalid');
        for (const d of invalid) {
          expect(d.action).toBe('keep');
          expect(d.rules).not.toContain('newest');
          expect(plan.deletions.map((k) => k.key)).not.toContain(d.backup.dataKey);
          expect(plan.deletions.map((k) => k.key)).not.toContain(d.backup.manifestKey);
        }
        expect(
          plan.anomalies
            .filter((a) => a.problem.startsWith('invalid manifest'))
            .map((a) => a.id)
            .sort(),
        ).toEqual(invalid.map((d) => d.backup.id).sort());
      }),
      RUNS,
    );
  });

  it('with maxAgeDays alone keeps every backup younger than it, and deletes only older ones', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 1, max: 1000 }), (input, maxAgeDays) => {
        const policy: Retention = {
          keepLast: 0,
          daily: 0,
          weekly: 0,
          monthly: 0,
          yearly: 0,
          maxAgeDays,
          timezone: 'UTC',
        };
        const plan = planRetention({ ...input, policy, lockedUntil: undefined });
        fc.pre(plan.runnable);
        const cutoff = input.now.getTime() - maxAgeDays * DAY_MS;
        for (const d of plan.decisions) {
          if (d.backup.status !== 'complete') continue;
          if (d.backup.startedAt.getTime() >= cutoff) expect(d.action).toBe('keep');
          else if (d.action === 'delete') expect(d.rules).toEqual([`older than maxAgeDays ${maxAgeDays}`]);
        }
      }),
      RUNS,
    );
  });

  it('deletes nothing at all with "forever"', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const plan = planRetention({ ...input, policy: 'forever' });
        expect(plan.deletions).toEqual([]);
        expect(plan.decisions.every((d) => d.action === 'keep')).toBe(true);
      }),
      RUNS,
    );
  });
});
