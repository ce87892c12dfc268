import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { runItemLifetimeDays, runLifetimes } from '../../../core/history/lifetime.ts';

/** A validated config of one job with `retention` (undefined = left out) and `schedule` (null = none). */
function job(retention: unknown, schedule: unknown = { cron: '0 3 * * ? *' }) {
  return validateConfig({
    destinations: { local: { type: 'file', path: './out' } },
    jobs: [
      {
        name: 'app',
        engine: 'postgres',
        source: { url: 'postgres://x@h/db' },
        destinations: ['local'],
        ...(retention === undefined ? {} : { retention }),
        ...(schedule === null ? {} : { schedule }),
      },
    ],
  });
}

describe('runItemLifetimeDays (the TTL of run items)', () => {
  it('keeps run items 90 days plus 30 when retention keeps backups for less', () => {
    expect(runItemLifetimeDays(job({ keepLast: 3, daily: 7 }).jobs[0]!)).toBe(120);
  });

  it('outlives the oldest backup a monthly or yearly rule may keep', () => {
    expect(runItemLifetimeDays(job({ daily: 7, monthly: 12 }).jobs[0]!)).toBe(31 * 13 + 30);
    expect(runItemLifetimeDays(job({ yearly: 2, maxAgeDays: 400 }).jobs[0]!)).toBe(366 * 3 + 30);
    expect(runItemLifetimeDays(job({ maxAgeDays: 400 }).jobs[0]!)).toBe(430);
  });

  it('measures keepLast by the longest gap of the schedule', () => {
    const weekly = job({ keepLast: 30 }, { cron: '0 3 ? * SUN *' }).jobs[0]!;
    expect(runItemLifetimeDays(weekly)).toBe(30 * 7 + 30);
  });

  it('sets no TTL for "forever", nor for keepLast without a schedule to measure it by', () => {
    expect(runItemLifetimeDays(job('forever').jobs[0]!)).toBeUndefined();
    expect(runItemLifetimeDays(job(undefined, null).jobs[0]!)).toBeUndefined();
    expect(runItemLifetimeDays(job({ daily: 7 }, null).jobs[0]!)).toBe(120);
  });

  it('answers per job name, and nothing for a job the config does not have', () => {
    const lifetimes = runLifetimes(job({ keepLast: 3, daily: 7 }));
    expect(lifetimes('app')).toBe(120);
    expect(lifetimes('gone')).toBeUndefined();
  });
});
