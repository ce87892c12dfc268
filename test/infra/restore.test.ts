/**
 * The restore state machine and restore drills (issue 4), synthesized once with cdk-nag:
 * the definition (asl-validator, timeouts, retries, catches), the Guard Lambda in the VPC and
 * the secrets it may read, who may run which task, the drill
 * task definitions and their sidecars, drill schedules only for jobs that ask for them, the
 * drill metric, alarms and dashboard line; plus the "fails when" validation of drill settings.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/load.ts';
import type { ConfigInput } from '../../core/config/schema.ts';
import { RestoreError, RestoreState } from '../../core/contracts/restore-state-machine.ts';
import { DumpVault } from '../../infra/dumpvault.ts';
import { logicalIdOf, stateMachineDefinition } from './state-machine-definition.ts';
import {
  AZURE_ARN,
  GCS_ARN,
  OFFSITE_ARN,
  PRIVATE_KEY_ARN,
  PUBLIC_KEY,
  RESTORE_CONFIG,
  secretArn,
} from './support/fixtures.ts';
import {
  logicalIdIn,
  SYNTH_TIMEOUT_MS,
  type Synthesized,
  type SynthesizedStack,
  synthesized,
} from './support/synthesized.ts';

type AslValidator = (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

let synth: Synthesized;
let stack: SynthesizedStack;
let template: Template;
let definition: Record<string, unknown>;
let dir: string;
let taskBundle: string;

beforeAll(async () => {
  synth = await synthesized('restore');
  stack = synth.stacks['Restore']!;
  template = Template.fromJSON(stack.template as never);
  definition = stateMachineDefinition(template);
  dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-restore-'));
  writeFileSync(path.join(dir, 'ops.pub.asc'), PUBLIC_KEY);
  taskBundle = path.join(dir, 'dumpvault.mjs');
  writeFileSync(taskBundle, '// stand-in for dist/dumpvault.mjs\n');
}, SYNTH_TIMEOUT_MS);

/** The logical id of a construct's main resource (path below the stack). */
function logicalId(constructPath: string): string {
  return logicalIdIn(stack, constructPath);
}

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
type State = Record<string, unknown> & { Type: string };
const states = () => definition['States'] as Record<string, State>;

/** Every statement of the policies attached to a role. */
function statementsOf(roleId: string): Array<Record<string, unknown>> {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p['Properties']['Roles']).includes(`"${roleId}"`))
    .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Array<Record<string, unknown>>);
}

/**
 * A statement with its Action and Resource lists in a fixed order: the order carries no
 * meaning, and cdk.json's minimizePolicies reorders them.
 */
function unordered(statement: Record<string, unknown>): Record<string, unknown> {
  const sorted = (v: unknown) =>
    Array.isArray(v) ? [...v].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : v;
  return { ...statement, Action: sorted(statement['Action']), Resource: sorted(statement['Resource']) };
}

const DRILL_KEYS = ['postgres:15', 'postgres:16', 'postgres:17', 'postgres:18', 'job:shop'];
const drillIds = () =>
  ['Drillpostgres15', 'Drillpostgres16', 'Drillpostgres17', 'Drillpostgres18', 'DrillJobshop'].map((id) =>
    logicalId(`DumpVault/Restore/${id}/Resource`),
  );

