/**
 * Fargate Spot for backups on the synthesized templates (issue 13 §3), `variants` fixture:
 * `Options` sets `aws.task.spot: true` with job `ledger` opting out (`task.spot: false`);
 * `NewVpc` leaves Spot off. The cluster's capacity providers, task-stopped's launch settings,
 * and — evaluated by `@cloud-copilot/iam-simulate` — what the task-stopped role (which starts
 * the retry after an interruption) may run and pass.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PolicyRequest, TemplatePolicies } from './support/policies.ts';
import { ACCOUNT, arnOf, physicalName, resolvedProperties } from './support/resolve.ts';
import { logicalIdIn, SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesized } from './support/synthesized.ts';

let options: SynthesizedStack;
let defaults: SynthesizedStack;
let policies: TemplatePolicies;

beforeAll(async () => {
  const synth = await synthesized('variants');
  options = synth.stacks['Options']!;
  defaults = synth.stacks['NewVpc']!;
  policies = new TemplatePolicies(options.template);
}, SYNTH_TIMEOUT_MS);

/** The environment of the Lambda whose description starts with `prefix`. */
function functionEnv(stack: SynthesizedStack, prefix: string): Record<string, unknown> {
  const fns = Object.values(
    Template.fromJSON(stack.template as never).findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp(`^${prefix}`) },
    }),
  ) as Array<{ Properties: { Environment: { Variables: Record<string, unknown> } } }>;
  expect(fns).toHaveLength(1);
  return fns[0]!.Properties.Environment.Variables;
}

describe('the cluster', () => {
  it('has FARGATE and FARGATE_SPOT as capacity providers when backups run on Spot', () => {
    // Bug caught: RunTask with capacityProviderStrategy FARGATE_SPOT on a cluster without that
    // capacity provider fails every backup ("capacity provider is not associated").
    Template.fromJSON(options.template as never).hasResourceProperties(
      'AWS::ECS::ClusterCapacityProviderAssociations',
      {
        Cluster: { Ref: logicalIdIn(options, 'Vault/Cluster/Resource') },
        CapacityProviders: Match.arrayEquals(['FARGATE', 'FARGATE_SPOT']),
      },
    );
  });

  it('has no capacity providers without Spot (the template of existing deployments is unchanged)', () => {
    Template.fromJSON(defaults.template as never).resourceCountIs(
      'AWS::ECS::ClusterCapacityProviderAssociations',
      0,
    );
  });
});

describe('task-stopped', () => {
  it('gets the launch settings start-backup has when a job runs on Spot, and none otherwise', () => {
    // Bug caught: the retry's RunTask built without cluster, subnets or the public-IP setting
    // (the handler refuses to start, or the retry in public subnets reaches nothing).
    const launch = [
      'DUMPVAULT_CLUSTER',
      'DUMPVAULT_TASK_FAMILY_PREFIX',
      'DUMPVAULT_SUBNETS',
      'DUMPVAULT_SECURITY_GROUPS',
      'DUMPVAULT_ASSIGN_PUBLIC_IP',
    ];
    const startBackup = functionEnv(options, 'dumpvault: lease a job');
    const withSpot = functionEnv(options, 'dumpvault: mark runs whose task stopped');
    for (const name of launch) expect(withSpot[name], name).toEqual(startBackup[name]);
    expect(withSpot['DUMPVAULT_ASSIGN_PUBLIC_IP']).toBe('ENABLED');
    const withoutSpot = functionEnv(defaults, 'dumpvault: mark runs whose task stopped');
    for (const name of launch) expect(withoutSpot[name], name).toBeUndefined();
  });
});

