/**
 * `DumpVaultStack`: one deployment of a config, with the outputs the CLI's `--remote` commands
 * and the README's deploy guide point at.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { StackOutput } from '../core/contracts/stack.ts';
import { DumpVault, type DumpVaultProps } from './dumpvault.ts';

export interface DumpVaultStackProps extends StackProps, DumpVaultProps {}

/** A stack holding one {@link DumpVault} and its outputs. */
export class DumpVaultStack extends Stack {
  readonly vault: DumpVault;

  constructor(scope: Construct, id: string, props: DumpVaultStackProps) {
    super(scope, id, props);
    this.vault = new DumpVault(this, 'DumpVault', props);
    new CfnOutput(this, StackOutput.bucketName, { value: this.vault.bucket.bucketName });
    new CfnOutput(this, StackOutput.historyTableName, { value: this.vault.table.tableName });
    new CfnOutput(this, StackOutput.alertsTopicArn, { value: this.vault.topic.topicArn });
    new CfnOutput(this, StackOutput.startBackupFunctionName, {
      value: this.vault.startBackupFunction.functionName,
    });
    new CfnOutput(this, StackOutput.taskLogGroupName, { value: this.vault.taskLogGroup.logGroupName });
    new CfnOutput(this, StackOutput.dashboardName, { value: this.vault.dashboard.dashboardName });
    new CfnOutput(this, StackOutput.restoreStateMachineArn, {
      description: 'dumpvault restore|drill <job> --remote start executions of this state machine',
      value: this.vault.restoreStateMachine.stateMachineArn,
    });
  }
}
