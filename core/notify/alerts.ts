/**
 * Alert de-duplication (DESIGN.md §6): one FAILED alert per job until it recovers, then one
 * RECOVERED; one SKIPPED alert per overlap streak. Shared by the CLI, the task and the Lambdas.
 * A PARTIAL backup (a destination lost its copy) is a failure here: it opens an outage with a
 * PARTIAL alert, and inside one it does not count as the recovery.
 * Inside an outage a failure alerts again only when its cause is new (DESIGN.md §6: "one per
 * outage and per new cause"): the same database down all night is one alert, the database back
 * but the bucket now refusing writes is a second one.
 */
import { type AlertPart, alertStateKey } from '../contracts/history-keys.ts';
import {
  type AlertState,
  type HistoryStore,
  isFailedStatus,
  type RunKind,
  type UndeliveredAlert,
} from '../history/history.ts';
import { redact } from '../redact.ts';
import { type Alert, type AlertStatus, type Notifier, PartialDeliveryError } from './notifier.ts';

export interface RunOutcome {
  readonly job: string;
  readonly kind: RunKind;
  readonly runId: string;
  readonly status: 'SUCCEEDED' | 'PARTIAL' | 'FAILED' | 'SKIPPED';
  readonly error?: string;
  readonly durationMs?: number;
  readonly key?: string;
  readonly bytes?: number;
  /** Where to look next: a CLI command or console hint. */
  readonly investigate: string;
  readonly now?: Date;
  /**
   * A part of a run alerted on its own streak (`<job>:<part>` alert state): the meta-backup of a
   * backup run fails and recovers independently of the backup itself.
   */
  readonly part?: AlertPart;
}

/**
 * What makes two failures "the same cause": the message with every word that holds a digit
 * folded to one `#` (sizes and durations with their units, decimals, addresses, run ids, random
 * hex names, exit codes), so a repeat of one outage never reads as new. One token per word, not
 * per digit run: a random id folds the same however its digits and letters fall.
 */
