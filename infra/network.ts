/**
 * The VPC a {@link DumpVault} (infra/dumpvault.ts) runs its tasks in: the one given to the
 * construct, the one the config names by ids, or a new one with private subnets behind one NAT
 * gateway (`aws.network: "public-subnets"`: public subnets only, no NAT gateway), S3 and
 * DynamoDB gateway endpoints and a flow log of rejected traffic.
 */
import { Annotations, Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';

/** `aws.network: "public-subnets"`: tasks get a public IP in public subnets, and there is no NAT gateway. */
export function tasksInPublicSubnets(config: Config): boolean {
  return config.aws?.network === 'public-subnets';
}

/** The subnets tasks run in when the construct is not given any. */
export function defaultTaskSubnets(config: Config): ec2.SubnetSelection {
  return {
    subnetType: tasksInPublicSubnets(config) ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS,
  };
}

/** The deployment's VPC; one it creates or imports is created in `scope` with id `Vpc`. */
export function deploymentVpc(
  scope: Construct,
  config: Config,
  given: ec2.IVpc | undefined,
  logRetention: logs.RetentionDays,
): ec2.IVpc {
  if (given) return given;
  if (config.aws?.vpc) {
    const v = config.aws.vpc;
    const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
      vpcId: v.vpcId,
      availabilityZones: v.availabilityZones ?? v.privateSubnetIds.map((_, i) => Fn.select(i, Fn.getAzs())),
      privateSubnetIds: v.privateSubnetIds,
    });
    Annotations.of(vpc).acknowledgeWarning(
      '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      'Only subnet ids are used (for RunTask); nothing reads the route tables of an existing VPC.',
    );
    return vpc;
  }
  const publicTasks = tasksInPublicSubnets(config);
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    // The NAT gateway is the largest fixed cost of a deployment (docs/aws.md, costs): tasks
    // with a public IP reach their databases and AWS without one.
    natGateways: publicTasks ? 0 : 1,
    subnetConfiguration: publicTasks
      ? [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 22 }]
      : [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        ],
    gatewayEndpoints: {
      S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
      DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
    },
  });
  const flowLogGroup = new logs.LogGroup(scope, 'VpcFlowLogs', { retention: logRetention });
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    trafficType: ec2.FlowLogTrafficType.REJECT,
  });
  return vpc;
}
