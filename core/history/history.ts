/**
 * The history contract (DESIGN.md §5): one item per run, plus a lease per job so two runs of
 * the same job never overlap. Implemented by a local file store and by DynamoDB.
 */

export const RunKind = {
  backup: 'backup',
  restore: 'restore',
  drill: 'drill',
  prune: 'prune',
  standby: 'standby',
  /** `dumpvault rekey`: existing backups re-encrypted to new keys. */
  rekey: 'rekey',
} as const;
export type RunKind = (typeof RunKind)[keyof typeof RunKind];

export const RunStatus = {
  running: 'RUNNING',
  succeeded: 'SUCCEEDED',
  /** Some destinations hold a complete copy, at least one does not (DESIGN.md §6). */
  partial: 'PARTIAL',
  failed: 'FAILED',
  skipped: 'SKIPPED',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/**
 * Whether a finished run counts as a failure: for alert de-duplication, for "did the last backup
 * fail" (retention refuses after it) and for failure metrics. A PARTIAL run is one: a copy is
 * missing. It is not a success either: "last success" and freshness read SUCCEEDED only.
 */
export function isFailedStatus(status: RunStatus): boolean {
  return status === RunStatus.failed || status === RunStatus.partial;
}

/** What one destination did in a backup run (`details.destinations` of the history item, config order). */
export interface DestinationOutcome {
  readonly name: string;
  readonly status: 'ok' | 'failed';
  /** One line naming the destination and the cause (`destination offsite: …`), when it failed. */
  readonly error?: string;
}

export type Trigger = 'schedule' | 'manual';

/** One run of one job. Never holds a secret; `error` is already redacted. */
export interface HistoryItem {
  job: string;
  runId: string;
  kind: RunKind;
  status: RunStatus;
  trigger: Trigger;
  /** ISO 8601 UTC. */
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  /** Data object key (backups) or the backup restored from (restores, drills). */
  key?: string;
  bytes?: number;
  rawBytes?: number;
  sha256?: string;
  /** One-line cause of a FAILED, PARTIAL or SKIPPED run (PARTIAL: `destination <name>: <cause>`). */
  error?: string;
  taskArn?: string;
  /** Keys deleted by retention after this run. */
  pruned?: string[];
  /**
   * Backups: `destinations` ({@link DestinationOutcome}[], config order) and `tables`; restores:
   * target, table comparison summary…
   */
  details?: Record<string, unknown>;
}

/** Who holds a job's lease, and until when. */
export interface Lease {
  job: string;
  runId: string;
  /** ISO 8601 UTC; an expired lease may be taken over. */
  expiresAt: string;
}

export type LeaseResult = { acquired: true } | { acquired: false; heldBy: Lease };

/** Alert de-duplication state: one alert per job until it recovers. */
export interface AlertState {
  job: string;
  /** An alert FAILED went out and no success has followed yet. */
  failing: boolean;
  /** A SKIPPED alert went out and no run has finished since. */
  skipping?: boolean;
  /** When the current failing streak began (ISO). */
  since?: string;
  /** The cause last alerted in the current failing streak (see core/notify/alerts.ts causeKey). */
  cause?: string;
  lastRunId?: string;
  /**
   * Alerts that some targets (local channels) could not take when they were sent: each is sent
   * again to its target alone with the job's next run, while the targets that took it are not
   * sent it twice.
   */
  undelivered?: UndeliveredAlert[];
}

/** An alert one notification target could not take, kept to be sent to that target alone. */
export interface UndeliveredAlert {
  /** The target's label (a channel's: `webhook ops (hooks.example.com)`; never a secret). */
  target: string;
  /** The alert as it was built (core/notify's `Alert`). */
  alert: {
    job: string;
    kind: RunKind;
    status: string;
    runId: string;
    subject: string;
    body: string;
    cause?: string;
  };
}

export interface HistoryStore {
  /** Creates or replaces the item with the same (job, startedAt, runId). */
  save(item: HistoryItem): Promise<void>;
  /** Runs of a job, newest first. */
  list(job: string, options?: { limit?: number }): Promise<HistoryItem[]>;
  /**
   * The newest SUCCEEDED run of one kind of a job (backups by default), or undefined: read
   * from a per-job pointer that each SUCCEEDED save moves forward, not by scanning history.
   */
  lastSuccess(job: string, kind?: RunKind): Promise<HistoryItem | undefined>;
  /** Takes the job's lease unless another unexpired run holds it (conditional write). */
  acquireLease(job: string, runId: string, ttlMs: number, now?: Date): Promise<LeaseResult>;
  /** Releases the lease if `runId` holds it; otherwise does nothing. */
  releaseLease(job: string, runId: string): Promise<void>;
  getAlertState(job: string): Promise<AlertState | undefined>;
  setAlertState(state: AlertState): Promise<void>;
  /**
   * Runs of `job` left RUNNING by a process that has ended (killed, crashed, its machine
   * rebooted), other than `currentRunId`; the caller holds the job's lease. Only the local store
   * implements it: on AWS the task-stopped function fails a run whose task stopped.
   */
  abandonedRuns?(job: string, currentRunId: string): Promise<AbandonedRun[]>;
}

/** A run left RUNNING by a process that ended without recording its result. */
export interface AbandonedRun {
  readonly item: HistoryItem;
  /** The process that ran it, when recorded. */
  readonly pid?: number;
}
