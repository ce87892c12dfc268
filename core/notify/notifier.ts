/**
 * Alerts: failures, recoveries, skipped runs (and optional success digests). The local CLI
 * prints and appends them to the state directory; in AWS they are SNS messages with
 * `job`, `status` and `kind` message attributes for filtering.
 */
import type { RunKind } from '../history/history.ts';

/** PARTIAL: a backup whose copies some destinations hold and at least one does not. */
export type AlertStatus = 'FAILED' | 'PARTIAL' | 'RECOVERED' | 'SKIPPED' | 'SUCCEEDED';

export interface Alert {
  readonly job: string;
  readonly kind: RunKind;
  readonly status: AlertStatus;
  readonly runId: string;
  /** One line, ≤ 100 characters (SNS subject limit). */
  readonly subject: string;
  /** Human-readable body: cause, duration, key, and the command to investigate. */
  readonly body: string;
  /** The one-line cause of a failure (redacted), for receivers that file or route by it. */
  readonly cause?: string;
}

/** One job's line in a digest: its runs over the digest's period and where it stands. */
export interface DigestJob {
  readonly job: string;
  /** Status of the job's newest finished backup, or undefined when it never ran. */
  readonly lastStatus?: string;
  readonly lastSuccessAt?: string;
  readonly lastBackupBytes?: number;
  /** Backups finished in the period, by status. */
  readonly runs: Readonly<Record<string, number>>;
  /** The cause of the newest failure in the period. */
  readonly lastError?: string;
}

/** The daily summary of every job (sent whether or not anything failed). */
export interface Digest {
  /** Start and end of the summarised period (ISO). */
  readonly from: string;
  readonly to: string;
  readonly jobs: readonly DigestJob[];
  readonly subject: string;
  readonly body: string;
}

export interface Notifier {
  publish(alert: Alert): Promise<void>;
  /**
   * Sends `alert` to the one target `target` names, which a previous publish could not reach
   * ({@link PartialDeliveryError}). Resolves when it took it, or when no such target exists any
   * more (the config dropped it); rejects when it still cannot.
   */
  resend?(alert: Alert, target: string): Promise<void>;
}

/**
 * A publish that reached its record (the alert log) and some targets, but not `undelivered`:
 * the alert counts as sent, and only those targets get it again (notifyOutcome keeps them).
 */
export class PartialDeliveryError extends Error {
  override name = 'PartialDeliveryError';
  constructor(
    readonly undelivered: readonly string[],
    message = `could not notify ${undelivered.join(', ')}`,
  ) {
    super(message);
  }
}

/** What a channel delivers: an alert or a digest, as the JSON a webhook or command receives. */
export type NotifyEvent = ({ readonly type: 'alert' } & Alert) | ({ readonly type: 'digest' } & Digest);

/**
 * One delivery target (webhook, SMTP, command). `send` may be called again for the same event
 * when an attempt failed; it rejects with a {@link NotifyError} whose `permanent` flag says a
 * retry cannot help.
 */
export interface Channel {
  /** Names the channel in logs; never holds a secret (a webhook names its host, not its URL). */
  readonly label: string;
  /**
   * Names the channel across runs for per-channel de-duplication: its type and name (or config
   * path), not its address, so a channel whose URL or host was fixed still gets what it missed.
   * @default label
   */
  readonly id?: string;
  readonly retries: number;
  send(event: NotifyEvent): Promise<void>;
}

/** A delivery that failed; `permanent` when retrying the same request cannot succeed. */
export class NotifyError extends Error {
  override name = 'NotifyError';
  readonly permanent: boolean;
  constructor(message: string, options: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : {});
    this.permanent = options.permanent ?? false;
  }
}
