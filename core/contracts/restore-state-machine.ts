/**
 * The names the restore state machine (infra/restore-state-machine.ts), its Lambda steps
 * (functions/logic/restore-*.ts) and `dumpvault restore|drill --remote` (which prints states and
 * maps execution errors to exit codes) agree on: state names, where each step stores its result,
 * the error names Retry and Catch clauses match, the step names of restore-record, and — as zod
 * schemas, parsed at the top of every step that receives them — what those results hold.
 */
import { z } from 'zod';

/** The names of the states (the CLI prints them as the execution passes). */
export const RestoreState = {
  resolve: 'Resolve',
  guard: 'Guard',
  runRestore: 'RunRestore',
  verify: 'Verify',
  record: 'Record',
  notify: 'Notify',
  recordFailure: 'RecordFailure',
  recordFailureFailed: 'RecordFailureFailed',
  notifyFailure: 'NotifyFailure',
  restored: 'Restored',
  failed: 'Failed',
  /** Standby only: Resolve found nothing to do and recorded SKIPPED (functions/logic/restore-standby.ts). */
  skipped: 'Skipped',
} as const;
export type RestoreStateName = (typeof RestoreState)[keyof typeof RestoreState];

/** Where each step stores its result in the state (JSONPath `$.<key>`, see {@link resultPath}). */
export const RestoreResultKey = {
  run: 'run',
  guard: 'guard',
  task: 'task',
  verify: 'verify',
  recorded: 'recorded',
  notified: 'notified',
  /** Catch clauses store `{Error, Cause}` under `$.failure.<state name>` ({@link failurePath}). */
  failure: 'failure',
} as const;
export type RestoreResultKey = (typeof RestoreResultKey)[keyof typeof RestoreResultKey];

/** The JSONPath of a step's result: `$.run`, `$.recorded`, … */
export function resultPath(key: RestoreResultKey): string {
  return `$.${key}`;
}

/** The JSONPath where the Catch of `state` stores the `{Error, Cause}` it caught. */
export function failurePath(state: RestoreStateName): string {
  return `$.${RestoreResultKey.failure}.${state}`;
}

/** Error names an execution's steps throw or fail with; Retry and Catch clauses match them. */
export const RestoreError = {
  /** The execution input is malformed (never retried). */
  input: 'RestoreInputError',
  /** The Guard refused the restore: confirmation, drop, a target with data (never retried). */
  guardRefused: 'GuardRefusedError',
  /** The Guard could not reach the target: retried once. */
  targetUnreachable: 'TargetUnreachableError',
  /** The restored tables differ from the manifest. */
  verifyFailed: 'VerifyFailedError',
  /** AWS or network trouble in a Lambda step: the state's Retry handles it. */
  retryable: 'RetryableError',
  /** The restore task refused the run (exit code 2: bad input, target has data). */
  taskRefused: 'RestoreRefusedError',
  /** The restore task failed and said why (exit code 1). */
  taskFailed: 'RestoreFailedError',
  /** Resolve recorded a standby run SKIPPED (nothing to do): the execution ends at Skipped, successfully. */
  standbySkipped: 'StandbySkippedError',
  /** RecordFailure could not write history (the RecordFailureFailed state). */
  recordFailed: 'RecordFailed',
} as const;

/** The steps restore-record serves (the `step` field of its event). */
export const RecordStep = {
  record: 'record',
  recordFailure: 'record-failure',
  notify: 'notify',
} as const;
export type RecordStep = (typeof RecordStep)[keyof typeof RecordStep];

/** What an execution does: restore, drill (target `ephemeral`) or standby (target `standby`). */
export type RestoreKind = 'restore' | 'drill' | 'standby';

/** `expected <what>, got <value>`: every message names what the field should be and what it was. */
function expected(what: string) {
  return (issue: { readonly input?: unknown }) => {
    const got = issue.input === undefined ? 'nothing' : JSON.stringify(issue.input).slice(0, 80);
    return `expected ${what}, got ${got}`;
  };
}
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (what: string) => z.string({ error: expected(what) }).min(1, { error: expected(what) });
const count = (what: string) =>
  z
    .number({ error: expected(what) })
    .int({ error: expected(what) })
    .nonnegative({ error: expected(what) });
const isoTime = (what: string) =>
  z.string({ error: expected(what) }).refine((s) => !Number.isNaN(Date.parse(s)), { error: expected(what) });
const restoreKinds = z.enum(['restore', 'drill', 'standby'], {
  error: expected('"restore", "drill" or "standby"'),
});

/** An `{Name, Value}` pair of an ECS container override (Step Functions passes it through as is). */
export const TaskEnvironmentEntrySchema = z.object(
  { Name: text('a variable name'), Value: z.string({ error: expected('a string') }) },
  { error: expected('{"Name", "Value"}') },
);
export type TaskEnvironmentEntry = z.infer<typeof TaskEnvironmentEntrySchema>;

/**
 * The run the Resolve step prepares (at `$.run`): everything later steps and the task need (no
 * secrets). RunRestore reads taskDefinition, startedBy, cpu, memory, ephemeralStorageGiB and
 * environment from it by JSONPath (infra/restore-state-machine.ts).
 */
