/**
 * The retention planner (DESIGN.md §6): decides, without any I/O, which backups of one job
 * to keep and which objects to delete, in the style of restic `forget` / borg `prune`.
 *
 * Rules, applied to complete backups (those with a manifest) sorted newest first:
 * - keepLast N keeps the N newest;
 * - daily / weekly / monthly / yearly N keep the newest backup of each of the N most recent
 *   local calendar periods (days, ISO weeks, months, years in `policy.timezone`) that hold a
 *   complete backup — periods without a backup do not use up a slot;
 * - maxAgeDays deletes every backup that started more than maxAgeDays × 24 h before `now`,
 *   whatever the rules above say; on its own (every count 0) it keeps every backup younger
 *   than that instead ("keep what is younger", not "keep the newest only");
 * - "forever" keeps everything and deletes nothing.
 * Whatever the rules say, the plan never deletes the newest complete backup, the backup the
 * running job just wrote, or anything under Object Lock, and deletes nothing at all after a
 * failed run.
 *
 * Incomplete backups (a data object without a manifest: a crash between the two writes, or
 * an upload still running) never count for any rule; they are deleted once older than 24 h.
 * Invalid ones (a manifest that does not validate, names another job or another object) and
 * future-dated ones (stamped later than `now` + {@link FUTURE_TOLERANCE_MS}: a skewed clock)
 * never count for any rule either, are never "the newest", are never deleted, and are
 * reported in {@link RetentionPlan.anomalies}.
 */
import type { JobRetention, Retention } from '../config/schema.ts';
import { RETENTION_FOREVER } from '../contracts/retention.ts';
import { ConfigError } from '../errors.ts';
import { assertTimeZone, type CalendarPeriods, calendarPeriods } from './calendar.ts';

/**
 * Whether a backup's manifest exists and is valid: only complete backups are restorable and
 * counted; `invalid` ones (a manifest that is garbage or belongs elsewhere) are left alone.
 */
export const BackupStatus = { complete: 'complete', incomplete: 'incomplete', invalid: 'invalid' } as const;
export type BackupStatus = (typeof BackupStatus)[keyof typeof BackupStatus];

/** What the plan does with one backup. */
export const RetentionAction = { keep: 'keep', delete: 'delete' } as const;
export type RetentionAction = (typeof RetentionAction)[keyof typeof RetentionAction];

/** One backup as found in storage. */
export interface RetentionCandidate {
  /** `2026-11-21T030000Z-a1b2c3d4`, unique within the job. */
  readonly id: string;
  readonly startedAt: Date;
  readonly dataKey: string;
  /** Where the manifest is, or would be for an incomplete backup. */
  readonly manifestKey: string;
  /**
   * `complete` = a valid manifest exists; `incomplete` = only the data object does; `invalid` =
   * a manifest exists but does not validate for this job (see `problem`).
   */
  readonly status: BackupStatus;
  /** Why an `invalid` backup's manifest does not count, for the report. */
  readonly problem?: string;
}

/** The verdict on one backup and the rules that led to it. */
export interface RetentionDecision {
  readonly backup: RetentionCandidate;
  readonly action: RetentionAction;
  /**
   * For a kept backup, every rule that keeps it (`newest`, `keepLast 1/3`, `daily 2026-11-20`,
   * `weekly 2026-W47`, `monthly 2026-11`, `yearly 2026`, `object lock until …`); for a deleted
   * one, the single reason it goes.
   */
  readonly rules: readonly string[];
}

/** The outcome of {@link planRetention}. */
export interface RetentionPlan {
  /** False when pruning must not run at all; `reason` says why and nothing is deleted. */
  readonly runnable: boolean;
  readonly reason?: string;
  /** Every backup exactly once, newest first. */
  readonly decisions: readonly RetentionDecision[];
  /**
   * The objects to delete, oldest backup first; for each backup its data object before its
   * manifest (an incomplete backup has only its data object).
   */
  readonly deletions: readonly { readonly key: string }[];
  /**
   * Backups that need a human: invalid manifests and future-dated backups (which the plan
   * keeps, but which also never count as the newest). Reported even when the plan is not runnable.
   */
  readonly anomalies: readonly { readonly id: string; readonly problem: string }[];
}

