/**
 * The task options of issue 13 on the synthesized templates: the tasks' CPU architecture and the
 * platform the task image is built for, and public subnets without a NAT gateway (the
 * `variants` fixture: `NewVpc` with the defaults, `Options` with `aws.task.architecture:
 * "x86_64"` and `aws.network: "public-subnets"`).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RestoreState } from '../../core/contracts/restore-state-machine.ts';
import { stateMachineDefinition } from './state-machine-definition.ts';
import { SYNTH_TIMEOUT_MS, type Synthesized, synthesized } from './support/synthesized.ts';

let synth: Synthesized;
let defaults: Template;
let options: Template;

beforeAll(async () => {
  synth = await synthesized('variants');
  defaults = Template.fromJSON(synth.stacks['NewVpc']!.template as never);
  options = Template.fromJSON(synth.stacks['Options']!.template as never);
}, SYNTH_TIMEOUT_MS);

/** The RuntimePlatform of every task definition of a template. */
function runtimePlatforms(template: Template): unknown[] {
  return Object.values(template.findResources('AWS::ECS::TaskDefinition')).map(
    (r) => (r as { Properties: { RuntimePlatform?: unknown } }).Properties.RuntimePlatform,
  );
}

describe('aws.task.architecture', () => {
  it('runs every task on ARM64 and builds the image for linux/arm64 by default', () => {
    // Bug caught: Graviton offered in the docs but the tasks (or only the image) still x86_64,
    // or an arm64 task definition pulling an amd64 image (the task fails with "exec format error").
    const platforms = runtimePlatforms(defaults);
    expect(platforms.length).toBeGreaterThan(0);
    for (const p of platforms) {
      expect(p).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    }
    expect((synth.extras['imagePlatforms'] as Record<string, unknown>)['NewVpc']).toEqual(['linux/arm64']);
  });

  it('runs every task on X86_64 and builds the image for linux/amd64 when the config says x86_64', () => {
    // Bug caught: the option ignored for the image or for some task definitions.
    const platforms = runtimePlatforms(options);
    expect(platforms.length).toBeGreaterThan(0);
    for (const p of platforms) {
      expect(p).toEqual({ CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' });
    }
    expect((synth.extras['imagePlatforms'] as Record<string, unknown>)['Options']).toEqual(['linux/amd64']);
  });
});

/** The state named `name` of the template's restore state machine. */
function restoreState(template: Template, name: string): Record<string, unknown> {
  return (stateMachineDefinition(template)['States'] as Record<string, Record<string, unknown>>)[name]!;
}

/** The environment of the Lambda whose description starts with `prefix`. */
function functionEnv(template: Template, prefix: string): Record<string, unknown> {
  const fns = Object.values(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp(`^${prefix}`) },
    }),
  ) as Array<{ Properties: { Environment: { Variables: Record<string, unknown> } } }>;
  expect(fns).toHaveLength(1);
  return fns[0]!.Properties.Environment.Variables;
}

describe('aws.network', () => {
  it('runs tasks in public subnets with a public IP and creates no NAT gateway with "public-subnets"', () => {
    // Bug caught: the NAT gateway (the largest fixed cost) still created, or tasks in public
    // subnets without a public IP (they would reach neither the database nor S3, KMS, SNS).
    options.resourceCountIs('AWS::EC2::NatGateway', 0);
    const subnets = Object.values(options.findResources('AWS::EC2::Subnet')) as Array<{
      Properties: { MapPublicIpOnLaunch?: boolean };
    }>;
    expect(subnets.length).toBeGreaterThan(0);
    for (const subnet of subnets) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(true);
    // start-backup builds the backup's RunTask from this variable (functions/logic/start-backup.ts).
    expect(functionEnv(options, 'dumpvault: lease a job')).toMatchObject({
      DUMPVAULT_ASSIGN_PUBLIC_IP: 'ENABLED',
    });
    // The restore and drill tasks: the state machine's RunTask.
    expect(restoreState(options, RestoreState.runRestore)).toMatchObject({
      Parameters: { NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'ENABLED' } } },
    });
  });

  it("lets nothing in: the tasks' security group has no ingress rule", () => {
    // Bug caught: a public IP with an open port (anything on the internet reaching the task).
    options.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^dumpvault backup tasks'),
      SecurityGroupIngress: Match.absent(),
    });
    options.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  it('runs the restore Guard outside the VPC when task subnets are public (a Lambda there gets no public IP)', () => {
    // Bug caught: Guard in a public subnet, timing out on every restore (no route to the
    // target nor to Secrets Manager without a NAT gateway).
    const guard = Object.values(
      options.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('^dumpvault restore: confirmation rules') },
      }),
    ) as Array<{ Properties: { VpcConfig?: unknown } }>;
    expect(guard).toHaveLength(1);
    expect(guard[0]!.Properties.VpcConfig).toBeUndefined();
  });

  it('keeps private subnets behind one NAT gateway and no public IP by default', () => {
    // Bug caught: the option leaking into the default (tasks with public IPs nobody asked for).
    defaults.resourceCountIs('AWS::EC2::NatGateway', 1);
    expect(functionEnv(defaults, 'dumpvault: lease a job')).toMatchObject({
      DUMPVAULT_ASSIGN_PUBLIC_IP: 'DISABLED',
    });
    expect(restoreState(defaults, RestoreState.runRestore)).toMatchObject({
      Parameters: { NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } } },
    });
  });
});
