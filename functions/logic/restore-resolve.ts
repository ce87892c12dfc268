/**
 * The Resolve step: validates the execution input, records the run RUNNING, finds the backup
 * in the manifests of the job's S3 destinations (not in history: it works after the table is
 * lost; the first destination, in config order, with a valid copy is read, like the CLI does), checks the manifest and the target, and prepares the restore task's RunTask
 * parameters — task definition, size, and the environment of `dumpvault task restore`.
 */
import { checkSourceUrl, findJob } from '../../core/config/load.ts';
import type { Config, Job } from '../../core/config/schema.ts';
import { alertStateKey } from '../../core/contracts/history-keys.ts';
import { DEFAULT_TASK_SIZE } from '../../core/contracts/task-size.ts';
import { UserError } from '../../core/errors.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../core/history/history.ts';
import type { Manifest } from '../../core/manifest.ts';
import { MANIFEST_SUFFIX, manifestId } from '../../core/pipeline/catalog.ts';
import { resolveCopy } from '../../core/pipeline/copies.ts';
import { redact } from '../../core/redact.ts';
import type { Destination } from '../../core/storage/destination.ts';
import { chooseDrillTaskDefinition } from './drill-sidecar.ts';
import type { RunLog } from './log.ts';
import {
  parseRestoreRequest,
  type ResolveEvent,
  RestoreInputError,
  type RestoreKind,
  type RestoreRequest,
  type RestoreRun,
  RestoreTaskEnv,
  restoreKind,
  runIdentity,
  StandbySkippedError,
  type TaskEnvironmentEntry,
} from './restore-contract.ts';
import { backupOfManifestKey, standbyBackup, standbySkipReason } from './restore-standby.ts';
import { MAX_OVERRIDE_BYTES, singleJobConfig, startedByOf } from './task-contract.ts';

