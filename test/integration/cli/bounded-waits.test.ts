/**
 * Every wait of a backup is bounded (DESIGN.md §6), through the CLI with the bounds shortened
 * in the config: a store that accepts connections and never answers, a store that answers
 * CreateMultipartUpload and then holds every UploadPart. Each ends FAILED with a cause naming
 * the destination, one alert, exit 1, and no object or pending upload left behind.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb, sqlite } from '../../support/databases.ts';
import {
  S3_CALLS,
  S3RVER_ENV,
  type S3rverHandle,
  s3rverDestination,
  startS3rver,
} from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let s3: S3rverHandle;
let deaf: Server;
let deafEndpoint: string;
const deafSockets = new Set<Socket>();

beforeAll(async () => {
  ws = await createWorkspace();
  s3 = await startS3rver({ buckets: ['backups'] });
  // Accepts connections, reads what it is sent, never answers.
  deaf = createServer((socket) => {
    deafSockets.add(socket);
    socket.on('close', () => deafSockets.delete(socket));
    socket.resume();
  });
  deaf.listen(0, '127.0.0.1');
  await once(deaf, 'listening');
  const address = deaf.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  deafEndpoint = `http://127.0.0.1:${address.port}`;

  createSqliteDb(path.join(ws.dir, 'small.db'));
  // ~12 MB of incompressible rows: more than two 5 MiB parts after zstd and encryption.
  createSqliteDb(path.join(ws.dir, 'big.db'));
  sqlite(
    path.join(ws.dir, 'big.db'),
    `CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
     INSERT INTO blobs SELECT i, randomblob(2000) FROM n;`,
  );
  await ws.writeConfig({
    destinations: {
      deaf: s3rverDestination({ endpoint: deafEndpoint }, 'backups', { requestTimeoutSeconds: 1 }),
      held: s3rverDestination(s3, 'backups', { stallTimeoutSeconds: 2 }),
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'to-deaf',
        engine: 'sqlite',
        source: { url: 'sqlite:./small.db' },
        destinations: ['deaf'],
        encryption: 'ops',
      },
      {
        name: 'to-held',
        engine: 'sqlite',
        source: { url: 'sqlite:./big.db' },
        destinations: ['held'],
        encryption: 'ops',
      },
    ],
  });
});

afterAll(async () => {
  for (const socket of deafSockets) socket.destroy();
  deaf?.close();
  await s3?.stop();
  await ws?.remove();
});

async function alertsOf(job: string): Promise<string[]> {
  const log = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => '');
  return log.split('\n').filter((line) => line.includes(`"job":"${job}"`));
}

async function timedBackup(job: string): Promise<{ code: number; stderr: string; seconds: number }> {
  const started = Date.now();
  const run = await runCli(['backup', job, '--config', ws.configFile], S3RVER_ENV);
  return { code: run.code, stderr: run.stderr, seconds: (Date.now() - started) / 1000 };
}

describe('a backup to a store that stops answering', () => {
  it('fails within requestTimeoutSeconds when the store accepts the connection and never answers', async () => {
    const { code, stderr, seconds } = await timedBackup('to-deaf');

    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: destination deaf: the store at \S+ stopped answering/m);
    // Three attempts of 1 s each and their back-off, not forever.
    expect(seconds).toBeLessThan(30);
    const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('to-deaf');
    expect(item).toMatchObject({
      status: 'FAILED',
      error: expect.stringMatching(/^destination deaf: the store at \S+ stopped answering/),
    });
    expect(await alertsOf('to-deaf')).toHaveLength(1);
  });

  it('fails with "destination held: no progress for 2 s" when UploadPart is never answered, and aborts the upload', async () => {
    const hold = s3.holdRequests(S3_CALLS.uploadPart);
    let result: Awaited<ReturnType<typeof timedBackup>>;
    try {
      result = await timedBackup('to-held');
    } finally {
      hold.release();
    }

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: destination held: no progress for 2 s$/m);
    expect(result.seconds).toBeLessThan(30);
    const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('to-held');
    expect(item).toMatchObject({ status: 'FAILED', error: 'destination held: no progress for 2 s' });
    expect(await alertsOf('to-held')).toHaveLength(1);
    expect((await s3.pendingUploads('backups')).filter((key) => key.startsWith('to-held/'))).toEqual([]);
    const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'to-held/' }));
    expect(objects.Contents ?? []).toEqual([]);
  });
});
