/**
 * An `azure` destination through the bundled CLI (dist-style bundle built here, run as a
 * process), against Azurite and real PostgreSQL: backup → verify → restore with the restored
 * database compared to the source; `check` and the probe before a dump with a wrong account
 * key (one sentence, the key nowhere); a dump that fails after blocks were staged leaves
 * neither a blob nor uncommitted blocks.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRUNCATING_BIN } from '../../../scripts/emulators/stand-in-tools.ts';
import {
  AZURITE_ACCOUNT,
  type AzuriteHandle,
  azuriteDestination,
  startAzurite,
} from '../../support/azurite.ts';
import { dropPostgresDb, PG, postgresFingerprint, psql, uniqueName } from '../../support/databases.ts';
import { createPostgresObjectsDb } from '../../support/objects.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CONTAINER = 'backups';
/** A valid-looking account key that is not Azurite's: what a rotated or mistyped key looks like. */
const WRONG_KEY = Buffer.from('a key of another storage account, rotated last week, 64 bytes..').toString(
  'base64',
);

let ws: Workspace;
let az: AzuriteHandle;
let source: string;
const scratch: string[] = [];

const pgUrl = (db: string) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;

/** `dumpvault <args>` from the bundle, as a process of its own. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    [path.join(ws.dir, 'dumpvault.mjs'), ...args, '--config', ws.configFile],
    {
      cwd: ws.dir,
      env: { ...process.env, ...az.env, DV_AZURE_WRONG_KEY: WRONG_KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stdout, stderr };
}

beforeAll(async () => {
  ws = await createWorkspace();
  execFileSync(process.execPath, [
    path.join(ROOT, 'scripts/build-cli.mjs'),
    path.join(ws.dir, 'dumpvault.mjs'),
  ]);
  az = await startAzurite();
  await az.createContainer(CONTAINER);
  // Big enough that its uncompressed dump spans several 1 MiB blocks.
  source = createPostgresObjectsDb(80000);
  await ws.writeConfig({
    destinations: {
      azure: azuriteDestination(CONTAINER),
      wrongkey: {
        type: 'azure',
        account: AZURITE_ACCOUNT,
        accountUrl: az.accountUrl,
        container: CONTAINER,
        accountKeyEnv: 'DV_AZURE_WRONG_KEY',
      },
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: { url: pgUrl(source) },
        destinations: ['azure'],
        encryption: 'ops',
      },
      { name: 'pg-wrongkey', engine: 'postgres', source: { url: pgUrl(source) }, destinations: ['wrongkey'] },
      {
        name: 'pg-plain',
        engine: 'postgres',
        source: { url: pgUrl(source) },
        destinations: ['azure'],
        compression: 'none',
      },
    ],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  for (const db of scratch) dropPostgresDb(db);
  if (source) dropPostgresDb(source);
  await az?.stop();
  await ws?.remove();
});

describe('an azure destination through the CLI bundle', () => {
  it(
    'backs up, verifies and restores PostgreSQL through Azurite, the restored database equal to the source',
    async () => {
      const fingerprint = postgresFingerprint(source);

      const backup = await cli(['backup', 'pg', '--json']);

      expect(backup.stderr).not.toMatch(/^error/m);
      expect(backup.code).toBe(0);
      const { id, key } = JSON.parse(backup.stdout) as { id: string; key: string };
      expect(key).toMatch(new RegExp(`^pg/${id}\\.pgdump\\.zst\\.gpg$`));
      expect(await az.blobs(CONTAINER)).toEqual([key, `pg/${id}.manifest.json`].sort());
      expect(await az.uncommittedBlobs(CONTAINER)).toEqual([]);

      const verify = await cli(['verify', 'pg', '--key', ws.privateKey]);
      expect(verify.stderr).not.toMatch(/^error/m);
      expect(verify.code).toBe(0);

      const target = uniqueName('dvt_pg_azure');
      psql('postgres', `CREATE DATABASE ${target}`);
      scratch.push(target);
      const restore = await cli(['restore', 'pg', '--to', pgUrl(target), '--key', ws.privateKey]);
      expect(restore.stderr).not.toMatch(/^error/m);
      expect(restore.code).toBe(0);
      expect(postgresFingerprint(target)).toBe(fingerprint);
    },
    TIMEOUT.roundTrips,
  );

  it('check says the container is writable, and names a wrong account key in one sentence without it', async () => {
    const ok = await cli(['check', 'pg']);
    expect(ok.stdout).toMatch(
      new RegExp(`^ok +destination azure +azure://${AZURITE_ACCOUNT}/${CONTAINER}/ is writable$`, 'm'),
    );

    const wrong = await cli(['check', 'pg-wrongkey']);

    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(
      /^FAIL +destination wrongkey +destination wrongkey: storage account devstoreaccount1 refused the credentials of destinations\.wrongkey \(403 [A-Za-z]+\): the account key, SAS token or connection string is wrong, expired or not allowed here; fix destinations\.wrongkey \(connectionStringEnv, accountKeyEnv, sasTokenEnv or credentialsSecret\)$/m,
    );
    expect(wrong.stdout + wrong.stderr).not.toContain(WRONG_KEY);
  });

  it('refuses a backup before dumping when the account key is wrong: one sentence, exit 1, nothing written, the key nowhere', async () => {
    const before = await az.blobs(CONTAINER);

    const run = await cli(['backup', 'pg-wrongkey']);

    expect(run.code).toBe(1);
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('error:'));
    expect(errors).toEqual([
      expect.stringMatching(
        /^error: destination wrongkey: storage account devstoreaccount1 refused the credentials of destinations\.wrongkey \(403 [A-Za-z]+\): .*; fix destinations\.wrongkey \(connectionStringEnv, accountKeyEnv, sasTokenEnv or credentialsSecret\)$/,
      ),
    ]);
    expect(await az.blobs(CONTAINER)).toEqual(before);
    expect(run.stdout + run.stderr).not.toContain(WRONG_KEY);
    expect(await ws.everything()).not.toContain(WRONG_KEY);
  });

  it(
    'leaves no blob and no uncommitted blocks when the dump turns out incomplete after blocks were staged',
    async () => {
      const good = await cli(['backup', 'pg-plain', '--json']);
      expect(good.code).toBe(0);
      const { bytes } = JSON.parse(good.stdout) as { bytes: number };
      // Several 1 MiB blocks are staged before the dump stops.
      expect(bytes).toBeGreaterThan(3 * 1024 * 1024);
      const before = await az.blobs(CONTAINER);

      // pg_dump writes the first 80 % of its dump and exits 0: dumpvault finds it incomplete at the end.
      const run = await cli(['backup', 'pg-plain'], {
        PATH: `${TRUNCATING_BIN}${path.delimiter}${process.env.PATH ?? ''}`,
        PG_DUMP_PATH: path.join(TRUNCATING_BIN, 'pg_dump'),
        DUMPVAULT_CHILD_ENV: 'DV_KEEP_BYTES',
        DV_KEEP_BYTES: String(Math.floor(bytes * 0.8)),
      });

      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error: pg_dump exited 0 but its output is incomplete: /m);
      expect(await az.blobs(CONTAINER)).toEqual(before);
      expect(await az.uncommittedBlobs(CONTAINER)).toEqual([]);
    },
    TIMEOUT.roundTrips,
  );
});
