/**
 * Retention defaults the CLI, the task, `validate` and the CDK checks must agree on.
 */
import type { Retention } from '../config/schema.ts';

/**
 * What a job with no `retention` at all keeps: only its newest backup. `validate` states it per
 * job, so nobody learns it when an older backup disappears.
 */
export const DEFAULT_RETENTION: Retention = {
  keepLast: 1,
  daily: 0,
  weekly: 0,
  monthly: 0,
  yearly: 0,
  timezone: 'UTC',
};

/** The `retention` value that keeps every backup and lets retention delete nothing. */
export const RETENTION_FOREVER = 'forever';
