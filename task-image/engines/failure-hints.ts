/**
 * Tool failures translated into what to fix. A dump tool's stderr says what went wrong in the
 * tool's words ("FATAL: database "shop" does not exist"); the operator also needs the next
 * step. Hints are matched against the already redacted message, so they never add secrets.
 */
import { ToolError, UserError } from '../../core/errors.ts';

/** One recognisable failure and the fix to append to its message. */
export interface FailureHint {
  readonly when: RegExp;
  readonly fix: string;
}

/**
 * Returns `err` with the fix of the first matching hint appended (a new ToolError keeping the
 * original as `cause`), or `err` itself when nothing matches or the fix is already there.
 * Errors that carry their own fix (any UserError that is not a ToolError) are returned unchanged.
 */
export function explainFailure(err: unknown, hints: readonly FailureHint[]): Error {
  if (!(err instanceof Error)) return new ToolError(String(err));
  if (err instanceof UserError && !(err instanceof ToolError)) return err;
  const hint = hints.find((h) => h.when.test(err.message));
  // Errors pass through several layers that each explain; the fix is added once.
  if (!hint || err.message.includes(hint.fix)) return err;
  return new ToolError(`${err.message}; ${hint.fix}`, { cause: err });
}
