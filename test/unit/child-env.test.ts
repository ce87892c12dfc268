import { describe, expect, it } from 'vitest';
import { CHILD_ENV_EXTRA, childEnvironment } from '../../core/child-env.ts';

const PARENT: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/home/backup',
  LANG: 'C.UTF-8',
  LC_ALL: 'de_CH.UTF-8',
  TZ: 'Europe/Zurich',
  TMPDIR: '/tmp',
  PGSSLMODE: 'verify-full',
  PGPASSWORD: 'parent-pg-password',
  MYSQL_PWD: 'parent-mysql-password',
  MYSQL_ROOT_PASSWORD: 'root-pw',
  PGP_PASSPHRASE: 'looks-like-a-libpq-setting',
  DUMPVAULT_PASSPHRASE: 'vault-passphrase',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  AWS_SESSION_TOKEN: 'aws-token',
  LD_LIBRARY_PATH: '/opt/pg/lib',
};

describe('childEnvironment', () => {
  it('keeps secrets of the parent out of a child: passphrases, AWS credentials, the parent PGPASSWORD / MYSQL_PWD, look-alike names', () => {
    const env = childEnvironment({}, PARENT);

    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/backup',
      LANG: 'C.UTF-8',
      LC_ALL: 'de_CH.UTF-8',
      TZ: 'Europe/Zurich',
      TMPDIR: '/tmp',
      PGSSLMODE: 'verify-full',
    });
  });

  it("gives a child its own variables, which win over the parent's", () => {
    const env = childEnvironment(
      { PGPASSWORD: 'job-password', PGSSLMODE: 'require', UNSET: undefined },
      PARENT,
    );

    expect(env.PGPASSWORD).toBe('job-password');
    expect(env.PGSSLMODE).toBe('require');
    expect('UNSET' in env).toBe(false);
  });

  it(`adds the names an operator lists in ${CHILD_ENV_EXTRA}, and nothing else`, () => {
    const env = childEnvironment({}, { ...PARENT, [CHILD_ENV_EXTRA]: 'LD_LIBRARY_PATH, NOT_SET' });

    expect(env.LD_LIBRARY_PATH).toBe('/opt/pg/lib');
    expect('NOT_SET' in env).toBe(false);
    expect('DUMPVAULT_PASSPHRASE' in env).toBe(false);
  });
});