describe('the restore state machine', () => {
  it('has zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(synth.nagReport).toBe('');
    expect(synth.synthError).toBeUndefined();
  });

  it('is a valid Amazon States Language definition (asl-validator)', () => {
    const result = aslValidator(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('runs Resolve, Guard, RunRestore (ECS RunTask .sync), Verify, Record, Notify', () => {
    const path: string[] = [];
    let name = definition['StartAt'] as string | undefined;
    while (name) {
      path.push(name);
      name = states()[name]?.['Next'] as string | undefined;
    }
    expect(path).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.verify,
      RestoreState.record,
      RestoreState.notify,
      RestoreState.restored,
    ]);
    expect(states()[RestoreState.runRestore]).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSeconds: 720 * 60,
      Parameters: {
        LaunchType: 'FARGATE',
        'TaskDefinition.$': '$.run.taskDefinition',
        Overrides: {
          ContainerOverrides: [
            { Name: 'dumpvault', Command: ['restore'], 'Environment.$': '$.run.environment' },
          ],
        },
      },
    });
    const lambdaOf = (state: string) => logicalIdOf(String(states()[state]?.['Resource']));
    expect(lambdaOf(RestoreState.resolve)).toBe(logicalId('DumpVault/RestoreResolve/Resource'));
    expect(lambdaOf(RestoreState.guard)).toBe(logicalId('DumpVault/RestoreGuard/Resource'));
    expect(lambdaOf(RestoreState.verify)).toBe(logicalId('DumpVault/RestoreVerify/Resource'));
    for (const state of [
      RestoreState.record,
      RestoreState.notify,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
    ]) {
      expect(lambdaOf(state)).toBe(logicalId('DumpVault/RestoreRecord/Resource'));
    }
  });

  it('gives every Task state a timeout and retries, and every step a Catch that records FAILED and notifies before failing', () => {
    const taskStates = Object.entries(states()).filter(([, s]) => s.Type === 'Task');
    expect(taskStates.map(([name]) => name).sort()).toEqual(
      [
        RestoreState.guard,
        RestoreState.notify,
        RestoreState.notifyFailure,
        RestoreState.record,
        RestoreState.recordFailure,
        RestoreState.resolve,
        RestoreState.runRestore,
        RestoreState.verify,
      ].sort(),
    );
    for (const [name, state] of taskStates) {
      expect(state['TimeoutSeconds'], name).toBeGreaterThan(0);
      expect((state['Retry'] as unknown[] | undefined)?.length, name).toBeGreaterThan(0);
      expect(state['Catch'], name).toBeDefined();
    }
    for (const name of [
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.verify,
      RestoreState.record,
    ]) {
      expect(states()[name]?.['Catch']).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: `$.failure.${name}`, Next: RestoreState.recordFailure },
      ]);
    }
    // Resolve: a standby run with nothing to do (recorded SKIPPED) ends successfully, first.
    expect(states()[RestoreState.resolve]?.['Catch']).toEqual([
      {
        ErrorEquals: [RestoreError.standbySkipped],
        ResultPath: '$.failure.Resolve',
        Next: RestoreState.skipped,
      },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure.Resolve', Next: RestoreState.recordFailure },
    ]);
    expect(states()[RestoreState.skipped]).toMatchObject({ Type: 'Succeed' });
    expect(states()[RestoreState.recordFailure]?.['Next']).toBe(RestoreState.notifyFailure);
    expect(states()[RestoreState.notifyFailure]?.['Next']).toBe(RestoreState.failed);
    expect(states()[RestoreState.failed]).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.recorded.error',
      CausePath: '$.recorded.cause',
    });
    // A RetryableError (AWS trouble) is retried; a refusal or mismatch (a UserError) never is.
    expect(JSON.stringify(states()[RestoreState.guard]?.['Retry'])).not.toContain(RestoreError.guardRefused);
    expect(JSON.stringify(states()[RestoreState.guard]?.['Retry'])).not.toContain('States.ALL');
    expect(states()[RestoreState.runRestore]?.['Retry']).toEqual([
      expect.objectContaining({
        ErrorEquals: expect.not.arrayContaining(['States.TaskFailed', 'States.ALL']),
      }),
    ]);
  });

  it('lets the state machine run only the restore and drill task definitions, on this cluster, and pass only their roles', () => {
    const roleId = (
      template.findResources('AWS::StepFunctions::StateMachine', {})[
        Object.keys(template.findResources('AWS::StepFunctions::StateMachine'))[0]!
      ]!['Properties']['RoleArn'] as { 'Fn::GetAtt': string[] }
    )['Fn::GetAtt'][0]!;
    const statements = statementsOf(roleId);
    const runTask = statements.filter((s) => JSON.stringify(s['Action']).includes('ecs:RunTask'));
    expect(runTask.map(unordered)).toEqual([
      unordered({
        Sid: 'RunRestoreTasks',
        Effect: 'Allow',
        Action: 'ecs:RunTask',
        Resource: [logicalId('DumpVault/Restore/TaskDefinition/Resource'), ...drillIds()].map(ref),
        Condition: { ArnEquals: { 'ecs:cluster': arnOf(logicalId('DumpVault/Cluster/Resource')) } },
      }),
    ]);
    const passRole = statements.filter((s) => JSON.stringify(s['Action']).includes('iam:PassRole'));
    expect(passRole.map(unordered)).toEqual([
      unordered({
        Sid: 'PassRestoreTaskRoles',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: [
          arnOf(logicalId('DumpVault/Restore/ExecutionRole/Resource')),
          arnOf(logicalId('DumpVault/Restore/TaskRole/Resource')),
        ],
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    ]);
    const all = JSON.stringify(statements);
    for (const job of ['app', 'shop', 'notes', 'legacy']) {
      expect(all).not.toContain(logicalId(`DumpVault/BackupTasks/Task-${job}/Resource`));
      expect(all).not.toContain(logicalId(`DumpVault/BackupTasks/Role-${job}/Resource`));
    }
    expect(unordered(statements.find((s) => s['Sid'] === 'FollowRestoreTasks')!)).toMatchObject({
      Action: ['ecs:DescribeTasks', 'ecs:StopTask'],
    });
    // Bug: RunRestore's PropagateTags refused (AccessDenied on ecs:TagResource) without the
    // grant, or a grant without the CreateAction condition that could retag any task.
    const tagging = statements.filter((s) => JSON.stringify(s['Action']).includes('ecs:TagResource'));
    expect(tagging).toEqual([
      expect.objectContaining({
        Sid: 'TagRestoreTasksAtLaunch',
        Action: 'ecs:TagResource',
        Condition: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
    ]);
    expect(JSON.stringify(tagging[0]!['Resource'])).toMatch(/:task\//);
  });

  it("starts each restore or drill task with its task definition's tags, which say restore or drill", () => {
    // Bug: restores and drills untagged, so Cost Explorer counts them with nothing (issue 13 §3).
    expect(states()[RestoreState.runRestore]!['Parameters']).toMatchObject({
      PropagateTags: 'TASK_DEFINITION',
    });
    const definitions = template.findResources('AWS::ECS::TaskDefinition');
    const tags = (id: string) => definitions[logicalId(id)]!['Properties']['Tags'];
    expect(tags('DumpVault/Restore/TaskDefinition/Resource')).toEqual([
      { Key: 'dumpvault:task', Value: 'restore' },
    ]);
    for (const major of ['15', '16', '17', '18']) {
      expect(tags(`DumpVault/Restore/Drillpostgres${major}/Resource`)).toEqual([
        { Key: 'dumpvault:task', Value: 'drill' },
      ]);
    }
  });

  it('hands Resolve exactly the task definitions the role may run', () => {
    const parameters = states()[RestoreState.resolve]!['Parameters'] as Record<
      string,
      Record<string, unknown>
    >;
    const deployment = parameters['deployment']!;
    expect(logicalIdOf(String(deployment['restoreTaskDefinition']))).toBe(
      logicalId('DumpVault/Restore/TaskDefinition/Resource'),
    );
    const drills = deployment['drillTaskDefinitions'] as Record<string, string>;
    expect(Object.keys(drills)).toEqual(DRILL_KEYS);
    expect(Object.values(drills).map(logicalIdOf)).toEqual(drillIds());
  });
});

describe('the Guard Lambda', () => {
  const guardId = () => logicalId('DumpVault/RestoreGuard/Resource');
  const functionProps = (id: string) =>
    template.findResources('AWS::Lambda::Function')[id]!['Properties'] as Record<string, unknown>;

  it("runs in the restore task's private subnets with its security group, which admits nothing and lets everything out", () => {
    const subnets = [
      ref(logicalId('DumpVault/Vpc/tasksSubnet1/Subnet')),
      ref(logicalId('DumpVault/Vpc/tasksSubnet2/Subnet')),
    ];
    const securityGroup = logicalId('DumpVault/TaskSecurityGroup/Resource');

    expect(functionProps(guardId())['VpcConfig']).toEqual({
      SubnetIds: subnets,
      SecurityGroupIds: [{ 'Fn::GetAtt': [securityGroup, 'GroupId'] }],
    });
    // The restore task runs in the same place (the definition renders references as stand-in ids).
    const network = (states()[RestoreState.runRestore]!['Parameters'] as Record<string, unknown>)[
      'NetworkConfiguration'
    ];
    expect(network).toEqual({
      AwsvpcConfiguration: {
        Subnets: subnets.map((s) => `subnet-${s.Ref.toLowerCase()}`),
        SecurityGroups: [`sg-${securityGroup.toLowerCase()}`],
        AssignPublicIp: 'DISABLED',
      },
    });
    const group = template.findResources('AWS::EC2::SecurityGroup')[securityGroup]!['Properties'];
    expect(group['SecurityGroupIngress']).toBeUndefined();
    expect(group['SecurityGroupEgress']).toEqual([
      { CidrIp: '0.0.0.0/0', Description: 'Allow all outbound traffic by default', IpProtocol: '-1' },
    ]);
  });

  it('may manage its network interfaces, trusts the RDS certificate authorities and knows the restore target tag', () => {
    const role = template.findResources('AWS::IAM::Role')[logicalId('DumpVault/RestoreGuardRole/Resource')]!;

    expect(JSON.stringify(role['Properties']['ManagedPolicyArns'])).toContain(
      ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
    );
    expect(functionProps(guardId())['Environment']).toEqual({
      Variables: expect.objectContaining({
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        DUMPVAULT_RESTORE_TARGET_TAG: 'dumpvault-restore-target=Restore',
      }),
    });
    expect(Number(functionProps(guardId())['Timeout'])).toBeLessThan(
      Number(states()[RestoreState.guard]!['TimeoutSeconds']),
    );
  });

  it('is the only restore Lambda in the VPC', () => {
    for (const fn of ['RestoreResolve', 'RestoreVerify', 'RestoreRecord']) {
      expect(functionProps(logicalId(`DumpVault/${fn}/Resource`))['VpcConfig'], fn).toBeUndefined();
    }
  });

  it("may read only the jobs' database password secrets and secrets tagged for restores of this stack", () => {
    const statements = statementsOf(logicalId('DumpVault/RestoreGuardRole/Resource'));

    expect(statements.filter((s) => s['Action'] !== 'secretsmanager:GetSecretValue')).toEqual([
      expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] }),
    ]);
    expect(statements.filter((s) => s['Action'] === 'secretsmanager:GetSecretValue')).toEqual([
      {
        Sid: 'ReadJobPasswordSecrets',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: secretArn('app-db'),
      },
      {
        Sid: 'ReadTaggedRestoreTargetSecrets',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: expect.objectContaining({ 'Fn::Join': expect.anything() }),
        Condition: { StringEquals: { 'secretsmanager:ResourceTag/dumpvault-restore-target': 'Restore' } },
      },
    ]);
    expect(JSON.stringify(statements)).toContain(':secretsmanager:eu-central-1:123456789012:secret:*');
    // Never the private key, the passphrases or the storage credentials the restore task reads.
    expect(JSON.stringify(statements)).not.toContain(PRIVATE_KEY_ARN);
    expect(JSON.stringify(statements)).not.toContain(OFFSITE_ARN);
  });

  it('retries a target it cannot reach once, and never a refusal', () => {
    const retry = states()[RestoreState.guard]!['Retry'] as Array<Record<string, unknown>>;

    expect(
      retry.filter((r) => JSON.stringify(r['ErrorEquals']).includes(RestoreError.targetUnreachable)),
    ).toEqual([{ ErrorEquals: [RestoreError.targetUnreachable], IntervalSeconds: 10, MaxAttempts: 1 }]);
    const retried = retry.flatMap((r) => r['ErrorEquals'] as string[]);
    for (const refusal of [RestoreError.guardRefused, 'ConfigError', RestoreError.input, 'States.ALL']) {
      expect(retried).not.toContain(refusal);
    }
  });
});

