/**
 * Command-line parsing with node:util parseArgs: one option table for every command, unknown
 * options refused with a usage error that names them.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../../core/errors.ts';

export const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  to: { type: 'string' },
  from: { type: 'string' },
  drop: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  'skip-verify': { type: 'boolean' },
  // restore: what a backup holds, and restoring part of it
  list: { type: 'boolean' },
  table: { type: 'string', multiple: true },
  schema: { type: 'string', multiple: true },
  globals: { type: 'boolean' },
  key: { type: 'string', short: 'k' },
  out: { type: 'string', short: 'o' },
  name: { type: 'string' },
  email: { type: 'string' },
  limit: { type: 'string' },
  destination: { type: 'string' },
  all: { type: 'boolean' },
  remote: { type: 'boolean' },
  target: { type: 'string' },
  confirm: { type: 'string' },
  'password-secret': { type: 'string' },
  timeout: { type: 'string' },
  // rekey: re-encrypt existing backups to new keys
  recipients: { type: 'string', multiple: true },
  backup: { type: 'string' },
  'verify-key': { type: 'string' },
  // recover, history --rebuild
  endpoint: { type: 'string' },
  rebuild: { type: 'boolean' },
  // serve and status
  listen: { type: 'string' },
  textfile: { type: 'string' },
  'skip-missed': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export type Flags = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof OPTIONS)[K]['type'] extends 'string'
      ? string
      : boolean;
};

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly positionals: string[];
  readonly flags: Flags;
}

/** Parses argv (without node and script). */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\.$/, '')}; see "dumpvault --help"`);
  }
  const [command, ...positionals] = parsed.positionals;
  return { command, positionals, flags: parsed.values as Flags };
}

type FlagName = keyof typeof OPTIONS;

/** Flags every command takes. */
const EVERYWHERE: readonly FlagName[] = ['config', 'state-dir', 'help', 'version'];

/**
 * The flags each command takes, besides EVERYWHERE. The key is the command, or `<command> --remote`
 * for its deployed-stack form. A flag another command takes is a usage error here rather than
 * silently ignored (`prune app --all` deleting by the normal rules, say).
 */
export const COMMAND_FLAGS: Readonly<Record<string, readonly FlagName[]>> = {
  init: [],
  validate: ['json'],
  keygen: ['out', 'name', 'email', 'json'],
  schema: [],
  check: ['json'],
  backup: ['json', 'timeout'],
  list: ['json', 'destination'],
  verify: ['json', 'destination', 'all', 'key'],
  restore: [
    'json',
    'to',
    'from',
    'drop',
    'yes',
    'skip-verify',
    'key',
    'destination',
    'timeout',
    'list',
    'table',
    'schema',
    'globals',
  ],
  'restore --remote': ['remote', 'json', 'target', 'password-secret', 'drop', 'confirm'],
  drill: ['json', 'key', 'destination', 'timeout'],
  standby: ['json', 'key', 'destination', 'timeout'],
  'drill --remote': ['remote', 'json'],
  'standby --remote': ['remote', 'json'],
  prune: ['json', 'dry-run'],
  rekey: ['json', 'dry-run', 'recipients', 'backup', 'destination', 'key', 'verify-key'],
  history: ['json', 'csv', 'limit', 'rebuild'],
  'history --remote': ['remote', 'json', 'csv', 'limit', 'rebuild'],
  export: ['json', 'destination'],
  recover: ['json', 'from', 'out', 'key', 'endpoint'],
  'run --remote': ['remote', 'json'],
  status: ['json', 'textfile'],
  'status --remote': ['remote', 'json'],
  serve: ['listen', 'skip-missed'],
  decrypt: ['key', 'out'],
  task: [],
  help: [],
};

/**
 * Refuses flags the command does not take, naming them and what the command does take. Unknown
 * commands are left to the dispatcher, which names them.
 */
export function checkCommandFlags(command: string, flags: Flags): void {
  const key = flags.remote && COMMAND_FLAGS[`${command} --remote`] ? `${command} --remote` : command;
  const own = COMMAND_FLAGS[key];
  if (!own) return;
  const allowed = new Set<string>([...EVERYWHERE, ...own]);
  const foreign = Object.keys(flags).filter((name) => !allowed.has(name));
  if (foreign.length === 0) return;
  const takes = own.filter((name) => name !== 'remote').map((name) => `--${name}`);
  throw new UsageError(
    `${key} does not take ${foreign.map((name) => `--${name}`).join(', ')}; it takes ${
      takes.length ? takes.join(', ') : 'no options'
    } (besides --config, --state-dir); see "dumpvault --help"`,
  );
}

/** `--limit N` as a number: a whole number ≥ 1, undefined when the flag is absent. */
export function limitFlag(flags: Flags): number | undefined {
  const text = flags.limit;
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new UsageError(`--limit: expected a whole number ≥ 1, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

