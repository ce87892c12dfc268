/**
 * The Guard step: the confirmation rules of a restore, checked before any task starts. A target
 * other than a scratch or drill database needs `confirm` equal to the job name; `drop` only
 * makes sense for such a target. Whether the target already holds data can only be seen from
 * inside the VPC with the engine's tools: the restore task checks that first, before its verify
 * pass, and refuses a target with data unless `drop` is true — nothing is read or written then.
 */
import {
  asStepState,
  GuardRefusedError,
  parseRestoreRequest,
  type RestoreStepEvent,
  requireRun,
} from './restore-contract.ts';

/** What Guard stores at `$.guard`: which rule let the restore through. */
export interface GuardResult {
  readonly allowed: true;
  readonly rule: string;
}

/** Applies the confirmation rules; throws GuardRefusedError saying exactly what is missing. */
export function guardRestore(event: RestoreStepEvent): GuardResult {
  const request = parseRestoreRequest(event.state);
  const run = requireRun(asStepState(event.state), 'Guard');
  if (run.targetKind !== 'connection') {
    if (request.drop) {
      throw new GuardRefusedError(
        `"drop" only applies to a target URL; a ${run.targetKind} target is always a new, empty database: leave "drop" out`,
      );
    }
    return {
      allowed: true,
      rule: `${run.targetKind} target: a new database, nothing existing is touched; no confirmation needed`,
    };
  }
  if (request.confirm !== run.job) {
    throw new GuardRefusedError(
      `restoring into ${run.target} writes to a database outside dumpvault's scratch space: set "confirm" to the job name "${run.job}"${request.confirm !== undefined ? ` (got ${JSON.stringify(request.confirm)})` : ''}`,
    );
  }
  return {
    allowed: true,
    rule: request.drop
      ? `confirmed by the job name; drop: the target's existing objects are replaced`
      : `confirmed by the job name; the restore task refuses the target if it already has data (set "drop": true to replace it)`,
  };
}
