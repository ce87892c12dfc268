/**
 * `dumpvault task restore`: the RunRestore step of the restore state machine (DESIGN.md §1),
 * run as a Fargate task. It restores one backup chosen by the Resolve state, with the engine's
 * rules (runRestore: target check, verify pass, restore pass pinned to the verified object,
 * table comparison), records the outcome on the run's history item and alerts like any run.
 *
 * ## The task's environment (the contract the Resolve state builds; no secret values)
 *
 * Set per run, as container overrides of RunTask:
 * - `DUMPVAULT_JOB`, `DUMPVAULT_RUN_ID`, `DUMPVAULT_TRIGGER`, `DUMPVAULT_JOB_JSON`: as for
 *   `task backup` (functions/start-backup.ts). The single-job config names every secret by ARN.
 * - `DUMPVAULT_STARTED_AT`      ISO time of the RUNNING item the Resolve state wrote; the task
 *                               updates that item (`RUN#{startedAt}#{runId}`), never a new one.
 * - `DUMPVAULT_RESTORE_KIND`    `restore`, `drill` or `standby` (target `standby`: the backup is
 *                               restored beside the job's standby, verified and swapped in,
 *                               core/standby/run.ts; the standby's URL and password secret come
 *                               from the job config).
 * - `DUMPVAULT_BACKUP_KEY`      the manifest key of the backup to restore (`…/{id}.manifest.json`),
 *                               read from the destination below.
 * - `DUMPVAULT_BACKUP_DESTINATION`  the job destination holding the copy Resolve chose (the first,
 *                               in config order, with a valid copy); absent: the first destination.
 * - `DUMPVAULT_RESTORE_TARGET`  `scratch` (a new database next to the source, kept),
 *                               `ephemeral` (a new database in the drill sidecar, dropped), or a
 *                               URL of the job's engine without a password.
 * - `DUMPVAULT_TARGET_PASSWORD_SECRET`  for a URL target: ARN of its password (plain, or JSON
 *                               `{"password": …}` as RDS writes it).
 * - `DUMPVAULT_DROP`            `true` replaces what a URL target holds; otherwise a target with
 *                               data is refused before anything is read or written.
 *
 * Set on the task definition:
 * - `DUMPVAULT_HISTORY_TABLE`, `DUMPVAULT_BUCKET`, `DUMPVAULT_TOPIC_ARN`: as for `task backup`.
 * - `DUMPVAULT_EPHEMERAL_URL`   drill task definitions only: the sidecar database on 127.0.0.1
 *                               (e.g. `postgres://postgres@127.0.0.1:5432/postgres`). SQLite
 *                               drills use a file in the task's /tmp instead.
 *
 * Key material comes from Secrets Manager by the ARNs in the job's encryption entry:
 * `passphraseSecret`, or `privateKeySecret` for OpenPGP (an armored private key, or JSON
 * `{"privateKey": …, "passphrase": …}` for a protected one).
 *
 * ## Result
 *
 * The history item ends SUCCEEDED (details: backup, target, tables and rows compared,
 * `restoredTables` — the restored row counts the Verify state compares with the manifest) or
 * FAILED with a one-line cause; alerts go through finishRun(). One JSON line on stdout (one
 * CloudWatch Logs event) repeats the result. Exit code 0 success, 1 failed, 2 refused (bad
 * input, or a target that has data without `DUMPVAULT_DROP=true`).
 */
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { checkSourceUrl, findJob } from '../../../core/config/load.ts';
import {
  parseRestoreTaskEnv,
  RestoreTaskEnv,
  type RestoreTaskKind,
  type RestoreTaskRun,
} from '../../../core/contracts/restore-task.ts';
import type { Connection, TableStats } from '../../../core/engine.ts';
import { ConfigError, ExitCode, messageOf, UserError } from '../../../core/errors.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { Trigger } from '../../../core/history/history.ts';
import { runLifetimes } from '../../../core/history/lifetime.ts';
import { idOfManifestKey, jobPrefix } from '../../../core/manifest.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { readManifest } from '../../../core/pipeline/catalog.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { destinationNamed } from '../../../core/pipeline/copies.ts';
import { type FinishDeps, finishRun, pipelineFinishDeps } from '../../../core/pipeline/finish-run.ts';
import { type RestoreTarget, runRestore } from '../../../core/pipeline/restore.ts';
import { redact } from '../../../core/redact.ts';
import { resolveSecret, type SecretFetcher, secretsManagerFetcher } from '../../../core/secrets/resolve.ts';
import { runStandby } from '../../../core/standby/run.ts';
import { standbySwapFor } from '../../engines/standby.ts';
import { withInterrupts } from '../interrupts.ts';
import type { Output } from '../output.ts';
import { resolveJobContext } from '../resolve.ts';
import { standbyConnection } from './standby.ts';
import { currentTaskArn, loadTaskConfig, type TaskDeps } from './task-environment.ts';
import { countingEngine, RunHistory } from './task-restore-history.ts';
import { decryptKeysFor } from './task-restore-keys.ts';