export const USAGE = `dumpvault — streaming, encrypted database backups

Usage: dumpvault <command> [options]      (config: ./dumpvault.config.json, or --config <file>)

  init                          write a commented example config and a keypair (never overwrites)
  validate                      check the config; every error with its JSON path (exit 2)
  check <job>                   connect; server and dump tool versions; destinations writable; zstd works; keys readable
  backup <job> [--json] [--timeout <minutes|30s|45m|2h>]
                                one run: dump -> compress -> encrypt -> every destination -> retention;
                                fails when it takes longer than --timeout (default: task.timeoutMinutes, 720)
  list <job> [--json]           backups, from the manifests in every destination of the job (which hold each)
  verify <job> [<id>|latest]    re-read the object: size, sha256, and (with --key) decryption
  verify <job> [<id>] --all     verify every destination's copy of the backup; exit 1 if any is bad
  restore <job> [<id>|latest|<ISO time>] [--to <url>] [--drop] [--yes] [--skip-verify] [--key <file>]
                                [--timeout <minutes|30s|45m|2h>] (restore and drill: as for backup)
  restore <job> --from <file|s3://bucket/key> [--to <url>] ...   restore a file without a manifest
  restore <job> [<id>] --list   the backup's tables (and schemas), read from the dump; nothing is restored
  restore <job> [<id>] --table <name> ... | --schema <name> ...   restore only those (repeatable;
                                --schema: PostgreSQL); compared with the manifest's counts of them
  restore <job> [<id>] --globals [--to <url>]   PostgreSQL: the backup's roles and tablespaces
                                (source.globals) into the server of --to (default: the source's)
  drill <job> [--timeout <t>]   restore the latest backup into a scratch database, compare, drop it
  standby <job> [--timeout <t>] the newest backup into a fresh database beside the standby, verify, swap
  prune <job> [--dry-run]       apply retention; the plan shows keep/delete and the rule for each
  rekey <job> [--recipients <file|fingerprint> ...] [--backup <id>] [--destination <name>] [--dry-run]
                                re-encrypt stored backups to the config's keys now (or --recipients),
                                reading them with --key [--verify-key <new-private.asc>]; the new object
                                and manifest are verified before the old go (docs/recovery.md)
  history <job> [--csv|--json]  past runs from the local history
  history [<job>] --rebuild     add the backups the manifests in storage show and the history lacks
  export                        write the meta-backup (config, keys, secrets if enabled) to every destination
  recover --from <dir|s3://bucket/prefix/|azure://container/prefix/> [--endpoint <url>] --out <dir>
                                rebuild a lost install: config, keys, secrets.env, history (docs/recovery.md)
  keygen --out <dir>            new OpenPGP keypair (prints the fingerprint)
  decrypt <file> --key <private.asc> [-o <out>]   decrypt a backup object (like gpg --decrypt)
  schema                        print the config's JSON schema
  serve [--listen 127.0.0.1:9464] [--skip-missed]
                                run every schedule and restore drill in the foreground; /metrics, /healthz
  status [--json] [--textfile <file.prom>]
                                per job: last success age, last failure, next run; exit 1 when overdue

Against the deployed stack (AWS credentials; names from the stack's outputs):
  run <job> --remote            start a backup now (invokes start-backup), prints the run id
  history <job> --remote        history from DynamoDB [--csv|--json]; --rebuild fills it from the manifests
  status --remote               per job: last success age, last failure, alarm state
  restore <job> [<backup>] --remote [--target scratch|<url> [--password-secret <arn>]] [--drop] [--confirm <job>]
                                run the restore state machine and follow it state by state
  drill <job> --remote          restore drill into a throw-away database in the drill task
  standby <job> --remote        the newest backup into the job's standby by the restore state machine

Options: --config <file>  --state-dir <dir>  --json  --key <private.asc>  --help  --version
  --destination <name>   list/verify/restore/drill: read only this destination of the job
                         (default: the backup is chosen among all of them and read from the
                         first, in config order, that holds a valid copy)
Secrets come from environment variables named in the config (passwordEnv, passphraseEnv);
a private key for restores from --key or DUMPVAULT_PRIVATE_KEY (+ DUMPVAULT_KEY_PASSPHRASE).
Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
`;
