/**
 * IAM helpers shared by the constructs: which secrets and key prefixes a config names, and how
 * cdk-nag spells a resource in a finding id (acknowledgements must name findings exactly).
 */
import { Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { type Config, type Job, jobDestinations } from '../core/config/schema.ts';
import { META_FOLDER } from '../core/contracts/meta-backup.ts';

/**
 * How cdk-nag names a resource in a finding id (`<Bucket1234.Arn>/prefix/*`): acknowledgements
 * must name each finding exactly, so they are derived from the same tokens the policy uses.
 */
export function nagResource(scope: Construct, value: string): string {
  const render = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o['Ref'] === 'string') return `<${o['Ref']}>`;
      const getAtt = o['Fn::GetAtt'];
      if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
      const join = o['Fn::Join'];
      if (Array.isArray(join)) return (join[1] as unknown[]).map(render).join(String(join[0]));
    }
    return JSON.stringify(v);
  };
  return render(Stack.of(scope).resolve(value));
}

/** Appends the 6-character suffix wildcard Secrets Manager adds when an ARN was given without it. */
export function secretResourceArn(arn: string): string {
  return /-[A-Za-z0-9]{6}$/.test(arn) ? arn : `${arn}-??????`;
}

/**
 * Every secret a backup reads: database passwords, foreign-store credentials, passphrases.
 * Never the OpenPGP private keys (`privateKeySecret`): only restores read those.
 */
export function secretArnsOf(config: Config): string[] {
  const arns = new Set<string>();
  for (const job of config.jobs) {
    if (job.source.passwordSecret) arns.add(job.source.passwordSecret);
    for (const arn of storeCredentialSecrets(config, job)) arns.add(arn);
    const enc = job.encryption !== undefined ? config.encryption[job.encryption] : undefined;
    if (enc?.type === 'passphrase' && enc.passphraseSecret) arns.add(enc.passphraseSecret);
  }
  return [...arns].sort().map(secretResourceArn);
}

/**
 * The `credentialsSecret` ARNs (as given) of the job's destinations: a foreign S3 store's, a GCS
 * HMAC key's or an Azure account's credentials. Whoever opens the job's destinations in AWS —
 * the backup task, the prune function, the restore steps — reads these and no others.
 */
export function storeCredentialSecrets(config: Config, job: Job): string[] {
  const arns = new Set<string>();
  for (const { name } of jobDestinations(job)) {
    const dest = config.destinations[name];
    if (dest && dest.type !== 'file' && dest.credentialsSecret) arns.add(dest.credentialsSecret);
  }
  return [...arns].sort();
}

/** Key prefixes (`{destination prefix}{config prefix}{job}/`) each job writes in the managed bucket. */
export function managedKeyPrefixes(config: Config): string[] {
  const prefixes = new Set<string>();
  for (const job of config.jobs) {
    for (const { name } of jobDestinations(job)) {
      const dest = config.destinations[name];
      if (dest?.type !== 's3' || dest.bucket !== 'managed') continue;
      const root = dest.prefix === '' || dest.prefix.endsWith('/') ? dest.prefix : `${dest.prefix}/`;
      prefixes.add(`${root}${config.prefix}${job.name}/`);
    }
  }
  return [...prefixes].sort();
}

/**
 * Where the backup tasks write the meta-backup (`{destination prefix}{config prefix}_dumpvault/`)
 * in the managed bucket: one folder per managed destination the config's jobs write to.
 */
export function metaKeyPrefixes(config: Config): string[] {
  if (!config.metaBackup) return [];
  const prefixes = new Set<string>();
  for (const job of config.jobs) {
    for (const { name } of jobDestinations(job)) {
      const dest = config.destinations[name];
      if (dest?.type !== 's3' || dest.bucket !== 'managed') continue;
      const root = dest.prefix === '' || dest.prefix.endsWith('/') ? dest.prefix : `${dest.prefix}/`;
      prefixes.add(`${root}${config.prefix}${META_FOLDER}`);
    }
  }
  return [...prefixes].sort();
}

/** The meta passphrase secret (`metaBackup.passphraseSecret`), which only the backup tasks read. */
export function metaSecretArns(config: Config): string[] {
  const arn = config.metaBackup?.passphraseSecret;
  return arn ? [secretResourceArn(arn)] : [];
}

/** Whether a job's managed destinations tag their objects (PutObject with tags needs s3:PutObjectTagging). */
export function tagsManagedObjects(config: Config): boolean {
  return config.jobs.some((job) =>
    jobDestinations(job).some(({ name }) => {
      const dest = config.destinations[name];
      return dest?.type === 's3' && dest.bucket === 'managed' && Object.keys(dest.tags ?? {}).length > 0;
    }),
  );
}

/** Whether a job's managed destinations lock their objects (PutObject with a lock needs s3:PutObjectRetention). */
export function locksManagedObjects(config: Config): boolean {
  return config.jobs.some((job) =>
    jobDestinations(job).some(({ name }) => {
      const dest = config.destinations[name];
      return dest?.type === 's3' && dest.bucket === 'managed' && dest.objectLock !== undefined;
    }),
  );
}

/**
 * Every secret a restore, drill or standby run reads: those of backups, the private keys of the
 * jobs' OpenPGP entries and the standbys' passwords.
 */
export function restoreSecretArnsOf(config: Config): string[] {
  const arns = new Set(secretArnsOf(config));
  for (const job of config.jobs) {
    if (job.standby?.passwordSecret) arns.add(secretResourceArn(job.standby.passwordSecret));
    const enc = job.encryption !== undefined ? config.encryption[job.encryption] : undefined;
    if (enc?.type === 'openpgp' && enc.privateKeySecret) arns.add(secretResourceArn(enc.privateKeySecret));
  }
  return [...arns].sort();
}

/** The config as one job sees it: the same destinations and keys, only that job. */
export function jobConfig(config: Config, job: Job): Config {
  return { ...config, jobs: [job] };
}
