/**
 * `dumpvault task backup`: the Fargate task's entry point. The job, run id and start time come
 * from the environment set by the start-backup Lambda (contract documented at the top of
 * functions/start-backup.ts); history goes to DynamoDB, alerts to SNS, secrets come from
 * Secrets Manager by ARN. The same pipeline as the CLI, with different stores.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { parseTaskRun } from '../../../core/contracts/task-env.ts';
import { RUN_TIMEOUT_MINUTES } from '../../../core/contracts/timeouts.ts';
import { ConfigError, ToolError, UsageError } from '../../../core/errors.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { Trigger } from '../../../core/history/history.ts';
import { runLifetimes } from '../../../core/history/lifetime.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { secretsManagerFetcher } from '../../../core/secrets/resolve.ts';
import type { Output } from '../output.ts';
import { resolveJobContext } from '../resolve.ts';
import { currentTaskArn, loadTaskConfig, type TaskDeps } from './task-environment.ts';
import { taskRestoreCommand } from './task-restore.ts';

/** `dumpvault task backup` */
export async function taskCommand(
  action: string | undefined,
  out: Output,
  env: NodeJS.ProcessEnv,
  deps: TaskDeps = {},
): Promise<number> {
  if (action === 'restore') return taskRestoreCommand(out, env, deps);
  if (action !== 'backup')
    throw new UsageError(`unknown task "${action ?? ''}"; the task image runs "task backup"`);
  const run = parseTaskRun(env);
  if ('error' in run) throw new ConfigError(run.error);
  const { job, runId } = run;
  const startedAt = new Date(run.startedAt);
  const { loaded, cleanup } = await loadTaskConfig(run);
  const history =
    deps.history ??
    new DynamoHistoryStore({
      tableName: run.historyTable,
      client: createHistoryDocumentClient(new DynamoDBClient({})),
      runLifetimeDays: runLifetimes(loaded.config),
    });
  const notifier = deps.notifier ?? new SnsNotifier({ client: new SNSClient({}), topicArn: run.topicArn });
  const jobConfig = loaded.config.jobs.find((j) => j.name === job);
  const timeoutMinutes = jobConfig?.task?.timeoutMinutes ?? RUN_TIMEOUT_MINUTES;
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new ToolError(`the backup did not finish within task.timeoutMinutes (${timeoutMinutes} min)`),
      ),
    timeoutMinutes * (deps.minuteMs ?? 60_000),
  );
  timer.unref();
  const interrupts = deps.interrupts?.();
  const signal = interrupts ? AbortSignal.any([controller.signal, interrupts.signal]) : controller.signal;
  try {
    const taskArn = await currentTaskArn(run);
    const ctx = await resolveJobContext(loaded, job, {
      env,
      trigger: run.trigger satisfies Trigger,
      history,
      notifier,
      progress: out.progress,
      runId,
      ...(deps.fetchSecret ? { fetchSecret: deps.fetchSecret } : {}),
      ...(taskArn ? { taskArn } : {}),
      ...(run.bucket ? { managedBucket: run.bucket } : {}),
      // Like the CLI's backup (issue 16 §1): the job's config (as the stack gave it) to
      // {prefix}_dumpvault/ in every destination, its secrets from Secrets Manager only with
      // metaBackup.secrets. Never pruned here: the task's role deletes nothing.
      metaBackup: {
        configText: run.jobJson,
        configFile: 'dumpvault.config.json',
        awsSecrets: deps.fetchSecret ?? secretsManagerFetcher(),
      },
    });
    const result = await runBackup({
      ...ctx,
      startedAt,
      // In AWS retention runs under the job's prune function, never under the task's role.
      pruneAfterBackup: !run.pruneSeparately,
      signal,
      investigate: (id) => `dumpvault history ${job} --remote   (run ${id})`,
      // On Fargate Spot, SIGTERM is most likely the interruption notice: task-stopped sees the
      // stop code, and retries the run or sends the alert (functions/logic/spot-retry.ts).
      ...(run.capacity === 'FARGATE_SPOT'
        ? { leaveFailureToOrchestrator: () => interrupts?.signal.aborted === true }
        : {}),
    });
    out.result({
      status: result.status,
      job,
      runId,
      key: result.manifest.object.key,
      bytes: result.manifest.object.bytes,
      sha256: result.manifest.object.sha256,
      destinations: result.destinations,
      ...(result.status === 'PARTIAL' ? { failures: result.failures } : {}),
      pruned: result.prune.flatMap((p) => p.deleted),
    });
    // PARTIAL is recorded and alerted by runBackup; the exit code tells ECS the run failed.
    return result.status === 'PARTIAL' ? 1 : 0;
  } finally {
    clearTimeout(timer);
    interrupts?.dispose();
    await cleanup();
  }
}
