/**
 * How every dumpvault Lambda is built: its own log group with retention, its own role that may
 * write only that log group, the bundled handler (with the config where it reads one), Powertools
 * settings, and an explicit asynchronous-invocation configuration (retries, maximum event age,
 * where a failed event goes).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import { METRIC_NAMESPACE, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { type FunctionName, functionCode } from './function-code.ts';

/** CloudWatch namespace and service dimension of every dumpvault metric (core/contracts/cloudwatch.ts). */
export { METRIC_NAMESPACE, SERVICE_NAME };

/** What happens to an event of an asynchronous invocation that failed. */
export interface AsyncInvokeOptions {
  /** Where the event goes after its last attempt (or when it grew too old). */
  readonly onFailure: sqs.IQueue;
  /**
   * Attempts after the first (Lambda allows 0-2).
   *
   * @default 2
   */
  readonly retryAttempts?: number;
  /**
   * How old an event may grow (retries included) before it goes to `onFailure`.
   *
   * @default Duration.hours(6)
   */
  readonly maxEventAge?: Duration;
}

/** How a dumpvault Lambda is built (log group, role, bundle, Powertools settings). */
export interface FunctionOptions {
  readonly description: string;
  /** The config bundled as config.json (only functions that read it get it). */
  readonly config?: Config;
  readonly logRetention: logs.RetentionDays;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  /**
   * The function is invoked asynchronously (Scheduler, EventBridge, another function): its
   * retries, event age and on-failure destination.
   *
   * @default - invoked synchronously only; no asynchronous invocation settings
   */
  readonly async?: AsyncInvokeOptions;
  /**
   * Runs the function in the VPC (to reach databases); the role then gets ENI management.
   *
   * @default - outside any VPC
   */
  readonly vpc?: FunctionVpcOptions;
}

/** Where a Lambda that must reach databases runs. */
export interface FunctionVpcOptions {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/** Builds a Lambda the way every dumpvault Lambda is built. */
export type FunctionFactory = (id: string, name: FunctionName, options: FunctionOptions) => lambda.Function;

/** The subset of a config a Lambda needs: no deployment settings (e-mail addresses). */
function functionConfig(config: Config): Config {
  const { aws: _aws, ...rest } = config;
  return rest;
}

/** A dumpvault Lambda in `scope`, with its own log group and role. */
export function createFunction(
  scope: Construct,
  id: string,
  name: FunctionName,
  options: FunctionOptions,
): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: options.logRetention });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `dumpvault ${name} Lambda`,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
  );
  const fn = new lambda.Function(scope, id, {
    description: options.description,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    handler: 'index.handler',
    code: functionCode(name, options.config ? functionConfig(options.config) : undefined),
    memorySize: 256,
    timeout: options.timeout,
    role,
    logGroup,
    ...(options.async
      ? {
          retryAttempts: options.async.retryAttempts ?? 2,
          maxEventAge: options.async.maxEventAge ?? Duration.hours(6),
          onFailure: new destinations.SqsDestination(options.async.onFailure),
        }
      : {}),
    ...(options.vpc
      ? {
          vpc: options.vpc.vpc,
          vpcSubnets: options.vpc.subnets,
          securityGroups: options.vpc.securityGroups,
        }
      : {}),
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      ...options.environment,
    },
  });
  if (options.vpc) {
    // lambda.Function adds this policy only to a role it creates itself.
    role.addManagedPolicy(
      iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      reason:
        'The AWS managed policy a Lambda in a VPC needs to manage its network interfaces (ec2:CreateNetworkInterface and friends support no resource-level permissions).',
    });
  }
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason:
      'nodejs22.x is the runtime dumpvault is built and tested for (bundles target node22); moving to a newer runtime is a deliberate upgrade.',
  });
  return fn;
}
