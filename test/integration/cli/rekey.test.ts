/**
 * `dumpvault rekey` end to end against the real PostgreSQL and MariaDB servers: a backup made
 * with key A is re-encrypted to key B (the config now names B), restores with key B alone equal
 * the original, key A no longer decrypts it, GnuPG holding only B decrypts it, the manifest says
 * what it is encrypted to, and `history` shows the run. A dry run writes nothing.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../core/crypto/openpgp.ts';
import type { Manifest } from '../../../core/manifest.ts';
import { runCli } from '../../support/cli.ts';
import {
  createMariaDb,
  createPostgresDb,
  dropMariaDb,
  dropPostgresDb,
  MY,
  mariadb,
  mariaFingerprint,
  PG,
  postgresFingerprint,
  psql,
  uniqueName,
} from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let gnupgHome: string;
let pgDb: string;
let myDb: string;
let newKey: { publicFile: string; privateFile: string; fingerprint: string };
const cleanups: Array<() => void> = [];
const OLD_PASS = 'old-Passphrase-7f3a9c';
const NEW_PASS = 'new-Passphrase-2b8e41';

const configWith = (recipients: string) => ({
  destinations: { local: { type: 'file', path: './backups' } },
  encryption: {
    ops: { type: 'openpgp', recipients: [recipients] },
    pass: { type: 'passphrase', passphraseEnv: 'DV_REKEY_PASS' },
  },
  jobs: [
    {
      name: 'pg',
      engine: 'postgres',
      source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
      destinations: ['local'],
      compression: 'gzip',
      encryption: 'ops',
    },
    {
      name: 'pp',
      engine: 'postgres',
      source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
      destinations: ['local'],
      compression: 'zstd',
      encryption: 'pass',
    },
    {
      name: 'my',
      engine: 'mysql',
      source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}` },
      destinations: ['local'],
      compression: 'zstd',
      encryption: 'ops',
    },
  ],
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli([...args, '--config', ws.configFile], { DUMPVAULT_PRIVATE_KEY: undefined, ...env });

async function manifestsOf(job: string): Promise<Manifest[]> {
  const files = (await ws.files('backups')).filter(
    (f) => f.startsWith(`${job}/`) && f.endsWith('.manifest.json'),
  );
  return Promise.all(
    files.map(async (f) => JSON.parse(await readFile(path.join(ws.dir, 'backups', f), 'utf8')) as Manifest),
  );
}

const sha256Of = async (key: string) =>
  createHash('sha256')
    .update(await readFile(path.join(ws.dir, 'backups', key)))
    .digest('hex');

beforeAll(async () => {
  ws = await createWorkspace();
  const pair = await generateKeyPair({ name: 'rotated key', email: 'new@dumpvault.invalid' });
  newKey = {
    publicFile: path.join(ws.dir, 'keys', 'new.pub.asc'),
    privateFile: path.join(ws.dir, 'keys', 'new.private.asc'),
    fingerprint: pair.fingerprint,
  };
  await writeFile(newKey.publicFile, pair.publicKey);
  await writeFile(newKey.privateFile, pair.privateKey, { mode: 0o600 });
  gnupgHome = await mkdtemp(path.join(tmpdir(), 'dv-gnupg-rekey-'));
  execFileSync('gpg', ['--batch', '--quiet', '--import', newKey.privateFile], {
    env: { ...process.env, GNUPGHOME: gnupgHome },
    stdio: 'ignore',
  });
  pgDb = createPostgresDb();
  myDb = createMariaDb();
  cleanups.push(
    () => dropPostgresDb(pgDb),
    () => dropMariaDb(myDb),
  );
  await ws.writeConfig(configWith('keys/ops.pub.asc'));
  for (const job of ['pg', 'my', 'pp']) {
    const backup = await cli(['backup', job], { DV_REKEY_PASS: OLD_PASS });
    expect(backup.code, backup.stderr).toBe(0);
  }
  // Key rotation: the config now names key B.
  await ws.writeConfig(configWith('keys/new.pub.asc'));
});

afterAll(async () => {
  for (const c of cleanups) c();
  await rm(gnupgHome, { recursive: true, force: true }).catch(() => {});
  await ws?.remove();
});

describe('rekey --dry-run', () => {
  // Catches a dry run that re-encrypts, deletes or records anything.
  it('lists what it would re-encrypt and writes nothing: no object, no manifest change, no history', async () => {
    const before = await ws.files('.');
    const manifests = await manifestsOf('pg');

    const run = await cli(['rekey', 'pg', '--dry-run', '--key', ws.privateKey]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/1 of 1 cop\(ies\) to re-encrypt/);
    expect(run.stdout).toContain(ws.fingerprint);
    expect(await ws.files('.')).toEqual(before);
    expect(await manifestsOf('pg')).toEqual(manifests);
  });
});

describe.each([
  { job: 'pg', verify: true },
  { job: 'my', verify: false },
])('rekey $job from key A to key B', ({ job, verify }) => {
  let manifest: Manifest;
  let oldKey: string;

  beforeAll(async () => {
    const [old] = await manifestsOf(job);
    oldKey = old!.object.key;
    const args = [
      'rekey',
      job,
      '--key',
      ws.privateKey,
      ...(verify ? ['--verify-key', newKey.privateFile] : []),
    ];
    const run = await cli(args);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/SUCCEEDED re-encrypted 1 cop\(ies\)/);
    expect(run.stdout).toContain(verify ? 'decrypted with the new key' : 'size and sha256 re-read');
    manifest = (await manifestsOf(job))[0]!;
  });

  // Catches a manifest that keeps the old recipients, size or checksum, or loses the backup's identity.
  it('writes a manifest naming the new object, key B and what it was encrypted to before', async () => {
    expect(manifest.object.key).not.toBe(oldKey);
    expect(manifest.object.key).toMatch(
      new RegExp(`^${job}/.*\\.rekey-[0-9a-f]+\\.(pgdump\\.gz|sql\\.zst)\\.gpg$`),
    );
    expect(manifest.encryption).toEqual({ type: 'openpgp', recipients: [newKey.fingerprint] });
    expect(manifest.rekeyed?.previous).toEqual({ type: 'openpgp', recipients: [ws.fingerprint] });
    expect(await sha256Of(manifest.object.key)).toBe(manifest.object.sha256);
    expect(oldKey.split('.')[0]).toBe(manifest.object.key.split('.')[0]); // same backup id
    // The old object (encrypted to A) is gone; nothing else is left beside the backup.
    expect((await ws.files('backups')).filter((f) => f.startsWith(`${job}/`))).toEqual(
      [manifest.object.key, `${manifest.object.key.split('.')[0]}.manifest.json`].sort(),
    );
  });

  // Catches a re-encryption that changes the payload: the restore must equal the original database.
  it('restores with key B alone to exactly the original', async () => {
    const db = uniqueName(job === 'pg' ? 'dvt_pg_rekeyed' : 'dvt_my_rekeyed');
    let url: string;
    if (job === 'pg') {
      psql('postgres', `CREATE DATABASE ${db}`);
      cleanups.push(() => dropPostgresDb(db));
      url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
    } else {
      mariadb(undefined, `CREATE DATABASE ${db} CHARACTER SET utf8mb4`);
      cleanups.push(() => dropMariaDb(db));
      url = `mysql://${MY.user}@${MY.host}:${MY.port}/${db}`;
    }

    const restore = await cli(['restore', job, 'latest', '--to', url, '--key', newKey.privateFile]);

    expect(restore.code, restore.stderr).toBe(0);
    expect(job === 'pg' ? postgresFingerprint(db) : mariaFingerprint(db)).toBe(
      job === 'pg' ? postgresFingerprint(pgDb) : mariaFingerprint(myDb),
    );
  });

  // Catches a rekey that still encrypts to (or also to) the old key: the departed holder's key must not read it.
  it('key A no longer decrypts the new object', async () => {
    const run = await cli([
      'decrypt',
      path.join(ws.dir, 'backups', manifest.object.key),
      '--key',
      ws.privateKey,
    ]);

    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/not encrypted to key/);
  });

  // Catches output GnuPG cannot read (interop, DESIGN.md §4): gpg with only key B decrypts it.
  it('GnuPG holding only key B decrypts the rekeyed object to a complete dump', () => {
    const object = path.join(ws.dir, 'backups', manifest.object.key);
    const listing = execFileSync(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        job === 'pg'
          ? `gpg --batch --quiet --decrypt '${object}' | gunzip | { pg_restore --list; cat > /dev/null; }`
          : `gpg --batch --quiet --decrypt '${object}' | zstd -dc | tail -c 200`,
      ],
      { env: { ...process.env, GNUPGHOME: gnupgHome }, stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
    expect(listing).toMatch(job === 'pg' ? /TABLE DATA public customers/ : /-- Dump completed/);
  });

  // Catches a rekey run missing from history, or recorded under another kind.
  it('history shows the rekey run SUCCEEDED', async () => {
    const run = await cli(['history', job]);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`rekey\\s+SUCCEEDED.*re-encrypted 1 copy to ${newKey.fingerprint}`),
    );
  });

  // Catches a second rekey that re-encrypts copies already encrypted to the target keys.
  it('a second rekey leaves the copy already encrypted to key B as it is', async () => {
    const run = await cli(['rekey', job, '--key', ws.privateKey]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/re-encrypted 0 cop\(ies\) .*; 1 already were/);
    expect((await manifestsOf(job))[0]).toEqual(manifest);
  });
});

describe('rekey of a passphrase-encrypted backup to a new passphrase', () => {
  // Catches a passphrase rotation that cannot read with the old passphrase, still opens with it,
  // or lets either passphrase reach output, history, alerts, manifests or argv.
  it('re-encrypts with DUMPVAULT_OLD_PASSPHRASE to the new one, verifies by decrypting, leaks neither', async () => {
    const rekey = await cli(['rekey', 'pp'], { DV_REKEY_PASS: NEW_PASS, DUMPVAULT_OLD_PASSPHRASE: OLD_PASS });

    expect(rekey.code, rekey.stderr).toBe(0);
    expect(rekey.stdout).toContain('decrypted with the new key');
    const verifyNew = await cli(['verify', 'pp'], { DV_REKEY_PASS: NEW_PASS });
    expect(verifyNew.code, verifyNew.stderr).toBe(0);
    expect(verifyNew.stdout).toMatch(/decrypted and decompressed/);
    const verifyOld = await cli(['verify', 'pp'], { DV_REKEY_PASS: OLD_PASS });
    expect(verifyOld.code).not.toBe(0);
    expect(verifyOld.stderr).toMatch(/wrong passphrase/);
    const [manifest] = await manifestsOf('pp');
    expect(manifest!.encryption).toEqual({ type: 'passphrase', recipients: [] });
    const everything = `${rekey.stdout}${rekey.stderr}${await ws.everything()}`;
    for (const secret of [OLD_PASS, NEW_PASS]) expect(everything).not.toContain(secret);
  });
});

describe('rekey without dumpvault (docs/recovery.md)', () => {
  // Catches documentation that promises an interoperable rotation dumpvault then refuses: gpg -d |
  // gpg -e to another key, the manifest edited as the docs say, and dumpvault verifies it.
  it('gpg --decrypt | gpg --encrypt plus the edited manifest is a backup dumpvault verifies and decrypts', async () => {
    const gpgEnv = { ...process.env, GNUPGHOME: gnupgHome };
    execFileSync('gpg', ['--batch', '--quiet', '--import', ws.publicKey], { env: gpgEnv, stdio: 'ignore' });
    const [before] = await manifestsOf('pg');
    const id = before!.object.key.slice('pg/'.length).split('.')[0]!;
    const newKey = `pg/${id}.rekey-manual.pgdump.gz.gpg`;
    const dir = path.join(ws.dir, 'backups');
    execFileSync(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `gpg --batch --quiet --decrypt '${before!.object.key}' | gpg --batch --quiet --encrypt --trust-model always --recipient ${ws.fingerprint} --compress-algo none -o '${newKey}'`,
      ],
      { cwd: dir, env: gpgEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const bytes = (await readFile(path.join(dir, newKey))).length;
    const edited = {
      ...before!,
      object: { key: newKey, bytes, sha256: await sha256Of(newKey) },
      encryption: { type: 'openpgp', recipients: [ws.fingerprint] },
    };
    await writeFile(path.join(dir, 'pg', `${id}.manifest.json`), JSON.stringify(edited, null, 2));

    const verify = await cli(['verify', 'pg', '--key', ws.privateKey]);

    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/decrypted and decompressed/);
    // The old object is now a leftover no manifest names: the next rekey removes it.
    const rekey = await cli(['rekey', 'pg', '--recipients', ws.publicKey, '--key', ws.privateKey]);
    expect(rekey.code, rekey.stderr).toBe(0);
    expect(rekey.stdout).toMatch(/re-encrypted 0 cop\(ies\) .*; 1 already were/);
    expect((await ws.files('backups')).filter((f) => f.startsWith('pg/'))).toEqual(
      [newKey, `pg/${id}.manifest.json`].sort(),
    );
  });
});