/** What {@link planRetention} plans over. */
export interface RetentionInput {
  /** All backups of one job in one destination, in any order. */
  readonly backups: readonly RetentionCandidate[];
  readonly policy: JobRetention;
  readonly now: Date;
  /** True when the run that triggers pruning failed: then nothing is deleted. */
  readonly lastRunFailed: boolean;
  /**
   * The id of the backup the running job just wrote: kept whatever the rules say (a skewed
   * clock or a tiny maxAgeDays must never delete the copy that was just made).
   * @default - no run is in progress (`dumpvault prune`)
   */
  readonly current?: string;
  /**
   * The Object Lock retain-until date of a backup's objects.
   * @default - nothing is locked
   */
  readonly lockedUntil?: (backup: RetentionCandidate) => Date | undefined;
  /**
   * Another reason a backup's objects cannot be deleted, kept as its rule (`object lock: legal
   * hold`, `object lock unknown: …`).
   * @default - none
   */
  readonly held?: (backup: RetentionCandidate) => string | undefined;
}

/** How long a data object without a manifest may be an upload still in progress. */
export const INCOMPLETE_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * How far in the future a backup may be stamped before it counts as future-dated: enough for
 * ordinary drift between the machine that wrote it and the one that prunes, far less than
 * any schedule period.
 */
export const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

const BUCKETS = [
  { rule: 'daily', period: 'day' },
  { rule: 'weekly', period: 'week' },
  { rule: 'monthly', period: 'month' },
  { rule: 'yearly', period: 'year' },
] as const satisfies readonly { rule: keyof Retention; period: keyof CalendarPeriods }[];

const COUNTS = [
  'keepLast',
  'daily',
  'weekly',
  'monthly',
  'yearly',
] as const satisfies readonly (keyof Retention)[];

const REASON = {
  notSelected: 'not selected by any rule',
  incompleteOld: 'incomplete (no manifest), older than 24h',
  incompleteYoung: 'incomplete (no manifest), at most 24h old',
  lastRunFailed: 'not pruned: the last run failed',
  noComplete: 'not pruned: no complete backup',
  current: 'current run',
  forever: 'retention forever',
} as const;

/** `2027-01-01T00:00:00Z`: an instant in rule texts, without noise milliseconds. */
const isoSeconds = (date: Date): string => date.toISOString().replace(/\.000Z$/, 'Z');

/** Newest first; equal start times fall back to the id so the order never depends on the input's. */
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  const byTime = b.startedAt.getTime() - a.startedAt.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * True when a policy is maxAgeDays alone (every count 0): it then keeps every backup younger
 * than maxAgeDays, instead of only the newest one the counts would select.
 */
export function isAgeOnly(policy: Retention): boolean {
  return policy.maxAgeDays !== undefined && COUNTS.every((field) => policy[field] === 0);
}

/** Rejects a policy the schema would have rejected, so a hand-built one cannot widen deletion. */
function validatePolicy(policy: JobRetention): void {
  if (policy === RETENTION_FOREVER) return;
  if (typeof policy !== 'object' || policy === null) {
    throw new ConfigError(
      `retention: expected "forever" or an object of rules, got ${JSON.stringify(policy)}`,
    );
  }
  for (const field of COUNTS) {
    const value = policy[field];
    if (!Number.isInteger(value) || value < 0) {
      throw new ConfigError(`retention.${field}: expected a whole number ≥ 0, got ${JSON.stringify(value)}`);
    }
  }
  const maxAge = policy.maxAgeDays;
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 1)) {
    throw new ConfigError(`retention.maxAgeDays: expected a whole number ≥ 1, got ${JSON.stringify(maxAge)}`);
  }
  assertTimeZone(policy.timezone);
}

