/**
 * `dumpvault task backup`: the Fargate task's entry point. The job, run id and start time come
 * from the environment set by the start-backup Lambda (contract documented at the top of
 * functions/start-backup.ts); history goes to DynamoDB, alerts to SNS, secrets come from
 * Secrets Manager by ARN. The same pipeline as the CLI, with different stores.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import type { LoadedConfig } from '../../../core/config/load.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { prunesSeparately } from '../../../core/contracts/prune.ts';
import { ConfigError, ToolError, UsageError } from '../../../core/errors.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryStore, Trigger } from '../../../core/history/history.ts';
import type { Notifier } from '../../../core/notify/notifier.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { Interrupts } from '../interrupts.ts';
import type { Output } from '../output.ts';
import { resolveJobContext } from '../resolve.ts';
import type { SecretFetcher } from '../secrets.ts';
import { taskRestoreCommand } from './task-restore.ts';

/** What the task needs besides its environment; tests inject local stand-ins. */
export interface TaskDeps {
  readonly history?: HistoryStore;
  readonly notifier?: Notifier;
  readonly fetchSecret?: SecretFetcher;
  /**
   * SIGTERM (ECS StopTask) and SIGINT as an abort of the run.
   * @default - signals keep their default action
   */
  readonly interrupts?: () => Interrupts;
  /**
   * How long `task.timeoutMinutes` counts a minute, in ms (tests shorten it).
   * @default 60_000
   */
  readonly minuteMs?: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value)
    throw new ConfigError(
      `task environment variable ${name} is not set; the task must be started by start-backup`,
    );
  return value;
}

/**
 * Builds a LoadedConfig from DUMPVAULT_JOB_JSON, writing the recipients' public keys from
 * DUMPVAULT_PUBLIC_KEYS_JSON into a private temp dir under the paths the config names.
 */
export async function loadTaskConfig(
  env: NodeJS.ProcessEnv,
): Promise<{ loaded: LoadedConfig; cleanup: () => Promise<void> }> {
  let json: unknown;
  try {
    json = JSON.parse(required(env, 'DUMPVAULT_JOB_JSON'));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('DUMPVAULT_JOB_JSON is not valid JSON; redeploy the stack');
  }
  const config = validateConfig(json);
  const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-task-'));
  const keys = env.DUMPVAULT_PUBLIC_KEYS_JSON
    ? (JSON.parse(env.DUMPVAULT_PUBLIC_KEYS_JSON) as Record<string, string>)
    : {};
  for (const [relative, armored] of Object.entries(keys)) {
    const file = path.resolve(dir, relative);
    if (!file.startsWith(`${dir}${path.sep}`))
      throw new ConfigError(`public key path ${relative} leaves the key directory`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, armored, { mode: 0o600 });
  }
  return {
    loaded: { config, file: 'DUMPVAULT_JOB_JSON', baseDir: dir, stateDir: dir },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The ARN of the task this process runs in, from the ECS task metadata endpoint (v4), so the
 * final history item keeps the ARN start-backup recorded. Undefined outside ECS.
 */
export async function currentTaskArn(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (env.DUMPVAULT_TASK_ARN) return env.DUMPVAULT_TASK_ARN;
  const base = env.ECS_CONTAINER_METADATA_URI_V4;
  if (!base) return undefined;
  try {
    const response = await fetch(`${base}/task`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { TaskARN?: string };
    return body.TaskARN;
  } catch {
    return undefined; // history then lacks the ARN; task-stopped still finds the run by its id
  }
}

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
  const job = required(env, 'DUMPVAULT_JOB');
  const runId = required(env, 'DUMPVAULT_RUN_ID');
  const startedAt = new Date(required(env, 'DUMPVAULT_STARTED_AT'));
  if (Number.isNaN(startedAt.getTime())) throw new ConfigError('DUMPVAULT_STARTED_AT is not an ISO time');
  const { loaded, cleanup } = await loadTaskConfig(env);
  const history =
    deps.history ??
    new DynamoHistoryStore({
      tableName: required(env, 'DUMPVAULT_HISTORY_TABLE'),
      client: createHistoryDocumentClient(new DynamoDBClient({})),
    });
  const notifier =
    deps.notifier ??
    new SnsNotifier({ client: new SNSClient({}), topicArn: required(env, 'DUMPVAULT_TOPIC_ARN') });
  const jobConfig = loaded.config.jobs.find((j) => j.name === job);
  const timeoutMinutes = jobConfig?.task?.timeoutMinutes ?? 720;
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
    const taskArn = await currentTaskArn(env);
    const ctx = await resolveJobContext(loaded, job, {
      env,
      trigger: (env.DUMPVAULT_TRIGGER === 'manual' ? 'manual' : 'schedule') satisfies Trigger,
      history,
      notifier,
      progress: out.progress,
      runId,
      ...(deps.fetchSecret ? { fetchSecret: deps.fetchSecret } : {}),
      ...(taskArn ? { taskArn } : {}),
      ...(env.DUMPVAULT_BUCKET ? { managedBucket: env.DUMPVAULT_BUCKET } : {}),
    });
    const result = await runBackup({
      ...ctx,
      startedAt,
      // In AWS retention runs under the job's prune function, never under the task's role.
      pruneAfterBackup: !prunesSeparately(env),
      signal,
      investigate: (id) => `dumpvault history ${job} --remote   (run ${id})`,
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
