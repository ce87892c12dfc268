/**
 * The Lambda code assets as deployed: the esbuild bundles (built locally, no Docker) with their
 * config.json, loaded as ES modules and invoked through their middy handlers, against dynalite,
 * a loopback stand-in for the ECS API, and (the Guard's bundled drivers) the real PostgreSQL and
 * MariaDB servers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/load.ts';
import { RestoreError } from '../../core/contracts/restore-state-machine.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import { type FunctionName, functionCode } from '../../infra/function-code.ts';
import { createPostgresDb, dropPostgresDb, MY, PG, uniqueName } from '../support/databases.ts';
import { type LocalDynamo, startDynalite } from '../support/dynalite.ts';
import { RESOLVED_RUN } from '../support/restore-run.ts';

type Handler = (event: unknown, context: unknown) => Promise<Record<string, unknown>>;

const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/dumpvault/abc';
const config = validateConfig({
  destinations: { primary: { type: 's3', bucket: 'managed' } },
  jobs: [
    {
      name: 'db',
      engine: 'postgres',
      source: { url: 'postgres://app@db:5432/app' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
    },
  ],
});
const context = {
  functionName: 'test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:test',
  memoryLimitInMB: '256',
  awsRequestId: 'req-1',
  logGroupName: '/aws/lambda/test',
  logStreamName: 's',
  getRemainingTimeInMillis: () => 30_000,
};

let dynamo: LocalDynamo;
let ecs: Server;
const ecsRequests: Array<{ target: string; body: Record<string, unknown> }> = [];

/** The Guard's config: a PostgreSQL and a MySQL job, whose targets are the servers on this machine. */
const guardConfig = validateConfig({
  destinations: { primary: { type: 's3', bucket: 'managed' } },
  jobs: [
    {
      name: 'db',
      engine: 'postgres',
      source: { url: 'postgres://app@db:5432/app' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
    },
    {
      name: 'shop',
      engine: 'mysql',
      source: { url: 'mysql://app@shop:3306/shop' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
    },
  ],
});
const targetDb = uniqueName('dvt_bundle_target');

/** A scratch folder for the apps' output directories (this process's own, removed after the tests). */
const outRoot = mkdtempSync(path.join(tmpdir(), 'dvt-function-bundles-'));

/**
 * The handler as CDK stages it: the asset written into a fresh app's output directory by the
 * construct's local bundling, loaded from there.
 */
async function load(name: FunctionName, withConfig = config): Promise<Handler> {
  const app = new App({ outdir: mkdtempSync(path.join(outRoot, 'app-')) });
  const stack = new Stack(app, 'Bundles');
  functionCode(name, withConfig).bind(stack);
  const asset = stack.node.findAll().find((c): c is Asset => c instanceof Asset);
  if (!asset) throw new Error(`no asset staged for ${name}`);
  const dir = path.join(app.outdir, asset.assetPath);
  process.env['LAMBDA_TASK_ROOT'] = dir;
  const mod = (await import(pathToFileURL(path.join(dir, 'index.mjs')).href)) as { handler: Handler };
  return mod.handler;
}

beforeAll(async () => {
  dynamo = await startDynalite();
  const table = await dynamo.createHistoryTable();
  ecs = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      ecsRequests.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify({ tasks: [{ taskArn: TASK_ARN }], failures: [] }));
    });
  });
  await new Promise<void>((resolve) => ecs.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_ECS: `http://127.0.0.1:${(ecs.address() as AddressInfo).port}`,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    DUMPVAULT_HISTORY_TABLE: table,
    DUMPVAULT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:alerts',
    DUMPVAULT_CLUSTER: 'arn:aws:ecs:eu-west-1:123456789012:cluster/dumpvault',
    DUMPVAULT_TASK_FAMILY_PREFIX: 'DumpVault-backup-',
    DUMPVAULT_CONTAINER_NAME: 'dumpvault',
    DUMPVAULT_SUBNETS: 'subnet-a,subnet-b',
    DUMPVAULT_SECURITY_GROUPS: 'sg-1',
  });
});

afterAll(async () => {
  dropPostgresDb(targetDb);
  await new Promise<void>((resolve) => ecs.close(() => resolve()));
  await dynamo.stop();
  rmSync(outRoot, { recursive: true, force: true });
});

