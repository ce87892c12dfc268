/**
 * The watchdog's two duties, every 15 minutes: measure how long each job has gone without a
 * successful backup (the metric its alarm watches), and stop tasks that outlived their job's
 * timeout (ECS has no task timeout of its own; the STOPPED event then marks the run FAILED).
 */
import { type ECSClient, StopTaskCommand } from '@aws-sdk/client-ecs';
import type { Config } from '../../core/config/schema.ts';
import { DEFAULT_TASK_SIZE } from '../../core/contracts/task-size.ts';
import { messageOf } from '../../core/errors.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import { isFailedStatus } from '../../core/history/history.ts';
import { redact } from '../../core/redact.ts';
import { neverSucceededSince } from '../../core/schedule/index.ts';
import { standbyLagSeconds } from '../../core/standby/lag.ts';
import type { RunLog } from './log.ts';

export interface JobFreshness {
  readonly job: string;
  /**
   * Hours since the last success; for a job that never succeeded, since it could first have
   * run ({@link neverSucceededSince}): its first scheduled time, its first run, or when this
   * watchdog first saw it (recorded for every job).
   */
  readonly hoursSinceLastSuccess?: number;
  readonly lastSuccessAt?: string;
  /** Jobs that never succeeded: when the watchdog first saw the job. */
  readonly firstSeenAt?: string;
  readonly lastBackupDurationSeconds?: number;
  readonly lastBackupBytes?: number;
  /** FAILED and PARTIAL backups among the job's backups started in the last 24 hours. */
  readonly failedRunsLast24Hours: number;
  /** Jobs with `restoreDrill` only; undefined when no drill ever succeeded (missing data breaches). */
  readonly hoursSinceLastDrillSuccess?: number;
  /**
   * Jobs with `standby` only: seconds since the start of the backup the standby holds
   * (core/standby/lag.ts); undefined until a standby run succeeded.
   */
  readonly standbyLagSeconds?: number;
}

const hoursSince = (iso: string, now: Date) =>
  Math.round((Math.max(0, now.getTime() - Date.parse(iso)) / 3_600_000) * 100) / 100;

// The rule `dumpvault status` applies too (core/schedule/overdue.ts).
export { neverSucceededSince };

/**
 * Per configured job: hours since the newest SUCCEEDED backup (0.01 h) read from the job's
 * last-success pointer, its duration and size, backups that failed in the last 24 hours (a
 * query of that day's run items only), for jobs with drills the hours since the newest
 * successful drill, and for jobs with a standby the age of the backup it holds. A job that
 * never succeeded is measured from {@link neverSucceededSince};
 * the first pass that sees it records when (`FIRSTSEEN`).
 */
export async function measureFreshness(
  history: DynamoHistoryStore,
  config: Config,
  now: Date,
): Promise<JobFreshness[]> {
  const dayAgo = new Date(now.getTime() - 24 * 3_600_000).toISOString();
  return Promise.all(
    config.jobs.map(async (job): Promise<JobFreshness> => {
      const recent = (await history.listSince(job.name, dayAgo)).filter((r) => r.kind === 'backup');
      // A PARTIAL run lost a copy: it counts as a failure here and never as the last success.
      const failedRunsLast24Hours = recent.filter((r) => isFailedStatus(r.status)).length;
      const drill = job.restoreDrill ? await history.lastSuccess(job.name, 'drill') : undefined;
      const drillAt = drill?.finishedAt ?? drill?.startedAt;
      const standby = job.standby ? await history.lastSuccess(job.name, 'standby') : undefined;
      const lag = standby ? standbyLagSeconds([standby], now) : undefined;
      const drillAndStandby = {
        ...(drillAt ? { hoursSinceLastDrillSuccess: hoursSince(drillAt, now) } : {}),
        ...(lag !== undefined ? { standbyLagSeconds: lag } : {}),
      };
      const last = await history.lastSuccess(job.name);
      const at = last?.finishedAt ?? last?.startedAt;
      if (!last || !at) {
        const firstSeenAt = await history.recordFirstSeen(job.name, now);
        const since = neverSucceededSince(job, firstSeenAt, recent.at(-1)?.startedAt);
        return {
          job: job.name,
          hoursSinceLastSuccess: hoursSince(since, now),
          firstSeenAt,
          failedRunsLast24Hours,
          ...drillAndStandby,
        };
      }
      return {
        job: job.name,
        hoursSinceLastSuccess: hoursSince(at, now),
        lastSuccessAt: at,
        ...(last.durationMs !== undefined
          ? { lastBackupDurationSeconds: Math.round(last.durationMs / 1000) }
          : {}),
        ...(last.bytes !== undefined ? { lastBackupBytes: last.bytes } : {}),
        failedRunsLast24Hours,
        ...drillAndStandby,
      };
    }),
  );
}

export interface OverdueTask {
  readonly job: string;
  readonly runId: string;
  readonly taskArn: string;
}

/**
 * Stops the task of every RUNNING run older than its job's `task.timeoutMinutes`. A failure to
 * stop one task is logged and does not keep the others running.
 */
export async function stopOverdueTasks(
  deps: { history: DynamoHistoryStore; ecs: ECSClient; cluster: string; log: RunLog },
  config: Config,
  now: Date,
): Promise<OverdueTask[]> {
  const stopped: OverdueTask[] = [];
  for (const job of config.jobs) {
    const lease = await deps.history.getLease(job.name);
    if (!lease) continue;
    const run = await deps.history.findRun(job.name, lease.runId);
    if (run?.status !== 'RUNNING' || !run.taskArn) continue;
    const timeoutMinutes = job.task?.timeoutMinutes ?? DEFAULT_TASK_SIZE.timeoutMinutes;
    if (now.getTime() - Date.parse(run.startedAt) <= timeoutMinutes * 60_000) continue;
    try {
      await deps.ecs.send(
        new StopTaskCommand({
          cluster: deps.cluster,
          task: run.taskArn,
          reason: `dumpvault: the run exceeded its timeout of ${timeoutMinutes} minutes`,
        }),
      );
      deps.log.warn('stopped a task that exceeded its timeout', {
        job: job.name,
        runId: run.runId,
        timeoutMinutes,
      });
      stopped.push({ job: job.name, runId: run.runId, taskArn: run.taskArn });
    } catch (err) {
      deps.log.warn('could not stop an overdue task', {
        job: job.name,
        runId: run.runId,
        error: redact(messageOf(err)),
      });
    }
  }
  return stopped;
}
