/**
 * The permissions of {@link DumpVaultRestore}'s task role, Lambdas and state machine: each reads
 * and writes only what its step needs.
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { HistoryKeys, jobPartitions } from '../core/contracts/history-keys.ts';
import { RunKind } from '../core/history/history.ts';
import {
  managedKeyPrefixes,
  nagResource,
  restoreSecretArnsOf,
  secretResourceArn,
  storeCredentialSecrets,
} from './iam.ts';
import { RESTORE_TARGET_TAG, type RestoreScope } from './restore-props.ts';

/** Read backups, their keys and secrets; write history items; alert. Nothing is written or deleted in the bucket. */
export function grantTaskPermissions(scope: RestoreScope): void {
  const { config, bucket, bucketKey, topicKey, table, topic } = scope.props;
  const role = scope.taskRole;
  const secrets = restoreSecretArnsOf(config);
  if (secrets.length) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadJobSecrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: secrets,
      }),
    );
  }
  grantReadTaggedTargetSecrets(scope, role);
  const prefixes = managedKeyPrefixes(config);
  if (prefixes.length) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadBackupObjects',
        actions: ['s3:GetObject'],
        resources: prefixes.map((p) => bucket.arnForObjects(`${p}*`)),
      }),
    );
    for (const p of prefixes) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(scope, bucket.arnForObjects(`${p}*`))}]`,
        reason: `Backups of the job are objects under ${p} (one per run); read-only.`,
      });
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListBackupPrefixes',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
      }),
    );
  }
  const keys = [topicKey.keyArn];
  if (bucketKey && bucketKey !== topicKey && prefixes.length) keys.push(bucketKey.keyArn);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'UseEncryptionKeys',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: keys,
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'WriteHistoryItems',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [table.tableArn],
      conditions: {
        'ForAllValues:StringEquals': {
          // Restores and drills keep their alert streaks in `JOB#{job}:restore|drill` (alertStateKey).
          'dynamodb:LeadingKeys': [
            ...config.jobs.flatMap((j) => jobPartitions(j.name, [RunKind.restore, RunKind.drill])),
            HistoryKeys.jobsPartition,
          ],
        },
      },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'PublishAlerts',
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
    }),
  );
}

/**
 * GetSecretValue on the secrets tagged `dumpvault-restore-target=<stack name>`: restore targets
 * are chosen per execution, so their password secrets are opted in by tag.
 */
