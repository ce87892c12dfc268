/**
 * dumpvault's own disaster recovery (issue 16 §1) for a MariaDB job, through the real CLI and
 * the real server: the meta-backup is encrypted to a key (not a passphrase), the install is
 * deleted, `recover --key` rebuilds config, keys and history from the file destination alone,
 * and `list` + `restore` bring the database back equal to the original; `recover --from
 * azure://container/prefix/` (Azurite) finds the same from the Azure copy.
 * (recover.test.ts does the same for PostgreSQL with a meta passphrase, secrets and S3.)
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  type AzuriteHandle,
  azuriteDestination,
  startAzurite,
} from '../../support/azurite.ts';
import { runCli } from '../../support/cli.ts';
import {
  createMariaDb,
  dropMariaDb,
  MY,
  mariadb,
  mariaFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let az: AzuriteHandle;
let vault: string; // the file destination: a disk that survives the lost machine
let offline: string; // where the operator keeps the private key, away from the machine
let clean: string; // the new machine
let db: string;
const dbs: string[] = [];

const config = () => ({
  prefix: 'dv/',
  destinations: {
    disk: { type: 'file', path: vault },
    az: azuriteDestination('backups', { prefix: 'site/' }),
  },
  encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
  metaBackup: { recipients: ['keys/ops.pub.asc'] },
  jobs: [
    {
      name: 'shop',
      engine: 'mysql',
      source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${db}` },
      destinations: ['disk', 'az'],
      encryption: 'ops',
      compression: 'gzip',
      retention: { keepLast: 5 },
    },
  ],
});

beforeAll(async () => {
  ws = await createWorkspace();
  vault = await mkdtemp(path.join(tmpdir(), 'dumpvault-vault-'));
  offline = await mkdtemp(path.join(tmpdir(), 'dumpvault-offline-'));
  clean = await mkdtemp(path.join(tmpdir(), 'dumpvault-clean-'));
  await cp(ws.privateKey, path.join(offline, 'ops.private.asc'));
  az = await startAzurite();
  await az.createContainer('backups');
  db = createMariaDb();
  dbs.push(db);
}, 120_000);

afterAll(async () => {
  for (const name of dbs) dropMariaDb(name);
  await az?.stop();
  await ws?.remove();
  for (const dir of [vault, offline, clean]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('recover a MariaDB job from nothing', () => {
  it('backs up, loses the install, recovers config, keys and history with the meta key, and restores equal data', async () => {
    // Prepare: two backups (the second after a change), each writing the meta-backup.
    await ws.writeConfig(config());
    const cli = (args: string[], configFile: string, env: Record<string, string | undefined> = {}) =>
      runCli([...args, '--config', configFile], { ...az.env, DUMPVAULT_PRIVATE_KEY: undefined, ...env });
    expect((await cli(['backup', 'shop'], ws.configFile)).code).toBe(0);
    mariadb(db, 'INSERT INTO orders (customer_id, total) SELECT 7, seq FROM seq_1_to_120');
    const second = await cli(['backup', 'shop'], ws.configFile);
    expect(second.stderr).not.toMatch(/meta-backup/);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/dv\/_dumpvault\/config-.*\.json\.gpg \(meta-backup\)/);
    const original = mariaFingerprint(db);
    const ids = (
      JSON.parse((await cli(['list', 'shop', '--json'], ws.configFile)).stdout) as Array<{ id: string }>
    ).map((b) => b.id);
    expect(ids).toHaveLength(2);

    // Act: the machine is gone (config, keys, .dumpvault); only the disk and the offline key remain.
    await ws.remove();
    const out = path.join(clean, 'etc');
    const key = path.join(offline, 'ops.private.asc');
    const recovered = await runCli(
      ['recover', '--from', `file://${path.join(vault, 'dv')}`, '--out', out, '--key', key],
      {
        DUMPVAULT_PRIVATE_KEY: undefined,
        DUMPVAULT_META_PASSPHRASE: undefined,
      },
    );
    expect(recovered.stderr).toBe('');
    expect(recovered.code).toBe(0);
    expect(recovered.stdout).toMatch(/history shop: 2 backup\(s\) added from manifests/);

    // Assess: config and public key back, history rebuilt, the newest backup restores equal.
    const configFile = path.join(out, 'dumpvault.config.json');
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual(config());
    expect(await readFile(path.join(out, 'keys', 'ops.pub.asc'), 'utf8')).toMatch(/BEGIN PGP PUBLIC KEY/);
    const history = JSON.parse((await cli(['history', 'shop', '--json'], configFile)).stdout) as Array<{
      kind: string;
      status: string;
    }>;
    expect(history.map((h) => `${h.kind} ${h.status}`)).toEqual(['backup SUCCEEDED', 'backup SUCCEEDED']);
    const relisted = JSON.parse((await cli(['list', 'shop', '--json'], configFile)).stdout) as Array<{
      id: string;
    }>;
    expect(relisted.map((b) => b.id)).toEqual(ids);
    const target = uniqueName('dvt_my_recovered');
    mariadb(undefined, `CREATE DATABASE ${target} CHARACTER SET utf8mb4`);
    dbs.push(target);
    const restored = await cli(
      ['restore', 'shop', 'latest', '--to', `mysql://${MY.user}@${MY.host}:${MY.port}/${target}`],
      configFile,
      { DUMPVAULT_PRIVATE_KEY: key },
    );
    expect(restored.stderr).not.toMatch(/error/);
    expect(restored.code).toBe(0);
    expect(mariaFingerprint(target)).toBe(original);

    // The Azure copy alone suffices too: a connection string, or the account, its key and endpoint.
    const fromAzure = [
      { AZURE_STORAGE_CONNECTION_STRING: az.connectionString },
      { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_ACCOUNT_KEY },
    ];
    for (const [i, credentials] of fromAzure.entries()) {
      const dir = path.join(clean, `from-azure-${i}`);
      const endpoint = 'AZURE_STORAGE_KEY' in credentials ? ['--endpoint', az.accountUrl] : [];
      const viaAzure = await runCli(
        ['recover', '--from', 'azure://backups/site/dv/', ...endpoint, '--out', dir, '--key', key],
        { DUMPVAULT_PRIVATE_KEY: undefined, DUMPVAULT_META_PASSPHRASE: undefined, ...credentials },
      );
      expect(viaAzure.stderr).toBe('');
      expect(viaAzure.code).toBe(0);
      expect(viaAzure.stdout).toMatch(/history shop: 2 backup\(s\) added from manifests/);
      expect(JSON.parse(await readFile(path.join(dir, 'dumpvault.config.json'), 'utf8'))).toEqual(config());
    }
  }, 240_000);
});
