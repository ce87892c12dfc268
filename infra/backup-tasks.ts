/**
 * `BackupTasks`: one Fargate task definition and one task role per job (issue 12 §2). A run
 * can read only its job's secrets, write (never delete) only its job's key prefixes, write only
 * its job's history partition, and publish alerts. Retention deletes under a separate identity
 * (infra/pruning.ts), so the task runs with `DUMPVAULT_PRUNE=separately`.
 */
import { Duration, Names, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { Config, Job } from '../core/config/schema.ts';
import { AlertPart, HistoryKeys, jobPartitions } from '../core/contracts/history-keys.ts';
import { META_OBJECT_PREFIX, META_OBJECT_SUFFIX } from '../core/contracts/meta-backup.ts';
import { PRUNE_ENV, PRUNE_SEPARATELY } from '../core/contracts/prune.ts';
import { ContainerName } from '../core/contracts/stack.ts';
import { TaskEnv } from '../core/contracts/task-env.ts';
import { dumpTaskShape, mountTmp, TASK_USER, tagTaskDefinition, taskLinuxParameters } from './fargate.ts';
import {
  jobConfig,
  locksManagedObjects,
  managedKeyPrefixes,
  metaKeyPrefixes,
  metaSecretArns,
  nagResource,
  secretArnsOf,
  tagsManagedObjects,
} from './iam.ts';

/** Name of the task's container; start-backup overrides its environment. */
export const CONTAINER_NAME = ContainerName.task;

export interface BackupTasksProps {
  readonly config: Config;
  readonly image: ecs.ContainerImage;
  readonly logGroup: logs.ILogGroup;
  readonly bucket: s3.IBucket;
  readonly bucketKey: kms.IKey | undefined;
  /** The key of the alerts topic. */
  readonly topicKey: kms.IKey;
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
  /** `{path as written in the config: armored key}` of every OpenPGP recipient. */
  readonly publicKeys: Readonly<Record<string, string>>;
}

/** The backup task definition and role of every job. */
export class BackupTasks extends Construct {
  /** Each job's task definition family is this prefix followed by the job's name. */
  readonly familyPrefix: string;
  readonly definitions: Readonly<Record<string, ecs.FargateTaskDefinition>>;
  readonly roles: Readonly<Record<string, iam.Role>>;
  /** Pulls the image and writes logs for every backup task. */
  readonly executionRole: iam.Role;

  private readonly props: BackupTasksProps;

  constructor(scope: Construct, id: string, props: BackupTasksProps) {
    super(scope, id);
    this.props = props;
    this.familyPrefix = `${Names.uniqueResourceName(this, { maxLength: 80, separator: '-' })}-`;
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'dumpvault backup tasks: pull the image, write logs',
    });
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken, needed to pull the task image, supports no resource-level permissions.',
    });
    const definitions: Record<string, ecs.FargateTaskDefinition> = {};
    const roles: Record<string, iam.Role> = {};
    for (const job of props.config.jobs) {
      roles[job.name] = new iam.Role(this, `Role-${job.name}`, {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: `dumpvault backup task of ${job.name}: its secrets, its prefixes (no delete), its history, alerts`,
      });
      this.grantJob(roles[job.name]!, job);
      definitions[job.name] = this.createDefinition(job, roles[job.name]!);
    }
    this.definitions = definitions;
    this.roles = roles;
  }

  private createDefinition(job: Job, taskRole: iam.Role): ecs.FargateTaskDefinition {
    const { props } = this;
    const definition = new ecs.FargateTaskDefinition(this, `Task-${job.name}`, {
      ...dumpTaskShape(props.config),
      family: `${this.familyPrefix}${job.name}`,
      taskRole,
      executionRole: this.executionRole,
    });
    // What RunTask propagates to the job's tasks (start-backup: propagateTags), for per-job
    // cost allocation.
    tagTaskDefinition(definition, 'backup', job.name);
    const container = definition.addContainer('Container', {
      containerName: CONTAINER_NAME,
      image: props.image,
      command: ['backup'],
      user: TASK_USER,
      essential: true,
      readonlyRootFilesystem: true,
      // StopTask sends SIGTERM, then SIGKILL after this long: the task aborts its upload and
      // records FAILED in between (Fargate's maximum; the abort retries for up to ~15 s).
      stopTimeout: Duration.seconds(120),
      // An init process as PID 1 forwards SIGTERM to node and reaps the dump tools' orphans.
      linuxParameters: taskLinuxParameters(definition),
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: `task-${job.name}` }),
      environment: {
        [TaskEnv.historyTable]: props.table.tableName,
        [TaskEnv.bucket]: props.bucket.bucketName,
        [TaskEnv.topicArn]: props.topic.topicArn,
        [TaskEnv.publicKeys]: JSON.stringify(props.publicKeys),
        [PRUNE_ENV]: PRUNE_SEPARATELY,
      },
    });
    mountTmp(container);
    Validations.of(definition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only the table, bucket and topic names, public keys and the prune mode; secrets are fetched from Secrets Manager by ARN at run time.',
    });
    return definition;
  }

  /** One job's task role: its secrets, its key prefixes without delete, its history partition, the topic. */
  private grantJob(role: iam.Role, job: Job): void {
    const { bucket, bucketKey, topicKey, table, topic } = this.props;
    const single = jobConfig(this.props.config, job);
    const secrets = secretArnsOf(single);
    if (secrets.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadJobSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: secrets,
        }),
      );
    }
    const prefixes = managedKeyPrefixes(single);
    if (prefixes.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'WriteBackupObjects',
          actions: [
            's3:PutObject',
            's3:GetObject',
            's3:AbortMultipartUpload',
            ...(tagsManagedObjects(single) ? ['s3:PutObjectTagging'] : []),
            ...(locksManagedObjects(single) ? ['s3:PutObjectRetention'] : []),
          ],
          resources: prefixes.map((p) => bucket.arnForObjects(`${p}*`)),
        }),
      );
      for (const p of prefixes) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResource(this, bucket.arnForObjects(`${p}*`))}]`,
          reason: `Backup objects are new keys under ${p} (one per run); only this job's prefix, and no delete.`,
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
      // After a CreateMultipartUpload whose answer was lost, a failed backup looks for the
      // upload by its key to abort it (S3 has no prefix condition for this action).
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'FindLostUploads',
          actions: ['s3:ListBucketMultipartUploads'],
          resources: [bucket.bucketArn],
        }),
      );
    }
    this.grantMetaBackup(role, single);
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
        sid: 'WriteJobHistory',
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
        ],
        resources: [table.tableArn],
        // The job's partition, and the meta-backup's alert streak (`JOB#{job}:meta-backup`) when
        // the task writes one.
        conditions: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': jobPartitions(
              job.name,
              ['backup'],
              single.metaBackup ? [AlertPart.metaBackup] : [],
            ),
          },
        },
      }),
    );
    // The registry of jobs that ever ran (`JOBS`, one item per job): written, never read.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterJob',
        actions: ['dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [HistoryKeys.jobsPartition] } },
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
   * The meta-backup (issue 16 §1): put (never delete) `{prefix}_dumpvault/config-*.json.gpg` in
   * the managed destinations, read the meta passphrase. One PutObject per destination (a few
   * kilobytes: no multipart upload). The bucket key's GenerateDataKey comes with the job's
   * prefixes (UseEncryptionKeys): a job with a managed destination has both.
   */
  private grantMetaBackup(role: iam.Role, single: Config): void {
    const { bucket } = this.props;
    const passphrase = metaSecretArns(single);
    if (passphrase.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadMetaPassphrase',
          actions: ['secretsmanager:GetSecretValue'],
          resources: passphrase,
        }),
      );
    }
    const folders = metaKeyPrefixes(single);
    if (!folders.length) return;
    const objects = folders.map((p) =>
      bucket.arnForObjects(`${p}${META_OBJECT_PREFIX}*${META_OBJECT_SUFFIX}`),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteMetaBackups',
        actions: [
          's3:PutObject',
          ...(tagsManagedObjects(single) ? ['s3:PutObjectTagging'] : []),
          ...(locksManagedObjects(single) ? ['s3:PutObjectRetention'] : []),
        ],
        resources: objects,
      }),
    );
    for (const arn of objects) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
        reason:
          "Meta-backups are new keys config-<time>.json.gpg under the config's _dumpvault/ folder (one per run); put only, no delete.",
      });
    }
  }

  /** The ARN pattern of every revision of a job's task definition (what RunTask may start). */
  revisionsArn(job: string): string {
    return Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'task-definition',
      resourceName: `${this.familyPrefix}${job}:*`,
    });
  }
}
