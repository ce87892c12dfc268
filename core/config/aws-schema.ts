/**
 * The config's `aws` section: deployment settings read by the CDK app.
 */
import { z } from 'zod';
import { DEFAULT_STACK_NAME } from '../contracts/stack.ts';
import { DigestTimeSchema, show, wholeNumber } from './schema-fields.ts';

export const AwsSchema = z
  .strictObject({
    account: z.string().optional(),
    region: z.string().optional(),
    stackName: z.string().default(DEFAULT_STACK_NAME),
    vpc: z
      .strictObject({
        vpcId: z.string(),
        privateSubnetIds: z.array(z.string()).min(1),
        availabilityZones: z.array(z.string()).optional(),
      })
      .optional()
      .describe('Existing VPC; omitted = a new VPC with S3 and DynamoDB gateway endpoints.'),
    network: z
      .enum(['private-subnets', 'public-subnets'], {
        error: (iss) => `expected "private-subnets" or "public-subnets", got ${show(iss.input)}`,
      })
      .default('private-subnets')
      .describe(
        'Where tasks run: "private-subnets" (outbound through a NAT gateway) or "public-subnets" (a public IP, no inbound traffic, no NAT gateway; for databases reachable from the internet).',
      ),
    task: z
      .strictObject({
        architecture: z
          .enum(['arm64', 'x86_64'], {
            error: (iss) => `expected "arm64" or "x86_64", got ${show(iss.input)}`,
          })
          .default('arm64')
          .describe('CPU architecture of the Fargate tasks and of the task image built for them.'),
        spot: z
          .boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` })
          .default(false)
          .describe(
            "Run backups on Fargate Spot (cheaper, may be interrupted with two minutes' warning): an interrupted backup is recorded FAILED and retried once on on-demand Fargate. Restores and drills always run on-demand. Per job: `jobs[].task.spot`.",
          ),
      })
      .optional()
      .describe('How the backup, restore and drill tasks run on Fargate.'),
    bucket: z
      .strictObject({
        existingBucketName: z
          .string()
          .optional()
          .describe('Use this bucket for "managed" destinations instead of creating one.'),
        existingBucketKeyArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/, {
            error: (iss) => `expected a KMS key ARN, got ${show(iss.input)}`,
          })
          .optional()
          .describe('KMS key of the existing bucket, when it uses SSE-KMS with a customer managed key.'),
        noncurrentVersionExpirationDays: wholeNumber(1)
          .default(30)
          .describe('Days a replaced or deleted object version is kept before it expires.'),
        objectLock: z
          .union([
            z.literal(false),
            z.strictObject({
              mode: z.enum(['GOVERNANCE', 'COMPLIANCE'], {
                error: (iss) => `expected "GOVERNANCE" or "COMPLIANCE", got ${show(iss.input)}`,
              }),
              days: wholeNumber(1),
            }),
          ])
          .optional()
          .describe(
            'Object Lock default retention of the new bucket (set only at creation); omitted = GOVERNANCE for 7 days, false = no lock.',
          ),
      })
      .optional(),
    breakGlassPrincipalArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/, {
        error: (iss) => `expected an IAM role or user ARN, got ${show(iss.input)}`,
      })
      .optional()
      .describe('The only principal that may schedule the deletion of the KMS key or disable it.'),
    replication: z
      .strictObject({
        bucket: z.string().min(3).describe('Name of the replica bucket (another region or account).'),
        kmsKeyArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/, {
            error: (iss) => `expected a KMS key ARN, got ${show(iss.input)}`,
          })
          .describe('KMS key that encrypts the replicas.'),
        account: z
          .string()
          .regex(/^\d{12}$/, { error: (iss) => `expected a 12-digit account id, got ${show(iss.input)}` })
          .optional()
          .describe('Account of the replica bucket; replicas are then owned by it.'),
      })
      .optional()
      .describe(
        'Replicate every backup to a bucket in another region or account (deletions are not replicated).',
      ),
    alerts: z
      .strictObject({
        emails: z.array(z.email()).default([]),
        successDigest: z
          .union([z.boolean(), DigestTimeSchema], {
            error: (iss) =>
              `expected true, false or { "at": "08:00", "timezone": "Europe/Berlin" }, got ${show(iss.input)}`,
          })
          .default(false)
          .describe(
            'Once a day a Lambda publishes one message summarising every job to the alerts topic: true (at 08:00 UTC) or { "at", "timezone" }.',
          ),
      })
      .optional(),
    logRetentionDays: wholeNumber(1).default(90),
  })
  .describe('Deployment settings for `cdk deploy`.');
