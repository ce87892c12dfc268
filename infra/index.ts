/** The package's public API: the reusable construct, its stack, and the config loader it takes. */
export { loadConfig, validateConfig } from '../core/config/load.ts';
export type { Config, ConfigInput } from '../core/config/schema.ts';
export {
  type DrillSidecar,
  drillSidecarsOf,
  PUBLIC_IMAGES,
  SIDECAR_VERSIONS,
} from './drill-sidecars.ts';
export {
  CONTAINER_NAME,
  DumpVault,
  type DumpVaultProps,
  METRIC_NAMESPACE,
  managedKeyPrefixes,
  SERVICE_NAME,
  secretArnsOf,
} from './dumpvault.ts';
export { restoreSecretArnsOf } from './iam.ts';
export {
  DumpVaultRestore,
  type DumpVaultRestoreProps,
  RESTORE_CONTAINER_NAME,
  RESTORE_TARGET_TAG,
  SIDECAR_CONTAINER_NAME,
} from './restore.ts';
export { type ScheduleGaps, scheduleGaps } from './schedule-gaps.ts';
export { DumpVaultStack, type DumpVaultStackProps } from './stack.ts';
export { alarmThresholdHours, deploymentProblems, earliestDeletionHours } from './validate.ts';
