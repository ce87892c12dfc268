/**
 * The CLI against a deployed stack: `history <job> --remote`, `run <job> --remote`,
 * `status --remote`. Names of the table and functions come from the stack's outputs
 * (CloudFormation DescribeStacks on `aws.stackName`), or from DUMPVAULT_HISTORY_TABLE /
 * DUMPVAULT_START_BACKUP_FUNCTION when set.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsForMetricCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { DEFAULT_CONFIG_FILE, findJob, type LoadedConfig, loadConfig } from '../../../core/config/load.ts';
import {
  JOB_DIMENSION,
  METRIC_NAMESPACE,
  METRICS,
  SERVICE_DIMENSION,
  SERVICE_NAME,
} from '../../../core/contracts/cloudwatch.ts';
import { RestoreError } from '../../../core/contracts/restore-state-machine.ts';
import { DEFAULT_STACK_NAME, StackOutput, StackOutputEnv } from '../../../core/contracts/stack.ts';
import { messageOf, UserError } from '../../../core/errors.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { type HistoryStore, isFailedStatus } from '../../../core/history/history.ts';
import { historyToCsv } from '../../../core/history/local.ts';
import { type Flags, limitFlag } from '../args.ts';
import { historyLines, type Io, type Output } from '../output.ts';
import { describeState } from './remote-states.ts';

/** AWS clients of the remote commands (tests hand in mocked ones). */
export interface RemoteClients {
  readonly cloudFormation: CloudFormationClient;
  readonly lambda: LambdaClient;
  readonly cloudWatch: CloudWatchClient;
  readonly dynamo: DynamoDBClient;
  readonly stepFunctions: SFNClient;
}

/** Default clients: the SDK's credential chain and region (AWS_REGION / profile, or `aws.region`). */
export function defaultClients(loaded: LoadedConfig): RemoteClients {
  const region = loaded.config.aws?.region;
  const opts = region ? { region } : {};
  return {
    cloudFormation: new CloudFormationClient(opts),
    lambda: new LambdaClient(opts),
    cloudWatch: new CloudWatchClient(opts),
    dynamo: new DynamoDBClient(opts),
    stepFunctions: new SFNClient(opts),
  };
}

/** The deployed stack's outputs (env overrides first). */
export async function stackOutputs(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  clients: RemoteClients,
): Promise<Record<string, string>> {
  const stackName = loaded.config.aws?.stackName ?? DEFAULT_STACK_NAME;
  const fromEnv: Record<string, string> = {};
  for (const [output, name] of Object.entries(StackOutputEnv)) {
    const value = env[name];
    if (value) fromEnv[output] = value;
  }
  let outputs: Record<string, string> = {};
  try {
    const out = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    for (const o of out.Stacks?.[0]?.Outputs ?? [])
      if (o.OutputKey && o.OutputValue) outputs[o.OutputKey] = o.OutputValue;
  } catch (err) {
    if (Object.keys(fromEnv).length === 0) {
      throw new UserError(
        `cannot read the outputs of stack ${stackName} (${(err as Error).name}): deploy it with "npx cdk deploy", check AWS credentials/region, or set ${StackOutputEnv[StackOutput.historyTableName]}`,
      );
    }
    outputs = {};
  }
  return { ...outputs, ...fromEnv };
}

function need(outputs: Record<string, string>, key: keyof typeof StackOutputEnv): string {
  const value = outputs[key];
  if (!value)
    throw new UserError(`the stack has no output ${key}; redeploy it or set ${StackOutputEnv[key]}`);
  return value;
}

async function remoteHistory(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  clients: RemoteClients,
): Promise<HistoryStore> {
  const outputs = await stackOutputs(loaded, env, clients);
  return new DynamoHistoryStore({
    tableName: need(outputs, StackOutput.historyTableName),
    client: createHistoryDocumentClient(clients.dynamo),
  });
}

/** The deployed stack's history table, for `history --rebuild --remote`. */
export function remoteHistoryStore(
  env: NodeJS.ProcessEnv,
  clients?: RemoteClients,
): (loaded: LoadedConfig) => Promise<HistoryStore> {
  return (loaded) => remoteHistory(loaded, env, clients ?? defaultClients(loaded));
}

/** `dumpvault history <job> --remote` */
export async function remoteHistoryCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
  clients?: RemoteClients,
): Promise<number> {
  const limit = limitFlag(flags);
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const name = findJob(loaded.config, job).name;
  const history = await remoteHistory(loaded, io.env, clients ?? defaultClients(loaded));
  const items = await history.list(name, limit ? { limit } : {});
  if (flags.csv) io.stdout.write(historyToCsv(items));
  else if (out.isJson) out.result(items);
  else for (const line of historyLines(items)) out.line(line);
  return 0;
}

