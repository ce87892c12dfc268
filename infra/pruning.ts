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
import { type Config, type Job, jobDestinations } from '../core/config/schema.ts';
import { jobPartition } from '../core/history/dynamodb.ts';
import { createFunction } from './functions.ts';
import { jobConfig, managedKeyPrefixes, nagResource, secretResourceArn } from './iam.ts';

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
          DUMPVAULT_HISTORY_TABLE: props.table.tableName,
          DUMPVAULT_BUCKET: props.bucket.bucketName,
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
          actions: ['s3:GetObject', 's3:DeleteObject'],
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
    const credentials = [
      ...new Set(
        jobDestinations(job).flatMap(({ name }) => {
          const d = props.config.destinations[name];
          return d?.type === 's3' && d.credentialsSecret ? [d.credentialsSecret] : [];
        }),
      ),
    ].sort();
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
