/**
 * Everything one run of one job needs, resolved up front (config, secrets, keys, clients), so
 * the pipeline functions stay plain and testable: the CLI and the task build a JobContext,
 * the pipeline never reads config files or environment variables itself.
 */
import type { Job } from '../config/schema.ts';
import type { Recipients } from '../crypto/openpgp.ts';
import type { Connection, Engine } from '../engine.ts';
import type { HistoryStore, Trigger } from '../history/history.ts';
import type { MetaBackupSpec } from '../meta/document.ts';
import type { Notifier } from '../notify/notifier.ts';
import type { Destination } from '../storage/destination.ts';

export type EncryptionSpec =
  | { readonly type: 'openpgp'; readonly recipients: Recipients }
  | { readonly type: 'passphrase'; readonly passphrase: string };

/** Progress events for the CLI's progress line (TTY) or step lines (no TTY). */
export type ProgressEvent =
  | { readonly type: 'step'; readonly message: string }
  | {
      readonly type: 'bytes';
      /** Raw dump bytes read so far; undefined when zstd reads the dump tool's output itself. */
      readonly raw: number | undefined;
      readonly compressed: number;
      readonly stored: number;
      readonly elapsedMs: number;
    };

export interface JobContext {
  readonly job: Job;
  /** The config's key prefix (e.g. "dumpvault/"). */
  readonly prefix: string;
  readonly engine: Engine;
  readonly source: Connection;
  /** The job's destinations in config order; the first one is read by list/verify/restore. */
  readonly destinations: readonly Destination[];
  readonly encryption: EncryptionSpec | undefined;
  readonly history: HistoryStore;
  readonly notifier: Notifier;
  readonly trigger: Trigger;
  /** How an operator investigates a run, for alerts (a CLI command or a console link). */
  readonly investigate: (runId: string) => string;
  readonly progress?: (event: ProgressEvent) => void;
  readonly now?: () => Date;
  /** How long a backup's lease lasts before another run may take over (default 24 h). */
  readonly leaseTtlMs?: number;
  /** Task mode: the run id chosen by the orchestrator, and the task ARN for history. */
  readonly runId?: string;
  /** Task mode: when the orchestrator recorded the run RUNNING (the history item's key). */
  readonly startedAt?: Date;
  readonly taskArn?: string;
  /**
   * Whether the backup applies retention itself. In AWS the task cannot delete: a separate,
   * per-job identity prunes after it (core/contracts/prune.ts).
   * @default true
   */
  readonly pruneAfterBackup?: boolean;
  /**
   * Builds dumpvault's own meta-backup, written to every destination after the run's copies
   * (core/meta/step.ts); undefined when the config has no `metaBackup`.
   */
  readonly metaBackup?: () => Promise<MetaBackupSpec>;
  /** Aborts the run (task timeout); the run fails with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Asked when the backup fails. True: the run is recorded FAILED, but neither alerted nor its
   * lease released — whoever watches the task end decides (a Fargate Spot task stopped by
   * SIGTERM: task-stopped retries a Spot interruption and hands the lease to the retry, or
   * sends the alert and releases the lease).
   * @default - every failure is alerted and its lease released
   */
  readonly leaveFailureToOrchestrator?: () => boolean;
}
