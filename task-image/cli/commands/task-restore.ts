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
 * - `DUMPVAULT_RESTORE_KIND`    `restore` or `drill`.
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
 * FAILED with a one-line cause; alerts go through notifyOutcome(). One JSON line on stdout (one
 * CloudWatch Logs event) repeats the result. Exit code 0 success, 1 failed, 2 refused (bad
 * input, or a target that has data without `DUMPVAULT_DROP=true`).
 */
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { decryptKey, type PrivateKey, readPrivateKey as readOpenpgpPrivateKey } from 'openpgp';
import type { LoadedConfig } from '../../../core/config/load.ts';
import { checkSourceUrl, findJob } from '../../../core/config/load.ts';
import type { Job } from '../../../core/config/schema.ts';
import { RestoreTaskEnv } from '../../../core/contracts/restore-task.ts';
import type { Connection, Engine, TableStats } from '../../../core/engine.ts';
import { ConfigError, CryptoError, ExitCode, messageOf, UserError } from '../../../core/errors.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type {
  AlertState,
  HistoryItem,
  HistoryStore,
  LeaseResult,
  RunKind,
  Trigger,
} from '../../../core/history/history.ts';
import { runLifetimes } from '../../../core/history/lifetime.ts';
import { idOfManifestKey, jobPrefix } from '../../../core/manifest.ts';
import { notifyOutcome } from '../../../core/notify/alerts.ts';
import type { Notifier } from '../../../core/notify/notifier.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { readManifest } from '../../../core/pipeline/catalog.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { destinationNamed } from '../../../core/pipeline/copies.ts';
import type { DecryptKeys } from '../../../core/pipeline/decode.ts';
import { type RestoreTarget, runRestore } from '../../../core/pipeline/restore.ts';
import { redact, registerSecret } from '../../../core/redact.ts';
import { withInterrupts } from '../interrupts.ts';
import type { Output } from '../output.ts';
import { resolveDecryptKeys, resolveJobContext } from '../resolve.ts';
import { resolveSecret, type SecretFetcher, secretsManagerFetcher } from '../secrets.ts';
import { currentTaskArn, loadTaskConfig, type TaskDeps } from './task-environment.ts';

/** Environment variables of the restore task (the contract lives in core/contracts). */
export { RestoreTaskEnv };

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
  readonly kind: 'restore' | 'drill';
  readonly backup?: string;
  readonly target?: string;
  readonly tablesCompared?: number;
  readonly rowsCompared?: number;
  readonly differences?: readonly string[];
  readonly restoredTables?: TableStats;
  readonly durationMs?: number;
  readonly error?: string;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value)
    throw new ConfigError(
      `task environment variable ${name} is not set; the restore task must be started by the restore state machine`,
    );
  return value;
}

/**
 * History as the state machine keeps it: every item of this run lands on the item the Resolve
 * state created (same startedAt), carries the task ARN, and a finished item also carries the
 * restored row counts. Everything else is passed through.
 */
class RunHistory implements HistoryStore {
  /** The last SUCCEEDED or FAILED item saved for this run, if any. */
  finished: HistoryItem | undefined;
  /** Row counts of the restored database, once the engine counted them. */
  restoredTables: TableStats | undefined;

  constructor(
    private readonly inner: HistoryStore,
    private readonly run: { job: string; runId: string; startedAt: string; taskArn?: string },
  ) {}

  async save(item: HistoryItem): Promise<void> {
    if (item.job !== this.run.job || item.runId !== this.run.runId) return this.inner.save(item);
    const pinned: HistoryItem = {
      ...item,
      startedAt: this.run.startedAt,
      ...(this.run.taskArn ? { taskArn: this.run.taskArn } : {}),
    };
    if (pinned.finishedAt) {
      pinned.durationMs = Math.max(0, Date.parse(pinned.finishedAt) - Date.parse(this.run.startedAt));
    }
    if (pinned.status === 'SUCCEEDED' || pinned.status === 'FAILED') {
      if (this.restoredTables) pinned.details = { ...pinned.details, restoredTables: this.restoredTables };
      this.finished = pinned;
    }
    await this.inner.save(pinned);
  }

  list(job: string, options?: { limit?: number }): Promise<HistoryItem[]> {
    return this.inner.list(job, options);
  }
  lastSuccess(job: string, kind?: RunKind): Promise<HistoryItem | undefined> {
    return this.inner.lastSuccess(job, kind);
  }
  acquireLease(job: string, runId: string, ttlMs: number, now?: Date): Promise<LeaseResult> {
    return this.inner.acquireLease(job, runId, ttlMs, now);
  }
  releaseLease(job: string, runId: string): Promise<void> {
    return this.inner.releaseLease(job, runId);
  }
  getAlertState(job: string): Promise<AlertState | undefined> {
    return this.inner.getAlertState(job);
  }
  setAlertState(state: AlertState): Promise<void> {
    return this.inner.setAlertState(state);
  }
}

