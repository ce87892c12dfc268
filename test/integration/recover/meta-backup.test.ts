/**
 * The meta-backup beside every backup (issue 16 §1): standard OpenPGP that gpg decrypts, no
 * secret inside unless `metaBackup.secrets` is on, a bounded number kept, a failure that leaves
 * the backup SUCCEEDED but is warned and alerted, a wrong passphrase refused in one sentence,
 * and `history --rebuild` (local file and DynamoDB on dynalite) filled from the manifests.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { META_BACKUPS_KEPT, META_PASSPHRASE_ENV } from '../../../core/contracts/meta-backup.ts';
import { META_FORMAT, META_FORMAT_VERSION } from '../../../core/meta/document.ts';
import { listMetaBackups, writeMetaBackup } from '../../../core/meta/store.ts';
import { FileDestination } from '../../../core/storage/index.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';
import { GpgHome } from '../crypto/gpg.ts';

const META_PASS = 'meta-pass-91e2';
const SPARE_SECRET = 'spare-secret-5d0c-never-in-plain-meta';

let ws: Workspace;
let gpg: GpgHome;

const config = (meta: Record<string, unknown> | undefined) => ({
  destinations: {
    local: { type: 'file', path: './backups' },
    // Not used by a job, but its credentials are secrets the config references.
    spare: { type: 's3', bucket: 'spare', accessKeyIdEnv: 'SPARE_KEY', secretAccessKeyEnv: 'SPARE_SECRET' },
  },
  encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
  ...(meta ? { metaBackup: meta } : {}),
  jobs: [
    {
      name: 'app',
      engine: 'sqlite',
      source: { url: 'sqlite:./app.db' },
      destinations: ['local'],
      encryption: 'ops',
      compression: 'gzip',
      retention: { keepLast: 3 },
    },
  ],
});

const env = { SPARE_KEY: 'spare-key-id', SPARE_SECRET, [META_PASSPHRASE_ENV]: META_PASS };

beforeAll(async () => {
  ws = await createWorkspace();
  gpg = await GpgHome.create();
  createSqliteDb(path.join(ws.dir, 'app.db'));
}, 60_000);

afterAll(async () => {
  await gpg?.close();
  await ws?.remove();
});

async function newestMeta(): Promise<string> {
  const names = (await readdir(path.join(ws.dir, 'backups', '_dumpvault'))).sort();
  return path.join(ws.dir, 'backups', '_dumpvault', names.at(-1)!);
}

async function gpgDecrypt(file: string, passphrase: string): Promise<string> {
  return (await gpg.gpg(['--passphrase', passphrase, '--decrypt', file])).stdout;
}

describe('meta-backup contents', () => {
  it('holds the config and keys but no secret value when metaBackup.secrets is off, and gpg decrypts it', async () => {
    // Bug caught: secret values copied into the meta-backup although the operator did not opt in.
    await ws.writeConfig(config({ passphraseEnv: META_PASSPHRASE_ENV }));
    const run = await runCli(['backup', 'app', '--config', ws.configFile], env);
    expect(run.code).toBe(0);
    const doc = JSON.parse(await gpgDecrypt(await newestMeta(), META_PASS)) as Record<string, unknown>;
    expect(doc.format).toBe(META_FORMAT);
    expect(doc.formatVersion).toBe(META_FORMAT_VERSION);
    expect(doc.config).toBe(await readFile(ws.configFile, 'utf8'));
    expect(Object.keys(doc.files as object)).toEqual(['keys/ops.pub.asc']);
    expect(doc.secrets).toBeUndefined();
    expect(JSON.stringify(doc)).not.toContain(SPARE_SECRET);
  }, 60_000);

  it('holds the referenced env values when metaBackup.secrets is on', async () => {
    await ws.writeConfig(config({ passphraseEnv: META_PASSPHRASE_ENV, secrets: true }));
    expect((await runCli(['export', '--config', ws.configFile], env)).code).toBe(0);
    const doc = JSON.parse(await gpgDecrypt(await newestMeta(), META_PASS)) as {
      secrets: Record<string, string>;
    };
    expect(doc.secrets).toEqual({ SPARE_KEY: 'spare-key-id', SPARE_SECRET });
  }, 60_000);

  it('validate refuses a meta passphrase that is one of the secrets inside, in one sentence', async () => {
    // Bug caught: the key to the meta-backup stored inside the meta-backup it unlocks.
    await ws.writeConfig(config({ passphraseEnv: 'SPARE_SECRET', secrets: true }));
    const run = await runCli(['validate', '--config', ws.configFile], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /metaBackup: the meta passphrase SPARE_SECRET is also destinations\.spare\.secretAccessKeyEnv, one of the secrets the meta-backup stores; give the meta-backup a passphrase of its own\n$/,
    );
  });

  it('export refuses a meta passphrase whose value is one of the secrets inside, naming the variable, writing nothing', async () => {
    // Bug caught: another env name holding the same value slips past validate (it compares names)
    // and the meta-backup is encrypted with a secret it stores.
    await ws.writeConfig(config({ passphraseEnv: META_PASSPHRASE_ENV, secrets: true }));
    const metas = () => readdir(path.join(ws.dir, 'backups', '_dumpvault')).catch(() => [] as string[]);
    const before = (await metas()).sort();

    const run = await runCli(['export', '--config', ws.configFile], {
      ...env,
      [META_PASSPHRASE_ENV]: SPARE_SECRET,
    });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /metaBackup: the meta passphrase has the same value as SPARE_SECRET, one of the secrets the meta-backup stores/,
    );
    expect(run.stderr).not.toContain(SPARE_SECRET);
    expect((await metas()).sort()).toEqual(before);
  });

  it('validate says once that there is no meta-backup', async () => {
    await ws.writeConfig(config(undefined));
    const run = await runCli(['validate', '--config', ws.configFile], env);
    expect(run.code).toBe(0);
    expect(run.stderr.match(/metaBackup is not set/g)).toHaveLength(1);
  });
});

describe('a meta-backup that cannot be written', () => {
  it('leaves the backup SUCCEEDED, warns, alerts once, then alerts recovered', async () => {
    // Bug caught: a lost config copy either failing a good backup or passing silently.
    await ws.writeConfig(config({ passphraseEnv: 'UNSET_META_PASS' }));
    const failed = await runCli(['backup', 'app', '--config', ws.configFile], env);
    expect(failed.code).toBe(0);
    expect(failed.stdout).toMatch(/^SUCCEEDED /m);
    expect(failed.stderr).toMatch(
      /warning: meta-backup: metaBackup: environment variable UNSET_META_PASS is not set/,
    );
    const again = await runCli(['backup', 'app', '--config', ws.configFile], env);
    expect(again.code).toBe(0);
    const history = JSON.parse(
      (await runCli(['history', 'app', '--json', '--config', ws.configFile], env)).stdout,
    ) as Array<{
      status: string;
      details?: { metaBackup?: { status: string } };
    }>;
    expect(history[0]!.status).toBe('SUCCEEDED');
    expect(history[0]!.details?.metaBackup?.status).toBe('failed');
    await ws.writeConfig(config({ passphraseEnv: META_PASSPHRASE_ENV }));
    expect((await runCli(['backup', 'app', '--config', ws.configFile], env)).code).toBe(0);
    const alerts = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8');
    expect(alerts.match(/meta-backup of app FAILED/g)).toHaveLength(1);
    expect(alerts.match(/meta-backup of app recovered/g)).toHaveLength(1);
  }, 120_000);
});

describe('recover refusals', () => {
  it('fails with one sentence on a wrong passphrase and writes nothing', async () => {
    await ws.writeConfig(config({ passphraseEnv: META_PASSPHRASE_ENV }));
    expect((await runCli(['export', '--config', ws.configFile], env)).code).toBe(0);
    const out = path.join(ws.dir, 'recovered-wrong');
    const run = await runCli(['recover', '--from', path.join(ws.dir, 'backups'), '--out', out], {
      [META_PASSPHRASE_ENV]: 'not the meta passphrase',
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /^error: the passphrase in DUMPVAULT_META_PASSPHRASE does not decrypt the meta-backup _dumpvault\/config-\S+\.json\.gpg \(wrong passphrase: it does not decrypt this object\)\n$/,
    );
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  }, 60_000);
});

describe('meta-backup retention', () => {
  it(`keeps the newest ${META_BACKUPS_KEPT} and deletes older ones only after writing the new one`, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-meta-'));
    const dest = new FileDestination('local', dir);
    for (let i = 0; i < META_BACKUPS_KEPT + 2; i++)
      await writeMetaBackup(dest, 'p/', Buffer.from(`m${i}`), new Date(Date.UTC(2026, 0, 1, 0, 0, i)), true);
    const kept = await listMetaBackups(dest, 'p/');
    expect(kept).toHaveLength(META_BACKUPS_KEPT);
    expect(kept[0]).toBe('p/_dumpvault/config-2026-01-01T000011Z.json.gpg');
    expect(kept.at(-1)).toBe('p/_dumpvault/config-2026-01-01T000002Z.json.gpg');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('history --rebuild', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  it('adds the backups the manifests show to a lost local history, once', async () => {
    // Bug caught: a deleted .dumpvault making backups vanish from history and status.
    await ws.writeConfig(config(undefined));
    const listed = JSON.parse(
      (await runCli(['list', 'app', '--json', '--config', ws.configFile], env)).stdout,
    ) as unknown[];
    await rm(path.join(ws.dir, '.dumpvault'), { recursive: true, force: true });
    const rebuilt = await runCli(['history', 'app', '--rebuild', '--config', ws.configFile], env);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toContain(
      `history app: ${listed.length} backup(s) added from manifests, 0 already known`,
    );
    const twice = await runCli(['history', '--rebuild', '--config', ws.configFile], env);
    expect(twice.stdout).toContain(
      `history app: 0 backup(s) added from manifests, ${listed.length} already known`,
    );
    const history = JSON.parse(
      (await runCli(['history', 'app', '--json', '--config', ws.configFile], env)).stdout,
    ) as unknown[];
    expect(history).toHaveLength(listed.length);
  }, 60_000);

  it('fills the DynamoDB history table with --remote', async () => {
    const table = await dynamo.createHistoryTable();
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    try {
      const remoteEnv = { ...env, DUMPVAULT_HISTORY_TABLE: table };
      const rebuilt = await runCli(
        ['history', 'app', '--rebuild', '--remote', '--config', ws.configFile],
        remoteEnv,
      );
      expect(rebuilt.stderr).toBe('');
      expect(rebuilt.code).toBe(0);
      const remote = await runCli(
        ['history', 'app', '--remote', '--json', '--config', ws.configFile],
        remoteEnv,
      );
      const items = JSON.parse(remote.stdout) as Array<{ status: string; details: { rebuiltFrom: string } }>;
      expect(items.length).toBeGreaterThan(0);
      expect(items.every((i) => i.status === 'SUCCEEDED' && i.details.rebuiltFrom === 'manifests')).toBe(
        true,
      );
    } finally {
      process.env = saved;
    }
  }, 60_000);
});