/** Environment variables of the restore task (the contract lives in core/contracts). */
export { RestoreTaskEnv };

/** What the task runs: a restore, a drill, or a standby run (DUMPVAULT_RESTORE_KIND). */
export type RestoreKind = RestoreTaskKind;

/** What the restore task needs besides its environment; tests inject local stand-ins. */
export interface TaskRestoreDeps extends TaskDeps {
  /** Where the one-line JSON result goes (default: stdout). */
  readonly print?: (line: string) => void;
}

/** The one-line result the task prints (and the Verify state finds on the history item). */
export interface TaskRestoreResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly job: string;
  readonly runId: string;
  readonly kind: RestoreKind;
  readonly backup?: string;
  readonly target?: string;
  readonly tablesCompared?: number;
  readonly rowsCompared?: number;
  readonly differences?: readonly string[];
  readonly restoredTables?: TableStats;
  readonly durationMs?: number;
  readonly error?: string;
}

/** The target the environment names, as runRestore takes it, and the source scratch databases go next to. */
async function restoreTarget(
  run: RestoreTaskRun,
  env: NodeJS.ProcessEnv,
  ctx: JobContext,
  scratchDir: string,
  fetchSecret: SecretFetcher,
): Promise<{ target: RestoreTarget; source: Connection }> {
  const value = run.target;
  if (value === 'scratch') return { target: { kind: 'scratch' }, source: ctx.source };
  if (value === 'ephemeral') {
    if (ctx.job.engine === 'sqlite') {
      return { target: { kind: 'scratch' }, source: { url: `sqlite:${path.join(scratchDir, 'drill.db')}` } };
    }
    if (!run.ephemeralUrl)
      throw new ConfigError(
        `environment variable ${RestoreTaskEnv.ephemeralUrl} is not set; a drill of a ${ctx.job.engine} job runs in the drill task definition`,
      );
    return { target: { kind: 'scratch' }, source: { url: run.ephemeralUrl } };
  }
  const problem = checkSourceUrl(ctx.job.engine, value);
  if (problem) throw new ConfigError(`${RestoreTaskEnv.target}: ${problem}`);
  const arn = run.targetPasswordSecret;
  const password = arn
    ? await resolveSecret(
        { arn, field: 'password', path: RestoreTaskEnv.targetPasswordSecret },
        env,
        fetchSecret,
      )
    : undefined;
  const connection: Connection = { url: value, ...(password ? { password } : {}) };
  return {
    target: { kind: 'connection', connection, drop: run.drop },
    source: ctx.source,
  };
}

