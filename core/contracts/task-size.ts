/**
 * The Fargate size of a job's task when its config has no `task` section: the config schema's
 * defaults, the task definitions infra registers, and the overrides start-backup and Resolve
 * send with RunTask agree on it through this file.
 */
import { RUN_TIMEOUT_MINUTES } from './timeouts.ts';

/** CPU units, memory and run timeout of a job without a `task` section. */
export const DEFAULT_TASK_SIZE = {
  cpu: 1024,
  memoryMiB: 2048,
  timeoutMinutes: RUN_TIMEOUT_MINUTES,
} as const;
