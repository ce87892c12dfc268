/**
 * The one secret resolver (core/secrets), which the CLI, the task and the Lambda functions all
 * use: plain strings, the RDS JSON shape with its field selector, the JSON credential shapes, and
 * messages that name what to fix without ever quoting the secret. Secrets Manager has no
 * emulator here, so its client is mocked and every test asserts the exact GetSecretValue input.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { clearSecrets, redact } from '../../../core/redact.ts';
import { readAzureCredentials, readS3Credentials } from '../../../core/secrets/credentials.ts';
import {
  readSecret,
  resolveSecret,
  SecretUnavailableError,
  secretsManagerFetcher,
} from '../../../core/secrets/resolve.ts';

const ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod-db-AbCdEf';
const SECRET = 'Tr0ub4dor&3-horse';

const sm = mockClient(SecretsManagerClient);
const fetch = secretsManagerFetcher(new SecretsManagerClient({ region: 'eu-central-1' }));

/** The GetSecretValue inputs the resolver sent. */
const requests = () => sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input);

/** The error `p` rejects with (it must reject). */
async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected a rejection');
  return err;
}

beforeEach(() => {
  sm.reset();
});
afterEach(() => {
  clearSecrets();
});

describe('readSecret', () => {
  it('returns a plain secret string whole and registers it for redaction', async () => {
    // Bug caught: a plain password read by ARN not registered, so it could reach a log.
    sm.on(GetSecretValueCommand).resolves({ SecretString: SECRET });

    const value = await readSecret(ARN, { path: 'jobs[0].source' }, fetch);

    expect(value).toBe(SECRET);
    expect(requests()).toEqual([{ SecretId: ARN }]);
    expect(redact(`connecting with ${SECRET}`)).toBe('connecting with ***');
  });

  it('takes the password field of an RDS-managed JSON secret', async () => {
    // Bug caught: the whole JSON handed to the tool as the password (RDS-managed secrets).
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        engine: 'postgres',
        username: 'app',
        password: SECRET,
        host: 'db.internal',
        port: 5432,
        dbname: 'app',
      }),
    });

    expect(await readSecret(ARN, { path: 'jobs[0].source' }, fetch)).toBe(SECRET);
    expect(requests()).toEqual([{ SecretId: ARN }]);
  });

  it('takes the field the caller selects', async () => {
    // Bug caught: the selector ignored, so a passphrase secret yields its "password" field.
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ password: 'n0t-this-0ne', passphrase: SECRET }),
    });

    expect(await readSecret(ARN, { path: 'encryption.pass', field: 'passphrase' }, fetch)).toBe(SECRET);
  });

  it('takes a secret that starts with "{" but is no JSON as a plain string', async () => {
    // Bug caught: a password beginning with "{" refused as broken JSON.
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{n0t-json-pass' });

    expect(await readSecret(ARN, { path: 'jobs[0].source' }, fetch)).toBe('{n0t-json-pass');
  });

  it('fails with one sentence naming the path, the ARN and the missing field, never the value', async () => {
    // Bug caught: a JSON secret without the field handed over whole, or quoted in the message.
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'app', pw: SECRET }) });

    const err = await failure(readSecret(ARN, { path: 'jobs[0].source' }, fetch));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `jobs[0].source: secret ${ARN} is JSON without a string "password" field; add "password" to it (as RDS-managed secrets have) or store the password alone as the secret's text`,
    );
    expect(err.message).not.toContain(SECRET);
  });

  it('fails with a ConfigError naming what to check when the secret may not be read', async () => {
    // Bug caught: AccessDenied reported as a crash (stack trace) or retried forever.
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }),
    );

    const err = await failure(readSecret(ARN, { path: 'jobs[0].source' }, fetch));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `jobs[0].source: cannot read secret ${ARN} (AccessDeniedException): check the ARN and that this role may read it`,
    );
    expect(requests()).toEqual([{ SecretId: ARN }]);
  });

  it('fails with a retryable SecretUnavailableError when Secrets Manager is throttling', async () => {
    // Bug caught: throttling reported as a config error (exit 2, never retried by the restore steps).
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
    );

    const err = await failure(readSecret(ARN, { path: 'jobs[0].source' }, fetch));

    expect(err).toBeInstanceOf(SecretUnavailableError);
    expect(err).not.toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`jobs[0].source: cannot read secret ${ARN} now (ThrottlingException)`);
  });

  it('fails naming the path when the secret holds binary data', async () => {
    // Bug caught: a SecretBinary secret read as the string "undefined".
    sm.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2, 3]) });

    const err = await failure(readSecret(ARN, { path: 'metaBackup' }, fetch));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `metaBackup: secret ${ARN} holds binary data; store the value as a secret string`,
    );
  });
});

