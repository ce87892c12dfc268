/**
 * `Pruning`: retention in AWS runs under a separate identity per job (issue 12 §2). Each job
 * gets a prune Lambda whose role alone may delete under that job's prefix; task-stopped hands
 * it a SUCCEEDED backup once the backup task stopped (functions/prune.ts).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Config, Job } from '../core/config/schema.ts';
import { FunctionEnv } from '../core/contracts/function-env.ts';
import { jobPartition } from '../core/contracts/history-keys.ts';
import { createFunction } from './functions.ts';
import {
  jobConfig,
  managedKeyPrefixes,
  nagResource,
  secretResourceArn,
  storeCredentialSecrets,
} from './iam.ts';

export interface PruningProps {
  readonly config: Config;
  readonly bucket: s3.IBucket;
  readonly bucketKey: kms.IKey | undefined;
  readonly table: dynamodb.ITable;
  readonly logRetention: logs.RetentionDays;
  /** Where prune events that failed every attempt go. */
  readonly deadLetterQueue: sqs.IQueue;
}

/** One prune Lambda per job. */
export class Pruning extends Construct {
  readonly functions: Readonly<Record<string, lambda.Function>>;

  constructor(scope: Construct, id: string, props: PruningProps) {
    super(scope, id);
    const functions: Record<string, lambda.Function> = {};
    for (const job of props.config.jobs) {
      const fn = createFunction(this, `Prune-${job.name}`, 'prune', {
        description: `dumpvault: retention of ${job.name} after a successful backup (the only identity that deletes its backups)`,
        config: jobConfig(props.config, job),
        logRetention: props.logRetention,
        timeout: Duration.minutes(10),
        environment: {
          [FunctionEnv.historyTable]: props.table.tableName,
          [FunctionEnv.bucket]: props.bucket.bucketName,
        },
        async: { onFailure: props.deadLetterQueue },
      });
      this.grantJob(fn, job, props);
      functions[job.name] = fn;
    }
    this.functions = functions;
  }

  /** List, read and delete under the job's prefixes; read and annotate the job's history. */
  private grantJob(fn: lambda.Function, job: Job, props: PruningProps): void {
    const role = fn.role!;
    const single = jobConfig(props.config, job);
    const prefixes = managedKeyPrefixes(single);
    if (prefixes.length) {
      const objects = prefixes.map((p) => props.bucket.arnForObjects(`${p}*`));
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DeleteJobBackups',
          // The lock reads: HeadObject reports an object's Object Lock only to a caller allowed
          // them, and a prune that cannot see a lock would hide the object behind a delete marker.
          actions: ['s3:GetObject', 's3:GetObjectRetention', 's3:GetObjectLegalHold', 's3:DeleteObject'],
          resources: objects,
        }),
      );
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ListJobBackups',
          actions: ['s3:ListBucket'],
          resources: [props.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
        }),
      );
      for (const arn of objects) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
          reason: `Retention of ${job.name} reads manifests and deletes expired backups under its own prefix only.`,
        });
      }
      if (props.bucketKey) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: 'ReadManifests',
            actions: ['kms:Decrypt'],
            resources: [props.bucketKey.keyArn],
          }),
        );
      }
    }
    // Every destination of the job is pruned (azure and gcs too), each opened with its credentials.
    const credentials = storeCredentialSecrets(props.config, job);
    if (credentials.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadStoreCredentials',
          actions: ['secretsmanager:GetSecretValue'],
          resources: credentials.map(secretResourceArn),
        }),
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'AnnotateJobHistory',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
        resources: [props.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [jobPartition(job.name)] } },
      }),
    );
  }
}
