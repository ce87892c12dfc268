/**
 * `DumpVaultStack`: one deployment of a config, with the outputs the CLI's `--remote` commands
 * and the README's deploy guide point at.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DumpVault, type DumpVaultProps } from './dumpvault.ts';

export interface DumpVaultStackProps extends StackProps, DumpVaultProps {}

/** A stack holding one {@link DumpVault} and its outputs. */
export class DumpVaultStack extends Stack {
  readonly vault: DumpVault;

  constructor(scope: Construct, id: string, props: DumpVaultStackProps) {
    super(scope, id, props);
    this.vault = new DumpVault(this, 'DumpVault', props);
    new CfnOutput(this, 'BucketName', { value: this.vault.bucket.bucketName });
    new CfnOutput(this, 'HistoryTableName', { value: this.vault.table.tableName });
    new CfnOutput(this, 'AlertsTopicArn', { value: this.vault.topic.topicArn });
    new CfnOutput(this, 'StartBackupFunctionName', { value: this.vault.startBackupFunction.functionName });
    new CfnOutput(this, 'TaskLogGroupName', { value: this.vault.taskLogGroup.logGroupName });
    new CfnOutput(this, 'DashboardName', { value: this.vault.dashboard.dashboardName });
    new CfnOutput(this, 'RestoreStateMachineArn', {
      description: 'dumpvault restore|drill <job> --remote start executions of this state machine',
      value: this.vault.restoreStateMachine.stateMachineArn,
    });
  }
}
