/**
 * dumpvault's own disaster recovery (issue 16 §1), through the real CLI: backups of a real
 * PostgreSQL database to a file destination and to S3 (s3rver) write a meta-backup beside them;
 * with the whole install deleted, `recover` rebuilds config, keys, secrets and history from
 * storage alone, and `list` + `restore` bring the data back equal to the original.
 */
import { cp, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { META_PASSPHRASE_ENV } from '../../../core/contracts/meta-backup.ts';
import { runCli } from '../../support/cli.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  psql,
  uniqueName,
} from '../../support/databases.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const META_PASS = 'meta passphrase 7f3c, not any other secret';
const PG_PASSWORD = 'pg-password-4b1d-never-in-plain-meta';

let ws: Workspace;
let s3: S3rverHandle;
let vault: string; // the file destination: a mounted disk that survives the lost machine
let offline: string; // where the operator keeps the private key, away from the machine
let db: string;
const dbs: string[] = [];

const config = (secrets: boolean) => ({
  prefix: 'dv/',
  destinations: {
    disk: { type: 'file', path: vault },
    s3: s3rverDestination(s3, 'backups', { prefix: 'site/' }),
  },
  encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
  metaBackup: { passphraseEnv: META_PASSPHRASE_ENV, secrets },
  jobs: [
    {
      name: 'app',
      engine: 'postgres',
      source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`, passwordEnv: 'APP_PG_PASSWORD' },
      destinations: ['disk', 's3'],
      encryption: 'ops',
      compression: 'zstd',
      retention: { keepLast: 5 },
    },
  ],
});

const env = (extra: Record<string, string> = {}) => ({
  ...S3RVER_ENV,
  APP_PG_PASSWORD: PG_PASSWORD,
  [META_PASSPHRASE_ENV]: META_PASS,
  ...extra,
});

beforeAll(async () => {
  ws = await createWorkspace();
  vault = await mkdtemp(path.join(tmpdir(), 'dumpvault-vault-'));
  offline = await mkdtemp(path.join(tmpdir(), 'dumpvault-offline-'));
  await cp(ws.privateKey, path.join(offline, 'ops.private.asc'));
  s3 = await startS3rver({ buckets: ['backups'] });
  db = createPostgresDb();
  dbs.push(db);
}, 120_000);

afterAll(async () => {
  for (const name of dbs) dropPostgresDb(name);
  await s3?.stop();
  await ws?.remove();
  await rm(vault, { recursive: true, force: true });
  await rm(offline, { recursive: true, force: true });
});

async function metaObjects(): Promise<string[]> {
  return (await readdir(path.join(vault, 'dv', '_dumpvault'))).sort();
}

describe('recover from nothing', () => {
  it('backs up, loses the install, recovers config, keys, secrets and history, and restores equal data', async () => {
    // Prepare: two backups, each writing the meta-backup to both destinations.
    await ws.writeConfig(config(true));
    const original = postgresFingerprint(db);
    for (let i = 0; i < 2; i++) {
      const run = await runCli(['backup', 'app', '--config', ws.configFile], env());
      expect(run.stderr).not.toMatch(/meta-backup/);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/config {2}dv\/_dumpvault\/config-.*\.json\.gpg \(meta-backup\)/);
    }
    expect((await metaObjects()).length).toBeGreaterThanOrEqual(1);
    const listed = await runCli(['list', 'app', '--json', '--config', ws.configFile], env());
    const ids = (JSON.parse(listed.stdout) as Array<{ id: string }>).map((b) => b.id);
    expect(ids).toHaveLength(2);

    // Act: the machine is gone (config, keys, .dumpvault); only storage and the offline key remain.
    await ws.remove();
    const clean = await mkdtemp(path.join(tmpdir(), 'dumpvault-clean-'));
    const out = path.join(clean, 'etc');
    const noSecrets = { [META_PASSPHRASE_ENV]: META_PASS, APP_PG_PASSWORD: undefined, ...S3RVER_ENV };
    const recovered = await runCli(['recover', '--from', path.join(vault, 'dv'), '--out', out], noSecrets);
    expect(recovered.stderr).toBe('');
    expect(recovered.code).toBe(0);

    // Assess: config, key and secrets written; 0600 for the secrets; history rebuilt.
    const configFile = path.join(out, 'dumpvault.config.json');
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual(config(true));
    expect(await readFile(path.join(out, 'keys', 'ops.pub.asc'), 'utf8')).toMatch(/BEGIN PGP PUBLIC KEY/);
    const secretsEnv = path.join(out, 'secrets.env');
    expect((await stat(secretsEnv)).mode & 0o777).toBe(0o600);
    expect(await readFile(secretsEnv, 'utf8')).toContain(`APP_PG_PASSWORD='${PG_PASSWORD}'`);
    expect(recovered.stdout).not.toContain(PG_PASSWORD);
    // From here on the only secrets are the recovered ones (what `set -a; . secrets.env` loads).
    const recoveredEnv = Object.fromEntries(
      (await readFile(secretsEnv, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 2, -1)]),
    );
    expect(Object.keys(recoveredEnv).sort()).toEqual(['APP_PG_PASSWORD', 'DV_S3_KEY', 'DV_S3_SECRET']);
    const history = await runCli(['history', 'app', '--json', '--config', configFile], recoveredEnv);
    expect((JSON.parse(history.stdout) as Array<{ status: string }>).map((h) => h.status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    const relisted = await runCli(['list', 'app', '--json', '--config', configFile], recoveredEnv);
    expect((JSON.parse(relisted.stdout) as Array<{ id: string }>).map((b) => b.id)).toEqual(ids);
    const target = uniqueName('dvt_recovered');
    psql('postgres', `CREATE DATABASE ${target}`);
    dbs.push(target);
    const restored = await runCli(
      [
        'restore',
        'app',
        'latest',
        '--to',
        `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`,
        '--config',
        configFile,
      ],
      { ...recoveredEnv, DUMPVAULT_PRIVATE_KEY: path.join(offline, 'ops.private.asc') },
    );
    expect(restored.stderr).not.toMatch(/error/);
    expect(restored.code).toBe(0);
    expect(postgresFingerprint(target)).toBe(original);

    // The same from the S3 copy: the meta-backup and the manifests there suffice too.
    const fromS3 = path.join(clean, 'from-s3');
    const viaS3 = await runCli(
      ['recover', '--from', 's3://backups/site/dv/', '--endpoint', s3.endpoint, '--out', fromS3],
      {
        [META_PASSPHRASE_ENV]: META_PASS,
        AWS_ACCESS_KEY_ID: S3RVER_ENV.DV_S3_KEY,
        AWS_SECRET_ACCESS_KEY: S3RVER_ENV.DV_S3_SECRET,
      },
    );
    expect(viaS3.stderr).toBe('');
    expect(viaS3.code).toBe(0);
    expect(viaS3.stdout).toMatch(/history app: 2 backup\(s\) added from manifests/);
    await rm(clean, { recursive: true, force: true });
  }, 240_000);
});
