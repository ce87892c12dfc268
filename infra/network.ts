/**
 * The VPC a {@link DumpVault} (infra/dumpvault.ts) runs its tasks in: the one given to the
 * construct, the one the config names by ids, or a new one with private subnets behind one NAT
 * gateway, S3 and DynamoDB gateway endpoints and a flow log of rejected traffic.
 */
import { Annotations, Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';

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
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: 1,
    subnetConfiguration: [
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