describe('bundled Lambda code', () => {
  it('starts a run from the bundled start-backup with its bundled config', async () => {
    const handler = await load('start-backup');

    const result = await handler({ job: 'db' }, context);

    expect(result).toMatchObject({ status: 'STARTED', job: 'db', taskArn: TASK_ARN });
    expect(ecsRequests.map((r) => r.target)).toEqual(['AmazonEC2ContainerServiceV20141113.RunTask']);
    expect(ecsRequests[0]?.body).toMatchObject({
      cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/dumpvault',
      startedBy: `dumpvault/db/${String(result['runId'])}`,
      networkConfiguration: {
        awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'] },
      },
    });
    const history = new DynamoHistoryStore({
      tableName: String(process.env['DUMPVAULT_HISTORY_TABLE']),
      client: createHistoryDocumentClient(dynamo.client),
    });
    expect((await history.list('db'))[0]).toMatchObject({ status: 'RUNNING', taskArn: TASK_ARN });
  });

  it('rejects an event without a job name', async () => {
    const handler = await load('start-backup');

    // The bundled handler parses its event with the zod schema of functions/logic/events.ts.
    await expect(handler({}, context)).rejects.toThrow('start-backup event: job: expected a job name');
  });

  it('refuses from the bundled restore-guard with the error name the state machine catches', async () => {
    const handler = await load('restore-guard');
    const state = {
      job: 'db',
      target: { url: 'postgres://app@db:5432/copy' },
      run: {
        ...RESOLVED_RUN,
        job: 'db',
        runId: 'r1',
        targetKind: 'connection',
        target: 'postgres://app@db:5432/copy',
      },
    };

    await expect(
      handler({ state, execution: { id: 'e', startTime: new Date().toISOString() } }, context),
    ).rejects.toMatchObject({
      name: RestoreError.guardRefused,
      message: expect.stringMatching(/set "confirm" to the job name "db"/),
    });
  });

  it('refuses a real PostgreSQL target with tables from the bundled restore-guard (pg driver in the bundle)', async () => {
    createPostgresDb(targetDb);
    const handler = await load('restore-guard', guardConfig);
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${targetDb}`;
    const state = {
      job: 'db',
      target: { url },
      confirm: 'db',
      run: { ...RESOLVED_RUN, job: 'db', runId: 'r2', targetKind: 'connection', target: url },
    };

    await expect(
      handler({ state, execution: { id: 'e', startTime: new Date().toISOString() } }, context),
    ).rejects.toMatchObject({
      name: RestoreError.guardRefused,
      message: `the target ${url} already has 3 tables, 1 view, 2 sequences and 1 schema: pass drop: true to replace them`,
    });
  });

  it('lets a missing MariaDB database through from the bundled restore-guard (mysql2 driver in the bundle)', async () => {
    const handler = await load('restore-guard', guardConfig);
    const url = `mysql://${MY.user}@${MY.host}:${MY.port}/${uniqueName('dvt_bundle_missing')}`;
    const state = {
      job: 'shop',
      target: { url },
      confirm: 'shop',
      run: { ...RESOLVED_RUN, job: 'shop', runId: 'r3', targetKind: 'connection', target: url },
    };

    const result = await handler(
      { state, execution: { id: 'e', startTime: new Date().toISOString() } },
      context,
    );

    expect(result).toEqual({
      allowed: true,
      rule: `confirmed by the job name; ${url} does not exist yet: the restore creates it`,
      target: { missing: true, objects: {} },
    });
  });

  it('records a failed restore from the bundled restore-record', async () => {
    const handler = await load('restore-record');
    const execution = {
      id: 'arn:aws:states:eu-west-1:123456789012:execution:Restore:x',
      startTime: new Date().toISOString(),
    };

    const result = await handler(
      {
        step: 'record-failure',
        state: {
          job: 'db',
          failure: { Guard: { Error: RestoreError.guardRefused, Cause: 'set "confirm"' } },
        },
        execution,
      },
      context,
    );

    expect(result).toMatchObject({
      job: 'db',
      kind: 'restore',
      status: 'FAILED',
      cause: 'set "confirm"',
      changed: true,
    });
  });

  it('measures freshness from the bundled watchdog', async () => {
    const handler = await load('watchdog');

    const result = await handler({}, context);

    // 'db' never succeeded: measured from its first run or first sight, which this pass recorded.
    expect(result).toEqual({
      freshness: [
        {
          job: 'db',
          hoursSinceLastSuccess: expect.any(Number),
          firstSeenAt: expect.any(String),
          failedRunsLast24Hours: 0,
        },
      ],
      stopped: 0,
    });
  });
});
