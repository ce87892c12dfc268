/**
 * The contract of the restore state machine (DESIGN.md §1 "Step Functions restore"): its input,
 * the state its steps pass along, the run identity derived from the execution, the errors its
 * Catch clauses see, and the environment of the restore task.
 *
 * ## Execution input (what `dumpvault restore|drill --remote` and the drill schedules send)
 *
 * ```json
 * { "job": "app-prod",
 *   "backup": "latest" | "<id or unique prefix>" | "<ISO time: newest backup at or before it>",
 *   "target": "scratch" | "ephemeral" | "standby" | { "url": "postgres://restore@host:5432/app", "passwordSecret": "arn:…" },
 *   "key": "<prefix><job>/<id>.manifest.json",
 *   "drop": false,
 *   "confirm": "app-prod",
 *   "trigger": "manual" | "schedule" }
 * ```
 *
 * `backup` defaults to `latest`, `target` to `scratch`, `drop` to false, `trigger` to `manual`.
 * `ephemeral` is a drill: the backup goes into a throw-away database in a sidecar container
 * of the drill task (the run's kind is `drill`). `standby` brings the job's standby up to the
 * backup (kind `standby`, core/standby/run.ts): the job's standby rule sends it with `key`, the
 * S3 key of the manifest that landed, instead of `backup` (infra/standby-rules.ts); Resolve
 * skips a backup that is not the job's newest or that the standby already holds. Any other
 * target is a restore (kind `restore`).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  RestoreError,
  type RestoreKind,
  type RestoreRun,
  type StepState,
} from '../../core/contracts/restore-state-machine.ts';
import { messageOf, StorageError, UserError } from '../../core/errors.ts';
import type { Trigger } from '../../core/history/history.ts';
import { MANIFEST_SUFFIX } from '../../core/pipeline/catalog.ts';
import { redact } from '../../core/redact.ts';
import { SecretUnavailableError } from '../../core/secrets/resolve.ts';

/** The target of a restore as the execution input states it. */
export type RestoreTargetInput =
  | 'scratch'
  | 'ephemeral'
  | 'standby'
  | { readonly url: string; readonly passwordSecret?: string };

/** The execution input, validated. */
export interface RestoreRequest {
  readonly job: string;
  readonly backup: string;
  readonly target: RestoreTargetInput;
  readonly drop: boolean;
  readonly confirm?: string;
  readonly trigger: Trigger;
  /** Target `standby` from the standby rule: the S3 key of the manifest that landed. */
  readonly key?: string;
}

/** The part of the Step Functions context object the steps use (`$$.Execution.Id` / `.StartTime`). */
export interface ExecutionRef {
  readonly id: string;
  readonly startTime: string;
}

/**
 * What every Lambda step after Resolve receives: the whole state, parsed (StepStateSchema,
 * core/contracts/restore-state-machine.ts), and the execution.
 */
export interface RestoreStepEvent {
  readonly state: StepState;
  readonly execution: ExecutionRef;
}

/** Task definitions the deployment offers the Resolve step (a static part of its payload). */
export interface RestoreDeployment {
  /** The restore task definition (no sidecar): scratch and URL targets, SQLite drills. */
  readonly restoreTaskDefinition: string;
  /** The RunRestore state's timeout (the longest task.timeoutMinutes of the config). */
  readonly restoreTimeoutSeconds?: number;
  /**
   * Drill task definitions by sidecar: `postgres:16`, `mariadb:10.11`, `mysql:8.0`, `mongo:7.0`
   * (image name and version of the official images), or `job:<name>` for a job whose
   * `restoreDrill.engineImage` names its own image.
   */
  readonly drillTaskDefinitions: Readonly<Record<string, string>>;
}

/** The Resolve step's event: the execution input as the state (parsed by RestoreRequestSchema), the execution, the deployment. */
export interface ResolveEvent {
  readonly state: unknown;
  readonly execution: ExecutionRef;
  readonly deployment: RestoreDeployment;
}

/** The step state's shapes (the contract lives in core/contracts). */
export type {
  RecordedOutcome,
  RestoreKind,
  RestoreRun,
  StepState,
  TaskEnvironmentEntry,
} from '../../core/contracts/restore-state-machine.ts';

/** Environment variables of `dumpvault task restore` (the contract lives in core/contracts). */
export { RestoreTaskEnv } from '../../core/contracts/restore-task.ts';

/** State names, result paths and error names: core/contracts/restore-state-machine.ts. */
/** The execution input is malformed (a Catch records it like any failure). */
export class RestoreInputError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = RestoreError.input;
  }
}

/**
 * Resolve found nothing for a standby run to do and recorded it SKIPPED, with this message as
 * the reason (functions/logic/restore-standby.ts). The state machine ends such an execution
 * successfully at its Skipped state; nothing else is recorded or alerted.
 */
export class StandbySkippedError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = RestoreError.standbySkipped;
  }
}

/**
 * The Guard step refused the restore: confirmation missing or wrong, drop where it makes no
 * sense, or a target that already has data without drop. Never retried.
 */
export class GuardRefusedError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = RestoreError.guardRefused;
  }
}

/**
 * The Guard step could not connect to the target, or not read its catalog: wrong host or
 * database URL, a password the server refused, a network path the deployment's security group
 * does not open. Retried once (a failover may be under way), never forever.
 */
export class TargetUnreachableError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = RestoreError.targetUnreachable;
  }
}

/** The Verify step found the restored tables differ from the manifest, or no result to check. */
export class VerifyFailedError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = RestoreError.verifyFailed;
  }
}

