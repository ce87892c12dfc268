/**
 * The prune function's code asset as deployed (the esbuild bundle with its config.json, loaded
 * as an ES module and invoked through its middy handler) applying retention to an Azure copy:
 * the Azure SDK works inside the bundle, and the store's credentials come from Secrets Manager
 * (a loopback stand-in answering GetSecretValue, reached through the SDK's endpoint variable).
 * Backups are written by the pipeline to Azurite; history is in dynalite.
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
import { FunctionEnv } from '../../core/contracts/function-env.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import { runBackup } from '../../core/pipeline/backup.ts';
import { createDestination } from '../../core/storage/index.ts';
import { functionCode } from '../../infra/function-code.ts';
import { standInEngine } from '../../scripts/emulators/stand-in-engine.ts';
import { type AzuriteHandle, startAzurite } from '../support/azurite.ts';
import { type LocalDynamo, startDynalite } from '../support/dynalite.ts';

type Handler = (event: unknown, context: unknown) => Promise<Record<string, unknown>>;

const AZURE_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:offsite-azure-AbCdEf';
const HOUR_MS = 3_600_000;
const context = {
  functionName: 'prune',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:prune',
  memoryLimitInMB: '256',
  awsRequestId: 'req-1',
  logGroupName: '/aws/lambda/prune',
  logStreamName: 's',
  getRemainingTimeInMillis: () => 600_000,
};

let az: AzuriteHandle;
let dynamo: LocalDynamo;
let secretsManager: Server;
let tableName: string;
/** The GetSecretValue requests the stand-in answered, as `{target, SecretId}`. */
const secretRequests: Array<{ target: string; secretId: unknown }> = [];
const outRoot = mkdtempSync(path.join(tmpdir(), 'dvt-prune-bundle-'));

const config = validateConfig({
  prefix: 'dumpvault/',
  destinations: {
    blob: { type: 'azure', container: 'prune-bundle', credentialsSecret: AZURE_ARN, blockSizeMiB: 1 },
  },
  jobs: [
    {
      name: 'db',
      engine: 'postgres',
      source: { url: 'postgres://app@db:5432/app' },
      schedule: { rate: '1 day' },
      destinations: [{ name: 'blob', retention: { keepLast: 2 } }],
      compression: 'none',
      retention: { keepLast: 1 },
    },
  ],
});

beforeAll(async () => {
  [az, dynamo] = await Promise.all([startAzurite(), startDynalite()]);
  await az.createContainer('prune-bundle');
  tableName = await dynamo.createHistoryTable();
  secretsManager = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const secretId = (JSON.parse(body) as { SecretId?: unknown }).SecretId;
      secretRequests.push({ target: String(req.headers['x-amz-target']), secretId });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (secretId !== AZURE_ARN) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'no such secret' }));
        return;
      }
      res.end(
        JSON.stringify({
          ARN: AZURE_ARN,
          Name: 'offsite-azure',
          SecretString: JSON.stringify({ connectionString: az.connectionString }),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => secretsManager.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(secretsManager.address() as AddressInfo).port}`,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    [FunctionEnv.historyTable]: tableName,
    [FunctionEnv.bucket]: 'unused-managed-bucket',
  });
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => secretsManager?.close(() => resolve()));
  await Promise.all([az?.stop(), dynamo?.stop()]);
  rmSync(outRoot, { recursive: true, force: true });
});

/** The prune handler as CDK stages it: the asset written into a fresh app's output directory. */
async function loadPrune(): Promise<Handler> {
  const app = new App({ outdir: mkdtempSync(path.join(outRoot, 'app-')) });
  const stack = new Stack(app, 'Bundles');
  functionCode('prune', config).bind(stack);
  const asset = stack.node.findAll().find((c): c is Asset => c instanceof Asset);
  if (!asset) throw new Error('no asset staged for prune');
  const dir = path.join(app.outdir, asset.assetPath);
  process.env['LAMBDA_TASK_ROOT'] = dir;
  const mod = (await import(pathToFileURL(path.join(dir, 'index.mjs')).href)) as { handler: Handler };
  return mod.handler;
}

describe('the bundled prune function', () => {
  it("applies an Azure destination's own retention, with its credentials from Secrets Manager", async () => {
    // Bug caught: the bundle opened only s3 destinations (the Azure copy grew forever), or the
    // Azure SDK did not work inside the ESM bundle, or its credentials were not read from
    // Secrets Manager by ARN.
    const history = new DynamoHistoryStore({ tableName, client: createHistoryDocumentClient(dynamo.client) });
    const blob = createDestination('blob', config.destinations['blob']!, {
      baseDir: '/',
      azureCredentials: { connectionString: az.connectionString },
    });
    const now = Date.now();
    const runs = [];
    for (const hoursAgo of [50, 26, 2]) {
      const startedAt = new Date(now - hoursAgo * HOUR_MS);
      runs.push(
        await runBackup({
          job: config.jobs[0]!,
          prefix: config.prefix,
          engine: standInEngine('echo dump'),
          source: { url: config.jobs[0]!.source.url },
          destinations: [blob],
          encryption: undefined,
          history,
          notifier: { publish: async () => {} },
          trigger: 'schedule',
          investigate: () => 'dumpvault history',
          startedAt,
          now: () => startedAt,
          pruneAfterBackup: false,
        }),
      );
    }
    const [oldest, , newest] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];
    const keysOf = (b: typeof oldest) => [b.manifest.object.key, `dumpvault/db/${b.id}.manifest.json`];
    const handler = await loadPrune();

    const outcome = await handler({ job: 'db', runId: newest.runId }, context);

    // keepLast 2 on the Azure copy (not the job's keepLast 1): only the oldest goes.
    expect(outcome).toEqual({ status: 'PRUNED', job: 'db', runId: newest.runId, deleted: keysOf(oldest) });
    expect((await az.blobs('prune-bundle')).sort()).toEqual(runs.slice(1).flatMap(keysOf).sort());
    expect(secretRequests).toEqual([{ target: 'secretsmanager.GetSecretValue', secretId: AZURE_ARN }]);
  }, 300_000);
});
