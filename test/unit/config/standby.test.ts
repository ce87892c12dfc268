/** `standby` in the config (issue 16 §2): what validate refuses, before anything runs. */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { ConfigError } from '../../../core/errors.ts';

const withStandby = (standby: unknown, engine = 'postgres', url = 'postgres://app@db:5432/app') => ({
  destinations: { local: { type: 'file', path: './b' } },
  jobs: [{ name: 'app', engine, source: { url }, destinations: ['local'], standby }],
});

function errorOf(input: unknown): string {
  try {
    validateConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('job standby', () => {
  it('accepts a standby on another database with its password from an env variable', () => {
    const config = validateConfig(
      withStandby({ url: 'postgres://app@db:5432/app_standby', passwordEnv: 'SB_PASS' }),
    );
    expect(config.jobs[0]?.standby).toEqual({
      url: 'postgres://app@db:5432/app_standby',
      passwordEnv: 'SB_PASS',
    });
  });

  it('refuses a lag alarm threshold that is not a positive number of hours, naming the path', () => {
    // Bug caught: lagAlarmHours 0 accepted, so the standby lag alarm would fire on every datapoint.
    expect(errorOf(withStandby({ url: 'postgres://app@db:5432/app_standby', lagAlarmHours: 0 }))).toMatch(
      /jobs\[0\]\.standby\.lagAlarmHours: expected a number of hours > 0, got 0/,
    );
    expect(
      validateConfig(withStandby({ url: 'postgres://app@db:5432/app_standby', lagAlarmHours: 30 })).jobs[0]
        ?.standby?.lagAlarmHours,
    ).toBe(30);
  });

  it('refuses a standby that is the source itself (every backup would replace the source)', () => {
    expect(errorOf(withStandby({ url: 'postgres://other@db/app' }))).toMatch(
      /jobs\[0\]\.standby\.url: is the job's source database/,
    );
    expect(
      errorOf(withStandby({ url: 'mysql://root@localhost:3306/app' }, 'mysql', 'mysql://root@127.0.0.1/app')),
    ).toMatch(/is the job's source database/);
  });

  it('refuses a password in the standby URL, both password settings, and engines without a swap', () => {
    expect(errorOf(withStandby({ url: 'postgres://app:secret@db/sb' }))).toMatch(
      /jobs\[0\]\.standby\.url: contains a password/,
    );
    expect(
      errorOf(
        withStandby({
          url: 'postgres://app@db/sb',
          passwordEnv: 'A',
          passwordSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
        }),
      ),
    ).toMatch(/set "passwordEnv" or "passwordSecret", not both/);
    expect(errorOf(withStandby({ url: 'sqlite:./b.db' }, 'sqlite', 'sqlite:./a.db'))).toMatch(
      /standby databases work for postgres and mysql jobs, not sqlite/,
    );
  });

  it('refuses a standby name with no room for the __dv_next suffix, or one of the suffixed names', () => {
    expect(errorOf(withStandby({ url: `postgres://app@db/${'s'.repeat(60)}` }))).toMatch(
      /longer than 54 bytes/,
    );
    expect(errorOf(withStandby({ url: 'postgres://app@db/sb__dv_prev' }))).toMatch(/a name dumpvault uses/);
  });
});
