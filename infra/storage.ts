/**
 * `DumpVaultStorage`: where backups, history and alerts live — the KMS key, the bucket (with
 * its access-log bucket, Object Lock and optional replication), the history table and the
 * alerts topic — and who may use the key and the topic from outside IAM: CloudWatch alarms
 * of this account, and for destructive key operations only the break-glass principal.
 */
import {
  Annotations,
  ArnFormat,
  Duration,
  FeatureFlags,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { SET_UNIQUE_REPLICATION_ROLE_NAME } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import { HistoryKeys } from '../core/contracts/history-keys.ts';
import { nagResource } from './iam.ts';
import { needsBucketEvents } from './standby-rules.ts';
import { abortIncompleteUploadDays, effectiveObjectLock } from './validate.ts';

export interface DumpVaultStorageProps {
  readonly config: Config;
  readonly removalPolicy: RemovalPolicy;
  /** A bucket given by the caller instead of one created here. */
  readonly bucket?: s3.IBucket;
  /** The KMS key of that bucket, if it uses a customer managed key. */
  readonly bucketKey?: kms.IKey;
}

/** Confused-deputy guard: only CloudWatch alarms of this account and region. */
function alarmSourceConditions(stack: Stack): Record<string, Record<string, string>> {
  return {
    StringEquals: { 'aws:SourceAccount': stack.account },
    ArnLike: {
      'aws:SourceArn': stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
  };
}

/**
 * Key, bucket, history table and alerts topic of one deployment. The resources are created in
 * the parent scope (ids `Key`, `Bucket`, `History`, `Alerts`…), so their logical ids do not
 * change with this grouping.
 */
export class DumpVaultStorage extends Construct {
  /** Encrypts the bucket (when created here) and the alerts topic. */
  readonly key: kms.Key;
  readonly bucket: s3.IBucket;
  /** The bucket's KMS key, when it has a customer managed one. */
  readonly bucketKey: kms.IKey | undefined;
  readonly table: dynamodb.Table;
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: DumpVaultStorageProps) {
    super(scope, id);
    const { config, removalPolicy } = props;
    const stack = Stack.of(this);

    this.key = new kms.Key(scope, 'Key', {
      description: 'dumpvault: backups bucket and alerts topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch alarms of this account publish to the encrypted topic: they need the key too.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsUseTopicKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: alarmSourceConditions(stack),
      }),
    );
    // Losing the key loses every backup: nobody but the break-glass principal may schedule its
    // deletion or disable it (a stack deletion with RETAIN leaves it alone).
    const breakGlass = config.aws?.breakGlassPrincipalArn;
    if (removalPolicy !== RemovalPolicy.DESTROY)
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyBreakGlassDestroysKey',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['kms:ScheduleKeyDeletion', 'kms:DisableKey'],
          resources: ['*'],
          ...(breakGlass ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': breakGlass } } } : {}),
        }),
      );

    const settings = config.aws?.bucket;
    if (props.bucket) {
      this.bucket = props.bucket;
      this.bucketKey = props.bucketKey;
    } else if (settings?.existingBucketName) {
      if (needsBucketEvents(config)) {
        Annotations.of(this).addWarningV2(
          'dumpvault:existingBucketEvents',
          `a job has a standby: turn on EventBridge notifications of bucket ${settings.existingBucketName} (aws s3api put-bucket-notification-configuration, "EventBridgeConfiguration": {}, keeping its other notifications), or no backup starts a standby run (docs/aws.md)`,
        );
      }
      this.bucket = s3.Bucket.fromBucketName(scope, 'Bucket', settings.existingBucketName);
      this.bucketKey =
        props.bucketKey ??
        (settings.existingBucketKeyArn
          ? kms.Key.fromKeyArn(scope, 'BucketKey', settings.existingBucketKeyArn)
          : undefined);
    } else {
      this.bucket = this.createBucket(config, removalPolicy);
      this.bucketKey = this.key;
    }

    this.table = new dynamodb.Table(scope, 'History', {
      partitionKey: { name: HistoryKeys.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: HistoryKeys.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: HistoryKeys.ttlAttribute,
      deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
      removalPolicy,
    });

    this.topic = new sns.Topic(scope, 'Alerts', {
      displayName: 'dumpvault alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    // Without this statement SNS refuses every alarm notification ("no resource-based policy
    // allows the SNS:Publish action"): the alarms would go to ALARM in silence.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: alarmSourceConditions(stack),
      }),
    );
    for (const email of config.aws?.alerts?.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  private createBucket(config: Config, removalPolicy: RemovalPolicy): s3.Bucket {
    const scope = this.node.scope as Construct;
    const settings = config.aws?.bucket;
    const accessLogs = new s3.Bucket(scope, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the server access log target of the backups bucket; logging it into itself would loop.',
    });
    const lock = effectiveObjectLock(config);
    const replication = config.aws?.replication;
    const bucket = new s3.Bucket(scope, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'backups/',
      lifecycleRules: [
        {
          id: 'abort-incomplete-uploads-and-expire-old-versions',
          // Longer than the longest task may run (validated at synth).
          abortIncompleteMultipartUploadAfter: Duration.days(abortIncompleteUploadDays(config)),
          noncurrentVersionExpiration: Duration.days(settings?.noncurrentVersionExpirationDays ?? 30),
          expiredObjectDeleteMarker: true,
        },
      ],
      ...(lock
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention:
              lock.mode === 'COMPLIANCE'
                ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
                : s3.ObjectLockRetention.governance(Duration.days(lock.days)),
          }
        : {}),
      ...(replication
        ? {
            replicationRules: [
              {
                destination: s3.Bucket.fromBucketAttributes(scope, 'ReplicaBucket', {
                  bucketName: replication.bucket,
                  ...(replication.account ? { account: replication.account } : {}),
                }),
                priority: 0,
                // Retention's deletions stay here: the replica keeps what a bad actor deleted.
                deleteMarkerReplication: false,
                sseKmsEncryptedObjects: true,
                kmsKey: kms.Key.fromKeyArn(scope, 'ReplicaKey', replication.kmsKeyArn),
                ...(replication.account
                  ? { account: replication.account, accessControlTransition: true }
                  : {}),
              },
            ],
          }
        : {}),
      removalPolicy,
    });
    // Standby on AWS: "Object Created" events go to EventBridge, where each standby rule picks
    // its job's manifests (infra/standby-rules.ts). Set on the bucket resource itself: the
    // `eventBridgeEnabled` prop would add a custom resource and its Lambda for the same switch.
    if (needsBucketEvents(config)) {
      (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
        eventBridgeConfiguration: { eventBridgeEnabled: true },
      };
    }
    if (replication) {
      if (!FeatureFlags.of(bucket).isEnabled(SET_UNIQUE_REPLICATION_ROLE_NAME)) {
        Annotations.of(bucket).addWarningV2(
          'dumpvault:replicationRoleName',
          `the replication role is named "CDKReplicationRole", which a second stack with replication in this account cannot also create: set "${SET_UNIQUE_REPLICATION_ROLE_NAME}": true in cdk.json`,
        );
      }
      const role = bucket.node.findChild('ReplicationRole');
      const reason =
        'The replication role aws-s3 creates: read every object version of this bucket, replicate into the replica bucket, with the two keys only.';
      for (const id of [
        `Resource::${nagResource(this, bucket.arnForObjects('*'))}`,
        `Resource::arn:<AWS::Partition>:s3:::${replication.bucket}/*`,
        'Action::kms:ReEncrypt*',
        'Action::kms:GenerateDataKey*',
      ]) {
        Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${id}]`, reason });
      }
    }
    return bucket;
  }
}
