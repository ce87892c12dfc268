/**
 * The schedule module against EventBridge Scheduler's documented behaviour: the cron dialect
 * (`?`, `L`, `LW`, `nW`, `n#k`, `nL`, names, year), rates, IANA zones, and the DST rules (a
 * local time skipped by spring-forward does not fire, one repeated by fall-back fires once).
 */
import { describe, expect, it } from 'vitest';
import {
  alarmThresholdHours,
  compileSchedule,
  cronProblem,
  rateProblem,
  type ScheduleSpec,
  scheduleGaps,
  timeZoneProblem,
} from '../../../core/schedule/index.ts';

/** The next `n` firings after `from`, as ISO minutes in UTC. */
function firings(spec: ScheduleSpec, from: string, n: number, anchor?: string): string[] {
  const schedule = compileSchedule(spec);
  const out: string[] = [];
  let after = new Date(from);
  let previous = anchor ? new Date(anchor) : undefined;
  for (let i = 0; i < n; i++) {
    const next = schedule.next(after, previous);
    if (!next) break;
    out.push(next.toISOString().slice(0, 16));
    after = next;
    previous = next;
  }
  return out;
}

describe('cron firings', () => {
  it('skips a daily 02:30 Berlin run on the spring-forward night instead of running it at 03:00 or 03:30', () => {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    expect(firings({ cron: '30 2 * * ? *', timezone: 'Europe/Berlin' }, '2026-03-27T00:00Z', 3)).toEqual([
      '2026-03-27T01:30', // 02:30 CET
      '2026-03-28T01:30',
      '2026-03-30T00:30', // 02:30 CEST
    ]);
  });

  it('runs a daily 02:30 Berlin job once on the fall-back night, not in both 02:30s', () => {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, Scheduler fires the first.
    expect(firings({ cron: '30 2 * * ? *', timezone: 'Europe/Berlin' }, '2026-10-24T12:00Z', 2)).toEqual([
      '2026-10-25T00:30', // 02:30 CEST
      '2026-10-26T01:30', // 02:30 CET
    ]);
  });

  it('does not repeat the fall-back hour for a half-hourly cron, even when asked from inside its second pass', () => {
    const spec = { cron: '0/30 * * * ? *', timezone: 'Europe/Berlin' };
    expect(firings(spec, '2026-10-25T00:10Z', 4)).toEqual([
      '2026-10-25T00:30', // 02:30 CEST
      '2026-10-25T02:00', // 03:00 CET: 02:00 and 02:30 CET are repeats
      '2026-10-25T02:30',
      '2026-10-25T03:00',
    ]);
    // 01:10Z is 02:10 CET, the second pass: its 02:30 already fired at 00:30Z.
    expect(firings(spec, '2026-10-25T01:10Z', 1)).toEqual(['2026-10-25T02:00']);
  });

  it('follows a 30-minute DST shift (Lord Howe): 02:15 is skipped in October and runs once in April', () => {
    const spec = { cron: '15 2 * * ? *', timezone: 'Australia/Lord_Howe' };
    // 2026-10-04 02:00 +10:30 becomes 02:30 +11:00.
    expect(firings(spec, '2026-10-02T12:00Z', 2)).toEqual(['2026-10-02T15:45', '2026-10-04T15:15']);
    // 2026-04-05 02:00 +11:00 becomes 01:30 +10:30: 01:45 happens twice, 02:15 once.
    expect(firings({ ...spec, cron: '45 1 * * ? *' }, '2026-04-04T00:00Z', 2)).toEqual([
      '2026-04-04T14:45',
      '2026-04-05T15:15',
    ]);
  });

  it('evaluates in the time zone, not in UTC: 03:00 New York is 08:00 UTC in winter and 07:00 in summer', () => {
    expect(firings({ cron: '0 3 L * ? *', timezone: 'America/New_York' }, '2026-01-01T00:00Z', 4)).toEqual([
      '2026-01-31T08:00',
      '2026-02-28T08:00',
      '2026-03-31T07:00',
      '2026-04-30T07:00',
    ]);
  });

  it.each([
    ['0 3 L * ? *', ['2026-01-31T03:00', '2026-02-28T03:00']],
    ['0 3 LW * ? *', ['2026-01-30T03:00', '2026-02-27T03:00']], // 31 Jan 2026 is a Saturday
    ['0 3 15W * ? *', ['2026-01-15T03:00', '2026-02-16T03:00']], // 15 Feb 2026 is a Sunday
    ['0 3 1W * ? *', ['2026-01-01T03:00', '2026-02-02T03:00']], // 1 Feb is a Sunday: Monday 2nd
    ['0 3 ? * 3#2 *', ['2026-01-13T03:00', '2026-02-10T03:00']], // second Tuesday
    ['0 3 ? * 6L *', ['2026-01-30T03:00', '2026-02-27T03:00']], // last Friday
    ['0 3 ? * L *', ['2026-01-03T03:00', '2026-01-10T03:00']], // L alone: Saturday
    ['0 3 ? * 1 *', ['2026-01-04T03:00', '2026-01-11T03:00']], // 1 is Sunday
    ['0 3 ? * mon-fri *', ['2026-01-01T03:00', '2026-01-02T03:00']],
    ['0 3 1 JAN,JUL ? 2027-2028', ['2027-01-01T03:00', '2027-07-01T03:00']],
    ['1/20 3 1 * ? *', ['2026-01-01T03:01', '2026-01-01T03:21']], // a/s counts from a
    ['0 0/8 ? * SUN *', ['2026-01-04T00:00', '2026-01-04T08:00']],
  ])('fires %s at the documented times', (cron, expected) => {
    expect(firings({ cron }, '2026-01-01T00:00Z', 2)).toEqual(expected);
  });

  it('stops when the years of a cron are over', () => {
    expect(firings({ cron: '0 3 1 1 ? 2026' }, '2026-01-01T00:00Z', 3)).toEqual(['2026-01-01T03:00']);
  });
});