export function causeKey(error: string): string {
  return error
    .replace(/[0-9a-z]*\d[0-9a-z]*(?:\.[0-9a-z]*\d[0-9a-z]*)*/gi, '#')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/**
 * Decides which alert (if any) an outcome deserves, given the job's alert state. `newCause`:
 * the failure's cause differs from the one alerted last in this outage.
 */
export function decideAlert(
  failing: boolean,
  skipping: boolean,
  status: RunOutcome['status'],
  newCause = false,
): AlertStatus | undefined {
  if (status === 'FAILED' || status === 'PARTIAL') return failing && !newCause ? undefined : status;
  if (status === 'SKIPPED') return skipping ? undefined : 'SKIPPED';
  return failing ? 'RECOVERED' : undefined;
}

function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return 'unknown';
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Builds the human-readable alert for an outcome. Subject ≤ 100 chars (the SNS limit). */
export function buildAlert(outcome: RunOutcome, status: AlertStatus): Alert {
  const verb = {
    FAILED: 'FAILED',
    PARTIAL: 'PARTIAL (a destination has no copy)',
    RECOVERED: 'recovered',
    SKIPPED: 'skipped',
    SUCCEEDED: 'succeeded',
  }[status];
  const subject = `dumpvault: ${outcome.part ?? outcome.kind} of ${outcome.job} ${verb}`.slice(0, 100);
  const lines = [
    `Job:       ${outcome.job}`,
    `Kind:      ${outcome.kind}`,
    `Status:    ${status}`,
    `Run:       ${outcome.runId}`,
    `Duration:  ${formatDuration(outcome.durationMs)}`,
  ];
  if (outcome.key) lines.push(`Object:    ${outcome.key}`);
  if (outcome.bytes !== undefined) lines.push(`Bytes:     ${outcome.bytes}`);
  if (outcome.error) lines.push(`Cause:     ${outcome.error}`);
  lines.push('', `Investigate: ${outcome.investigate}`);
  return {
    job: outcome.job,
    kind: outcome.kind,
    status,
    runId: outcome.runId,
    subject,
    body: redact(lines.join('\n')),
    ...(outcome.error && status !== 'RECOVERED' ? { cause: redact(outcome.error) } : {}),
  };
}

/** At most this many undelivered alerts are kept per job (a channel down for weeks). */
const UNDELIVERED_KEPT = 20;

/**
 * Sends each alert a target missed before to that target alone; returns those it still cannot
 * take. A notifier without `resend` (SNS: one target, its state kept whole) has nothing to resend.
 */
async function resendUndelivered(
  notifier: Notifier,
  pending: readonly UndeliveredAlert[],
): Promise<UndeliveredAlert[]> {
  if (!notifier.resend) return [...pending];
  const still: UndeliveredAlert[] = [];
  for (const entry of pending) {
    try {
      await notifier.resend(entry.alert as Alert, entry.target);
    } catch {
      still.push(entry);
    }
  }
  return still;
}

/**
 * Publishes the alert an outcome deserves and updates the job's alert state. A notifier
 * failure is returned, not thrown: losing an alert must not turn a good backup into a failed one.
 * De-duplication is per target: when some channels took the alert and others did not
 * ({@link PartialDeliveryError}), the state moves on and only the others get it again, with the
 * job's next outcome (before that outcome's own alert, so they read in order).
 */
export async function notifyOutcome(
  history: HistoryStore,
  notifier: Notifier,
  outcome: RunOutcome,
): Promise<{ alert?: Alert; error?: unknown }> {
  // Backups and restores/drills of a job keep separate streaks: a failed drill is not "recovered" by a backup.
  const stateKey = alertStateKey(outcome.job, outcome.kind, outcome.part);
  const state = await history.getAlertState(stateKey);
  const pending = state?.undelivered ?? [];
  const undelivered = pending.length ? await resendUndelivered(notifier, pending) : [];
  const failing = state?.failing ?? false;
  const skipping = state?.skipping ?? false;
  const failed = isFailedStatus(outcome.status);
  // A failure without a cause (or one alerted before the cause was kept) is not a new one.
  const cause = failed && outcome.error ? causeKey(redact(outcome.error)) : undefined;
  const newCause = failing && cause !== undefined && state?.cause !== undefined && cause !== state.cause;
  const status = decideAlert(failing, skipping, outcome.status, newCause);
  const now = (outcome.now ?? new Date()).toISOString();
  const next: AlertState = {
    job: stateKey,
    failing: failed ? true : outcome.status === 'SUCCEEDED' ? false : failing,
    skipping: outcome.status === 'SKIPPED',
    since: failed
      ? failing
        ? state?.since
        : now
      : outcome.status === 'SUCCEEDED'
        ? undefined
        : state?.since,
    lastRunId: outcome.runId,
    cause: failed ? (cause ?? state?.cause) : undefined,
  };
  const withUndelivered = (s: AlertState, list: UndeliveredAlert[]): AlertState => {
    const { undelivered: _old, ...rest } = s;
    return list.length ? { ...rest, undelivered: list.slice(-UNDELIVERED_KEPT) } : rest;
  };
  if (!status) {
    await history.setAlertState(withUndelivered(next, undelivered));
    return {};
  }
  const alert = buildAlert(outcome, status);
  try {
    await notifier.publish(alert);
  } catch (error) {
    if (error instanceof PartialDeliveryError) {
      // Recorded and sent somewhere: the streak moves on; the targets that missed it get it alone.
      const missed = error.undelivered.map((target) => ({ target, alert }));
      await history.setAlertState(withUndelivered(next, [...undelivered, ...missed]));
      return { alert, error };
    }
    // Sent nowhere: keep the previous state so the next run tries to alert again.
    if (state && undelivered.length !== pending.length) {
      await history.setAlertState(withUndelivered(state, undelivered));
    }
    return { alert, error };
  }
  await history.setAlertState(withUndelivered(next, undelivered));
  return { alert };
}