describe('who may start a retry (iam-simulate)', () => {
  const role = (stack: SynthesizedStack, name: string) => ({
    role: logicalIdIn(stack, `Vault/${name}/Resource`),
  });
  const family = (job: string) =>
    String(
      resolvedProperties(options.template, logicalIdIn(options, `Vault/BackupTasks/Task-${job}/Resource`))[
        'Family'
      ],
    );
  const revision = (job: string) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/${family(job)}:3`;
  const cluster = () => arnOf(options.template, logicalIdIn(options, 'Vault/Cluster/Resource'));
  const runTask = (principal: { role: string }, resource: string, onCluster = cluster()): PolicyRequest => ({
    principal,
    action: 'ecs:RunTask',
    resource,
    context: { 'ecs:cluster': onCluster },
  });
  const passRole = (principal: { role: string }, roleId: string): PolicyRequest => ({
    principal,
    action: 'iam:PassRole',
    resource: arnOf(options.template, logicalIdIn(options, roleId)),
    context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
  });

  /** Allowed, and denied once the statements granting it are taken out of the template. */
  async function expectGrantedByItsStatements(request: PolicyRequest): Promise<void> {
    expect(await policies.decide(request)).toBe('Allowed');
    const { policies: without, removed } = policies.without(policies.granting(request));
    expect(removed.length).toBeGreaterThan(0);
    expect(await without.decide(request)).toBe('ImplicitlyDenied');
  }

  it("lets task-stopped run the Spot job's task definition on this cluster, and no other", async () => {
    // Bug caught: the retry refused (AccessDenied) after every interruption, or task-stopped
    // able to run any task (the restore task, a job that is not on Spot, another cluster).
    const taskStopped = role(options, 'TaskStoppedRole');
    await expectGrantedByItsStatements(runTask(taskStopped, revision('web')));
    expect(await policies.decide(runTask(taskStopped, revision('ledger')))).toBe('ImplicitlyDenied');
    expect(await policies.decide(runTask(taskStopped, revision('web'), `${cluster()}-other`))).toBe(
      'ImplicitlyDenied',
    );
    const restoreTask = arnOf(
      options.template,
      logicalIdIn(options, 'Vault/Restore/TaskDefinition/Resource'),
    );
    expect(await policies.decide(runTask(taskStopped, restoreTask))).toBe('ImplicitlyDenied');
    // start-backup still runs both jobs.
    for (const job of ['web', 'ledger']) {
      expect(await policies.decide(runTask(role(options, 'StartBackupRole'), revision(job)))).toBe('Allowed');
    }
  });

  it("lets task-stopped pass only the Spot job's task role and the execution role", async () => {
    // Bug caught: RunTask refused for want of iam:PassRole, or a PassRole wide enough to hand
    // ECS any role (the restore task's, another job's).
    const taskStopped = role(options, 'TaskStoppedRole');
    for (const granted of ['BackupTasks/Role-web', 'BackupTasks/ExecutionRole']) {
      await expectGrantedByItsStatements(passRole(taskStopped, `Vault/${granted}/Resource`));
    }
    for (const refused of ['BackupTasks/Role-ledger', 'Restore/TaskRole']) {
      expect(await policies.decide(passRole(taskStopped, `Vault/${refused}/Resource`))).toBe(
        'ImplicitlyDenied',
      );
    }
  });

  it('lets task-stopped tag the retry it launches (propagateTags), and nothing else', async () => {
    const taskStopped = role(options, 'TaskStoppedRole');
    const clusterName = physicalName(logicalIdIn(options, 'Vault/Cluster/Resource'));
    const task = `arn:aws:ecs:eu-west-1:${ACCOUNT}:task/${clusterName}/0123456789abcdef0123456789abcdef`;
    const tag = (createAction?: string): PolicyRequest => ({
      principal: taskStopped,
      action: 'ecs:TagResource',
      resource: task,
      ...(createAction ? { context: { 'ecs:CreateAction': createAction } } : {}),
    });
    await expectGrantedByItsStatements(tag('RunTask'));
    expect(await policies.decide(tag())).toBe('ImplicitlyDenied');
  });

  it('gives task-stopped no RunTask at all when no job runs on Spot', async () => {
    // Bug caught: the retry's grants added to every deployment.
    const fromDefaults = new TemplatePolicies(defaults.template);
    const familyOrders = String(
      resolvedProperties(defaults.template, logicalIdIn(defaults, 'Vault/BackupTasks/Task-orders/Resource'))[
        'Family'
      ],
    );
    expect(
      await fromDefaults.decide({
        principal: role(defaults, 'TaskStoppedRole'),
        action: 'ecs:RunTask',
        resource: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/${familyOrders}:3`,
        context: { 'ecs:cluster': arnOf(defaults.template, logicalIdIn(defaults, 'Vault/Cluster/Resource')) },
      }),
    ).toBe('ImplicitlyDenied');
  });
});
