import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, isDistinctive, redact, registerSecret } from '../../core/redact.ts';

afterEach(() => clearSecrets());

describe('redact', () => {
  it('removes registered secrets wherever they appear', () => {
    registerSecret('s3cr3t-value');
    expect(redact('a s3cr3t-value b s3cr3t-value')).toBe('a *** b ***');
  });

  it('removes passwords from URLs and password= assignments', () => {
    expect(redact('connect postgres://app:pw123@db:5432/x failed')).toBe(
      'connect postgres://app:***@db:5432/x failed',
    );
    expect(redact("PGPASSWORD=abc MYSQL_PWD='q r' host=db password=xyz&sslmode=require")).toBe(
      'PGPASSWORD=*** MYSQL_PWD=*** host=db password=***&sslmode=require',
    );
    expect(redact('sslmode=verify-full sslpassword=key-pass tlsCertificateKeyFilePassword=k2')).toBe(
      'sslmode=verify-full sslpassword=*** tlsCertificateKeyFilePassword=***',
    );
  });

  it('leaves configuration messages that mention password fields readable', () => {
    const message = 'jobs[0].source.passwordEnv: environment variable DV_PG is not set';
    expect(redact(message)).toBe(message);
  });

  it('does not garble output with the password "postgres": versions, engine and user names stay readable', () => {
    registerSecret('postgres');

    expect(redact('ok    source    postgres 15.2, database app; pg_dump 15.2 is compatible')).toBe(
      'ok    source    postgres 15.2, database app; pg_dump 15.2 is compatible',
    );
    expect(redact('restored into postgres://postgres@db:5432/app_copy')).toBe(
      'restored into postgres://postgres@db:5432/app_copy',
    );
  });

  it('still masks a plain-word password where it stands as a secret: in a URL or an assignment', () => {
    registerSecret('postgres');

    expect(redact('postgres://postgres:postgres@db/app PGPASSWORD=postgres password=postgres')).toBe(
      'postgres://postgres:***@db/app PGPASSWORD=*** password=***',
    );
  });

  it('masks everywhere only secrets of 8+ characters mixing letters, digits and other characters', () => {
    expect(['postgres', 'changeme', 'Postgres', '12345678', 'pw1', 'ab-1'].filter(isDistinctive)).toEqual([]);
    expect(
      ['hunter2hunter2', 'correct horse battery', 'wJalrXUtnFEMI/K7MDENG', 'changeme!'].every(isDistinctive),
    ).toBe(true);
  });
});
