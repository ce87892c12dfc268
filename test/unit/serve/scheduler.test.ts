/**
 * serve's scheduler driven by a hand-moved clock: what fired, and when, across DST nights, after
 * downtime, with two jobs due at once and on a reload. The runs here only record themselves; the
 * serve command's tests run real backups.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileSchedule, type ScheduleSpec } from '../../../core/schedule/index.ts';
import { type ScheduledTask, Scheduler, ServeStateFile } from '../../../core/serve/scheduler.ts';
import { ManualClock } from '../../support/manual-clock.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-sched-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const task = (job: string, spec: ScheduleSpec, kind: 'backup' | 'drill' = 'backup'): ScheduledTask => ({
  id: `${kind}:${job}`,
  job,
  kind,
  schedule: compileSchedule(spec),
});

/** A scheduler on a manual clock whose runs record `job@scheduled (at now)`. */
function harness(start: string, options: { catchUp?: boolean } = {}) {
  const clock = new ManualClock(start);
  const ran: string[] = [];
  const logs: string[] = [];
  const scheduler = new Scheduler({
    clock,
    state: new ServeStateFile(dir),
    catchUp: options.catchUp ?? true,
    log: (line) => logs.push(line),
    run: async (t, scheduledAt) => {
      ran.push(
        `${t.kind}:${t.job}@${scheduledAt.toISOString().slice(0, 16)} at ${new Date(clock.now()).toISOString().slice(0, 16)}`,
      );
    },
  });
  return { clock, ran, logs, scheduler };
}

/** Moves the clock to each wake-up the scheduler asks for, until `until`. */
async function runUntil(clock: ManualClock, until: string): Promise<void> {
  const end = Date.parse(until);
  for (let wake = clock.nextWake; wake !== undefined && wake <= end; wake = clock.nextWake) {
    await clock.set(wake);
  }
}

describe('Scheduler', () => {
  it('runs a 02:30 Europe/Berlin job every day but the spring-forward night, at 02:30 local in both offsets', async () => {
    const { clock, ran, scheduler } = harness('2026-03-27T12:00:00Z');
    const running = scheduler.run([task('db', { cron: '30 2 * * ? *', timezone: 'Europe/Berlin' })]);
    await clock.sleeping();
    await runUntil(clock, '2026-03-31T00:00:00Z');
    scheduler.stop(new Error('test over'));
    await running;

    expect(ran).toEqual([
      'backup:db@2026-03-28T01:30 at 2026-03-28T01:30',
      'backup:db@2026-03-30T00:30 at 2026-03-30T00:30',
    ]);
  });

  it('runs a half-hourly Berlin job once per local time on the fall-back night (no second 02:00 and 02:30)', async () => {
    const { clock, ran, scheduler } = harness('2026-10-25T00:10:00Z');
    const running = scheduler.run([task('db', { cron: '0/30 * * * ? *', timezone: 'Europe/Berlin' })]);
    await clock.sleeping();
    await runUntil(clock, '2026-10-25T02:45:00Z');
    scheduler.stop(new Error('test over'));
    await running;

    expect(ran.map((r) => r.split(' at ')[0])).toEqual([
      'backup:db@2026-10-25T00:30', // 02:30 CEST
      'backup:db@2026-10-25T02:00', // 03:00 CET
      'backup:db@2026-10-25T02:30',
    ]);
  });

  it('runs both jobs when two are due at the same minute, each once', async () => {
    const { clock, ran, scheduler } = harness('2026-01-01T02:00:00Z');
    const running = scheduler.run([task('a', { cron: '0 3 * * ? *' }), task('b', { cron: '0 3 * * ? *' })]);
    await clock.sleeping();
    await clock.set('2026-01-01T03:00:00Z');
    scheduler.stop(new Error('test over'));
    await running;

    expect(ran.sort()).toEqual([
      'backup:a@2026-01-01T03:00 at 2026-01-01T03:00',
      'backup:b@2026-01-01T03:00 at 2026-01-01T03:00',
    ]);
  });

  it('runs a firing missed while serve was down once at start-up, not once per missed day, and not with catch-up off', async () => {
    const daily = () => task('db', { cron: '0 3 * * ? *' });
    const first = harness('2026-01-01T02:00:00Z');
    const running = first.scheduler.run([daily()]);
    await first.clock.sleeping();
    await first.clock.set('2026-01-01T03:00:00Z');
    first.scheduler.stop(new Error('down'));
    await running;
    expect(first.ran).toEqual(['backup:db@2026-01-01T03:00 at 2026-01-01T03:00']);

    // Three days down: the 2nd, 3rd and 4th were missed; the newest is run once, at start-up.
    const second = harness('2026-01-04T12:00:00Z');
    const again = second.scheduler.run([daily()]);
    await second.clock.sleeping();
    expect(second.ran).toEqual(['backup:db@2026-01-04T03:00 at 2026-01-04T12:00']);
    expect(second.logs.join('\n')).toContain('the firing of 2026-01-04T03:00:00.000Z was missed');
    expect(second.clock.nextWake).toBe(Date.parse('2026-01-05T03:00:00Z'));
    second.scheduler.stop(new Error('down'));
    await again;

    const third = harness('2026-01-07T12:00:00Z', { catchUp: false });
    const off = third.scheduler.run([daily()]);
    await third.clock.sleeping();
    expect(third.ran).toEqual([]);
    expect(third.clock.nextWake).toBe(Date.parse('2026-01-08T03:00:00Z'));
    third.scheduler.stop(new Error('down'));
    await off;
  });

  it('starts a new rate schedule at once and then every period, as Scheduler does without a start date', async () => {
    const { clock, ran, scheduler } = harness('2026-01-01T10:00:00Z');
    const running = scheduler.run([task('db', { rate: '6 hours' }), task('db', { rate: '7 days' }, 'drill')]);
    await clock.sleeping();
    await runUntil(clock, '2026-01-01T22:00:00Z');
    scheduler.stop(new Error('test over'));
    await running;

    expect(ran.map((r) => r.split(' at ')[0])).toEqual([
      'backup:db@2026-01-01T10:00',
      'drill:db@2026-01-01T10:00',
      'backup:db@2026-01-01T16:00',
      'backup:db@2026-01-01T22:00',
    ]);
  });

  it('on reload, follows the new schedules without re-running what already ran today', async () => {
    const { clock, ran, scheduler } = harness('2026-01-01T02:00:00Z');
    const running = scheduler.run([task('db', { cron: '0 3 * * ? *' })]);
    await clock.sleeping();
    await clock.set('2026-01-01T03:00:00Z');
    scheduler.reload([task('db', { cron: '0 1,5 * * ? *' })]);
    await clock.sleeping();
    expect(clock.nextWake).toBe(Date.parse('2026-01-01T05:00:00Z'));
    await clock.set('2026-01-01T05:00:00Z');
    scheduler.stop(new Error('test over'));
    await running;

    expect(ran.map((r) => r.split(' at ')[0])).toEqual([
      'backup:db@2026-01-01T03:00',
      'backup:db@2026-01-01T05:00',
    ]);
  });
});
