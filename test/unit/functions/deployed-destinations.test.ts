/**
 * The functions open every destination of a job in AWS (functions/logic/backup-source.ts). The
 * prune function applies each destination's own retention to every destination of the job
 * (issue 15), with its dependencies built as functions/prune.ts builds them in AWS
 * (deployedPruneDeps: every destination opened by functions/logic/backup-source.ts with the
 * credentials its `credentialsSecret` holds). Backups are written by the pipeline to s3rver and
 * to an Azure container on Azurite; history is in dynalite; Secrets Manager is a fetchSecret
 * stand-in that records the ARNs asked for. Azure requests go through a loopback proxy that
 * records the order of the deletes.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { Config, Job } from '../../../core/config/schema.ts';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { clearSecrets } from '../../../core/redact.ts';
import type { SecretFetcher } from '../../../core/secrets/resolve.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { openBackupSources, openJobDestinations } from '../../../functions/logic/backup-source.ts';
import { deployedPruneDeps, pruneAfterBackup } from '../../../functions/logic/prune.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  type AzuriteHandle,
  startAzurite,
} from '../../support/azurite.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { freshHistory, recordingLog } from './support.ts';

const BUCKET = 'prune-destinations';
const S3_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:offsite-s3-AbCdEf';
const AZURE_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:offsite-azure-AbCdEf';
const NOW = new Date('2026-11-22T04:00:00.000Z');
const HOUR_MS = 3_600_000;

let s3: S3rverHandle;
let az: AzuriteHandle;
let dynamo: LocalDynamo;
let proxy: Server;
let history: DynamoHistoryStore;
let config: Config;
let container: string;
let jobs = 0;

/** The Azure requests that went through the proxy, in order, as `METHOD /container/blob`. */
const azureRequests: string[] = [];
/** The secret ARNs the stand-in for Secrets Manager was asked for, in order. */
const asked: string[] = [];
/** What Secrets Manager holds; a missing ARN is refused as AWS refuses a read the role may not do. */
let secrets: Record<string, string> = {};

const fetchSecret: SecretFetcher = async (arn) => {
  asked.push(arn);
  const value = secrets[arn];
  if (value === undefined) {
    throw Object.assign(new Error(`not authorized to perform secretsmanager:GetSecretValue on ${arn}`), {
      name: 'AccessDeniedException',
    });
  }
  return value;
};

