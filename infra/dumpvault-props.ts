/** The props of `DumpVault` (infra/dumpvault.ts): the config, and what to use instead of what it would create. */
import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Config } from '../core/config/schema.ts';

export interface DumpVaultProps {
  /** The validated configuration, as `loadConfig()` or `validateConfig()` return it. */
  readonly config: Config;

  /**
   * Directory that relative paths in the config (OpenPGP recipient key files) resolve against.
   *
   * @default process.cwd()
   */
  readonly configDir?: string;

  /**
   * The bucket that destinations with `"bucket": "managed"` write to.
   *
   * @default - the bucket named by `aws.bucket.existingBucketName`, else a new bucket
   */
  readonly bucket?: s3.IBucket;

  /**
   * The KMS key of an existing `bucket`, when it uses SSE-KMS with a customer managed key.
   *
   * @default - `aws.bucket.existingBucketKeyArn`, else none (SSE-S3)
   */
  readonly bucketKey?: kms.IKey;

  /**
   * The VPC the tasks run in.
   *
   * @default - the VPC given by `aws.vpc`, else a new VPC with one NAT gateway (none with
   * `aws.network: "public-subnets"`) and S3 and DynamoDB gateway endpoints
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Subnets of the tasks. They must match `aws.network`: tasks get a public IP only with
   * `"public-subnets"`.
   *
   * @default - the VPC's private subnets (public ones with `aws.network: "public-subnets"`)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * The task image. It must hold the architecture `aws.task.architecture` names (arm64 unless
   * the config says x86_64).
   *
   * @default - built by `cdk deploy` from task-image/Dockerfile and `taskBundle`, for that
   * architecture
   */
  readonly taskImage?: ecs.ContainerImage;

  /**
   * The CLI bundle the default task image runs.
   *
   * @default - dist/dumpvault.mjs of this package (built by `npm run build` and on `npm ci`)
   */
  readonly taskBundle?: string;

  /**
   * What happens to the bucket and the history table when the stack is deleted.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}
