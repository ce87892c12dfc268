/**
 * Commands that only read storage and history never need the database password: `list`,
 * `history`, `verify` and `prune` work with the job's password variable unset, while the
 * commands that connect (`check`, `backup`) still insist on it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import { createPostgresDb, dropPostgresDb, PG } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let pgDb: string;
const PASSWORD_ENV = 'DV_NO_PASSWORD_TEST_PG';

beforeAll(async () => {
  ws = await createWorkspace();
  pgDb = createPostgresDb();
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`, passwordEnv: PASSWORD_ENV },
        destinations: ['local'],
        encryption: 'ops',
        retention: { keepLast: 3 },
      },
    ],
  });
  // The server trusts local connections, so any password lets the backup run.
  const backup = await runCli(['backup', 'pg', '--config', ws.configFile], { [PASSWORD_ENV]: 'unused' });
  expect(backup.code).toBe(0);
}, 60_000);

afterAll(async () => {
  dropPostgresDb(pgDb);
  await ws?.remove();
});

describe('read-only commands without the database password', () => {
  const unset = { [PASSWORD_ENV]: undefined };

  it.each([
    ['list', ['list', 'pg']],
    ['list --json', ['list', 'pg', '--json']],
    ['history', ['history', 'pg']],
    ['verify', ['verify', 'pg']],
    ['verify --key', ['verify', 'pg', 'latest', '--key', 'KEY']],
    ['prune --dry-run', ['prune', 'pg', '--dry-run']],
    ['prune', ['prune', 'pg']],
  ])(
    '%s works with the password variable unset (it never resolves the source secret)',
    async (_name, args) => {
      const argv = args.map((a) => (a === 'KEY' ? ws.privateKey : a));
      const run = await runCli([...argv, '--config', ws.configFile], unset);
      expect(run.stderr).not.toContain(PASSWORD_ENV);
      expect(run.code).toBe(0);
    },
  );

  it('check and backup, which connect, still name the unset variable', async () => {
    for (const command of ['check', 'backup']) {
      const run = await runCli([command, 'pg', '--config', ws.configFile], unset);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`environment variable ${PASSWORD_ENV} is not set`);
    }
  });
});
