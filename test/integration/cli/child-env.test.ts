/**
 * What a child process of a real backup sees in its environment. The parent holds every
 * secret of the run (the job's password variable, the passphrase, cloud credentials); the
 * compressor needs none of them and the dump tool needs only its own password. Wrappers in
 * front of the real zstd, pg_dump and psql record their environment and exec the real tool,
 * so the backup itself is real and completes.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHILD_ENV_EXTRA } from '../../../core/child-env.ts';
import { findOnPath } from '../../../task-image/engines/executables.ts';
import { DEFAULT_PG_LIB_ROOTS, locatePgTool } from '../../../task-image/engines/pg-tools.ts';
import { runCli } from '../../support/cli.ts';
import { createPostgresDb, dropPostgresDb, PG } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const SECRETS = {
  DV_CHILDENV_PG_PASSWORD: 'pg-password-9c1e7b40',
  DUMPVAULT_PASSPHRASE: 'passphrase-4f0a2d93e7',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-51b6c8e2f0',
  AWS_ACCESS_KEY_ID: 'AKIACHILDENV0000TEST',
} as const;

let ws: Workspace;
let pgDb: string;
let wrappers: string;

/** A wrapper that writes its environment to `<name>.env` in the wrapper directory, then runs `real`. */
async function wrapper(name: string, real: string): Promise<void> {
  const file = path.join(wrappers, name);
  await writeFile(file, `#!/bin/sh\nenv > "${path.join(wrappers, `${name}.env`)}"\nexec "${real}" "$@"\n`);
  await chmod(file, 0o755);
}

async function envOf(name: string): Promise<Record<string, string>> {
  const text = await readFile(path.join(wrappers, `${name}.env`), 'utf8');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

beforeAll(async () => {
  ws = await createWorkspace();
  pgDb = createPostgresDb();
  wrappers = path.join(ws.dir, 'wrappers');
  await mkdir(wrappers);
  const search = { libRoots: DEFAULT_PG_LIB_ROOTS, env: { PATH: process.env.PATH } };
  await wrapper('pg_dump', await locatePgTool('pg_dump', undefined, search));
  await wrapper('psql', await locatePgTool('psql', undefined, search));
  const zstd = await findOnPath(['zstd']);
  if (!zstd) throw new Error('zstd is not installed');
  await wrapper('zstd', zstd);
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { pass: { type: 'passphrase', passphraseEnv: 'DUMPVAULT_PASSPHRASE' } },
    jobs: [
      {
        name: 'childenv',
        engine: 'postgres',
        source: {
          url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
          passwordEnv: 'DV_CHILDENV_PG_PASSWORD',
        },
        destinations: ['local'],
        compression: 'zstd',
        encryption: 'pass',
      },
    ],
  });
});

afterAll(async () => {
  dropPostgresDb(pgDb);
  await ws?.remove();
});

describe('child process environment', () => {
  it('gives zstd no secret and pg_dump only PGPASSWORD, though the parent holds the passphrase, AWS keys and the job password variable', async () => {
    // Prepare: the CLI runs in this process, so children inherit from this process.env.
    const saved = { ...process.env };
    Object.assign(process.env, SECRETS, {
      PATH: `${wrappers}${path.delimiter}${process.env.PATH}`,
      // pg_dump and psql are taken from here (a directory pins the PostgreSQL client tools).
      PG_DUMP_PATH: wrappers,
      PGTZ: 'Pacific/Chatham',
    });
    delete process.env[CHILD_ENV_EXTRA];
    let run: Awaited<ReturnType<typeof runCli>>;
    try {
      // Act
      run = await runCli(['backup', 'childenv', '--config', ws.configFile]);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const zstd = await envOf('zstd');
    const pgDump = await envOf('pg_dump');
    const psql = await envOf('psql');
    const secretValues = Object.values(SECRETS);
    for (const [name, value] of Object.entries(zstd)) {
      expect(secretValues, `zstd got ${name}`).not.toContain(value);
    }
    expect(Object.keys(zstd)).not.toContain('PGPASSWORD');
    expect(zstd.PATH).toContain(wrappers);
    for (const tool of [pgDump, psql]) {
      expect(tool.PGPASSWORD).toBe(SECRETS.DV_CHILDENV_PG_PASSWORD);
      const others = Object.entries(tool).filter(([name]) => name !== 'PGPASSWORD');
      for (const [name, value] of others) {
        expect(secretValues, `a PostgreSQL tool got ${name}`).not.toContain(value);
      }
      // A tool setting that holds no secret still reaches the tool.
      expect(tool.PGTZ).toBe('Pacific/Chatham');
    }
    expect(Object.keys(pgDump)).not.toContain('DUMPVAULT_PASSPHRASE');
    expect(Object.keys(pgDump)).not.toContain('AWS_SECRET_ACCESS_KEY');
  });
});
