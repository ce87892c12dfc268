/**
 * A clock the test moves by hand, for `dumpvault serve`'s scheduler: `sleeping()` resolves once
 * the scheduler waits again (an awaited event, not a fixed sleep), `set()` moves time and wakes
 * every sleeper whose deadline has passed.
 */
import type { Clock } from '../../core/serve/scheduler.ts';

export class ManualClock implements Clock {
  private current: number;
  private sleepers: Array<{ until: number; resolve: () => void }> = [];
  private waiters: Array<() => void> = [];

  constructor(start: string | number) {
    this.current = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const sleeper = { until: this.current + ms, resolve };
      const done = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      };
      sleeper.resolve = done;
      if (signal.aborted) return done();
      signal.addEventListener('abort', done, { once: true });
      this.sleepers.push(sleeper);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves when the scheduler is waiting (now, or as soon as it next waits). */
  sleeping(): Promise<void> {
    if (this.sleepers.length) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The deadline the scheduler waits for (its next firing), if it waits. */
  get nextWake(): number | undefined {
    return this.sleepers.length ? Math.min(...this.sleepers.map((s) => s.until)) : undefined;
  }

  /** Moves to `time` and wakes the sleepers due by then; resolves when the scheduler waits again. */
  async set(time: string | number): Promise<void> {
    this.current = typeof time === 'number' ? time : Date.parse(time);
    const due = this.sleepers.filter((s) => s.until <= this.current);
    if (!due.length) return;
    for (const s of due) s.resolve();
    await this.sleeping();
  }
}