export const RestoreRunSchema = z.object(
  {
    job: text('the job name'),
    runId: text('the run id'),
    /** ISO time; with `runId` the key of the run's history item. */
    startedAt: isoTime('the start of the run (an ISO time)'),
    kind: restoreKinds,
    trigger: z.enum(['schedule', 'manual'], { error: expected('"schedule" or "manual"') }),
    /** The backup's id (`2026-11-21T030000Z-a1b2c3d4`). */
    backup: text('the backup id'),
    manifestKey: text("the backup's manifest key"),
    objectKey: text("the backup's object key"),
    /**
     * The job destination the backup is read from: the first, in config order, with a valid copy.
     * Absent in runs resolved before destinations were recorded: the job's first destination.
     */
    destination: text('a destination name').optional(),
    /** The server version the backup was made from (the manifest's `serverVersion`). */
    serverVersion: z.string({ error: expected("the backup's server version") }),
    targetKind: z.enum(['scratch', 'ephemeral', 'standby', 'connection'], {
      error: expected('"scratch", "ephemeral", "standby" or "connection"'),
    }),
    /** The target in words, for people: `a scratch database next to the source`, a URL, … */
    target: text('the target in words'),
    drop: z.boolean({ error: expected('true or false') }),
    /** What RunRestore starts. */
    taskDefinition: text('the task definition ARN'),
    startedBy: text('the startedBy tag of the task'),
    cpu: text('the task CPU units'),
    memory: text('the task memory (MiB)'),
    ephemeralStorageGiB: count('the ephemeral storage in GiB'),
    /** How long RunRestore waits for the task before Step Functions stops it. */
    timeoutSeconds: count('the RunRestore timeout in seconds'),
    environment: z.array(TaskEnvironmentEntrySchema, { error: expected('the task environment') }),
    /**
     * Whether the job's restores (drills) were failing when this run began: the task then
     * announces the recovery itself, and Notify adds nothing.
     */
    failingBefore: z.boolean({ error: expected('true or false') }),
  },
  { error: expected('the run the Resolve step prepares') },
);
export type RestoreRun = z.infer<typeof RestoreRunSchema>;

/** What Verify stores at `$.verify`. */
export const VerifyResultSchema = z.object(
  {
    matches: z.literal(true, { error: expected('true') }),
    tablesCompared: count('a table count'),
    rowsCompared: count('a row count'),
  },
  { error: expected('the Verify result {"matches", "tablesCompared", "rowsCompared"}') },
);
export type VerifyResult = z.infer<typeof VerifyResultSchema>;

/** What Record / RecordFailure store at `$.recorded`; the Fail state reads `error` and `cause`. */
export const RecordedOutcomeSchema = z.object({
  job: z.string({ error: expected('the job name') }),
  runId: text('the run id').optional(),
  kind: restoreKinds,
  status: z.enum(['SUCCEEDED', 'FAILED'], { error: expected('"SUCCEEDED" or "FAILED"') }),
  /** The error name the execution fails with (`GuardRefusedError`, `States.TaskFailed`, …). */
  error: z.string({ error: expected('an error name') }).optional(),
  /** One line: why it failed. */
  cause: z.string({ error: expected('one line') }).optional(),
  /** The state whose Catch led here. */
  failedState: z.string({ error: expected('a state name') }).optional(),
  /** False when the history item was already FAILED (the task recorded and alerted itself). */
  changed: z.boolean({ error: expected('true or false') }),
  backup: z.string({ error: expected('the backup id') }).optional(),
  target: z.string({ error: expected('the target in words') }).optional(),
  durationMs: count('milliseconds').optional(),
  tablesCompared: count('a table count').optional(),
  rowsCompared: count('a row count').optional(),
});
export type RecordedOutcome = z.infer<typeof RecordedOutcomeSchema>;

/**
 * What the RecordFailureFailed state stores at `$.recorded` when history could not be written
 * (no status: nothing was recorded); NotifyFailure then has nothing to announce.
 */
const UnrecordedFailureSchema = z.object({
  status: z.undefined().optional(),
  error: z.string({ error: expected('an error name') }),
  cause: z.string({ error: expected('one line') }),
  changed: z.literal(false, { error: expected('false') }),
});

/**
 * The state the steps after Resolve receive: the execution input (validated on its own, see
 * functions/logic/restore-contract.ts RestoreRequestSchema) plus what earlier steps added under
 * {@link RestoreResultKey}. Each result, when present, must have its full shape: a step refuses
 * a malformed one naming the field (`state.run.startedAt: expected …`) rather than fail later
 * on an undefined value or record a half-wrong run. Whether a result must be present is the
 * step's call (a RecordFailure after Resolve failed has no run).
 */
export const StepStateSchema = z.looseObject(
  {
    [RestoreResultKey.run]: RestoreRunSchema.optional(),
    /** The ECS task description RunRestore returns (PascalCase, as DescribeTasks has it). */
    [RestoreResultKey.task]: z
      .record(z.string(), z.unknown(), { error: expected('the ECS task description') })
      .optional(),
    [RestoreResultKey.verify]: VerifyResultSchema.optional(),
    [RestoreResultKey.recorded]: z
      .discriminatedUnion('status', [RecordedOutcomeSchema, UnrecordedFailureSchema], {
        error: (issue) =>
          expected('"SUCCEEDED" or "FAILED" (none when history could not be written)')({
            input: isRecord(issue.input) ? issue.input['status'] : issue.input,
          }),
      })
      .optional(),
    /** `{Error, Cause}` a Catch stored, by state name. */
    [RestoreResultKey.failure]: z
      .record(
        z.string(),
        z.object(
          {
            Error: z.string({ error: expected('an error name') }).optional(),
            Cause: z.string({ error: expected('a cause') }).optional(),
          },
          { error: expected('{"Error", "Cause"} of a Catch') },
        ),
        { error: expected('{"<state>": {"Error", "Cause"}}') },
      )
      .optional(),
  },
  { error: expected('the state object of the execution') },
);
export type StepState = z.infer<typeof StepStateSchema>;
