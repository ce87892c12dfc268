/**
 * Retention defaults the CLI, the task, `validate` and the CDK checks must agree on.
 */

/**
 * Retention rules as the config schema's `RetentionRulesSchema` outputs them (core/config/schema.ts
 * derives its `Retention` type from that schema, checked against this type with `satisfies`, and
 * `jobRetention` there only compiles while this type is assignable to it). Declared here so contracts import nothing from the config.
 */
export interface RetentionRules {
  keepLast: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
  maxAgeDays?: number | undefined;
  timezone: string;
}

/**
 * What a job with no `retention` at all keeps: only its newest backup. `validate` states it per
 * job, so nobody learns it when an older backup disappears.
 */
export const DEFAULT_RETENTION: RetentionRules = {
  keepLast: 1,
  daily: 0,
  weekly: 0,
  monthly: 0,
  yearly: 0,
  timezone: 'UTC',
};

/** The `retention` value that keeps every backup and lets retention delete nothing. */
export const RETENTION_FOREVER = 'forever';
