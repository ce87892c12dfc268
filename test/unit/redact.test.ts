import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, redact, registerSecret } from '../../core/redact.ts';

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
  });

  it('leaves configuration messages that mention password fields readable', () => {
    const message = 'jobs[0].source.passwordEnv: environment variable DV_PG is not set';
    expect(redact(message)).toBe(message);
  });
});
