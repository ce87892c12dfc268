/**
 * The local counterpart of EventBridge Scheduler for `dumpvault serve`: fires every job's backup
 * and restore-drill schedule at the times core/schedule computes (time zone and DST rules as
 * Scheduler's), remembers the last firing of each in the state directory so a restart neither
 * repeats nor forgets one, and runs a firing missed while the process was down once at start-up
 * (unless told not to). Time comes from an injected clock, so tests move it across DST nights.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DigestTime, Job } from '../config/schema.ts';
import { digestSchedule } from '../notify/digest.ts';
import { type CompiledSchedule, compileSchedule } from '../schedule/index.ts';

/** Wall time and waiting, injected: the system clock in production, a hand-moved one in tests. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock. Long waits are cut in pieces so a suspended machine catches up when it wakes. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 60_000)));
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

/** `digest`: the daily summary of every job (notify.digest), one task for the whole config. */
export type TaskKind = 'backup' | 'drill' | 'digest';

/** One schedule of one job: its backups, or its restore drills. */
export interface ScheduledTask {
  /** `backup:<job>` or `drill:<job>`. */
  readonly id: string;
  readonly job: string;
  readonly kind: TaskKind;
  readonly schedule: CompiledSchedule;
}

/** What survives a restart: when each task last fired, and when serve first saw it. */
export interface ServeState {
  lastFired: Record<string, string>;
  firstSeen: Record<string, string>;
}

/** Where the state lives: `{stateDir}/serve-state.json`, written atomically. */
export class ServeStateFile {
  readonly file: string;
  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'serve-state.json');
  }

  async load(): Promise<ServeState> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as Partial<ServeState>;
      return { lastFired: parsed.lastFired ?? {}, firstSeen: parsed.firstSeen ?? {} };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lastFired: {}, firstSeen: {} };
      throw err;
    }
  }

  private saving: Promise<void> = Promise.resolve();

  /** Writes the state; saves are queued, so the newest one always lands last. */
  save(state: ServeState): Promise<void> {
    const text = `${JSON.stringify(state, null, 2)}\n`;
    const write = async () => {
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.file);
    };
    this.saving = this.saving.then(write, write);
    return this.saving;
  }
}

export interface SchedulerOptions {
  readonly clock: Clock;
  readonly state: Pick<ServeStateFile, 'load' | 'save'>;
  /**
   * Runs one firing; `signal` aborts when serve stops. Must record its own outcome (history,
   * alert) and should not reject; a rejection is logged.
   */
  readonly run: (task: ScheduledTask, scheduledAt: Date, signal: AbortSignal) => Promise<void>;
  /** Run a firing missed while serve was down, once, at start-up. */
  readonly catchUp: boolean;
  readonly log: (line: string) => void;
}

// A firing missed for longer than this many periods is counted, not walked one by one.
const MAX_MISSED_STEPS = 1_000_000;

/** Fires tasks on their schedules until {@link Scheduler.stop}. */
export class Scheduler {
  private tasks: ScheduledTask[] = [];
  private readonly due = new Map<string, Date | undefined>();
  private state: ServeState = { lastFired: {}, firstSeen: {} };
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private wake = new AbortController();
  private started = false;

  constructor(private readonly options: SchedulerOptions) {}

  /** When each task fires next (undefined: never again). */
  nextRuns(): ReadonlyMap<string, Date | undefined> {
    return this.due;
  }

  /** How many firings are running now. */
  get activeRuns(): number {
    return this.running.size;
  }

  /** Resolves once no firing is running (one started meanwhile is waited for too). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /**
   * Starts with `tasks`; resolves once stopped and every running firing has ended. `seen`: more
   * ids whose first sight is recorded ({@link backupIdsOf}), tasks or not.
   */
  async run(tasks: readonly ScheduledTask[], seen: readonly string[] = []): Promise<void> {
    if (this.started) throw new Error('the scheduler runs once');
    this.started = true;
    this.state = await this.options.state.load();
    this.plan(tasks, { catchUp: this.options.catchUp, seen });
    await this.options.state.save(this.state);
    const { clock } = this.options;
    while (!this.stopping.signal.aborted) {
      const now = clock.now();
      for (const task of this.tasks) {
        const due = this.due.get(task.id);
        if (due && due.getTime() <= now) await this.fire(task, due, now);
      }
      const next = Math.min(...[...this.due.values()].map((d) => d?.getTime() ?? Number.POSITIVE_INFINITY));
      this.wake = new AbortController();
      await clock.sleep(Number.isFinite(next) ? next - now : 86_400_000, this.wake.signal);
    }
    await this.settled();
  }