/** `dumpvault run <job> --remote`: invokes start-backup and prints the run id. */
export async function remoteRunCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
  clients?: RemoteClients,
): Promise<number> {
  if (!flags.remote)
    throw new UserError(
      '"run" starts a backup in the deployed stack: add --remote (locally use "dumpvault backup <job>")',
      { exitCode: 2 },
    );
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const name = findJob(loaded.config, job).name;
  const c = clients ?? defaultClients(loaded);
  const outputs = await stackOutputs(loaded, io.env, c);
  const response = await c.lambda.send(
    new InvokeCommand({
      FunctionName: need(outputs, StackOutput.startBackupFunctionName),
      Payload: Buffer.from(JSON.stringify({ job: name, trigger: 'manual' })),
    }),
  );
  const text = response.Payload ? Buffer.from(response.Payload).toString('utf8') : '{}';
  if (response.FunctionError) throw new UserError(`start-backup failed: ${text.slice(0, 300)}`);
  const result = JSON.parse(text) as {
    status: string;
    runId: string;
    taskArn?: string;
    error?: string;
    heldBy?: { runId: string };
  };
  if (out.isJson) out.result(result);
  else if (result.status === 'STARTED') {
    out.line(`started run ${result.runId} of ${name} (task ${result.taskArn ?? 'unknown'})`);
    out.line(`follow it with: dumpvault history ${name} --remote`);
  } else if (result.status === 'SKIPPED')
    out.line(`skipped: run ${result.heldBy?.runId ?? '?'} of ${name} is still in progress`);
  else out.line(`FAILED to start ${name}: ${result.error ?? 'unknown error'}`);
  return result.status === 'STARTED' ? 0 : 1;
}

/** `dumpvault status --remote`: per job, last success age, last failure, alarm state. */
export async function remoteStatusCommand(
  flags: Flags,
  out: Output,
  io: Io,
  clients?: RemoteClients,
  now = new Date(),
): Promise<number> {
  if (!flags.remote)
    throw new UserError(
      '"status" reads the deployed stack: add --remote (locally use "dumpvault history <job>")',
      { exitCode: 2 },
    );
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const c = clients ?? defaultClients(loaded);
  const history = await remoteHistory(loaded, io.env, c);
  const rows = [];
  for (const job of loaded.config.jobs) {
    const items = await history.list(job.name, { limit: 50 });
    const backups = items.filter((i) => i.kind === 'backup');
    const success = backups.find((i) => i.status === 'SUCCEEDED');
    const failure = backups.find((i) => isFailedStatus(i.status));
    const alarms = await c.cloudWatch.send(
      new DescribeAlarmsForMetricCommand({
        Namespace: METRIC_NAMESPACE,
        MetricName: METRICS.hoursSinceLastSuccess,
        Dimensions: [
          { Name: SERVICE_DIMENSION, Value: SERVICE_NAME },
          { Name: JOB_DIMENSION, Value: job.name },
        ],
      }),
    );
    const states = (alarms.MetricAlarms ?? []).map((a) => a.StateValue ?? 'UNKNOWN');
    rows.push({
      job: job.name,
      lastSuccess: success?.finishedAt ?? success?.startedAt,
      hoursSinceSuccess: success
        ? (now.getTime() - Date.parse(success.finishedAt ?? success.startedAt)) / 3_600_000
        : undefined,
      lastFailure: failure ? { at: failure.startedAt, error: failure.error } : undefined,
      lastStatus: backups[0]?.status,
      alarm: states.includes('ALARM') ? 'ALARM' : (states[0] ?? 'NONE'),
    });
  }
  if (out.isJson) out.result(rows);
  else {
    out.line(
      `${'job'.padEnd(20)} ${'last'.padEnd(10)} ${'success age'.padStart(12)} ${'alarm'.padEnd(18)} last failure`,
    );
    for (const r of rows) {
      out.line(
        `${r.job.padEnd(20)} ${(r.lastStatus ?? '-').padEnd(10)} ${(r.hoursSinceSuccess !== undefined ? `${r.hoursSinceSuccess.toFixed(1)} h` : 'never').padStart(12)} ${r.alarm.padEnd(18)} ${r.lastFailure ? `${r.lastFailure.at}: ${r.lastFailure.error ?? ''}` : '-'}`,
      );
    }
  }
  return rows.some((r) => r.alarm === 'ALARM') ? 1 : 0;
}

/** The restore state machine's execution input (functions/logic/restore-contract.ts). */
export interface RemoteRestoreInput {
  readonly job: string;
  readonly backup: string;
  readonly target:
    | 'scratch'
    | 'ephemeral'
    | 'standby'
    | { readonly url: string; readonly passwordSecret?: string };
  readonly drop: boolean;
  readonly confirm?: string;
  readonly trigger: 'manual';
}