export function grantReadTaggedTargetSecrets(scope: RestoreScope, role: iam.IRole): void {
  const stack = Stack.of(scope);
  const targetSecrets = stack.formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: '*',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReadTaggedRestoreTargetSecrets',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [targetSecrets],
      conditions: {
        StringEquals: { [`secretsmanager:ResourceTag/${RESTORE_TARGET_TAG}`]: stack.stackName },
      },
    }),
  );
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagResource(scope, targetSecrets)}]`,
    reason: `Restore targets are chosen per execution; only secrets tagged ${RESTORE_TARGET_TAG}=<stack name> can be read.`,
  });
}

/**
 * The Guard reads a target's password secret: one of the jobs' database password secrets (a
 * restore back into a source's server), or one tagged for restores — the rule of the restore
 * task, without its keys, passphrases and storage credentials, which the Guard never needs.
 */
export function grantGuardPermissions(scope: RestoreScope): void {
  const role = scope.guardFunction.role!;
  const passwords = [...new Set(scope.props.config.jobs.flatMap((job) => job.source.passwordSecret ?? []))]
    .sort()
    .map(secretResourceArn);
  if (passwords.length) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadJobPasswordSecrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: passwords,
      }),
    );
  }
  grantReadTaggedTargetSecrets(scope, role);
}

export function grantFunctionPermissions(scope: RestoreScope): void {
  grantGuardPermissions(scope);
  const { config, bucket, bucketKey, topicKey, table, topic } = scope.props;
  const prefixes = managedKeyPrefixes(config);
  // Resolve and Verify read manifests from every destination of the job AWS can reach
  // (functions/logic/backup-source.ts), so they open each with its credentials.
  const foreignCredentials = new Set(config.jobs.flatMap((job) => storeCredentialSecrets(config, job)));
  for (const fn of [scope.resolveFunction, scope.verifyFunction]) {
    if (prefixes.length) {
      const manifests = prefixes.map((p) => bucket.arnForObjects(`${p}*.manifest.json`));
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: manifests }));
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
        }),
      );
      for (const arn of manifests) {
        Validations.of(fn.role!).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResource(scope, arn)}]`,
          reason:
            'The manifests of a job are one object per backup under its prefix; only manifests can be read.',
        });
      }
      if (bucketKey) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [bucketKey.keyArn] }),
        );
      }
    }
    if (foreignCredentials.size) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [...foreignCredentials].sort().map(secretResourceArn),
        }),
      );
    }
  }
  const historyWrite = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'];
  scope.resolveFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: historyWrite, resources: [table.tableArn] }),
  );
  scope.verifyFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resources: [table.tableArn],
    }),
  );
  scope.recordFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: historyWrite, resources: [table.tableArn] }),
  );
  scope.recordFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
  );
  scope.recordFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [topicKey.keyArn],
    }),
  );
  // restore-ended reads and conditionally replaces run items of the jobs (JOB#<job>) and
  // reads and writes their restore and drill alert streaks (JOB#<job>:restore|drill, see
  // core/notify/alerts.ts), and publishes: no delete, no other partition, no bucket, no task.
  scope.endedFunction.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'FailRunningRestores',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
      resources: [table.tableArn],
      conditions: {
        'ForAllValues:StringEquals': {
          'dynamodb:LeadingKeys': config.jobs.flatMap((j) =>
            jobPartitions(j.name, [RunKind.restore, RunKind.drill]),
          ),
        },
      },
    }),
  );
  scope.endedFunction.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'PublishAlerts',
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
    }),
  );
  scope.endedFunction.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'UseTopicKey',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [topicKey.keyArn],
    }),
  );
}

/** The state machine may run only the restore and drill task definitions, and pass only their roles. */
export function grantRunTasks(scope: RestoreScope, stateMachine: sfn.StateMachine): void {
  const stack = Stack.of(scope);
  const definitions = [scope.taskDefinition, ...Object.values(scope.drillTaskDefinitions)];
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'RunRestoreTasks',
      actions: ['ecs:RunTask'],
      resources: definitions.map((d) => d.taskDefinitionArn),
      conditions: { ArnEquals: { 'ecs:cluster': scope.props.cluster.clusterArn } },
    }),
  );
  const clusterTasks = stack.formatArn({
    service: 'ecs',
    resource: 'task',
    resourceName: `${scope.props.cluster.clusterName}/*`,
  });
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'FollowRestoreTasks',
      actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
      resources: [clusterTasks],
    }),
  );
  // RunTask with PropagateTags tags the task it creates, which ECS authorises as ecs:TagResource
  // with ecs:CreateAction = RunTask: granted for that only (no existing task can be retagged).
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'TagRestoreTasksAtLaunch',
      actions: ['ecs:TagResource'],
      resources: [clusterTasks],
      conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
    }),
  );
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'PassRestoreTaskRoles',
      actions: ['iam:PassRole'],
      resources: [scope.taskRole.roleArn, scope.executionRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ReceiveTaskEvents',
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [
        stack.formatArn({
          service: 'events',
          resource: 'rule',
          resourceName: 'StepFunctionsGetEventsForECSTaskRule',
        }),
      ],
    }),
  );
  const role = stateMachine.role;
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagResource(scope, clusterTasks)}]`,
    reason: 'Task ARNs exist only at run time; StopTask/DescribeTasks are limited to tasks of scope cluster.',
  });
  for (const fn of [scope.resolveFunction, scope.guardFunction, scope.verifyFunction, scope.recordFunction]) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(scope, fn.functionArn)}:*]`,
      reason:
        'lambda:InvokeFunction on scope restore step and its versions, as the Step Functions integration grants it.',
    });
  }
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'CloudWatch Logs delivery and X-Ray tracing of the state machine (logs:*LogDelivery*, xray:Put*) support no resource-level permissions.',
  });
}