describe('resolveSecret', () => {
  it('reads the env variable when one is named, without calling Secrets Manager', async () => {
    // Bug caught: a local run asking AWS for a secret it has in its environment.
    const value = await resolveSecret(
      { env: 'PGPASS_APP', path: 'jobs[0].source' },
      { PGPASS_APP: SECRET },
      fetch,
    );

    expect(value).toBe(SECRET);
    expect(requests()).toEqual([]);
  });

  it('fails naming the variable to export when it is unset', async () => {
    // Bug caught: an unset variable treated as "no password" and the dump failing later, obscurely.
    const err = await failure(resolveSecret({ env: 'PGPASS_APP', path: 'jobs[0].source' }, {}, fetch));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      'jobs[0].source: environment variable PGPASS_APP is not set; export it before running',
    );
  });

  it('reads the ARN with the field selector when no env variable is named', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ passphrase: SECRET }) });

    const value = await resolveSecret({ arn: ARN, field: 'passphrase', path: 'encryption.pass' }, {}, fetch);

    expect(value).toBe(SECRET);
    expect(requests()).toEqual([{ SecretId: ARN }]);
  });

  it('returns undefined when neither is configured', async () => {
    expect(await resolveSecret({ path: 'jobs[0].source' }, {}, fetch)).toBeUndefined();
    expect(requests()).toEqual([]);
  });
});

describe('credential secrets', () => {
  it('reads an S3 key pair and registers the secret key', async () => {
    // Bug caught: the secret access key not registered, so a signed-request error could print it.
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET }),
    });

    const creds = await readS3Credentials(ARN, 'destinations.offsite.credentialsSecret', fetch);

    expect(creds).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET });
    expect(requests()).toEqual([{ SecretId: ARN }]);
    expect(redact(`signature for ${SECRET}`)).toBe('signature for ***');
  });

  it('fails naming the expected shape when the S3 secret is not JSON, without quoting it', async () => {
    // Bug caught: JSON.parse's message (which quotes the text) passed on, leaking the secret.
    sm.on(GetSecretValueCommand).resolves({ SecretString: `${SECRET} not json` });

    const err = await failure(readS3Credentials(ARN, 'destinations.offsite.credentialsSecret', fetch));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `destinations.offsite.credentialsSecret: secret ${ARN} is not JSON; store JSON {"accessKeyId": …, "secretAccessKey": …} in it`,
    );
    expect(err.message).not.toContain(SECRET);
  });

  it('fails naming the missing key when the S3 secret lacks one, without quoting it', async () => {
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', key: SECRET }),
    });

    const err = await failure(readS3Credentials(ARN, 'destinations.offsite.credentialsSecret', fetch));

    expect(err.message).toBe(
      `destinations.offsite.credentialsSecret: secret ${ARN} lacks "accessKeyId" or "secretAccessKey"; store JSON {"accessKeyId": …, "secretAccessKey": …} in it`,
    );
    expect(err.message).not.toContain(SECRET);
  });

  it('reads the first Azure credential the secret holds', async () => {
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ sasToken: `sv=2024&sig=${SECRET}` }),
    });

    expect(await readAzureCredentials(ARN, 'destinations.blob.credentialsSecret', fetch)).toEqual({
      sasToken: `sv=2024&sig=${SECRET}`,
    });
    expect(requests()).toEqual([{ SecretId: ARN }]);
  });

  it('fails naming the Azure shapes when the secret has none of them', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ key: SECRET }) });

    const err = await failure(readAzureCredentials(ARN, 'destinations.blob.credentialsSecret', fetch));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('has none of "connectionString", "accountKey", "sasToken"');
    expect(err.message).not.toContain(SECRET);
  });
});
