/**
 * Scrubbing secrets must not garble what the CLI prints. A PostgreSQL password that is the
 * plain word "postgres" (common on development servers) is also the engine's name, the user's
 * and part of every URL and version line: masking it everywhere printed `*** 15.2` and
 * `***://***@db/app`. Real PostgreSQL (trust auth, so the password is sent and ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let pgDb: string;
const copy = uniqueName('dvt_pg_redact_copy');
const env = { DV_REDACT_PG_PASSWORD: 'postgres' };

beforeAll(async () => {
  ws = await createWorkspace();
  pgDb = createPostgresDb();
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: {
          url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
          passwordEnv: 'DV_REDACT_PG_PASSWORD',
        },
        destinations: ['local'],
      },
    ],
  });
});

afterAll(async () => {
  dropPostgresDb(pgDb);
  dropPostgresDb(copy);
  await ws?.remove();
});

describe('output with the password "postgres"', () => {
  it('prints the server version, the engine and target URLs intact', async () => {
    const check = await runCli(['check', 'pg', '--config', ws.configFile], env);
    const backup = await runCli(['backup', 'pg', '--config', ws.configFile], env);
    const target = `postgres://${PG.user}@${PG.host}:${PG.port}/${copy}`;
    const restore = await runCli(['restore', 'pg', '--to', target, '--config', ws.configFile], env);

    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(
      /^ok {4}source {17}postgres \d+\.\d+ .*, database \S+; pg_dump \d+\.\d+\S* is compatible$/m,
    );
    expect(backup.code, backup.stderr).toBe(0);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(` into ${target} in `);
    expect(check.stdout + backup.stdout + restore.stdout).not.toContain('***');
    expect(postgresFingerprint(copy)).toBe(postgresFingerprint(pgDb));
  });
});
