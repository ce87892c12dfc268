/**
 * The environment of dumpvault's Lambdas: the construct (infra/orchestration.ts, restore.ts,
 * pruning.ts) sets it, the handlers read it (functions/logic/environment.ts). Names the task
 * shares (table, bucket, topic) are the task's (task-env.ts). Values are names and ARNs only;
 * the config travels in the function's code asset.
 */
import { TaskEnv } from './task-env.ts';

/** Environment variables of the Lambdas (set by the DumpVault construct). */
export const FunctionEnv = {
  historyTable: TaskEnv.historyTable,
  topicArn: TaskEnv.topicArn,
  /** The stack's bucket: what `"bucket": "managed"` means (restore steps). */
  bucket: TaskEnv.bucket,
  cluster: 'DUMPVAULT_CLUSTER',
  /** Each job's task definition family is this prefix followed by the job's name. */
  taskFamilyPrefix: 'DUMPVAULT_TASK_FAMILY_PREFIX',
  containerName: 'DUMPVAULT_CONTAINER_NAME',
  /** Comma-separated private subnet ids. */
  subnets: 'DUMPVAULT_SUBNETS',
  /** Comma-separated security group ids. */
  securityGroups: 'DUMPVAULT_SECURITY_GROUPS',
  /** `ENABLED` (`aws.network: "public-subnets"`) or `DISABLED`; unset = `DISABLED`. */
  assignPublicIp: 'DUMPVAULT_ASSIGN_PUBLIC_IP',
  /** `dumpvault-restore-target=<stack>`: the tag that lets the deployment read a restore target's secret (Guard). */
  restoreTargetTag: 'DUMPVAULT_RESTORE_TARGET_TAG',
  /** Path of the config; defaults to `config.json` beside the handler code. */
  configFile: 'DUMPVAULT_CONFIG_FILE',
} as const;
