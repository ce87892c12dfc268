/**
 * The names the restore state machine (infra/restore-state-machine.ts), its Lambda steps
 * (functions/logic/restore-*.ts) and `dumpvault restore|drill --remote` (which prints states and
 * maps execution errors to exit codes) agree on: state names, where each step stores its result,
 * the error names Retry and Catch clauses match, and the step names of restore-record.
 */

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