// Bad dates or duplicate ids can only come from a bug in whoever listed the backups; failing
// loudly beats a plan computed from nonsense, since the plan deletes data.
function validateInput(input: RetentionInput): void {
  if (Number.isNaN(input.now.getTime())) throw new RangeError('planRetention: now is an invalid date');
  const seen = new Set<string>();
  for (const b of input.backups) {
    if (Number.isNaN(b.startedAt.getTime())) {
      throw new RangeError(`planRetention: backup ${b.id} has an invalid startedAt`);
    }
    if (seen.has(b.id)) throw new RangeError(`planRetention: backup ${b.id} is listed twice`);
    seen.add(b.id);
  }
}

/** A plan that deletes nothing and says why, for the cases where pruning must not run. */
function refuse(
  ordered: readonly RetentionCandidate[],
  reason: string,
  rule: string,
  anomalies: RetentionPlan['anomalies'],
): RetentionPlan {
  return {
    runnable: false,
    reason,
    decisions: ordered.map((backup) => ({ backup, action: RetentionAction.keep, rules: [rule] })),
    deletions: [],
    anomalies,
  };
}

/**
 * The rules that keep each complete backup, by id. Each bucket rule walks the backups newest
 * first and takes the first backup of every period it has not seen yet, until its count is
 * used up; a set rather than "differs from the previous period" keeps this right even in a
 * zone whose clock once stepped back across midnight.
 */
function selectByRules(complete: readonly RetentionCandidate[], policy: Retention): Map<string, string[]> {
  const kept = new Map<string, string[]>();
  const keep = (id: string, rule: string): void => {
    const rules = kept.get(id);
    if (rules) rules.push(rule);
    else kept.set(id, [rule]);
  };
  complete.slice(0, policy.keepLast).forEach((b, i) => {
    keep(b.id, `keepLast ${i + 1}/${policy.keepLast}`);
  });
  const periods = new Map(complete.map((b) => [b.id, calendarPeriods(b.startedAt, policy.timezone)]));
  for (const { rule, period } of BUCKETS) {
    const count = policy[rule];
    const seen = new Set<string>();
    for (const b of complete) {
      if (seen.size >= count) break;
      const label = periods.get(b.id)![period];
      if (seen.has(label)) continue;
      seen.add(label);
      keep(b.id, `${rule} ${label}`);
    }
  }
  return kept;
}

/**
 * Decides which backups to keep and which objects to delete; pure and deterministic.
 *
 * Guarantees, whatever the policy: the newest complete backup (not future-dated) and the
 * `current` one are kept; nothing under Object Lock (retain-until after `now`), nothing
 * invalid and nothing future-dated is deleted; after a failed run, or when no complete backup
 * with a believable date exists, the plan is not runnable and deletes nothing. Raising any
 * count (or maxAgeDays) of a policy with a count set never deletes more, and re-planning after
 * applying a plan deletes nothing further.
 * Throws a ConfigError for an invalid policy (unknown time zone, negative count).
 */