/**
 * Builds the execution input from the command line (no secret values: only an ARN). `standby`:
 * the newest backup into the job's standby (no `key`, so Resolve never skips it).
 */
export function remoteRestoreInput(
  job: string,
  selector: string | undefined,
  flags: Flags,
  drill: boolean,
  standby = false,
): RemoteRestoreInput {
  if (standby) return { job, backup: 'latest', target: 'standby', drop: false, trigger: 'manual' };
  let target: RemoteRestoreInput['target'] = drill ? 'ephemeral' : 'scratch';
  if (!drill && flags.target && flags.target !== 'scratch') {
    if (flags.target === 'ephemeral') target = 'ephemeral';
    else {
      let url: URL;
      try {
        url = new URL(flags.target);
      } catch {
        throw new UserError(`--target: expected "scratch" or a database URL, got "${flags.target}"`, {
          exitCode: 2,
        });
      }
      if (url.password) {
        throw new UserError('--target: remove the password from the URL and pass --password-secret <arn>', {
          exitCode: 2,
        });
      }
      target = {
        url: flags.target,
        ...(flags['password-secret'] ? { passwordSecret: flags['password-secret'] } : {}),
      };
    }
  }
  return {
    job,
    backup: selector ?? 'latest',
    target,
    drop: Boolean(flags.drop),
    ...(flags.confirm ? { confirm: flags.confirm } : {}),
    trigger: 'manual',
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `dumpvault restore <job> [<backup>] --remote …`, `dumpvault drill <job> --remote` and
 * `dumpvault standby <job> --remote`: starts
 * the restore state machine, prints each state as the execution enters it, and exits with the
 * outcome (0 SUCCEEDED, 1 otherwise).
 */
export async function remoteRestoreCommand(
  job: string | undefined,
  selector: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
  options: { drill: boolean; standby?: boolean; clients?: RemoteClients; pollMs?: number },
): Promise<number> {
  const what = options.standby ? 'standby' : options.drill ? 'drill' : 'restore';
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const name = findJob(loaded.config, job).name;
  const c = options.clients ?? defaultClients(loaded);
  const outputs = await stackOutputs(loaded, io.env, c);
  const stateMachineArn = need(outputs, StackOutput.restoreStateMachineArn);
  const input = remoteRestoreInput(name, selector, flags, options.drill, options.standby);
  const started = await c.stepFunctions.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }),
  );
  const executionArn = started.executionArn!;
  if (!out.isJson) out.line(`${what} ${name}: execution ${executionArn}`);
  const seen = new Set<number>();
  let execution: DescribeExecutionCommandOutput;
  for (;;) {
    const history = await c.stepFunctions.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }),
    );
    for (const event of history.events ?? []) {
      const exited = event.stateExitedEventDetails;
      if (!exited || seen.has(event.id ?? 0)) continue;
      seen.add(event.id ?? 0);
      if (!out.isJson) out.line(`  ${exited.name}${describeState(exited.name, exited.output)}`);
    }
    execution = await c.stepFunctions.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') break;
    await sleep(options.pollMs ?? 3000);
  }
  if (out.isJson) {
    const output = finalOutput(executionArn, execution, out);
    out.result({
      executionArn,
      status: execution.status,
      output,
      error: execution.error,
      cause: execution.cause,
    });
  } else if (execution.status === 'SUCCEEDED') {
    out.line(`SUCCEEDED ${what} of ${name}`);
  } else {
    out.line(
      `${execution.status}: ${execution.error ?? ''}${execution.cause ? ` — ${execution.cause}` : ''}`,
    );
  }
  if (execution.status === 'SUCCEEDED') return 0;
  return REFUSALS.has(execution.error ?? '') ? 2 : 1;
}

/**
 * The execution's final output for the `--json` result. Output that is not JSON is left out with
 * a one-sentence warning, so the result's status and the exit status still follow the execution.
 */
function finalOutput(executionArn: string, execution: DescribeExecutionCommandOutput, out: Output): unknown {
  if (!execution.output) return undefined;
  try {
    return JSON.parse(execution.output) as unknown;
  } catch (err) {
    out.warn(
      `the output of execution ${executionArn} (${execution.status}) is not JSON (${messageOf(err)}); the result leaves it out`,
    );
    return undefined;
  }
}

/** Execution errors that mean "the request was refused" (exit 2), not "the restore failed". */
const REFUSALS = new Set<string>([
  RestoreError.guardRefused,
  RestoreError.input,
  RestoreError.taskRefused,
  'ConfigError',
  'UsageError',
]);