/** The engine, with the row counts of every `stats()` call handed to `onStats`. */
function countingEngine(engine: Engine, onStats: (stats: TableStats) => void): Engine {
  return {
    name: engine.name,
    dumpExtension: (options) => engine.dumpExtension(options),
    dumpFormat: (options) => engine.dumpFormat(options),
    dumpChecker: (options) => engine.dumpChecker(options),
    inspect: (conn) => engine.inspect(conn),
    stats: async (conn) => {
      const stats = await engine.stats(conn);
      onStats(stats);
      return stats;
    },
    // The object counts runRestore compares with the manifest (a wrapper that left this out
    // would skip that comparison in every AWS restore and drill).
    ...(engine.objects ? { objects: engine.objects.bind(engine) } : {}),
    dump: (conn, options) => engine.dump(conn, options),
    restore: (target, input, options) => engine.restore(target, input, options),
    isEmpty: (target) => engine.isEmpty(target),
    createScratch: (source, name) => engine.createScratch(source, name),
    dropScratch: (scratch) => engine.dropScratch(scratch),
  };
}

/**
 * Reads the OpenPGP private key named by the job's `privateKeySecret`: an armored key, or JSON
 * `{"privateKey", "passphrase"}`. Both values are registered as secrets before anything else.
 */
export async function privateKeyFromSecret(
  arn: string,
  at: string,
  env: NodeJS.ProcessEnv,
  fetchSecret: SecretFetcher,
): Promise<PrivateKey> {
  const text = (await resolveSecret({ arn, raw: true, path: at }, env, fetchSecret)) ?? '';
  let armored = text;
  let passphrase: string | undefined;
  if (text.trim().startsWith('{')) {
    let parsed: { privateKey?: unknown; passphrase?: unknown };
    try {
      parsed = JSON.parse(text) as { privateKey?: unknown; passphrase?: unknown };
    } catch {
      throw new ConfigError(`${at}: secret ${arn} is neither an armored key nor JSON {"privateKey", …}`);
    }
    if (typeof parsed.privateKey !== 'string') {
      throw new ConfigError(`${at}: secret ${arn} is JSON without a "privateKey" field`);
    }
    armored = parsed.privateKey;
    passphrase = typeof parsed.passphrase === 'string' ? parsed.passphrase : undefined;
    registerSecret(armored);
    registerSecret(passphrase);
  }
  if (!armored.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) {
    throw new CryptoError(
      `${at}: secret ${arn} does not hold an armored OpenPGP private key (gpg --export-secret-keys --armor <fingerprint>)`,
      { exitCode: ExitCode.usage },
    );
  }
  let key: PrivateKey;
  try {
    key = await readOpenpgpPrivateKey({ armoredKey: armored });
  } catch (err) {
    throw new CryptoError(`${at}: secret ${arn} holds no readable private key (${messageOf(err)})`, {
      exitCode: ExitCode.usage,
    });
  }
  if (key.isDecrypted()) return key;
  if (!passphrase) {
    throw new CryptoError(
      `${at}: the private key in ${arn} is protected; store JSON {"privateKey": …, "passphrase": …} in the secret`,
      { exitCode: ExitCode.usage },
    );
  }
  try {
    return await decryptKey({ privateKey: key, passphrase });
  } catch {
    throw new CryptoError(`${at}: the passphrase in ${arn} does not unlock its private key`, {
      exitCode: ExitCode.usage,
    });
  }
}

/** Keys for the job's backups: the passphrase secret, or the OpenPGP private key secret. */
async function decryptKeysFor(
  loaded: LoadedConfig,
  job: Job,
  env: NodeJS.ProcessEnv,
  fetchSecret: SecretFetcher,
): Promise<DecryptKeys | undefined> {
  const enc = job.encryption !== undefined ? loaded.config.encryption[job.encryption] : undefined;
  if (enc?.type === 'openpgp' && enc.privateKeySecret) {
    const at = `encryption.${job.encryption}.privateKeySecret`;
    return { privateKeys: [await privateKeyFromSecret(enc.privateKeySecret, at, env, fetchSecret)] };
  }
  return resolveDecryptKeys(loaded, job, undefined, { env, fetchSecret });
}