  /** Replaces the tasks (a reloaded config); missed firings are not caught up on a reload. */
  reload(tasks: readonly ScheduledTask[], seen: readonly string[] = []): void {
    this.plan(tasks, { catchUp: false, seen });
    this.options.state.save(this.state).catch((err: unknown) => {
      this.options.log(`could not save the serve state: ${(err as Error).message}`);
    });
    this.wake.abort();
  }

  /** Stops firing and aborts the running firings with `reason` (they record FAILED). */
  stop(reason: Error): void {
    this.stopping.abort(reason);
    this.wake.abort();
  }

  /** The abort signal handed to every firing. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  private plan(
    tasks: readonly ScheduledTask[],
    options: { catchUp: boolean; seen: readonly string[] },
  ): void {
    const now = this.options.clock.now();
    this.tasks = [...tasks];
    this.due.clear();
    for (const id of options.seen) this.state.firstSeen[id] ??= new Date(now).toISOString();
    for (const task of tasks) {
      this.state.firstSeen[task.id] ??= new Date(now).toISOString();
      const lastText = this.state.lastFired[task.id];
      const last = lastText ? new Date(lastText) : undefined;
      const { schedule } = task;
      if (!last) {
        // A new rate schedule starts at once, as a Scheduler schedule without a start date does.
        this.due.set(task.id, schedule.periodMs !== undefined ? new Date(now) : schedule.next(new Date(now)));
        continue;
      }
      const next = schedule.next(last, last);
      if (next && next.getTime() <= now) {
        const missed = latestMissed(schedule, last, now);
        if (options.catchUp && missed) {
          this.options.log(
            `${task.kind} ${task.job}: the firing of ${missed.toISOString()} was missed while serve was down; running it now`,
          );
          this.due.set(task.id, missed);
        } else {
          this.due.set(task.id, schedule.next(new Date(now), missed ?? last));
        }
      } else {
        this.due.set(task.id, next);
      }
    }
  }

  private async fire(task: ScheduledTask, scheduledAt: Date, now: number): Promise<void> {
    this.state.lastFired[task.id] = scheduledAt.toISOString();
    this.due.set(task.id, task.schedule.next(new Date(Math.max(now, scheduledAt.getTime())), scheduledAt));
    try {
      await this.options.state.save(this.state);
    } catch (err) {
      // The run goes ahead; a restart may then run this firing again as "missed".
      this.options.log(`could not save the serve state: ${(err as Error).message}`);
    }
    this.options.log(`${task.kind} ${task.job}: firing scheduled for ${scheduledAt.toISOString()}`);
    const running: Promise<void> = this.options
      .run(task, scheduledAt, this.stopping.signal)
      .catch((err: unknown) => {
        this.options.log(`${task.kind} ${task.job}: ${(err as Error).message}`);
      })
      .finally(() => {
        this.running.delete(running);
      });
    this.running.add(running);
  }
}

/** The latest firing after `last` and at or before `now`. */
function latestMissed(schedule: CompiledSchedule, last: Date, now: number): Date | undefined {
  if (schedule.periodMs !== undefined) {
    const steps = Math.floor((now - last.getTime()) / schedule.periodMs);
    return steps >= 1 ? new Date(last.getTime() + steps * schedule.periodMs) : undefined;
  }
  let missed: Date | undefined;
  let cursor = last;
  for (let i = 0; i < MAX_MISSED_STEPS; i++) {
    const next = schedule.next(cursor, cursor);
    if (!next || next.getTime() > now) break;
    missed = next;
    cursor = next;
  }
  return missed;
}

/** The daily digest's task when `notify.digest` is set: a cron at its time of day in its time zone. */
export function digestTask(digest: DigestTime | undefined): ScheduledTask[] {
  if (!digest) return [];
  const schedule = compileSchedule(digestSchedule(digest));
  return [{ id: 'digest', job: 'all jobs', kind: 'digest', schedule }];
}

/**
 * The backup id (`backup:<job>`) of every job, with a schedule or not: serve records when it first
 * saw each, as the watchdog records FIRSTSEEN of every job, so `status` counts a job without a
 * schedule that never succeeded from then, as its AWS alarm does.
 */
export function backupIdsOf(jobs: readonly Job[]): string[] {
  return jobs.map((job) => `backup:${job.name}`);
}

/** The tasks of a config: each job's `schedule` and `restoreDrill.schedule`. */
export function tasksOf(jobs: readonly Job[]): ScheduledTask[] {
  const tasks: ScheduledTask[] = [];
  for (const job of jobs) {
    if (job.schedule) {
      tasks.push({
        id: `backup:${job.name}`,
        job: job.name,
        kind: 'backup',
        schedule: compileSchedule(job.schedule),
      });
    }
    if (job.restoreDrill) {
      const schedule = compileSchedule(job.restoreDrill.schedule);
      tasks.push({ id: `drill:${job.name}`, job: job.name, kind: 'drill', schedule });
    }
  }
  return tasks;
}
