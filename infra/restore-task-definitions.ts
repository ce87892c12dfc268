/**
 * The restore and drill task definitions of {@link DumpVaultRestore}: the restore container, and
 * for a drill the sidecar database it restores into (infra/drill-sidecars.ts).
 */

import { Duration, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { RestoreTaskEnv } from '../core/contracts/restore-task.ts';
import { TaskEnv } from '../core/contracts/task-env.ts';
import { type DrillSidecar, SIDECAR_SETTINGS } from './drill-sidecars.ts';
import { dumpTaskShape, mountTmp, TASK_USER, tagTaskDefinition, taskLinuxParameters } from './fargate.ts';
import { RESTORE_CONTAINER_NAME, type RestoreScope, SIDECAR_CONTAINER_NAME } from './restore-props.ts';

export function createTaskDefinition(
  scope: RestoreScope,
  id: string,
  sidecar: DrillSidecar | undefined,
): ecs.FargateTaskDefinition {
  const props = scope.props;
  const definition = new ecs.FargateTaskDefinition(scope, id, {
    ...dumpTaskShape(props.config),
    taskRole: scope.taskRole,
    executionRole: scope.executionRole,
  });
  // Propagated to the tasks by RunRestore (PropagateTags): restores, standby refreshes and SQLite
  // drills run the restore definition; drills with a sidecar their own.
  tagTaskDefinition(definition, sidecar ? 'drill' : 'restore');
  const restore = definition.addContainer('Restore', {
    containerName: RESTORE_CONTAINER_NAME,
    image: props.image,
    command: ['restore'],
    user: TASK_USER,
    essential: true,
    readonlyRootFilesystem: true,
    // StopTask's SIGTERM ends the restore as a failure (recorded, alerted) before SIGKILL.
    stopTimeout: Duration.seconds(120),
    linuxParameters: taskLinuxParameters(definition),
    logging: ecs.LogDrivers.awsLogs({
      logGroup: props.taskLogGroup,
      streamPrefix: sidecar ? 'drill' : 'restore',
    }),
    environment: {
      [TaskEnv.historyTable]: props.table.tableName,
      [TaskEnv.bucket]: props.bucket.bucketName,
      [TaskEnv.topicArn]: props.topic.topicArn,
      ...(sidecar ? { [RestoreTaskEnv.ephemeralUrl]: SIDECAR_SETTINGS[sidecar.family].url } : {}),
    },
  });
  mountTmp(restore);
  if (sidecar) {
    const settings = SIDECAR_SETTINGS[sidecar.family];
    const database = definition.addContainer('Database', {
      containerName: SIDECAR_CONTAINER_NAME,
      image: ecs.ContainerImage.fromRegistry(sidecar.image),
      // A crashed sidecar fails the restore, which records why; it need not stop the task.
      essential: false,
      environment: settings.environment,
      command: settings.command,
      healthCheck: {
        command: settings.healthCheck,
        interval: Duration.seconds(5),
        timeout: Duration.seconds(5),
        retries: 10,
        startPeriod: Duration.seconds(60),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.taskLogGroup, streamPrefix: 'drill-database' }),
    });
    restore.addContainerDependencies({
      container: database,
      condition: ecs.ContainerDependencyCondition.HEALTHY,
    });
  }
  Validations.of(definition).acknowledge({
    id: 'AwsSolutions-ECS2',
    reason:
      'The environment holds table, bucket and topic names and the loopback URL of the drill database; secrets are fetched from Secrets Manager by ARN at run time.',
  });
  return definition;
}
