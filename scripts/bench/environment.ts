/**
 * Everything the measured commands share, set up once per bench run in a temp directory: an
 * OpenPGP key pair (its public half for dumpvault's config, both halves in a private GnuPG
 * home for the shell peers), s3rver on loopback, and a dumpvault config with one job per
 * engine × codec × destination.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../core/config/load.ts';
import type { Compression } from '../../core/config/schema.ts';
import { generateKeyPair } from '../../core/crypto/openpgp.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../emulators/s3rver.ts';
import { myUrl, pgUrl } from './dataset.ts';
import { runQuiet } from './measure.ts';

export type BenchEngine = 'postgres' | 'mysql';
export type BenchCodec = Exclude<Compression, 'none'>;
export type BenchDestination = 'file' | 's3';

export interface BenchEnvironment {
  readonly dir: string;
  readonly configFile: string;
  readonly publicKey: string;
  readonly privateKey: string;
  readonly fingerprint: string;
  /** GNUPGHOME holding both halves of the key, for `gpg -e` / `gpg -d` in the shell peers. */
  readonly gnupgHome: string;
  readonly s3: S3rverHandle;
  /** The environment dumpvault runs with (S3 credentials for s3rver). */
  readonly env: NodeJS.ProcessEnv;
  /** The codec a job gets when its config says nothing (the schema default). */
  readonly defaultCodec: Compression;
  /** The dumpvault job for an engine, codec and destination. */
  jobName(engine: BenchEngine, codec: BenchCodec, destination: BenchDestination): string;
  /** The node binary dumpvault runs on (`--node`). */
  readonly node: string;
  /** The job of the fixed-cost row: the one-row database, default codec, encrypted, to a file. */
  readonly fixedJob: string;
  close(): Promise<void>;
}

const CODECS: readonly BenchCodec[] = ['gzip', 'zstd'];
const DESTINATIONS: readonly BenchDestination[] = ['file', 's3'];

const FIXED_JOB = 'pg-fixed-file';

function jobName(engine: BenchEngine, codec: BenchCodec, destination: BenchDestination): string {
  return `${engine === 'postgres' ? 'pg' : 'my'}-${codec}-${destination}`;
}

/** Sets up keys, GnuPG, s3rver and the dumpvault config for the given databases. */
export async function createEnvironment(
  node: string,
  databases: {
    readonly postgres: string;
    readonly mysql: string | undefined;
    /** The one-row PostgreSQL database (scripts/bench/dataset.ts `ensureFixedDataset`). */
    readonly fixed: string;
  },
): Promise<BenchEnvironment> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-bench-'));
  const keys = await generateKeyPair({ name: 'dumpvault bench', email: 'bench@dumpvault.invalid' });
  const publicKey = path.join(dir, 'bench.pub.asc');
  const privateKey = path.join(dir, 'bench.private.asc');
  await writeFile(publicKey, keys.publicKey);
  await writeFile(privateKey, keys.privateKey, { mode: 0o600 });
  const gnupgHome = path.join(dir, 'gnupg');
  await mkdir(gnupgHome, { mode: 0o700 });
  await runQuiet('gpg', ['--homedir', gnupgHome, '--batch', '--quiet', '--import', privateKey], {
    timeoutMs: 30_000,
  });
  const s3 = await startS3rver({ buckets: ['bench'] });

  const sources = { postgres: pgUrl(databases.postgres), mysql: databases.mysql && myUrl(databases.mysql) };
  const jobs = [];
  for (const engine of ['postgres', 'mysql'] as const) {
    const url = sources[engine];
    if (!url) continue;
    for (const codec of CODECS) {
      for (const destination of DESTINATIONS) {
        jobs.push({
          name: jobName(engine, codec, destination),
          engine,
          source: { url },
          destinations: [destination],
          compression: codec,
          encryption: 'ops',
          // Each run replaces the previous one, so the bench's disk use stays at one backup per job.
          retention: { keepLast: 1 },
        });
      }
    }
  }
  // Codec left to the schema's default, like the default rows it is subtracted from.
  jobs.push({
    name: FIXED_JOB,
    engine: 'postgres',
    source: { url: pgUrl(databases.fixed) },
    destinations: ['file'],
    encryption: 'ops',
    retention: { keepLast: 1 },
  });
  const config = {
    destinations: {
      file: { type: 'file', path: './backups' },
      s3: {
        type: 's3',
        bucket: 'bench',
        endpoint: s3.endpoint,
        accessKeyIdEnv: 'BENCH_S3_ACCESS_KEY_ID',
        secretAccessKeyEnv: 'BENCH_S3_SECRET_ACCESS_KEY',
      },
    },
    encryption: { ops: { type: 'openpgp', recipients: [path.basename(publicKey)] } },
    jobs,
  };
  const configFile = path.join(dir, 'dumpvault.config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const probe = validateConfig({
    destinations: { d: { type: 'file', path: '.' } },
    jobs: [{ name: 'probe', engine: 'postgres', source: { url: 'postgres://x@h/db' }, destinations: ['d'] }],
  });
  return {
    dir,
    configFile,
    publicKey,
    privateKey,
    fingerprint: keys.fingerprint,
    gnupgHome,
    s3,
    env: {
      ...process.env,
      BENCH_S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      BENCH_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      GNUPGHOME: gnupgHome,
      // As in the task image (task-image/Dockerfile): Node 22 starts from V8's cached
      // compilation of the bundle, filled by `bench.ts` before the runs; Node 20 ignores it.
      NODE_COMPILE_CACHE: path.join(dir, 'node-compile-cache'),
    },
    defaultCodec: probe.jobs[0]!.compression,
    jobName,
    node,
    fixedJob: FIXED_JOB,
    async close() {
      await runQuiet('gpgconf', ['--homedir', gnupgHome, '--kill', 'gpg-agent'], { timeoutMs: 10_000 }).catch(
        () => {},
      );
      await s3.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
