/** `init`, `validate`, `keygen`, `schema`: everything before the first backup. */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../../core/config/load.ts';
import { ConfigSchema, jobDestinations } from '../../../core/config/schema.ts';
import { generateKeyPair, loadRecipients } from '../../../core/crypto/openpgp.ts';
import { UsageError } from '../../../core/errors.ts';
import { describeRetention } from '../../../core/retention/describe.ts';
import type { Flags } from '../args.ts';
import type { Output } from '../output.ts';

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Where a private key must not live, said every time one is written. */
export const PRIVATE_KEY_WARNING =
  'Keep the private key OFFLINE or in a password manager / HSM: NOT in the backup destination, NOT on the database server, NOT in the AWS account that holds the backups. Without it the encrypted backups cannot be restored.';

/** Writes a keypair to `dir` (refuses to overwrite) and returns the file names and fingerprint. */
export async function writeKeyPair(
  dir: string,
  options: { name: string; email: string; basename?: string },
): Promise<{ publicFile: string; privateFile: string; fingerprint: string }> {
  const base = options.basename ?? 'dumpvault';
  const publicFile = path.join(dir, `${base}.pub.asc`);
  const privateFile = path.join(dir, `${base}.private.asc`);
  for (const f of [publicFile, privateFile]) {
    if (await exists(f))
      throw new UsageError(`${f} already exists; refusing to overwrite a key (choose another --out)`);
  }
  const pair = await generateKeyPair({ name: options.name, email: options.email });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(publicFile, pair.publicKey, { mode: 0o644, flag: 'wx' });
  await writeFile(privateFile, pair.privateKey, { mode: 0o600, flag: 'wx' });
  await chmod(privateFile, 0o600);
  return { publicFile, privateFile, fingerprint: pair.fingerprint };
}

/** `dumpvault keygen --out <dir>` */
export async function keygenCommand(flags: Flags, out: Output): Promise<number> {
  if (!flags.out) throw new UsageError('keygen needs --out <dir> (where to write the keypair)');
  const result = await writeKeyPair(path.resolve(flags.out), {
    name: flags.name ?? 'dumpvault backups',
    email: flags.email ?? 'backups@dumpvault.invalid',
  });
  if (out.isJson) out.result(result);
  else {
    out.line(`fingerprint  ${result.fingerprint}`);
    out.line(`public key   ${result.publicFile}   (put this path in encryption.<name>.recipients)`);
    out.line(`private key  ${result.privateFile}  (mode 0600)`);
    out.line('');
    out.line(PRIVATE_KEY_WARNING);
  }
  return 0;
}

export const EXAMPLE_CONFIG = `{
  // dumpvault configuration. Reference: docs/configuration.md; editor schema: dumpvault.schema.json
  "$schema": "./dumpvault.schema.json",

  // Where backups go. "file" = a local directory; "s3" = AWS S3 or any S3-compatible store.
  "destinations": {
    "local": { "type": "file", "path": "./backups" }
    // "offsite": { "type": "s3", "bucket": "my-backups", "endpoint": "https://<account>.r2.cloudflarestorage.com",
    //              "region": "auto", "accessKeyIdEnv": "DUMPVAULT_R2_KEY_ID", "secretAccessKeyEnv": "DUMPVAULT_R2_SECRET" }
  },

  // Encryption: public keys only. The private key stays offline (see "dumpvault keygen").
  "encryption": {
    "ops": { "type": "openpgp", "recipients": ["keys/dumpvault.pub.asc"] }
    // "pass": { "type": "passphrase", "passphraseEnv": "DUMPVAULT_PASSPHRASE" }
  },

  // dumpvault's own config (and these public keys) beside every backup, so "dumpvault recover"
  // rebuilds this install from storage (docs/recovery.md). "secrets": true also stores the values
  // of the env variables the config names; then use a passphrase ("passphraseEnv") of its own.
  "metaBackup": { "recipients": ["keys/dumpvault.pub.asc"], "secrets": false },

  "jobs": [
    {
      "name": "app-sqlite",
      "engine": "sqlite",                              // postgres | mysql | sqlite | mongodb
      "source": { "url": "sqlite:./data/app.db" },
      // Run by "dumpvault serve" (and by EventBridge Scheduler in AWS): EventBridge cron syntax.
      "schedule": { "cron": "30 2 * * ? *", "timezone": "UTC" },
      "destinations": ["local"],
      "compression": "gzip",                           // gzip | zstd | none
      "encryption": "ops",                             // omit = not encrypted (a warning is printed)
      // Which backups retention keeps (the newest is always kept). Also possible:
      // { "maxAgeDays": 30 } = everything younger than 30 days; "forever" = never delete.
      // Without "retention" only the newest backup is kept ("dumpvault validate" says so).
      "retention": { "keepLast": 3, "daily": 7, "weekly": 4, "monthly": 12 }
    },
    {
      "name": "app-postgres",
      "engine": "postgres",
      // No password in the URL: it comes from the environment variable named here.
      "source": { "url": "postgres://app@127.0.0.1:5432/app", "passwordEnv": "DUMPVAULT_PG_PASSWORD" },
      "schedule": { "cron": "0 3 * * ? *", "timezone": "Europe/Berlin" },   // serve and AWS alike
      "destinations": ["local"],
      "compression": "gzip",
      "encryption": "ops",
      // With counts, maxAgeDays is a cap: nothing older than 400 days stays (except the newest).
      "retention": { "keepLast": 3, "daily": 7, "weekly": 4, "monthly": 12, "maxAgeDays": 400 }
    }
  ]
}
`;

