/**
 * Turns a loaded config + job name into a JobContext: secrets resolved, keys loaded,
 * destinations opened, engine chosen. The pipeline itself never reads config or environment.
 */
import path from 'node:path';
import {
  DEFAULT_CONFIG_FILE,
  findJob,
  type LoadedConfig,
  loadConfig,
  sqlitePath,
  sqliteUrl,
} from '../../core/config/load.ts';
import {
  type Destination as DestinationConfig,
  type Job,
  jobDestinations,
} from '../../core/config/schema.ts';
import { loadRecipients, readPrivateKey } from '../../core/crypto/openpgp.ts';
import type { Connection } from '../../core/engine.ts';
import type { HistoryStore, Trigger } from '../../core/history/history.ts';
import { LocalHistoryStore } from '../../core/history/local.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import type { EncryptionSpec, JobContext, ProgressEvent } from '../../core/pipeline/context.ts';
import type { DecryptKeys } from '../../core/pipeline/decode.ts';
import { registerSecret } from '../../core/redact.ts';
import { resolveDestinationCredentials } from '../../core/secrets/credentials.ts';
import { resolveSecret, type SecretFetcher } from '../../core/secrets/resolve.ts';
import type { Destination } from '../../core/storage/destination.ts';
import { loadDestination } from '../../core/storage/load.ts';
import { engineFor } from '../engines/index.ts';
import { type MetaSourceOptions, metaBackupSource } from './meta.ts';
import { jobNotifier } from './notify.ts';

export interface ResolveOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly trigger?: Trigger;
  readonly progress?: (event: ProgressEvent) => void;
  readonly history?: HistoryStore;
  readonly notifier?: Notifier;
  /** Where the local notifier prints alerts (the CLI's stderr). */
  readonly alertStream?: NodeJS.WritableStream;
  /** Where failed notification attempts are logged; default a line on `alertStream`. */
  readonly notifyLog?: (line: string) => void;
  /** First pause between notification attempts (tests shorten it). @default 1000 */
  readonly notifyRetryDelayMs?: number;
  readonly fetchSecret?: SecretFetcher;
  readonly runId?: string;
  readonly taskArn?: string;
  /** The stack's bucket, for destinations with `"bucket": "managed"`. */
  readonly managedBucket?: string;
  /** Skip loading recipients / secrets not needed by read-only commands. */
  readonly forReading?: boolean;
  /**
   * The command never connects to the job's database (list, history, verify, prune): the
   * source password is not resolved, so its env variable or secret may be absent, and
   * `ctx.source` carries no password.
   * @default false - the password is resolved (a missing env variable is a ConfigError)
   */
  readonly offline?: boolean;
  /**
   * Attach the config's meta-backup (`metaBackup`) to the context: backups write it. The task
   * passes where its config text and secrets come from (MetaSourceOptions).
   * @default false
   */
  readonly metaBackup?: boolean | MetaSourceOptions;
}

export function jobIndex(loaded: LoadedConfig, job: Job): number {
  return loaded.config.jobs.indexOf(job);
}

/** A connection for a job's source with relative SQLite paths resolved against the config dir. */
export function sourceUrl(loaded: LoadedConfig, job: Job): string {
  if (job.engine !== 'sqlite') return job.source.url;
  const file = sqlitePath(job.source.url);
  return sqliteUrl(path.resolve(loaded.baseDir, file));
}

/** Opens one configured destination, resolving the secrets of a foreign S3 store, GCS or Azure. */
export async function openDestination(
  loaded: LoadedConfig,
  name: string,
  cfg: DestinationConfig,
  options: Pick<ResolveOptions, 'env' | 'fetchSecret' | 'managedBucket'>,
): Promise<Destination> {
  const credentials = await resolveDestinationCredentials(name, cfg, options.env, options.fetchSecret);
  const managedBucket = options.managedBucket ?? options.env.DUMPVAULT_MANAGED_BUCKET;
  return loadDestination(name, cfg, {
    baseDir: loaded.baseDir,
    ...credentials,
    ...(managedBucket ? { bucketOverride: managedBucket } : {}),
  });
}

/** Opens the job's destinations in config order. */
export async function openDestinations(
  loaded: LoadedConfig,
  job: Job,
  options: Pick<ResolveOptions, 'env' | 'fetchSecret' | 'managedBucket'>,
): Promise<Destination[]> {
  const out: Destination[] = [];
  for (const { name } of jobDestinations(job))
    out.push(await openDestination(loaded, name, loaded.config.destinations[name]!, options));
  return out;
}

/** Resolves the job's encryption (recipients' public keys or the passphrase). */
export async function resolveEncryption(
  loaded: LoadedConfig,
  job: Job,
  options: Pick<ResolveOptions, 'env' | 'fetchSecret'>,
): Promise<EncryptionSpec | undefined> {
  if (!job.encryption) return undefined;
  const enc = loaded.config.encryption[job.encryption]!;
  if (enc.type === 'openpgp') {
    return { type: 'openpgp', recipients: await loadRecipients(enc.recipients, loaded.baseDir) };
  }
  const passphrase = await resolveSecret(
    {
      env: enc.passphraseEnv ?? (enc.passphraseSecret ? undefined : 'DUMPVAULT_PASSPHRASE'),
      arn: enc.passphraseSecret,
      field: 'passphrase',
      path: `encryption.${job.encryption}`,
    },
    options.env,
    options.fetchSecret,
  );
  return { type: 'passphrase', passphrase: passphrase! };
}