describe('restore and drill tasks', () => {
  it('run the task image in restore mode with a read-only root, and drills with a sidecar database of each postgres major', () => {
    const definitions = template.findResources('AWS::ECS::TaskDefinition');
    const containersOf = (id: string) =>
      definitions[id]!['Properties']['ContainerDefinitions'] as Array<Record<string, unknown>>;
    const [restore] = containersOf(logicalId('DumpVault/Restore/TaskDefinition/Resource'));
    expect(restore).toMatchObject({
      Name: 'dumpvault',
      Command: ['restore'],
      User: '10001:10001',
      ReadonlyRootFilesystem: true,
      Essential: true,
      StopTimeout: 120,
      LinuxParameters: expect.objectContaining({ InitProcessEnabled: true }),
    });
    for (const major of ['15', '16', '17', '18']) {
      const containers = containersOf(logicalId(`DumpVault/Restore/Drillpostgres${major}/Resource`));
      expect(containers).toEqual([
        expect.objectContaining({
          Name: 'dumpvault',
          Command: ['restore'],
          DependsOn: [{ ContainerName: 'database', Condition: 'HEALTHY' }],
          Environment: expect.arrayContaining([
            { Name: 'DUMPVAULT_EPHEMERAL_URL', Value: 'postgres://postgres@127.0.0.1:5432/postgres' },
          ]),
        }),
        expect.objectContaining({
          Name: 'database',
          Image: `public.ecr.aws/docker/library/postgres:${major}`,
          Essential: false,
          Command: ['postgres', '-c', 'listen_addresses=127.0.0.1'],
          HealthCheck: expect.objectContaining({
            Command: ['CMD-SHELL', 'pg_isready -h 127.0.0.1 -U postgres || exit 1'],
          }),
          LogConfiguration: expect.objectContaining({ LogDriver: 'awslogs' }),
        }),
      ]);
    }
    const [, shopDatabase] = containersOf(logicalId('DumpVault/Restore/DrillJobshop/Resource'));
    expect(shopDatabase).toMatchObject({
      Image: 'registry.example.com/mariadb:10.11-custom',
      Environment: [{ Name: 'MARIADB_ALLOW_EMPTY_ROOT_PASSWORD', Value: '1' }],
    });
    // postgres 15-18, the shop image, the restore task, one backup task per job; no drill for sqlite or legacy.
    expect(Object.keys(definitions)).toHaveLength(10);
  });

  it('may read backups and the private key, never write or delete objects; the backup task may not read the private key', () => {
    const restore = statementsOf(logicalId('DumpVault/Restore/TaskRole/Resource'));
    expect(restore.find((s) => s['Sid'] === 'ReadJobSecrets')?.['Resource']).toContain(PRIVATE_KEY_ARN);
    expect(restore.find((s) => s['Sid'] === 'ReadBackupObjects')?.['Action']).toBe('s3:GetObject');
    expect(JSON.stringify(restore)).not.toMatch(/s3:PutObject|s3:DeleteObject|dynamodb:DeleteItem/);
    expect(restore.find((s) => s['Sid'] === 'ReadTaggedRestoreTargetSecrets')).toMatchObject({
      Condition: { StringEquals: { 'secretsmanager:ResourceTag/dumpvault-restore-target': 'Restore' } },
    });
    for (const job of ['app', 'shop', 'notes', 'legacy']) {
      const backup = statementsOf(logicalId(`DumpVault/BackupTasks/Role-${job}/Resource`));
      expect(JSON.stringify(backup)).not.toContain(PRIVATE_KEY_ARN);
    }
  });

  it("may write the jobs' history items and the restore and drill alert streaks, nothing else", () => {
    const restore = statementsOf(logicalId('DumpVault/Restore/TaskRole/Resource'));
    const history = restore.find((s) => s['Sid'] === 'WriteHistoryItems') as {
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': string[] } };
    };
    const keys = history.Condition['ForAllValues:StringEquals']['dynamodb:LeadingKeys'];
    expect(keys).toContain('JOBS');
    for (const key of keys.filter((k) => k !== 'JOBS'))
      expect(key).toMatch(/^JOB#[a-z0-9-]+(:restore|:drill)?$/);
    const jobs = keys.filter((k) => /^JOB#[a-z0-9-]+$/.test(k)).map((k) => k.slice(4));
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs)
      expect(keys).toEqual(expect.arrayContaining([`JOB#${job}:restore`, `JOB#${job}:drill`]));
  });

  it('lets Resolve and Verify read only manifests of the jobs, and the credentials of every store they open', () => {
    // Bug caught: only a job's first destination's credentials were granted, but Resolve and
    // Verify open every destination AWS reaches (s3, gcs, azure) and failed on the others'.
    for (const fn of ['RestoreResolve', 'RestoreVerify']) {
      const statements = statementsOf(logicalId(`DumpVault/${fn}Role/Resource`));
      const read = statements.find((s) => s['Action'] === 's3:GetObject');
      expect(JSON.stringify(read?.['Resource'])).toContain('/dumpvault/app/*.manifest.json');
      expect(statements.find((s) => s['Action'] === 'secretsmanager:GetSecretValue')?.['Resource']).toEqual(
        [AZURE_ARN, GCS_ARN, OFFSITE_ARN].sort(),
      );
    }
  });
});

describe('restore drills', () => {
  it('schedules a drill only for the jobs that ask for one, into an ephemeral target', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).filter((s) =>
      JSON.stringify(s['Properties']['Target']['Arn']).includes('StateMachine'),
    );
    const inputs = schedules.map((s) => JSON.parse(s['Properties']['Target']['Input'] as string));
    expect(inputs.map((i) => i.job).sort()).toEqual(['app', 'notes', 'shop']);
    expect(inputs[0]).toEqual({ job: 'app', backup: 'latest', target: 'ephemeral', trigger: 'schedule' });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 ? * SUN *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
        DeadLetterConfig: { Arn: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')) },
      }),
    });
  });

  it('alarms when the last drill failed or none succeeded within two drill periods', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DrillSucceeded',
      Namespace: 'DumpVault',
      Dimensions: Match.arrayWith([{ Name: 'Job', Value: 'app' }]),
      Statistic: 'Minimum',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'ignore',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'HoursSinceLastDrillSuccess',
      Dimensions: Match.arrayWith([{ Name: 'Job', Value: 'app' }]),
      // Two drill periods: Sundays 05:00 Europe/Berlin are up to 169 h apart (fall-back week).
      Threshold: 338,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
    });
    const composites = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'));
    expect(composites).toHaveLength(3);
    const app = composites.find((c) =>
      JSON.stringify(c['Properties']['AlarmDescription']).includes('drills of app'),
    );
    expect(JSON.stringify(app?.['Properties']['AlarmRule'])).toMatch(/ALARM\(.*\) OR ALARM\(/);
    expect(app?.['Properties']['AlarmActions']).toEqual([ref(logicalId('DumpVault/Alerts/Resource'))]);
  });

  it('has a dashboard line per drill job', () => {
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const job of ['app', 'shop', 'notes']) expect(body).toContain(`${job}: restore drills`);
    expect(body).not.toContain('legacy: restore drills');
  });

  it('exports the state machine the CLI starts', () => {
    template.hasOutput('RestoreStateMachineArn', {
      Value: ref(logicalId('DumpVault/Restore/StateMachine/Resource')),
    });
  });

  it('grants operators the start of executions and following them', () => {
    expect(statementsOf(logicalId('Operator/Resource'))).toEqual([
      {
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: ref(logicalId('DumpVault/Restore/StateMachine/Resource')),
      },
      {
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
        Resource: expect.objectContaining({ 'Fn::Join': expect.anything() }),
      },
    ]);
  });
});