export function planRetention(input: RetentionInput): RetentionPlan {
  const { policy, now } = input;
  validatePolicy(policy);
  validateInput(input);
  const ordered = [...input.backups].sort(newestFirst);
  const latestBelievable = now.getTime() + FUTURE_TOLERANCE_MS;
  const isFuture = (b: RetentionCandidate): boolean =>
    b.status === BackupStatus.complete && b.startedAt.getTime() > latestBelievable;
  const futureRule = (b: RetentionCandidate): string =>
    `future-dated: started ${isoSeconds(b.startedAt)}, after now (${isoSeconds(now)}); check the clock of the machine that wrote it`;
  const invalidRule = (b: RetentionCandidate): string =>
    `invalid manifest, left alone: ${b.problem ?? 'it does not validate'}`;
  const anomalies = ordered.flatMap((b) =>
    b.status === BackupStatus.invalid
      ? [{ id: b.id, problem: invalidRule(b) }]
      : isFuture(b)
        ? [{ id: b.id, problem: futureRule(b) }]
        : [],
  );

  if (input.lastRunFailed) {
    return refuse(
      ordered,
      'the run that triggers pruning failed; retention only runs after a successful backup, so nothing is deleted',
      REASON.lastRunFailed,
      anomalies,
    );
  }
  if (policy === RETENTION_FOREVER) {
    return {
      runnable: true,
      decisions: ordered.map((backup) => ({ backup, action: RetentionAction.keep, rules: [REASON.forever] })),
      deletions: [],
      anomalies,
    };
  }
  // Only complete backups with a believable date count for the rules and as the newest: a
  // future-dated one would otherwise outrank, and so expose, the real newest backup.
  const trusted = ordered.filter((b) => b.status === BackupStatus.complete && !isFuture(b));
  const newest = trusted[0];
  if (!newest) {
    // A data object without a manifest may still be restored with `--from`; while it is all
    // there is, deleting it could destroy the only copy of the data.
    return refuse(
      ordered,
      'no complete backup (with a valid manifest and a believable date) exists; pruning is refused so the only copies are not deleted',
      REASON.noComplete,
      anomalies,
    );
  }

  const selected = selectByRules(trusted, policy);
  const maxAge = policy.maxAgeDays;
  const cutoff = maxAge === undefined ? undefined : now.getTime() - maxAge * DAY_MS;
  const ageOnly = isAgeOnly(policy);

  const decisions = ordered.map((backup): RetentionDecision => {
    const started = backup.startedAt.getTime();
    let keepRules: string[];
    let deleteReason: string;
    if (backup.status === BackupStatus.invalid) {
      keepRules = [invalidRule(backup)];
      deleteReason = REASON.notSelected;
    } else if (isFuture(backup)) {
      keepRules = [futureRule(backup)];
      deleteReason = REASON.notSelected;
    } else if (backup.status === BackupStatus.incomplete) {
      const old = now.getTime() - started > INCOMPLETE_GRACE_MS;
      keepRules = old ? [] : [REASON.incompleteYoung];
      deleteReason = REASON.incompleteOld;
    } else if (cutoff !== undefined && started < cutoff) {
      // maxAgeDays overrides every counting rule; only the invariants below survive it.
      keepRules = backup === newest ? ['newest'] : [];
      deleteReason = `older than maxAgeDays ${maxAge}`;
    } else {
      keepRules = [
        ...(backup === newest ? ['newest'] : []),
        ...(selected.get(backup.id) ?? []),
        ...(ageOnly ? [`within maxAgeDays ${maxAge}`] : []),
      ];
      deleteReason = REASON.notSelected;
    }
    if (backup.id === input.current) keepRules.push(REASON.current);
    const lockedUntil = input.lockedUntil?.(backup);
    if (lockedUntil !== undefined) {
      if (Number.isNaN(lockedUntil.getTime())) {
        throw new RangeError(`planRetention: backup ${backup.id} has an invalid Object Lock date`);
      }
      if (lockedUntil.getTime() > now.getTime())
        keepRules.push(`object lock until ${isoSeconds(lockedUntil)}`);
    }
    const held = input.held?.(backup);
    if (held !== undefined) keepRules.push(held);
    return keepRules.length > 0
      ? { backup, action: RetentionAction.keep, rules: keepRules }
      : { backup, action: RetentionAction.delete, rules: [deleteReason] };
  });

  const deletions: { key: string }[] = [];
  for (const { backup, action } of [...decisions].reverse()) {
    if (action !== RetentionAction.delete) continue;
    // Data before manifest: if pruning stops between the two, the manifest still lists the
    // backup as complete and the next prune deletes it again, instead of leaving a data
    // object that looks like the orphan of a crashed upload.
    deletions.push({ key: backup.dataKey });
    if (backup.status === BackupStatus.complete) deletions.push({ key: backup.manifestKey });
  }
  return { runnable: true, decisions, deletions, anomalies };
}

/**
 * The plan as lines for `prune --dry-run`, newest first:
 * `keep   2026-11-21T030000Z-a1b2c3d4  newest, daily 2026-11-21`. A plan that must not run
 * starts with a `not runnable: …` line.
 */
export function formatPlan(plan: RetentionPlan): string[] {
  const width = Math.max(...Object.values(RetentionAction).map((a) => a.length));
  const lines = plan.runnable ? [] : [`not runnable: ${plan.reason ?? 'no reason given'}`];
  for (const { backup, action, rules } of plan.decisions) {
    lines.push(`${action.padEnd(width)} ${backup.id}  ${rules.join(', ')}`);
  }
  return lines;
}