/**
 * Keys for reading the job's encrypted backups: `--key` / DUMPVAULT_PRIVATE_KEY (with
 * DUMPVAULT_KEY_PASSPHRASE for a protected key), or the job's passphrase.
 */
export async function resolveDecryptKeys(
  loaded: LoadedConfig,
  job: Job,
  keyFile: string | undefined,
  options: Pick<ResolveOptions, 'env' | 'fetchSecret'>,
): Promise<DecryptKeys | undefined> {
  const file = keyFile ?? options.env.DUMPVAULT_PRIVATE_KEY;
  const keyPassphrase = options.env.DUMPVAULT_KEY_PASSPHRASE;
  registerSecret(keyPassphrase);
  const keys: { privateKeys?: DecryptKeys['privateKeys']; passphrase?: string } = {};
  if (file) keys.privateKeys = [await readPrivateKey(path.resolve(file), keyPassphrase)];
  const enc = job.encryption ? loaded.config.encryption[job.encryption] : undefined;
  if (enc?.type === 'passphrase') {
    const fromEnv = enc.passphraseEnv ? options.env[enc.passphraseEnv] : options.env.DUMPVAULT_PASSPHRASE;
    if (fromEnv) {
      registerSecret(fromEnv);
      keys.passphrase = fromEnv;
    } else if (enc.passphraseSecret) {
      const value = await resolveSecret(
        { arn: enc.passphraseSecret, field: 'passphrase', path: `encryption.${job.encryption}` },
        options.env,
        options.fetchSecret,
      );
      if (value) keys.passphrase = value;
    }
  }
  return keys.privateKeys || keys.passphrase ? keys : undefined;
}

/** Builds the full context for one job. */
export async function resolveJobContext(
  loaded: LoadedConfig,
  jobName: string | undefined,
  options: ResolveOptions,
): Promise<JobContext> {
  const job = findJob(loaded.config, jobName);
  const i = jobIndex(loaded, job);
  const password = options.offline
    ? undefined
    : await resolveSecret(
        {
          env: job.source.passwordEnv,
          arn: job.source.passwordSecret,
          path: `jobs[${i}].source`,
          field: 'password',
        },
        options.env,
        options.fetchSecret,
      );
  const source: Connection = { url: sourceUrl(loaded, job), ...(password ? { password } : {}) };
  const destinations = await openDestinations(loaded, job, options);
  const encryption = options.forReading ? undefined : await resolveEncryption(loaded, job, options);
  const configFlag = ` --config ${loaded.file}`;
  const metaBackup = options.metaBackup
    ? metaBackupSource(
        loaded,
        options.env,
        options.fetchSecret,
        options.metaBackup === true ? {} : options.metaBackup,
      )
    : undefined;
  return {
    job,
    prefix: loaded.config.prefix,
    engine: engineFor(job.engine),
    source,
    destinations,
    encryption,
    history: options.history ?? new LocalHistoryStore(loaded.stateDir),
    notifier: options.notifier ?? localNotifier(loaded, job, options),
    trigger: options.trigger ?? 'manual',
    investigate: (runId) => `dumpvault history ${job.name}${configFlag}   (run ${runId})`,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(metaBackup ? { metaBackup } : {}),
    ...(options.runId ? { runId: options.runId } : {}),
    ...(options.taskArn ? { taskArn: options.taskArn } : {}),
  };
}

/** The alert log and the job's configured channels (global and its own). */
export function localNotifier(loaded: LoadedConfig, job: Job | undefined, options: ResolveOptions): Notifier {
  const print = (line: string) => (options.alertStream ?? process.stderr).write(`${line}\n`);
  return jobNotifier(loaded, job, print, {
    env: options.env,
    fetchSecret: options.fetchSecret,
    log: options.notifyLog ?? ((line) => print(`dumpvault: ${line}`)),
    retryBaseDelayMs: options.notifyRetryDelayMs,
  });
}

/**
 * What every job command starts with: the config (`--config`, `--state-dir`) and the job's
 * context, alerts printed on the CLI's stderr.
 */
export async function openJob(
  job: string | undefined,
  flags: { config?: string | undefined; 'state-dir'?: string | undefined },
  io: { env: NodeJS.ProcessEnv; stderr: NodeJS.WritableStream },
  options: Omit<ResolveOptions, 'env' | 'alertStream'> = {},
): Promise<{ loaded: LoadedConfig; ctx: JobContext }> {
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const ctx = await resolveJobContext(loaded, job, { ...options, env: io.env, alertStream: io.stderr });
  return { loaded, ctx };
}
