/**
 * The keys the restore task decrypts a backup with (task-restore.ts): the job's passphrase
 * secret, or its OpenPGP private key secret, read from Secrets Manager by ARN.
 */
import { decryptKey, type PrivateKey, readPrivateKey as readOpenpgpPrivateKey } from 'openpgp';
import type { LoadedConfig } from '../../../core/config/load.ts';
import type { Job } from '../../../core/config/schema.ts';
import { ConfigError, CryptoError, ExitCode, messageOf } from '../../../core/errors.ts';
import type { DecryptKeys } from '../../../core/pipeline/decode.ts';
import { registerSecret } from '../../../core/redact.ts';
import { resolveSecret, type SecretFetcher } from '../../../core/secrets/resolve.ts';
import { resolveDecryptKeys } from '../resolve.ts';

/**
 * Reads the OpenPGP private key named by the job's `privateKeySecret`: an armored key, or JSON
 * `{"privateKey", "passphrase"}`. Both values are registered as secrets before anything else.
 */
export async function privateKeyFromSecret(
  arn: string,
  at: string,
  env: NodeJS.ProcessEnv,
  fetchSecret: SecretFetcher,
): Promise<PrivateKey> {
  const text = (await resolveSecret({ arn, raw: true, path: at }, env, fetchSecret)) ?? '';
  let armored = text;
  let passphrase: string | undefined;
  if (text.trim().startsWith('{')) {
    let parsed: { privateKey?: unknown; passphrase?: unknown };
    try {
      parsed = JSON.parse(text) as { privateKey?: unknown; passphrase?: unknown };
    } catch {
      throw new ConfigError(`${at}: secret ${arn} is neither an armored key nor JSON {"privateKey", …}`);
    }
    if (typeof parsed.privateKey !== 'string') {
      throw new ConfigError(`${at}: secret ${arn} is JSON without a "privateKey" field`);
    }
    armored = parsed.privateKey;
    passphrase = typeof parsed.passphrase === 'string' ? parsed.passphrase : undefined;
    registerSecret(armored);
    registerSecret(passphrase);
  }
  if (!armored.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) {
    throw new CryptoError(
      `${at}: secret ${arn} does not hold an armored OpenPGP private key (gpg --export-secret-keys --armor <fingerprint>)`,
      { exitCode: ExitCode.usage },
    );
  }
  let key: PrivateKey;
  try {
    key = await readOpenpgpPrivateKey({ armoredKey: armored });
  } catch (err) {
    throw new CryptoError(`${at}: secret ${arn} holds no readable private key (${messageOf(err)})`, {
      exitCode: ExitCode.usage,
    });
  }
  if (key.isDecrypted()) return key;
  if (!passphrase) {
    throw new CryptoError(
      `${at}: the private key in ${arn} is protected; store JSON {"privateKey": …, "passphrase": …} in the secret`,
      { exitCode: ExitCode.usage },
    );
  }
  try {
    return await decryptKey({ privateKey: key, passphrase });
  } catch {
    throw new CryptoError(`${at}: the passphrase in ${arn} does not unlock its private key`, {
      exitCode: ExitCode.usage,
    });
  }
}

/** Keys for the job's backups: the passphrase secret, or the OpenPGP private key secret. */
export async function decryptKeysFor(
  loaded: LoadedConfig,
  job: Job,
  env: NodeJS.ProcessEnv,
  fetchSecret: SecretFetcher,
): Promise<DecryptKeys | undefined> {
  const enc = job.encryption !== undefined ? loaded.config.encryption[job.encryption] : undefined;
  if (enc?.type === 'openpgp' && enc.privateKeySecret) {
    const at = `encryption.${job.encryption}.privateKeySecret`;
    return { privateKeys: [await privateKeyFromSecret(enc.privateKeySecret, at, env, fetchSecret)] };
  }
  return resolveDecryptKeys(loaded, job, undefined, { env, fetchSecret });
}