describe('the restore-ended Lambda', () => {
  it('receives ABORTED, TIMED_OUT and FAILED executions of this state machine only, with retries and the DLQ', () => {
    const fn = logicalId('DumpVault/RestoreEnded/Resource');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
          stateMachineArn: [ref(logicalId('DumpVault/Restore/StateMachine/Resource'))],
        },
      },
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: arnOf(fn),
          RetryPolicy: { MaximumEventAgeInSeconds: 21600, MaximumRetryAttempts: 8 },
          DeadLetterConfig: { Arn: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')) },
        }),
      ],
    });
    expect(template.toJSON()['Resources'][fn]['Properties']).toMatchObject({
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Environment: {
        Variables: expect.objectContaining({
          DUMPVAULT_HISTORY_TABLE: ref(logicalId('DumpVault/History/Resource')),
          DUMPVAULT_TOPIC_ARN: ref(logicalId('DumpVault/Alerts/Resource')),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(logicalId('DumpVault/RestoreEnded/Resource')),
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: { Destination: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')) },
      },
    });
  });

  it("may only read and conditionally replace the jobs' history items and alert streaks, and publish alerts", () => {
    const statements = statementsOf(logicalId('DumpVault/RestoreEndedRole/Resource'));
    const jobs = ['app', 'shop', 'notes', 'legacy'];
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: arnOf(logicalId('DumpVault/RestoreEndedLogs/Resource')),
      },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')),
      },
      {
        Sid: 'FailRunningRestores',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
        Resource: arnOf(logicalId('DumpVault/History/Resource')),
        Condition: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': jobs.flatMap((j) => [`JOB#${j}`, `JOB#${j}:restore`, `JOB#${j}:drill`]),
          },
        },
      },
      {
        Sid: 'PublishAlerts',
        Effect: 'Allow',
        Action: 'sns:Publish',
        Resource: ref(logicalId('DumpVault/Alerts/Resource')),
      },
      {
        Sid: 'UseTopicKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: arnOf(logicalId('DumpVault/Key/Resource')),
      },
    ]);
  });
});

