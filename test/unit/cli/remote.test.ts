/**
 * `run --remote`, `history --remote`, `status --remote`, `restore|drill --remote`: CloudFormation,
 * Lambda, CloudWatch and Step Functions mocked with aws-sdk-client-mock (exact requests asserted),
 * history in dynalite.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsForMetricCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../core/config/load.ts';
import { RestoreError, RestoreState } from '../../../core/contracts/restore-state-machine.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import {
  type RemoteClients,
  remoteHistoryCommand,
  remoteRestoreCommand,
  remoteRestoreInput,
  remoteRunCommand,
  remoteStatusCommand,
} from '../../../task-image/cli/commands/remote.ts';
import { type Io, Output } from '../../../task-image/cli/output.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { RESOLVED_RUN } from '../../support/restore-run.ts';

/** A Lambda response payload as the SDK types it. */
const payload = (text: string) => Buffer.from(text) as unknown as InvokeCommandOutput['Payload'];

const cfn = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);
const cw = mockClient(CloudWatchClient);
const sfn = mockClient(SFNClient);
const MACHINE = 'arn:aws:states:eu-central-1:123456789012:stateMachine:BackupsProd-Restore';
let dynamo: LocalDynamo;
let configFile: string;
let table: string;

beforeAll(async () => {
  dynamo = await startDynalite();
  table = await dynamo.createHistoryTable();
  const dir = await mkdtemp(path.join(tmpdir(), 'dv-remote-'));
  configFile = path.join(dir, 'dumpvault.config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      destinations: { primary: { type: 's3', bucket: 'managed' } },
      jobs: [
        {
          name: 'prod',
          engine: 'postgres',
          source: { url: 'postgres://app@db/app' },
          destinations: ['primary'],
          schedule: { cron: '0 3 * * ? *' },
        },
        {
          name: 'small',
          engine: 'postgres',
          source: { url: 'postgres://app@db/small' },
          destinations: ['primary'],
          schedule: { rate: '6 hours' },
        },
      ],
      aws: { stackName: 'BackupsProd', region: 'eu-central-1' },
    }),
  );
  const history = new DynamoHistoryStore({
    tableName: table,
    client: createHistoryDocumentClient(dynamo.client),
  });
  await history.save({
    job: 'prod',
    runId: 'r1',
    kind: 'backup',
    status: 'SUCCEEDED',
    trigger: 'schedule',
    startedAt: '2026-11-21T03:00:00.000Z',
    finishedAt: '2026-11-21T03:10:00.000Z',
    durationMs: 600_000,
    bytes: 2048,
    key: 'prod/2026-11-21T030000Z-r1.pgdump.gz.gpg',
  });
  await history.save({
    job: 'small',
    runId: 'r2',
    kind: 'backup',
    status: 'FAILED',
    trigger: 'schedule',
    startedAt: '2026-11-21T06:00:00.000Z',
    error: 'pg_dump exited with code 1: database "small" does not exist',
  });
});

afterAll(async () => {
  await dynamo?.stop();
});

afterEach(() => {
  cfn.reset();
  lambda.reset();
  cw.reset();
  sfn.reset();
});

function clients(): RemoteClients {
  return {
    cloudFormation: new CloudFormationClient({ region: 'eu-central-1' }),
    lambda: new LambdaClient({ region: 'eu-central-1' }),
    cloudWatch: new CloudWatchClient({ region: 'eu-central-1' }),
    dynamo: dynamo.client,
    stepFunctions: new SFNClient({ region: 'eu-central-1' }),
  };
}

function io(): Io & { text: () => string } {
  let text = '';
  const sink = new Writable({
    write(c, _e, cb) {
      text += c.toString();
      cb();
    },
  });
  return { stdout: sink, stderr: sink, env: {}, text: () => text };
}

function stackOutputs() {
  cfn.on(DescribeStacksCommand, { StackName: 'BackupsProd' }).resolves({
    Stacks: [
      {
        StackName: 'BackupsProd',
        CreationTime: new Date(),
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [
          { OutputKey: 'HistoryTableName', OutputValue: table },
          { OutputKey: 'StartBackupFunctionName', OutputValue: 'BackupsProd-StartBackup-abc' },
          { OutputKey: 'RestoreStateMachineArn', OutputValue: MACHINE },
        ],
      },
    ],
  });
}

