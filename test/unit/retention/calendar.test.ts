import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { calendarPeriods } from '../../../core/retention/calendar.ts';

const DAY_MS = 86_400_000;

describe('calendarPeriods', () => {
  // Expected ISO weeks checked against GNU `date +%G-W%V`.
  it.each([
    ['2026-11-22T12:00:00Z', 'UTC', { day: '2026-11-22', week: '2026-W47', month: '2026-11', year: '2026' }],
    ['2026-11-23T00:00:00Z', 'UTC', { day: '2026-11-23', week: '2026-W48', month: '2026-11', year: '2026' }],
    ['2020-12-31T12:00:00Z', 'UTC', { day: '2020-12-31', week: '2020-W53', month: '2020-12', year: '2020' }],
    ['2021-01-01T12:00:00Z', 'UTC', { day: '2021-01-01', week: '2020-W53', month: '2021-01', year: '2021' }],
    ['2021-01-03T23:59:59Z', 'UTC', { day: '2021-01-03', week: '2020-W53', month: '2021-01', year: '2021' }],
    ['2021-01-04T00:00:00Z', 'UTC', { day: '2021-01-04', week: '2021-W01', month: '2021-01', year: '2021' }],
    ['2024-12-30T12:00:00Z', 'UTC', { day: '2024-12-30', week: '2025-W01', month: '2024-12', year: '2024' }],
  ])('puts %s in %s into the right day, ISO week, month and year', (iso, zone, expected) => {
    expect(calendarPeriods(new Date(iso), zone)).toEqual(expected);
  });

  it('puts 2026-10-31T23:30Z into November in Europe/Berlin (CET, UTC+1, after the October switch)', () => {
    expect(calendarPeriods(new Date('2026-10-31T23:30:00Z'), 'Europe/Berlin')).toMatchObject({
      day: '2026-11-01',
      month: '2026-11',
    });
  });

  it('keeps 2026-10-31T23:30Z in October in America/New_York (EDT, UTC−4)', () => {
    expect(calendarPeriods(new Date('2026-10-31T23:30:00Z'), 'America/New_York')).toMatchObject({
      day: '2026-10-31',
      month: '2026-10',
    });
  });

  it('starts the new ISO week at local Monday midnight in Asia/Kolkata, while UTC is still on Sunday', () => {
    const sundayNight = new Date('2026-11-22T18:29:00Z'); // 23:59 Sunday IST
    const mondayStart = new Date('2026-11-22T18:30:00Z'); // 00:00 Monday IST
    expect(calendarPeriods(sundayNight, 'Asia/Kolkata').week).toBe('2026-W47');
    expect(calendarPeriods(mondayStart, 'Asia/Kolkata').week).toBe('2026-W48');
    expect(calendarPeriods(mondayStart, 'UTC').week).toBe('2026-W47');
  });

  it('ends the year at local midnight in America/New_York, hours after UTC', () => {
    expect(calendarPeriods(new Date('2021-01-01T04:59:00Z'), 'America/New_York')).toEqual({
      day: '2020-12-31',
      week: '2020-W53',
      month: '2020-12',
      year: '2020',
    });
    expect(calendarPeriods(new Date('2021-01-01T05:00:00Z'), 'America/New_York').year).toBe('2021');
  });

  it('counts both passes of the repeated hour of the Berlin fall-back night as one day', () => {
    const firstPass = new Date('2026-10-25T00:30:00Z'); // 02:30 CEST
    const secondPass = new Date('2026-10-25T01:30:00Z'); // 02:30 CET
    expect(calendarPeriods(firstPass, 'Europe/Berlin').day).toBe('2026-10-25');
    expect(calendarPeriods(secondPass, 'Europe/Berlin').day).toBe('2026-10-25');
  });

  it('counts both sides of the skipped hour of the Berlin spring-forward night as one day', () => {
    expect(calendarPeriods(new Date('2026-03-28T22:59:00Z'), 'Europe/Berlin').day).toBe('2026-03-28');
    expect(calendarPeriods(new Date('2026-03-28T23:00:00Z'), 'Europe/Berlin').day).toBe('2026-03-29');
    expect(calendarPeriods(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin').day).toBe('2026-03-29');
    expect(calendarPeriods(new Date('2026-03-29T21:59:00Z'), 'Europe/Berlin').day).toBe('2026-03-29');
    expect(calendarPeriods(new Date('2026-03-29T22:00:00Z'), 'Europe/Berlin').day).toBe('2026-03-30');
  });

  it("follows Lord Howe's half-hour offsets: months turn at 13:30Z in winter (UTC+10:30)", () => {
    expect(calendarPeriods(new Date('2026-06-30T13:29:00Z'), 'Australia/Lord_Howe').month).toBe('2026-06');
    expect(calendarPeriods(new Date('2026-06-30T13:30:00Z'), 'Australia/Lord_Howe').month).toBe('2026-07');
  });

  it("follows Lord Howe's 30-minute DST: days turn at 13:00Z in summer (UTC+11)", () => {
    expect(calendarPeriods(new Date('2026-12-31T12:59:00Z'), 'Australia/Lord_Howe').year).toBe('2026');
    expect(calendarPeriods(new Date('2026-12-31T13:00:00Z'), 'Australia/Lord_Howe').year).toBe('2027');
    // The 2026-04-05 fall-back repeats 01:30–02:00; both passes are the same day.
    expect(calendarPeriods(new Date('2026-04-04T14:45:00Z'), 'Australia/Lord_Howe').day).toBe('2026-04-05');
    expect(calendarPeriods(new Date('2026-04-04T15:15:00Z'), 'Australia/Lord_Howe').day).toBe('2026-04-05');
  });

  it('fails when the time zone is unknown, naming the value', () => {
    expect(() => calendarPeriods(new Date(), 'Mars/Olympus')).toThrow(ConfigError);
    expect(() => calendarPeriods(new Date(), 'Mars/Olympus')).toThrow(/retention\.timezone.*"Mars\/Olympus"/);
  });

  it('agrees with the UTC date of toISOString in UTC', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1971-01-01'), max: new Date('2199-12-31'), noInvalidDate: true }),
        (d) => {
          const p = calendarPeriods(d, 'UTC');
          expect(p.day).toBe(d.toISOString().slice(0, 10));
          expect(p.month).toBe(d.toISOString().slice(0, 7));
          expect(p.year).toBe(d.toISOString().slice(0, 4));
        },
      ),
    );
  });

  it('changes ISO week between two consecutive days exactly when the second is a Monday', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 80_000 }), (dayNumber) => {
        const today = new Date(dayNumber * DAY_MS + 12 * 3_600_000);
        const tomorrow = new Date(today.getTime() + DAY_MS);
        const a = calendarPeriods(today, 'UTC').week;
        const b = calendarPeriods(tomorrow, 'UTC').week;
        expect(a !== b).toBe(tomorrow.getUTCDay() === 1);
        expect(a <= b).toBe(true);
        expect(Number(a.slice(6))).toBeLessThanOrEqual(53);
      }),
    );
  });

  it('reads UTC without Intl, with the same periods as Intl in Etc/UTC (UTC skips the time zone data)', () => {
    // Bug caught: the UTC shortcut drifting from what Intl says (an off-by-one month, a local getter).
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1971-01-01'), max: new Date('2199-12-31'), noInvalidDate: true }),
        (d) => {
          expect(calendarPeriods(d, 'UTC')).toEqual(calendarPeriods(d, 'Etc/UTC'));
        },
      ),
    );
  });

  it('builds no Intl formatter for UTC (the first one loads the time zone data: ~20–35 ms per backup)', async () => {
    // A fresh copy of the module: the one above has cached formatters the other tests built.
    vi.resetModules();
    const fresh = await import('../../../core/retention/calendar.ts');
    const built = vi.spyOn(Intl, 'DateTimeFormat');
    try {
      fresh.assertTimeZone('UTC');
      expect(fresh.calendarPeriods(new Date('2026-12-03T07:00:00Z'), 'UTC').day).toBe('2026-12-03');
      expect(built).not.toHaveBeenCalled();
      fresh.assertTimeZone('Europe/Berlin'); // the probe sees a formatter being built
      expect(built).toHaveBeenCalled();
    } finally {
      built.mockRestore();
    }
  });
});