/** The target the environment names, as runRestore takes it, and the source scratch databases go next to. */
async function restoreTarget(
  env: NodeJS.ProcessEnv,
  ctx: JobContext,
  scratchDir: string,
  fetchSecret: SecretFetcher,
): Promise<{ target: RestoreTarget; source: Connection }> {
  const value = required(env, RestoreTaskEnv.target);
  if (value === 'scratch') return { target: { kind: 'scratch' }, source: ctx.source };
  if (value === 'ephemeral') {
    if (ctx.job.engine === 'sqlite') {
      return { target: { kind: 'scratch' }, source: { url: `sqlite:${path.join(scratchDir, 'drill.db')}` } };
    }
    return { target: { kind: 'scratch' }, source: { url: required(env, RestoreTaskEnv.ephemeralUrl) } };
  }
  const problem = checkSourceUrl(ctx.job.engine, value);
  if (problem) throw new ConfigError(`${RestoreTaskEnv.target}: ${problem}`);
  const arn = env[RestoreTaskEnv.targetPasswordSecret];
  const password = arn
    ? await resolveSecret(
        { arn, field: 'password', path: RestoreTaskEnv.targetPasswordSecret },
        env,
        fetchSecret,
      )
    : undefined;
  const connection: Connection = { url: value, ...(password ? { password } : {}) };
  return {
    target: { kind: 'connection', connection, drop: env[RestoreTaskEnv.drop] === 'true' },
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
  const jobName = required(env, 'DUMPVAULT_JOB');
  const runId = required(env, 'DUMPVAULT_RUN_ID');
  const startedAt = required(env, 'DUMPVAULT_STARTED_AT');
  if (Number.isNaN(Date.parse(startedAt))) throw new ConfigError('DUMPVAULT_STARTED_AT is not an ISO time');
  const kindValue = required(env, RestoreTaskEnv.kind);
  if (kindValue !== 'restore' && kindValue !== 'drill') {
    throw new ConfigError(
      `${RestoreTaskEnv.kind}: expected "restore" or "drill", got ${JSON.stringify(kindValue)}`,
    );
  }
  const kind = kindValue;
  const trigger: Trigger = env.DUMPVAULT_TRIGGER === 'schedule' ? 'schedule' : 'manual';
  const fetchSecret = deps.fetchSecret ?? secretsManagerFetcher;
  const taskArn = await currentTaskArn(env);
  // The run's items expire per the job's retention once the config is loaded (a failure to
  // load it is recorded without a TTL).
  let lifetimes: ((job: string) => number | undefined) | undefined;
  const history = new RunHistory(
    deps.history ??
      new DynamoHistoryStore({
        tableName: required(env, 'DUMPVAULT_HISTORY_TABLE'),
        client: createHistoryDocumentClient(new DynamoDBClient({})),
        runLifetimeDays: (job) => lifetimes?.(job),
      }),
    { job: jobName, runId, startedAt, ...(taskArn ? { taskArn } : {}) },
  );
  const notifier =
    deps.notifier ??
    new SnsNotifier({ client: new SNSClient({}), topicArn: required(env, 'DUMPVAULT_TOPIC_ARN') });
  const investigate = () => `dumpvault history ${jobName} --remote   (run ${runId})`;
  const base = { job: jobName, runId, kind } as const;

  let cleanup: (() => Promise<void>) | undefined;
  let backupKey: string | undefined;
  try {
    const task = await loadTaskConfig(env);
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
      ...(env.DUMPVAULT_BUCKET ? { managedBucket: env.DUMPVAULT_BUCKET } : {}),
    });
    const { target, source } = await restoreTarget(env, resolved, loaded.baseDir, fetchSecret);
    const ctx: JobContext = {
      ...resolved,
      source,
      engine: countingEngine(resolved.engine, (stats) => {
        history.restoredTables = stats;
      }),
      investigate,
    };
    const named = env[RestoreTaskEnv.backupDestination];
    const from = named ? destinationNamed(ctx.destinations, named, job.name) : ctx.destinations[0];
    if (!from) throw new ConfigError(`job ${job.name} has no destination to restore from`);
    backupKey = required(env, RestoreTaskEnv.backupKey);
    if (!backupKey.startsWith(jobPrefix(ctx.prefix, job.name))) {
      throw new ConfigError(
        `${RestoreTaskEnv.backupKey}: ${backupKey} is not a backup of job ${job.name} (expected a key under ${jobPrefix(ctx.prefix, job.name)})`,
      );
    }
    const manifest = await readManifest(from, backupKey);
    const keys = await decryptKeysFor(loaded, job, env, fetchSecret);
    // SIGTERM (StopTask: the state machine's timeout or an aborted execution) ends the restore as a failure.
    const result = await withInterrupts(deps.interrupts, ctx, (run) =>
      runRestore(run, { manifest, from, target, keys, kind }),
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
      await recordEarlyFailure(history, notifier, {
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

/** Records FAILED (and alerts) for a failure that happened before runRestore took over. */
async function recordEarlyFailure(
  history: RunHistory,
  notifier: Notifier,
  run: {
    job: string;
    runId: string;
    kind: 'restore' | 'drill';
    trigger: Trigger;
    startedAt: string;
    error: string;
    key: string | undefined;
    investigate: () => string;
  },
): Promise<void> {
  const finishedAt = new Date().toISOString();
  const backup = run.key ? idOfManifestKey(run.key) : undefined;
  await history.save({
    job: run.job,
    runId: run.runId,
    kind: run.kind,
    status: 'FAILED',
    trigger: run.trigger,
    startedAt: run.startedAt,
    finishedAt,
    error: run.error,
    ...(backup ? { details: { backup } } : {}),
  });
  await notifyOutcome(history, notifier, {
    job: run.job,
    kind: run.kind,
    runId: run.runId,
    status: 'FAILED',
    error: run.error,
    durationMs: Math.max(0, Date.parse(finishedAt) - Date.parse(run.startedAt)),
    investigate: run.investigate(),
  });
}
