/**
 * The contract of retention in AWS (issue 12 §2, DESIGN.md §1): the identity that writes
 * backups never deletes them. The backup task runs with {@link PRUNE_ENV} set to
 * {@link PRUNE_SEPARATELY} and skips retention (TaskRun.pruneSeparately, core/contracts/task-env.ts); after its run SUCCEEDED and the task stopped,
 * task-stopped invokes the job's own prune function with a {@link PruneRequest}. That
 * function alone may delete under the job's prefix.
 */

/** Task environment variable that tells the backup task who applies retention. */
export const PRUNE_ENV = 'DUMPVAULT_PRUNE';
/** Its value when a separate, per-job identity applies retention after the task. */
export const PRUNE_SEPARATELY = 'separately';

/** Lambda environment of task-stopped: JSON `{ "<job>": "<prune function name>" }`. */
export const PRUNE_FUNCTIONS_ENV = 'DUMPVAULT_PRUNE_FUNCTIONS';

/** The event of a prune function: the backup run after which retention is applied. */
export interface PruneRequest {
  readonly job: string;
  readonly runId: string;
}
