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
}

export interface Notifier {
  publish(alert: Alert): Promise<void>;
}