describe('dumpvault run <job> --remote', () => {
  it('invokes start-backup with the job and trigger manual and prints the run id', async () => {
    stackOutputs();
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: payload(
        JSON.stringify({
          status: 'STARTED',
          job: 'prod',
          runId: 'abc12345',
          taskArn: 'arn:aws:ecs:…:task/x',
        }),
      ),
    });
    const out = io();
    const code = await remoteRunCommand(
      'prod',
      { remote: true, config: configFile },
      new Output(out, false),
      out,
      clients(),
    );
    expect(code).toBe(0);
    expect(cfn.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'BackupsProd' });
    const invoke = lambda.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(invoke.FunctionName).toBe('BackupsProd-StartBackup-abc');
    expect(JSON.parse(Buffer.from(invoke.Payload as Uint8Array).toString())).toEqual({
      job: 'prod',
      trigger: 'manual',
    });
    expect(out.text()).toMatch(/started run abc12345 of prod/);
  });

  it('exits 1 and says why when the job is still running (SKIPPED)', async () => {
    stackOutputs();
    lambda.on(InvokeCommand).resolves({
      Payload: payload(
        JSON.stringify({
          status: 'SKIPPED',
          job: 'prod',
          runId: 'x',
          heldBy: { runId: 'older1', job: 'prod', expiresAt: '' },
        }),
      ),
    });
    const out = io();
    expect(
      await remoteRunCommand(
        'prod',
        { remote: true, config: configFile },
        new Output(out, false),
        out,
        clients(),
      ),
    ).toBe(1);
    expect(out.text()).toMatch(/run older1 of prod is still in progress/);
  });

  it('says how to fix it when the stack cannot be read', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack does not exist'), { name: 'ValidationError' }));
    const out = io();
    await expect(
      remoteRunCommand('prod', { remote: true, config: configFile }, new Output(out, false), out, clients()),
    ).rejects.toThrow(/cannot read the outputs of stack BackupsProd \(ValidationError\): deploy it/);
  });
});

describe('dumpvault history <job> --remote', () => {
  it('reads the DynamoDB history named by the stack output', async () => {
    stackOutputs();
    const out = io();
    expect(
      await remoteHistoryCommand(
        'prod',
        { remote: true, csv: true, config: configFile },
        new Output(out, false),
        out,
        clients(),
      ),
    ).toBe(0);
    expect(out.text()).toMatch(/^job,runId,kind,status/);
    expect(out.text()).toContain('prod,r1,backup,SUCCEEDED');
  });
});

describe('dumpvault status --remote', () => {
  it('shows last success age, last failure and alarm state per job, exit 1 when an alarm fires', async () => {
    stackOutputs();
    cw.on(DescribeAlarmsForMetricCommand).callsFake((input: { Dimensions: Array<{ Value: string }> }) => ({
      MetricAlarms: [
        {
          AlarmName: `x-${input.Dimensions[1]!.Value}`,
          StateValue: input.Dimensions[1]!.Value === 'small' ? 'ALARM' : 'OK',
        },
      ],
    }));
    const out = io();
    const code = await remoteStatusCommand(
      { remote: true, json: true, config: configFile },
      new Output(out, true),
      out,
      clients(),
      new Date('2026-11-21T13:10:00Z'),
    );
    expect(code).toBe(1);
    const rows = JSON.parse(out.text()) as Array<{
      job: string;
      hoursSinceSuccess?: number;
      alarm: string;
      lastFailure?: { error: string };
    }>;
    expect(rows.find((r) => r.job === 'prod')).toMatchObject({ hoursSinceSuccess: 10, alarm: 'OK' });
    expect(rows.find((r) => r.job === 'small')).toMatchObject({
      alarm: 'ALARM',
      lastFailure: { error: expect.stringContaining('does not exist') },
    });
    expect(cw.commandCalls(DescribeAlarmsForMetricCommand)[0]!.args[0].input).toEqual({
      Namespace: 'DumpVault',
      MetricName: 'HoursSinceLastSuccess',
      Dimensions: [
        { Name: 'service', Value: 'dumpvault' },
        { Name: 'Job', Value: 'prod' },
      ],
    });
  });
});

it('loads the config the remote commands use', () => {
  expect(loadConfig(configFile).config.aws?.stackName).toBe('BackupsProd');
});