/**
 * An unexpected failure (AWS API, network) that a retry may fix. Handlers wrap anything that is
 * not a UserError in it: the state machine retries `RetryableError`, never a UserError.
 */
export class RetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = RestoreError.retryable;
  }
}

const show = (value: unknown) => JSON.stringify(value ?? null);

const TARGET_EXPECTED =
  'expected "target" to be "scratch", "ephemeral", "standby" or {"url": …, "passwordSecret": …}';

/**
 * The execution input, like the config a zod schema (the original input is the state the
 * steps receive): every message names the field, what it should be, and what it was.
 */
export const RestoreRequestSchema = z
  .object(
    {
      job: z
        .string({ error: (iss) => `expected "job" to name a job, got ${show(iss.input)}` })
        .min(1, { error: 'expected "job" to name a job, got ""' }),
      backup: z
        .string({
          error: (iss) =>
            `expected "backup" to be "latest", a backup id or an ISO time, got ${show(iss.input)}`,
        })
        .min(1, { error: 'expected "backup" to be "latest", a backup id or an ISO time, got ""' })
        .optional(),
      target: z
        .union(
          [
            z.enum(['scratch', 'ephemeral', 'standby']),
            z.object({ url: z.string(), passwordSecret: z.string().optional() }),
          ],
          { error: (iss) => `${TARGET_EXPECTED}, got ${show(iss.input)}` },
        )
        .optional(),
      key: z.string({ error: (iss) => keyExpected(iss.input) }).optional(),
      drop: z
        .boolean({ error: (iss) => `expected "drop" to be true or false, got ${show(iss.input)}` })
        .optional(),
      confirm: z
        .string({ error: (iss) => `expected "confirm" to be the job name, got ${show(iss.input)}` })
        .optional(),
      trigger: z
        .enum(['manual', 'schedule'], {
          error: (iss) => `expected "trigger" to be "manual" or "schedule", got ${show(iss.input)}`,
        })
        .optional(),
    },
    { error: 'expected an execution input like {"job": "<name>"}' },
  )
  .superRefine((input, ctx) => {
    if (input.key !== undefined && (input.target !== 'standby' || !input.key.endsWith(MANIFEST_SUFFIX)))
      ctx.addIssue({ code: 'custom', path: ['key'], message: keyExpected(input.key) });
    else if (input.key !== undefined && input.backup !== undefined)
      ctx.addIssue({ code: 'custom', path: ['backup'], message: 'expected "backup" or "key", not both' });
  });

function keyExpected(key: unknown): string {
  return `expected "key" only with target "standby", naming a manifest (…${MANIFEST_SUFFIX}), got ${show(key)}`;
}

/** Validates the execution input and fills in its defaults; a RestoreInputError names what is wrong. */
export function parseRestoreRequest(state: unknown): RestoreRequest {
  const parsed = RestoreRequestSchema.safeParse(state);
  if (!parsed.success)
    throw new RestoreInputError(
      parsed.error.issues[0]?.message ?? 'expected an execution input like {"job": "<name>"}',
    );
  const { job, backup, target, drop, confirm, trigger, key } = parsed.data;
  return {
    job,
    backup: backup ?? 'latest',
    ...(key !== undefined ? { key } : {}),
    target:
      typeof target === 'object'
        ? { url: target.url, ...(target.passwordSecret ? { passwordSecret: target.passwordSecret } : {}) }
        : (target ?? 'scratch'),
    drop: drop ?? false,
    ...(confirm !== undefined ? { confirm } : {}),
    trigger: trigger ?? 'manual',
  };
}

/** `drill` for the ephemeral target, `standby` for the standby, `restore` for every other. */
export function restoreKind(target: RestoreTargetInput): RestoreKind {
  return target === 'ephemeral' ? 'drill' : target === 'standby' ? 'standby' : 'restore';
}

/**
 * The run id and start time of an execution, derived rather than drawn: every step (and every
 * retry of a step) finds the same history item, even a Catch after a step that never answered.
 * Like newRunId(): the start's milliseconds in 3 hex digits, then 5 hex digits of the id's hash.
 */
export function runIdentity(execution: ExecutionRef): { runId: string; startedAt: string } {
  const start = new Date(execution.startTime);
  if (Number.isNaN(start.getTime())) {
    throw new RestoreInputError(
      `the execution start time ${JSON.stringify(execution.startTime)} is not an ISO time`,
    );
  }
  const ms = start.getUTCMilliseconds().toString(16).padStart(3, '0');
  const hash = createHash('sha256').update(execution.id).digest('hex').slice(0, 5);
  return { runId: `${ms}${hash}`, startedAt: start.toISOString() };
}

/**
 * The run Resolve prepared, or a RestoreInputError when a step runs without one (its shape was
 * checked when the state was parsed).
 */
export function requireRun(state: StepState, step: string): RestoreRun {
  const run = state.run;
  if (!run) {
    throw new RestoreInputError(`the ${step} step needs the run the Resolve step prepares ($.run)`);
  }
  return run;
}

/**
 * Runs a step's logic and shapes what it throws for the state machine: a UserError keeps its
 * name (no retry: the input or the data is wrong), a transient StorageError, a secret Secrets
 * Manager could not hand out just now (SecretUnavailableError) or anything else becomes a
 * RetryableError (the state's Retry handles it). Messages are redacted either way:
 * they end up in the execution history.
 */
export async function runStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const transient =
      (err instanceof StorageError && !err.permanent) || err instanceof SecretUnavailableError;
    if (err instanceof UserError && !transient) {
      err.message = redact(err.message);
      throw err;
    }
    throw new RetryableError(redact(messageOf(err)), { cause: err });
  }
}