export interface ResolveDeps {
  readonly config: Config;
  readonly history: DynamoHistoryStore;
  /** Opens the job's destinations AWS can read, in config order (see backup-source.ts). */
  readonly openSources: (job: Job) => Promise<readonly Destination[]>;
  readonly log: RunLog;
  /** @default - the system clock */
  readonly now?: () => Date;
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/;
const GiB = 1024 ** 3;
/** The smallest ephemeral storage a RunTask override accepts. */
const MIN_EPHEMERAL_GIB = 21;
const MAX_EPHEMERAL_GIB = 200;

/**
 * Task storage for a run: a drill holds the restored database in its sidecar, so it gets the
 * dump's raw size three times over (data, indexes, WAL) plus 20 GiB; other restores stream
 * through and need the minimum.
 */
export function ephemeralStorageGiB(kind: RestoreKind, rawBytes: number): number {
  if (kind !== 'drill') return MIN_EPHEMERAL_GIB;
  return Math.min(MAX_EPHEMERAL_GIB, Math.max(MIN_EPHEMERAL_GIB, Math.ceil((rawBytes * 3) / GiB) + 20));
}

/** How RunRestore reaches the target. */
export interface ResolvedTarget {
  readonly kind: RestoreRun['targetKind'];
  readonly url?: string;
  readonly passwordSecret?: string;
}

/** Checks the target against the job; returns how RunRestore reaches it. */
function checkTarget(request: RestoreRequest, job: Job): ResolvedTarget {
  const target = request.target;
  if (target === 'ephemeral') return { kind: 'ephemeral' };
  // The standby's URL and password secret come from the config (the task reads them there).
  if (target === 'standby') return { kind: 'standby' };
  if (job.engine === 'sqlite') {
    throw new RestoreInputError(
      `job ${job.name} backs up a SQLite file, which a task in AWS cannot reach: restore it with "dumpvault restore ${job.name}" where the file lives, or drill it with target "ephemeral"`,
    );
  }
  if (target === 'scratch') return { kind: 'scratch' };
  const problem = checkSourceUrl(job.engine, target.url);
  if (problem) throw new RestoreInputError(`target.url: ${problem}`);
  if (target.passwordSecret !== undefined && !SECRET_ARN.test(target.passwordSecret)) {
    throw new RestoreInputError(
      `target.passwordSecret: expected a Secrets Manager secret ARN, got ${JSON.stringify(target.passwordSecret)}`,
    );
  }
  return {
    kind: 'connection',
    url: target.url,
    ...(target.passwordSecret ? { passwordSecret: target.passwordSecret } : {}),
  };
}

/** Refuses a backup the task could not read: another engine, or keys the deployment cannot reach. */
function checkManifest(config: Config, job: Job, manifest: Manifest): void {
  const id = manifestId(manifest);
  if (manifest.engine !== job.engine) {
    throw new UserError(
      `backup ${id} was made by the ${manifest.engine} engine; job ${job.name} uses ${job.engine}`,
    );
  }
  const type = manifest.encryption.type;
  if (type === 'none') return;
  const name = job.encryption;
  const entry = name !== undefined ? config.encryption[name] : undefined;
  if (!entry || entry.type !== type) {
    throw new UserError(
      `backup ${id} is encrypted with ${type}, but job ${job.name} now uses ${entry ? `${entry.type} encryption "${name}"` : 'no encryption'}; restore it with "dumpvault restore ${job.name} ${id} --key …" where its key is`,
    );
  }
  if (entry.type === 'openpgp' && !entry.privateKeySecret) {
    throw new UserError(
      `backup ${id} is encrypted to OpenPGP recipients and encryption.${name} has no "privateKeySecret": store a recipient's private key in Secrets Manager and name its ARN there`,
    );
  }
  if (entry.type === 'passphrase' && !entry.passphraseSecret) {
    throw new UserError(
      `backup ${id} is encrypted with a passphrase and encryption.${name} has no "passphraseSecret" the restore task could read`,
    );
  }
}

/**
 * The container environment of the restore task: what `dumpvault task restore` parses
 * (core/contracts/restore-task.ts parseRestoreTaskEnv), with the task definition's part.
 */
export function restoreTaskEnvironment(
  config: Config,
  job: Job,
  run: Pick<RestoreRun, 'runId' | 'startedAt' | 'trigger' | 'kind' | 'manifestKey' | 'drop' | 'destination'>,
  target: ResolvedTarget,
): TaskEnvironmentEntry[] {
  const env: TaskEnvironmentEntry[] = [
    { Name: RestoreTaskEnv.job, Value: job.name },
    { Name: RestoreTaskEnv.runId, Value: run.runId },
    { Name: RestoreTaskEnv.startedAt, Value: run.startedAt },
    { Name: RestoreTaskEnv.trigger, Value: run.trigger },
    { Name: RestoreTaskEnv.kind, Value: run.kind },
    { Name: RestoreTaskEnv.backupKey, Value: run.manifestKey },
    ...(run.destination ? [{ Name: RestoreTaskEnv.backupDestination, Value: run.destination }] : []),
    { Name: RestoreTaskEnv.target, Value: target.kind === 'connection' ? target.url! : target.kind },
    { Name: RestoreTaskEnv.drop, Value: String(run.drop) },
    { Name: RestoreTaskEnv.jobJson, Value: JSON.stringify(singleJobConfig(config, job)) },
  ];
  if (target.passwordSecret)
    env.push({ Name: RestoreTaskEnv.targetPasswordSecret, Value: target.passwordSecret });
  return env;
}

/** Resolves one execution's restore. Writes the RUNNING history item; throws UserErrors for bad input. */
export async function resolveRestore(deps: ResolveDeps, event: ResolveEvent): Promise<RestoreRun> {
  const request = parseRestoreRequest(event.state);
  const job = findJob(deps.config, request.job);
  const { runId, startedAt } = runIdentity(event.execution);
  const kind = restoreKind(request.target);
  const base: HistoryItem = {
    job: job.name,
    runId,
    kind,
    status: 'RUNNING',
    trigger: request.trigger,
    startedAt,
    details: { execution: event.execution.id },
  };
  await deps.history.save(base);

  const target = checkTarget(request, job);
  const wanted = kind === 'standby' ? standbyBackup(request, job, deps.config.prefix) : request.backup;
  const { manifest, from, skipped } = await resolveCopy(
    await deps.openSources(job),
    deps.config.prefix,
    job.name,
    wanted,
  );
  for (const s of skipped)
    deps.log.warn('a destination has no valid copy of the backup', {
      job: job.name,
      runId,
      reason: s.reason,
    });
  checkManifest(deps.config, job, manifest);
  const id = manifestId(manifest);
  const manifestKey = `${manifest.object.key.slice(0, manifest.object.key.lastIndexOf('/') + 1)}${id}${MANIFEST_SUFFIX}`;

  let taskDefinition = event.deployment.restoreTaskDefinition;
  let described: string;
  if (target.kind === 'ephemeral' && job.engine !== 'sqlite') {
    const drill = chooseDrillTaskDefinition(event.deployment, job, manifest.serverVersion);
    taskDefinition = drill.taskDefinition;
    described = `a throw-away database in the drill task's ${drill.sidecar} sidecar`;
  } else if (target.kind === 'ephemeral') {
    described = 'a throw-away SQLite file in the drill task';
  } else if (target.kind === 'scratch') {
    described = 'a new scratch database next to the source';
  } else if (target.kind === 'standby') {
    described = `the standby ${redact(job.standby!.url)}`;
  } else {
    described = redact(target.url!);
  }
  const size = job.task ?? DEFAULT_TASK_SIZE;
  const run: RestoreRun = {
    job: job.name,
    runId,
    startedAt,
    kind,
    trigger: request.trigger,
    backup: id,
    manifestKey,
    objectKey: manifest.object.key,
    destination: from.name,
    serverVersion: manifest.serverVersion,
    targetKind: target.kind,
    target: described,
    drop: target.kind === 'connection' && request.drop,
    taskDefinition,
    startedBy: startedByOf(job.name, runId),
    cpu: String(size.cpu),
    memory: String(size.memoryMiB),
    ephemeralStorageGiB: ephemeralStorageGiB(kind, manifest.rawBytes),
    timeoutSeconds:
      event.deployment.restoreTimeoutSeconds ??
      (job.task?.timeoutMinutes ?? DEFAULT_TASK_SIZE.timeoutMinutes) * 60,
    environment: [],
    failingBefore: (await deps.history.getAlertState(alertStateKey(job.name, kind)))?.failing ?? false,
  };
  const skip =
    kind === 'standby'
      ? await standbySkipReason(deps.history, request, {
          job: job.name,
          runId,
          prefix: deps.config.prefix,
          newest: id,
          timeoutSeconds: run.timeoutSeconds,
          now: deps.now?.() ?? new Date(),
        })
      : undefined;
  if (skip) {
    const landed = backupOfManifestKey(request.key!, deps.config.prefix, job.name);
    await deps.history.save({
      ...base,
      status: 'SKIPPED',
      finishedAt: (deps.now?.() ?? new Date()).toISOString(),
      durationMs: 0,
      error: skip,
      details: { ...base.details, backup: landed, target: described },
    });
    deps.log.info('standby skipped', { job: job.name, runId, backup: landed, reason: skip });
    throw new StandbySkippedError(skip);
  }
  const environment = restoreTaskEnvironment(deps.config, job, run, target);
  const overrideBytes = Buffer.byteLength(JSON.stringify(environment));
  if (overrideBytes > MAX_OVERRIDE_BYTES) {
    throw new UserError(
      `the restore task's overrides of job "${job.name}" are ${overrideBytes} bytes, more than the ${MAX_OVERRIDE_BYTES} ECS accepts; shorten the job's destinations or encryption entries`,
    );
  }
  await deps.history.save({
    ...base,
    key: manifest.object.key,
    details: { ...base.details, backup: id, target: described, destination: from.name },
  });
  deps.log.info('restore resolved', {
    job: job.name,
    runId,
    kind,
    backup: id,
    destination: from.name,
    target: described,
  });
  return { ...run, environment };
}