describe('rate firings', () => {
  it('counts a rate from its previous firing, 24 hours a day across DST', () => {
    expect(firings({ rate: '1 day', timezone: 'Europe/Berlin' }, '2026-03-28T10:00Z', 2)).toEqual([
      '2026-03-29T10:00',
      '2026-03-30T10:00',
    ]);
    // Anchored at 09:15 the day before, a 6-hour rate asked at 10:00 fires at 15:15.
    expect(firings({ rate: '6 hours' }, '2026-01-02T10:00Z', 2, '2026-01-01T09:15Z')).toEqual([
      '2026-01-02T15:15',
      '2026-01-02T21:15',
    ]);
  });
});

describe('checks', () => {
  it.each([
    ['not a cron', /expected 6 fields "minutes hours day-of-month month day-of-week year" .*got 3 fields/],
    ['0 3 * * ?', /expected 6 fields .*got 5 fields/],
    ['0 3 * * * *', /exactly one of day-of-month \("\*"\) and day-of-week \("\*"\) must be "\?"/],
    ['0 3 ? * ? *', /exactly one of day-of-month/],
    ['0 24 * * ? *', /hours field "24": 24 is outside 0-23/],
    ['60 3 * * ? *', /minutes field "60": 60 is outside 0-59/],
    ['0 3 32 * ? *', /day-of-month field "32": 32 is outside 1-31/],
    ['0 3 ? * 0 *', /day-of-week field "0": 0 is outside 1-7/],
    ['0 3 ? * 8 *', /day-of-week field "8"/],
    ['0 3 * 13 ? *', /month field "13"/],
    ['0 3 * JAN-XYZ ? *', /month field "JAN-XYZ": expected 1-12 or JAN-DEC/],
    ['0 3 * * ? 1969', /year field "1969": 1969 is outside 1970-2199/],
    ['0 3 ? * 2#1,3#2 *', /only one n#k expression is allowed/],
    ['0 3 ? * 2#6 *', /expected n#k with k from 1 to 5/],
    ['0 3 ? * MON/2 *', /steps \(\/\) are not allowed in day-of-week/],
    ['0 3 1,L * ? *', /L, LW, nW and \? stand alone/],
    ['0 3 5-1 * ? *', /the range 5-1 runs backwards/],
    ['0 3 ? * 2 ?', /"\?" is allowed only in day-of-month or day-of-week/],
    ['0 3 31 2 ? *', /never fires/],
    ['cron(0 3 * * ? *)', /write the body only, without "cron\(…\)": "0 3 \* \* \? \*"/],
  ])('refuses the cron %j: %s', (cron, message) => {
    expect(cronProblem(cron)).toMatch(message);
  });

  it('accepts what the AWS documentation shows', () => {
    for (const cron of [
      '0 10 * * ? *',
      '15 12 * * ? *',
      '0 18 ? * MON-FRI *',
      '0 8 1 * ? *',
      '0/15 * * * ? *',
      '0/10 * ? * MON-FRI *',
      '0/5 8-17 ? * MON-FRI *',
      '0 9 ? * 2#1 *',
      '0 3 L * ? *',
      '0 3 ? * 6L *',
    ]) {
      expect(cronProblem(cron), cron).toBeUndefined();
    }
  });

  it.each([
    ['6 hours', undefined],
    ['1 day', undefined],
    ['1 hour', undefined],
    ['30 minutes', undefined],
    ['5 minute', /expected the plural "5 minutes"/],
    ['0 days', /at least 1 day/],
    ['1.5 hours', /expected "<whole number> minutes\|hours\|days"/],
    ['2 weeks', /expected "<whole number> minutes\|hours\|days"/],
    ['rate(1 day)', /without "rate\(…\)": "1 day"/],
  ])('checks the rate %j', (rate, message) => {
    if (message) expect(rateProblem(rate)).toMatch(message);
    else expect(rateProblem(rate)).toBeUndefined();
  });

  it('accepts IANA zone names as the tz database spells them and nothing else', () => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5']) {
      expect(timeZoneProblem(zone), zone).toBeUndefined();
    }
    expect(timeZoneProblem('Mars/Olympus')).toMatch(/expected an IANA time zone .*got "Mars\/Olympus"/);
    expect(timeZoneProblem('+01:00')).toMatch(/expected an IANA time zone/);
    expect(timeZoneProblem('europe/berlin')).toMatch(/spelled "Europe\/Berlin"/);
  });
});

