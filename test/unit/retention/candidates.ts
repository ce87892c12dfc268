/** Builders of retention candidates shared by the retention tests. */

import type { Retention } from '../../../core/config/schema.ts';
import { objectKeys } from '../../../core/manifest.ts';
import {
  type BackupStatus,
  RetentionAction,
  type RetentionCandidate,
  type RetentionPlan,
} from '../../../core/retention/plan.ts';

/** A backup of job `app` started at `iso`, stored like the real pipeline stores it. */
export function candidate(
  iso: string,
  runId = 'a1b2c3d4',
  status: BackupStatus = 'complete',
): RetentionCandidate {
  return candidateAt(new Date(iso), runId, status);
}

/** Like {@link candidate}, from a Date. */
export function candidateAt(
  startedAt: Date,
  runId: string,
  status: BackupStatus = 'complete',
): RetentionCandidate {
  const keys = objectKeys({
    prefix: 'backups/',
    job: 'app',
    startedAt,
    runId,
    dumpExt: 'pgdump',
    compression: 'gzip',
    encrypted: false,
  });
  return { id: keys.id, startedAt, dataKey: keys.dataKey, manifestKey: keys.manifestKey, status };
}

/** A policy that keeps nothing but what the invariants force, with `overrides` on top. */
export function policy(overrides: Partial<Retention> = {}): Retention {
  return { keepLast: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, timezone: 'UTC', ...overrides };
}

/** The ids a plan deletes, in decision order. */
export function deletedIds(plan: RetentionPlan): string[] {
  return plan.decisions.filter((d) => d.action === RetentionAction.delete).map((d) => d.backup.id);
}

/** The id → rules of every kept backup, for compact assertions. */
export function keptRules(plan: RetentionPlan): Record<string, readonly string[]> {
  return Object.fromEntries(
    plan.decisions.filter((d) => d.action === RetentionAction.keep).map((d) => [d.backup.id, d.rules]),
  );
}