/** Forwards every request to Azurite unchanged and records it (Shared Key signs the path, not the host). */
async function startRecordingProxy(target: number): Promise<Server> {
  const server = createServer((req, res) => {
    azureRequests.push(`${req.method} ${decodeURIComponent((req.url ?? '').split('?')[0]!)}`);
    const upstream = request(
      { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => res.destroy(err));
    req.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

beforeAll(async () => {
  [s3, az, dynamo] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startAzurite(), startDynalite()]);
  proxy = await startRecordingProxy(az.port);
}, 120_000);
afterAll(async () => {
  proxy?.close();
  await Promise.all([s3?.stop(), az?.stop(), dynamo?.stop()]);
  clearSecrets();
});
beforeEach(async () => {
  history = await freshHistory(dynamo);
  const name = `app-${process.pid}-${++jobs}`;
  container = await az.createContainer(`prune-${jobs}`);
  const blobEndpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/${AZURITE_ACCOUNT}`;
  secrets = {
    [S3_ARN]: JSON.stringify(S3RVER_CREDENTIALS),
    [AZURE_ARN]: JSON.stringify({
      connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    }),
  };
  // The deployed shape: credentials in Secrets Manager only, no env variable anywhere.
  config = validateConfig({
    prefix: 'dumpvault/',
    destinations: {
      primary: {
        type: 's3',
        bucket: BUCKET,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        credentialsSecret: S3_ARN,
      },
      blob: { type: 'azure', container, credentialsSecret: AZURE_ARN, blockSizeMiB: 1 },
    },
    jobs: [
      {
        name,
        engine: 'postgres',
        source: { url: 'postgres://app@db.internal:5432/app' },
        // The S3 copy keeps the newest backup only; the Azure copy keeps three.
        destinations: ['primary', { name: 'blob', retention: { keepLast: 3 } }],
        compression: 'none',
        retention: { keepLast: 1 },
      },
    ],
  });
});

const job = (): Job => config.jobs[0]!;
const sources = {
  managedBucket: 'unused-managed-bucket',
  fetchSecret,
  retry: { attempts: 1, baseDelayMs: 1 },
};

/** A backup as the task writes it in AWS (to every destination, no retention), `hoursAgo` before NOW. */
async function backup(hoursAgo: number) {
  const startedAt = new Date(NOW.getTime() - hoursAgo * HOUR_MS);
  const run = await runBackup({
    job: job(),
    prefix: config.prefix,
    engine: standInEngine('echo dump'),
    source: { url: job().source.url },
    destinations: await openJobDestinations(config, job(), sources),
    encryption: undefined,
    history,
    notifier: { publish: async () => {} },
    trigger: 'schedule',
    investigate: () => 'dumpvault history',
    startedAt,
    now: () => startedAt,
    pruneAfterBackup: false,
  });
  expect(run.status).toBe('SUCCEEDED');
  return run;
}

const keysOf = (b: Awaited<ReturnType<typeof backup>>) => [
  b.manifest.object.key,
  `dumpvault/${job().name}/${b.id}.manifest.json`,
];

/** What the S3 copy holds, read with s3rver's credentials directly (not through the secrets). */
async function s3Keys(): Promise<string[]> {
  const primary = createDestination('primary', config.destinations['primary']!, {
    baseDir: '/',
    s3Credentials: S3RVER_CREDENTIALS,
  });
  return (await primary.list(`dumpvault/${job().name}/`)).map((o) => o.key).sort();
}

function deps() {
  return deployedPruneDeps(config, { history, log: recordingLog(), now: () => NOW, ...sources });
}

function forgetRequests(): void {
  azureRequests.length = 0;
  asked.length = 0;
}

describe('the prune function on every destination of the job', () => {
  it("applies each destination's own retention to S3 and Azure, data before manifest, credentials from their secrets", async () => {
    // Bug caught: the prune function opened only s3 destinations and logged "retention of this
    // destination is not applied in AWS" for the rest, so the Azure copy grew forever; or it
    // applied the job's retention (keepLast 1) to a destination that carries its own (keepLast 3).
    const oldest = await backup(74);
    const older = await backup(50);
    const recent = await backup(26);
    const newest = await backup(2);
    forgetRequests();

    const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: newest.runId });

    const fromS3 = [oldest, older, recent].flatMap(keysOf);
    const fromAzure = keysOf(oldest);
    expect(outcome).toMatchObject({ status: 'PRUNED', job: job().name, runId: newest.runId });
    expect(outcome.status === 'PRUNED' && [...outcome.deleted].sort()).toEqual(
      [...fromS3, ...fromAzure].sort(),
    );
    expect(await s3Keys()).toEqual(keysOf(newest).sort());
    expect((await az.blobs(container)).sort()).toEqual([older, recent, newest].flatMap(keysOf).sort());
    // On Azure, exactly these two deletes: the data object, then its manifest.
    expect(azureRequests.filter((r) => r.startsWith('DELETE '))).toEqual(
      fromAzure.map((key) => `DELETE /${AZURITE_ACCOUNT}/${container}/${key}`),
    );
    // Each destination's credentials read from its own secret, once, in config order.
    expect(asked).toEqual([S3_ARN, AZURE_ARN]);
    const recorded = (await history.list(job().name)).find((i) => i.runId === newest.runId);
    expect([...(recorded?.pruned ?? [])].sort()).toEqual([...fromS3, ...fromAzure].sort());
  }, 120_000);

  it('deletes nothing anywhere and fails naming the secret when an Azure destination cannot be opened', async () => {
    // Bug caught: a destination whose credentials could not be read was skipped with a warning
    // (its retention silently never applied) instead of failing the event, which is retried and
    // then dead-lettered (an alarm).
    await backup(26);
    const newest = await backup(2);
    delete secrets[AZURE_ARN];
    forgetRequests();

    await expect(pruneAfterBackup(deps(), { job: job().name, runId: newest.runId })).rejects.toThrow(
      `destinations.blob.credentialsSecret: cannot read secret ${AZURE_ARN} (AccessDeniedException): check the ARN and that this role may read it`,
    );

    expect(await s3Keys()).toHaveLength(4);
    expect(await az.blobs(container)).toHaveLength(4);
    expect(azureRequests).toEqual([]);
  }, 120_000);

  it('refuses a file destination by name instead of skipping it', async () => {
    // Bug caught: a destination type AWS cannot reach was skipped with a log line; validate
    // refuses it at synth (test/infra/validation.test.ts), and the function never skips one.
    const withFile = validateConfig({
      destinations: { local: { type: 'file', path: '/backups' } },
      jobs: [
        {
          name: 'db',
          engine: 'postgres',
          source: { url: 'postgres://app@db:5432/app' },
          destinations: ['local'],
        },
      ],
    });

    await expect(openJobDestinations(withFile, withFile.jobs[0]!, sources)).rejects.toThrow(
      "job db: destination local is a file destination, which nothing in AWS can reach; remove it from the job's destinations",
    );
  });
});

describe('the restore steps in AWS', () => {
  it('find backups in the Azure copy too, opened with its secret', async () => {
    // Bug caught: Resolve and Verify opened only s3 destinations, so a job whose S3 copy was
    // lost could not be restored in AWS from its Azure copy.
    const newest = await backup(2);
    forgetRequests();

    const opened = await openBackupSources(config, job(), sources);

    expect(opened.map((d) => d.name)).toEqual(['primary', 'blob']);
    expect(asked).toEqual([S3_ARN, AZURE_ARN]);
    const listed = (await opened[1]!.list(`dumpvault/${job().name}/`)).map((o) => o.key).sort();
    expect(listed).toEqual(keysOf(newest).sort());
  }, 120_000);
});
