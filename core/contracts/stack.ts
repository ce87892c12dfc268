/**
 * What the deployed stack tells the CLI's `--remote` commands: its output names
 * (infra/stack.ts writes them, task-image/cli/commands/remote.ts reads them), the environment
 * variables that stand in for an output, and the names of the containers in dumpvault's task
 * definitions (the Lambdas and the state machine address container overrides by these names).
 */
import { TaskEnv } from './task-env.ts';

/** The stack's name when the config's `aws.stackName` names none (the CDK app and `--remote` agree on it). */
export const DEFAULT_STACK_NAME = 'DumpVault';

/** CloudFormation output names of `DumpVaultStack`. */
export const StackOutput = {
  bucketName: 'BucketName',
  historyTableName: 'HistoryTableName',
  alertsTopicArn: 'AlertsTopicArn',
  startBackupFunctionName: 'StartBackupFunctionName',
  taskLogGroupName: 'TaskLogGroupName',
  dashboardName: 'DashboardName',
  restoreStateMachineArn: 'RestoreStateMachineArn',
} as const;
export type StackOutputName = (typeof StackOutput)[keyof typeof StackOutput];

/** Environment variables the CLI reads instead of a stack output (no stack, or another one). */
export const StackOutputEnv = {
  [StackOutput.historyTableName]: TaskEnv.historyTable,
  [StackOutput.startBackupFunctionName]: 'DUMPVAULT_START_BACKUP_FUNCTION',
  [StackOutput.restoreStateMachineArn]: 'DUMPVAULT_RESTORE_STATE_MACHINE',
} as const satisfies Partial<Record<StackOutputName, string>>;

/** Container names in dumpvault's task definitions. */
export const ContainerName = {
  /** The dumpvault container of the backup, restore and drill task definitions. */
  task: 'dumpvault',
  /** The throw-away database container of the drill task definitions. */
  sidecar: 'database',
} as const;
