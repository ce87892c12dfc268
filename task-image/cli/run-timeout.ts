/**
 * The bound on a whole local backup run (DESIGN.md §6), as the task has on AWS: `--timeout`,
 * else the job's `task.timeoutMinutes`, else the default of core/contracts/timeouts.ts. When it
 * passes, the run is aborted the way SIGTERM aborts it: the dump tool and its helpers stopped,
 * the upload aborted, FAILED recorded with the cause, one alert, the lock released, exit 1.
 */
import type { Job } from '../../core/config/schema.ts';
import { RUN_TIMEOUT_MINUTES } from '../../core/contracts/timeouts.ts';
import { ToolError, UsageError } from '../../core/errors.ts';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Node's longest timer (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Parses `--timeout`: minutes (`90`, `0.5`), or a number with a unit `s`, `m` or `h` (`30s`,
 * `45m`, `2h`). Returns milliseconds; throws a UsageError for anything else or for zero.
 */
export function parseRunTimeout(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[(m[2] as keyof typeof UNIT_MS | undefined) ?? 'm'] : Number.NaN;
  if (!Number.isFinite(ms) || ms < 1000) {
    throw new UsageError(
      `--timeout: expected minutes (90, 0.5) or a duration like 30s, 45m or 2h of at least 1 s, got ${JSON.stringify(text)}`,
    );
  }
  return Math.round(ms);
}

/** `3 seconds`, `1 minute`, `90 minutes`, `2.5 minutes`. */
export function formatRunTimeout(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}`;
  if (ms < 60_000) return `${ms / 1000} second${ms === 1000 ? '' : 's'}`;
  return `${Math.round((ms / 60_000) * 100) / 100} minutes`;
}

/** How long a run of `job` may take, and where that bound came from (for the cause). */
export interface RunTimeout {
  readonly ms: number;
  /** `--timeout 3s`, `task.timeoutMinutes`, or `default`. */
  readonly source: string;
}

/** `--timeout` when given, else the job's `task.timeoutMinutes`, else the default. */
export function runTimeoutOf(flag: string | undefined, job: Job): RunTimeout {
  if (flag !== undefined) return { ms: parseRunTimeout(flag), source: `--timeout ${flag.trim()}` };
  if (job.task?.timeoutMinutes !== undefined) {
    return { ms: job.task.timeoutMinutes * 60_000, source: 'task.timeoutMinutes' };
  }
  return { ms: RUN_TIMEOUT_MINUTES * 60_000, source: 'the default; set task.timeoutMinutes or --timeout' };
}

/** A signal that aborts, with a ToolError naming the bound, when `timeout` has passed. */
export function runTimer(timeout: RunTimeout, what = 'the backup'): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => {
      controller.abort(
        new ToolError(`${what} timed out after ${formatRunTimeout(timeout.ms)} (${timeout.source})`),
      );
    },
    Math.min(timeout.ms, MAX_TIMER_MS),
  );
  timer.unref();
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}