describe('scheduleGaps and alarmThresholdHours', () => {
  it('measures L, W, # and fixed-year crons that the old UTC-only check gave up on', () => {
    expect(scheduleGaps({ cron: '0 3 L * ? *' })).toEqual({ minHours: 28 * 24, maxHours: 31 * 24 });
    expect(scheduleGaps({ cron: '0 3 ? * 2#1 *' })).toEqual({ minHours: 28 * 24, maxHours: 35 * 24 });
    expect(scheduleGaps({ cron: '0 3 15W * ? *' })?.maxHours).toBeGreaterThan(31 * 24);
    expect(scheduleGaps({ cron: '0 3 * * ? 2025-2030' })).toEqual({ minHours: 24, maxHours: 24 });
    expect(scheduleGaps({ cron: '0 3 * * ? 2020' })).toBeUndefined();
  });

  it('sees the 23- and 25-hour days of a Berlin job, so its alarm allows for the long one', () => {
    const gaps = scheduleGaps({ cron: '0 3 * * ? *', timezone: 'Europe/Berlin' });
    expect(gaps).toEqual({ minHours: 23, maxHours: 25 });
    expect(alarmThresholdHours({}, gaps)).toBe(39.5);
    expect(alarmThresholdHours({ alarmAfterHours: 30 }, gaps)).toBe(30);
  });
});