describe('dumpvault restore|drill --remote', () => {
  const entered = (id: number, name: string, output: unknown = {}) => ({
    id,
    timestamp: new Date(),
    type: 'TaskStateExited' as const,
    stateExitedEventDetails: { name, output: JSON.stringify(output) },
  });
  /** What DescribeExecution answers for an execution of the restore state machine. */
  const execution = (executionArn: string, status: 'RUNNING' | 'SUCCEEDED' | 'FAILED', more = {}) => ({
    status,
    executionArn,
    stateMachineArn: MACHINE,
    startDate: new Date(),
    ...more,
  });

  it('starts the restore state machine with the documented input and follows it state by state', async () => {
    stackOutputs();
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:1', startDate: new Date() });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [entered(2, RestoreState.resolve)] })
      .resolves({
        events: [
          entered(2, RestoreState.resolve),
          entered(5, RestoreState.guard, { guard: { rule: 'confirmed URL target, drop allowed' } }),
          entered(8, RestoreState.runRestore),
          entered(12, RestoreState.verify, {
            verify: { matches: true, tablesCompared: 3, rowsCompared: 2550 },
          }),
        ],
      });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce(execution('arn:exec:1', 'RUNNING'))
      .resolves(execution('arn:exec:1', 'SUCCEEDED', { output: '{}' }));
    const out = io();
    const code = await remoteRestoreCommand(
      'prod',
      '2026-11-21T030000Z',
      {
        remote: true,
        target: 'postgres://restore@db:5432/app_copy',
        'password-secret': 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:x',
        confirm: 'prod',
        drop: true,
        config: configFile,
      },
      new Output(out, false),
      out,
      { drill: false, clients: clients(), pollMs: 1 },
    );
    expect(code).toBe(0);
    const start = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(start.stateMachineArn).toBe(MACHINE);
    expect(JSON.parse(start.input!)).toEqual({
      job: 'prod',
      backup: '2026-11-21T030000Z',
      target: {
        url: 'postgres://restore@db:5432/app_copy',
        passwordSecret: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:x',
      },
      drop: true,
      confirm: 'prod',
      trigger: 'manual',
    });
    expect(out.text().match(/^ {2}\w+.*$/gm)).toEqual([
      '  Resolve',
      '  Guard: confirmed URL target, drop allowed',
      '  RunRestore',
      '  Verify: 3 tables, 2550 rows match the manifest',
    ]);
    expect(out.text()).toMatch(/SUCCEEDED restore of prod/);
  });

  it('exits 2 with the execution error when the guard refuses', async () => {
    stackOutputs();
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:2', startDate: new Date() });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [entered(2, RestoreState.resolve), entered(5, RestoreState.guard)] });
    sfn.on(DescribeExecutionCommand).resolves(
      execution('arn:exec:2', 'FAILED', {
        error: RestoreError.guardRefused,
        cause: 'a target other than scratch needs confirm = "prod"',
      }),
    );
    const out = io();
    const code = await remoteRestoreCommand(
      'prod',
      undefined,
      { remote: true, target: 'postgres://u@db/app', config: configFile },
      new Output(out, false),
      out,
      { drill: false, clients: clients(), pollMs: 1 },
    );
    expect(code).toBe(2);
    expect(out.text()).toMatch(/FAILED: GuardRefusedError — a target other than scratch needs confirm/);
  });

  it('says in one sentence which field of a state output it does not understand, instead of printing it as a result', async () => {
    // Bug caught: the output was cast, not parsed: a Verify result with its counts as strings
    // printed "3 tables, 2550 rows match the manifest" and a run without its fields printed
    // only what happened to be there, with no word that anything was wrong.
    stackOutputs();
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:3', startDate: new Date() });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        entered(2, RestoreState.resolve, { job: 'prod', run: RESOLVED_RUN }),
        entered(5, RestoreState.guard, {
          run: { ...RESOLVED_RUN, backup: undefined },
          guard: { rule: 'scratch' },
        }),
        entered(12, RestoreState.verify, {
          run: RESOLVED_RUN,
          verify: { matches: true, tablesCompared: '3', rowsCompared: '2550' },
        }),
        {
          ...entered(14, RestoreState.record),
          stateExitedEventDetails: { name: RestoreState.record, output: '{"recorded": ' },
        },
      ],
    });
    sfn.on(DescribeExecutionCommand).resolves(execution('arn:exec:3', 'SUCCEEDED', { output: '{}' }));
    const out = io();

    const code = await remoteRestoreCommand(
      'prod',
      undefined,
      { remote: true, config: configFile },
      new Output(out, false),
      out,
      { drill: false, clients: clients(), pollMs: 1 },
    );

    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      {
        stateMachineArn: MACHINE,
        input: JSON.stringify({
          job: 'prod',
          backup: 'latest',
          target: 'scratch',
          drop: false,
          trigger: 'manual',
        }),
      },
    ]);
    expect(sfn.commandCalls(GetExecutionHistoryCommand).map((c) => c.args[0].input)).toEqual([
      { executionArn: 'arn:exec:3', maxResults: 1000 },
    ]);
    expect(sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { executionArn: 'arn:exec:3' },
    ]);
    expect(out.text().match(/^ {2}\w+.*$/gm)).toEqual([
      `  Resolve: ${RESOLVED_RUN.backup}, a scratch database next to the source, restore, ${RESOLVED_RUN.runId}`,
      '  Guard: unexpected output: run.backup: expected the backup id, got nothing',
      '  Verify: unexpected output: verify.tablesCompared: expected a table count, got "3"',
      '  Record: unexpected output: not JSON',
    ]);
  });

  it.each([
    { status: 'SUCCEEDED' as const, more: {}, exit: 0 },
    {
      status: 'FAILED' as const,
      more: { error: RestoreError.guardRefused, cause: 'confirm = "prod"' },
      exit: 2,
    },
  ])(
    'in --json mode says in one sentence that the output of a $status execution is not JSON, and still exits $exit',
    async ({ status, more, exit }) => {
      // Bug caught: JSON.parse of the execution's final output threw a bare SyntaxError, printed as
      // a bug in dumpvault with exit 1 and {"status": "FAILED"}, whatever the execution's outcome.
      stackOutputs();
      sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:4', startDate: new Date() });
      sfn.on(GetExecutionHistoryCommand).resolves({ events: [entered(2, RestoreState.resolve)] });
      sfn
        .on(DescribeExecutionCommand)
        .resolves(execution('arn:exec:4', status, { output: '{"run": ', ...more }));
      let stdout = '';
      const sink = (write: (text: string) => void) =>
        new Writable({
          write(c, _e, cb) {
            write(c.toString());
            cb();
          },
        });
      const err = io();
      const json: Io = { stdout: sink((t) => (stdout += t)), stderr: err.stderr, env: {} };

      const code = await remoteRestoreCommand(
        'prod',
        undefined,
        { remote: true, json: true, config: configFile },
        new Output(json, true),
        json,
        { drill: false, clients: clients(), pollMs: 1 },
      );

      expect(code).toBe(exit);
      expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
        {
          stateMachineArn: MACHINE,
          input: JSON.stringify({
            job: 'prod',
            backup: 'latest',
            target: 'scratch',
            drop: false,
            trigger: 'manual',
          }),
        },
      ]);
      expect(sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input)).toEqual([
        { executionArn: 'arn:exec:4' },
      ]);
      expect(JSON.parse(stdout)).toEqual({ executionArn: 'arn:exec:4', status, ...more });
      expect(err.text()).toMatch(
        new RegExp(
          `^warning: the output of execution arn:exec:4 \\(${status}\\) is not JSON \\(.+\\); the result leaves it out\n$`,
        ),
      );
    },
  );

  it('a drill targets the ephemeral sidecar database', () => {
    expect(remoteRestoreInput('prod', undefined, {}, true)).toEqual({
      job: 'prod',
      backup: 'latest',
      target: 'ephemeral',
      drop: false,
      trigger: 'manual',
    });
  });

  it('asks for the standby with the newest backup and no key (issue 16 §2: standby --remote)', () => {
    // Bug caught: a standby run started by hand sent a key (Resolve could skip it) or a plain restore.
    expect(remoteRestoreInput('prod', undefined, {}, false, true)).toEqual({
      job: 'prod',
      backup: 'latest',
      target: 'standby',
      drop: false,
      trigger: 'manual',
    });
  });

  it('refuses a password inside --target', () => {
    expect(() => remoteRestoreInput('prod', undefined, { target: 'postgres://u:pw@db/app' }, false)).toThrow(
      /--password-secret/,
    );
  });
});