/** `dumpvault task restore` */
export async function taskRestoreCommand(
  out: Output,
  env: NodeJS.ProcessEnv,
  deps: TaskRestoreDeps = {},
): Promise<number> {
  const print = deps.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const run = parseRestoreTaskEnv(env);
  if ('error' in run) throw new ConfigError(run.error);
  const { job: jobName, runId, startedAt, kind, trigger } = run;
  const fetchSecret = deps.fetchSecret ?? secretsManagerFetcher();
  const taskArn = await currentTaskArn(run);
  // The run's items expire per the job's retention once the config is loaded (a failure to
  // load it is recorded without a TTL).
  let lifetimes: ((job: string) => number | undefined) | undefined;
  const history = new RunHistory(
    deps.history ??
      new DynamoHistoryStore({
        tableName: run.historyTable,
        client: createHistoryDocumentClient(new DynamoDBClient({})),
        runLifetimeDays: (job) => lifetimes?.(job),
      }),
    { job: jobName, runId, startedAt, ...(taskArn ? { taskArn } : {}) },
  );
  const notifier = deps.notifier ?? new SnsNotifier({ client: new SNSClient({}), topicArn: run.topicArn });
  const investigate = () => `dumpvault history ${jobName} --remote   (run ${runId})`;
  const base = { job: jobName, runId, kind } as const;

  let cleanup: (() => Promise<void>) | undefined;
  let backupKey: string | undefined;
  try {
    const task = await loadTaskConfig(run);
    cleanup = task.cleanup;
    const loaded = task.loaded;
    lifetimes = runLifetimes(loaded.config);
    const job = findJob(loaded.config, jobName);
    const resolved = await resolveJobContext(loaded, job.name, {
      env,
      trigger,
      history,
      notifier,
      progress: out.progress,
      runId,
      forReading: true,
      fetchSecret,
      ...(taskArn ? { taskArn } : {}),
      ...(run.bucket ? { managedBucket: run.bucket } : {}),
    });
    const { target, source } =
      kind === 'standby'
        ? { target: undefined, source: resolved.source }
        : await restoreTarget(run, env, resolved, loaded.baseDir, fetchSecret);
    const ctx: JobContext = {
      ...resolved,
      source,
      engine: countingEngine(resolved.engine, (stats) => {
        history.restoredTables = stats;
      }),
      investigate,
    };
    const named = run.backupDestination;
    const from = named ? destinationNamed(ctx.destinations, named, job.name) : ctx.destinations[0];
    if (!from) throw new ConfigError(`job ${job.name} has no destination to restore from`);
    backupKey = run.backupKey;
    if (!backupKey.startsWith(jobPrefix(ctx.prefix, job.name))) {
      throw new ConfigError(
        `${RestoreTaskEnv.backupKey}: ${backupKey} is not a backup of job ${job.name} (expected a key under ${jobPrefix(ctx.prefix, job.name)})`,
      );
    }
    const manifest = await readManifest(from, backupKey);
    const keys = await decryptKeysFor(loaded, job, env, fetchSecret);
    if (kind === 'standby') {
      const standby = await standbyConnection(loaded, ctx, env, fetchSecret);
      if (!standby) throw new ConfigError(`job ${job.name} has no "standby" in the config it was given`);
      const result = await withInterrupts(deps.interrupts, ctx, (run) =>
        runStandby(run, {
          resolve: async () => ({ manifest, from }),
          standby,
          swap: standbySwapFor(ctx.engine),
          keys,
        }),
      );
      print(
        redact(
          JSON.stringify({
            status: 'SUCCEEDED',
            ...base,
            backup: result.id,
            target: result.swapped.standby,
            tablesCompared: result.tablesCompared,
            rowsCompared: result.rowsCompared,
            ...(history.restoredTables ? { restoredTables: history.restoredTables } : {}),
            durationMs: history.finished?.durationMs ?? result.durationMs,
          } satisfies TaskRestoreResult),
        ),
      );
      return ExitCode.ok;
    }
    // SIGTERM (StopTask: the state machine's timeout or an aborted execution) ends the restore as a failure.
    const result = await withInterrupts(deps.interrupts, ctx, (run) =>
      runRestore(run, { manifest, from, target: target!, keys, kind }),
    );
    print(
      redact(
        JSON.stringify({
          status: 'SUCCEEDED',
          ...base,
          backup: result.id,
          target: result.target,
          tablesCompared: result.comparison.tablesCompared,
          rowsCompared: result.comparison.rowsCompared,
          differences: result.comparison.differences,
          ...(history.restoredTables ? { restoredTables: history.restoredTables } : {}),
          durationMs: history.finished?.durationMs ?? result.durationMs,
        } satisfies TaskRestoreResult),
      ),
    );
    return ExitCode.ok;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const error = redact(messageOf(err)).split('\n')[0] ?? 'the restore failed';
    // Failures before runRestore started (config, secrets, keys, manifest) are recorded here.
    if (!history.finished)
      await recordEarlyFailure(pipelineFinishDeps({ history, notifier, progress: out.progress }), {
        ...base,
        trigger,
        startedAt,
        error,
        investigate,
        key: backupKey,
      });
    const details = history.finished?.details ?? {};
    print(
      redact(
        JSON.stringify({
          status: 'FAILED',
          ...base,
          ...(typeof details['backup'] === 'string' ? { backup: details['backup'] } : {}),
          ...(typeof details['target'] === 'string' ? { target: details['target'] } : {}),
          ...(Array.isArray(details['differences'])
            ? { differences: details['differences'] as string[] }
            : {}),
          ...(history.restoredTables ? { restoredTables: history.restoredTables } : {}),
          error,
        } satisfies TaskRestoreResult),
      ),
    );
    return err.exitCode;
  } finally {
    await cleanup?.();
  }
}

/** Records FAILED (and alerts, through finishRun) for a failure that happened before runRestore took over. */
async function recordEarlyFailure(
  deps: FinishDeps,
  run: {
    job: string;
    runId: string;
    kind: RestoreKind;
    trigger: Trigger;
    startedAt: string;
    error: string;
    key: string | undefined;
    investigate: () => string;
  },
): Promise<void> {
  const finishedAt = new Date();
  const backup = run.key ? idOfManifestKey(run.key) : undefined;
  await finishRun(
    deps,
    {
      job: run.job,
      runId: run.runId,
      kind: run.kind,
      status: 'FAILED',
      trigger: run.trigger,
      startedAt: run.startedAt,
      finishedAt: finishedAt.toISOString(),
      durationMs: Math.max(0, finishedAt.getTime() - Date.parse(run.startedAt)),
      error: run.error,
      ...(backup ? { details: { backup } } : {}),
    },
    { investigate: run.investigate() },
  );
}