/** `dumpvault init`: example config + keypair + schema, never overwriting anything. */
export async function initCommand(flags: Flags, out: Output): Promise<number> {
  const file = path.resolve(flags.config ?? DEFAULT_CONFIG_FILE);
  const dir = path.dirname(file);
  const keysDir = path.join(dir, 'keys');
  if (await exists(file)) throw new UsageError(`${file} already exists; refusing to overwrite it`);
  if (await exists(path.join(keysDir, 'dumpvault.pub.asc'))) {
    throw new UsageError(
      `${path.join(keysDir, 'dumpvault.pub.asc')} already exists; refusing to overwrite a key`,
    );
  }
  const keys = await writeKeyPair(keysDir, { name: 'dumpvault backups', email: 'backups@dumpvault.invalid' });
  await writeFile(file, EXAMPLE_CONFIG, { flag: 'wx' });
  const schemaFile = path.join(dir, 'dumpvault.schema.json');
  if (!(await exists(schemaFile))) await writeFile(schemaFile, schemaText());
  out.line(`wrote ${file}`);
  out.line(`wrote ${keys.publicFile} (fingerprint ${keys.fingerprint})`);
  out.line(`wrote ${keys.privateFile}`);
  out.line(`wrote ${schemaFile}`);
  out.line('');
  out.line(PRIVATE_KEY_WARNING);
  out.line('Next: edit the config, then "dumpvault validate" and "dumpvault check <job>".');
  return 0;
}

/** The config's JSON schema as text. */
export function schemaText(): string {
  return `${JSON.stringify(z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`;
}

/** `dumpvault validate`: schema, references, and that recipient key files are readable public keys. */
export async function validateCommand(flags: Flags, out: Output): Promise<number> {
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  for (const [name, enc] of Object.entries(loaded.config.encryption)) {
    if (enc.type === 'openpgp') {
      try {
        await loadRecipients(enc.recipients, loaded.baseDir);
      } catch (err) {
        throw Object.assign(err as Error, {
          message: `encryption.${name}.recipients: ${(err as Error).message}`,
        });
      }
    }
  }
  const unencrypted = loaded.config.jobs.filter((j) => !j.encryption).map((j) => j.name);
  if (unencrypted.length) {
    out.warn(`not encrypted (only storage-side encryption protects them): ${unencrypted.join(', ')}`);
  }
  if (!loaded.config.metaBackup) {
    out.warn(
      "metaBackup is not set: backups do not save dumpvault's own config, so a lost machine means rewriting it by hand (docs/recovery.md)",
    );
  }
  const retention = Object.fromEntries(
    loaded.config.jobs.map((j) => [j.name, describeRetention(j.retention)]),
  );
  // What each destination keeps: its own rules, or the job's.
  const destinationRetention = Object.fromEntries(
    loaded.config.jobs.map((j) => [
      j.name,
      Object.fromEntries(jobDestinations(j).map((d) => [d.name, describeRetention(d.own ?? j.retention)])),
    ]),
  );
  if (out.isJson) {
    out.result({
      valid: true,
      file: loaded.file,
      jobs: loaded.config.jobs.map((j) => j.name),
      retention,
      destinationRetention,
    });
  } else {
    out.line(
      `${loaded.file} is valid: ${loaded.config.jobs.length} job(s) (${loaded.config.jobs.map((j) => j.name).join(', ')}), ${Object.keys(loaded.config.destinations).length} destination(s)`,
    );
    for (const job of loaded.config.jobs) {
      if (jobDestinations(job).every((d) => d.own === undefined)) {
        out.line(`  retention of ${job.name}: ${retention[job.name]}`);
        continue;
      }
      for (const [dest, text] of Object.entries(destinationRetention[job.name] ?? {}))
        out.line(`  retention of ${job.name} in ${dest}: ${text}`);
    }
  }
  return 0;
}