describe('validation of drills', () => {
  const build = (mutate: (c: ConfigInput) => void) => () => {
    const config = structuredClone(RESTORE_CONFIG);
    mutate(config);
    const app = new App();
    new DumpVault(new Stack(app, 'X'), 'V', { config: validateConfig(config), configDir: dir, taskBundle });
  };

  it('fails when a drill job encrypts to OpenPGP recipients without a privateKeySecret', () => {
    expect(
      build((c) => {
        delete (c.encryption!['ops'] as { privateKeySecret?: string }).privateKeySecret;
      }),
    ).toThrow(
      /jobs\[0\]\.restoreDrill: backups of app are encrypted to OpenPGP recipients and encryption\.ops\.privateKeySecret is not set/,
    );
  });

  it('fails when the drill schedule cannot be modelled for its alarm', () => {
    // "1#2" (second Sunday) once could not be modelled; only a schedule that stops repeating can't.
    expect(
      build((c) => {
        c.jobs[0]!.restoreDrill = { schedule: { cron: '0 5 ? * 1#2 2024' } };
      }),
    ).toThrow(/jobs\[0\]\.restoreDrill\.schedule: cannot work out how often "0 5 \? \* 1#2 2024" runs/);
  });

  it('fails when a drill job reads from a file destination', () => {
    expect(
      build((c) => {
        c.destinations['local'] = { type: 'file', path: './backups' };
        c.jobs[2]!.destinations = ['local'];
      }),
    ).toThrow(
      /jobs\[2\]\.restoreDrill: drills read the job's first destination, and "local" is a file destination/,
    );
  });

  it('fails when a sqlite drill names an engine image', () => {
    expect(
      build((c) => {
        c.jobs[2]!.restoreDrill = { schedule: { rate: '7 days' }, engineImage: 'postgres:16' };
      }),
    ).toThrow(/jobs\[2\]\.restoreDrill\.engineImage: sqlite drills restore into a file inside the task/);
  });
});
