/**
 * dumpvault's own disaster recovery (issue 16 §1, docs/recovery.md):
 * - `export`: write the meta-backup (config, public keys, secrets when enabled) to every
 *   destination the jobs use, like a backup run does after its copies;
 * - `recover --from <location> --out <dir>`: on a clean machine, decrypt the newest meta-backup,
 *   write the config, keys and `secrets.env`, and rebuild the history from the manifests;
 * - `history --rebuild`: the history of each job rebuilt from the manifests of its destinations.
 */
import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseJsonc } from '../../../core/config/jsonc.ts';
import {
  DEFAULT_CONFIG_FILE,
  type LoadedConfig,
  loadConfig,
  validateConfig,
} from '../../../core/config/load.ts';
import type { Config } from '../../../core/config/schema.ts';
import { META_PASSPHRASE_ENV } from '../../../core/contracts/meta-backup.ts';
import { readPrivateKey } from '../../../core/crypto/openpgp.ts';
import { ConfigError, UsageError } from '../../../core/errors.ts';
import type { HistoryStore } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { type FoundBackup, mergeFound, rebuildJobHistory } from '../../../core/history/rebuild.ts';
import type { MetaDocument } from '../../../core/meta/document.ts';
import { runMetaBackup } from '../../../core/meta/step.ts';
import { newestMetaBackup, readMetaBackup } from '../../../core/meta/store.ts';
import { listBackups } from '../../../core/pipeline/catalog.ts';
import { registerSecret } from '../../../core/redact.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import type { Flags } from '../args.ts';
import { metaBackupSource } from '../meta.ts';
import type { Io, Output } from '../output.ts';
import { openDestination } from '../resolve.ts';
import { parseLocation } from './recover-location.ts';

/** The destinations any job uses, in config order. */
function usedDestinations(config: Config): string[] {
  const names = new Set<string>();
  for (const job of config.jobs)
    for (const entry of job.destinations) names.add(typeof entry === 'string' ? entry : entry.name);
  return [...names];
}

/** `dumpvault export`: writes the meta-backup now. Exit 1 when any destination did not get it. */
export async function exportCommand(flags: Flags, out: Output, io: Io): Promise<number> {
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const source = metaBackupSource(loaded, io.env);
  if (!source)
    throw new ConfigError(
      'the config has no "metaBackup": add one naming a passphrase or recipients (docs/recovery.md)',
    );
  let names = usedDestinations(loaded.config);
  if (flags.destination !== undefined) {
    if (!names.includes(flags.destination))
      throw new UsageError(
        `--destination: no job uses a destination named "${flags.destination}" (${names.join(', ')})`,
      );
    names = [flags.destination];
  }
  const destinations: Destination[] = [];
  for (const name of names)
    destinations.push(
      await openDestination(loaded, name, loaded.config.destinations[name]!, { env: io.env }),
    );
  const result = await runMetaBackup(source, destinations, loaded.config.prefix, new Date(), true);
  if (out.isJson) out.result(result);
  else if (result.status === 'ok')
    out.line(
      `exported ${result.key} to ${result.destinations.join(', ')}${result.removed ? ` (${result.removed} older removed)` : ''}`,
    );
  if (result.status === 'failed') {
    io.stderr.write(`error: ${result.error}\n`);
    return 1;
  }
  return 0;
}

async function exists(file: string): Promise<boolean> {
  return access(file, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/** Where each file of the document goes under `out`: as named when relative and inside, else `keys/<name>`. */
function placeFiles(doc: MetaDocument, out: string): Array<{ file: string; named: string; text: string }> {
  return Object.entries(doc.files).map(([named, text]) => {
    const inside = path.resolve(out, named);
    const ok = !path.isAbsolute(named) && inside.startsWith(`${out}${path.sep}`);
    return { file: ok ? inside : path.join(out, 'keys', path.basename(named)), named, text };
  });
}

function envFile(secrets: Record<string, string>): string {
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  return `${Object.entries(secrets)
    .map(([name, value]) => `${name}=${quote(value)}`)
    .join('\n')}\n`;
}

/** The backups of every job of `config` found in each destination, merged by run. */
async function foundBackups(
  config: Config,
  dests: ReadonlyArray<{ job: string; dest: Destination }>,
): Promise<Map<string, FoundBackup[]>> {
  const byJob = new Map<string, FoundBackup[]>();
  for (const job of config.jobs) {
    const lists = [];
    for (const { dest } of dests.filter((d) => d.job === job.name)) {
      const { manifests } = await listBackups(dest, config.prefix, job.name);
      lists.push({ destination: dest.name, manifests });
    }
    byJob.set(job.name, mergeFound(lists));
  }
  return byJob;
}

async function rebuild(
  history: HistoryStore,
  found: Map<string, FoundBackup[]>,
  out: Output,
): Promise<Record<string, { added: number; known: number }>> {
  const summary: Record<string, { added: number; known: number }> = {};
  for (const [job, backups] of found) {
    summary[job] = await rebuildJobHistory(history, job, backups);
    if (!out.isJson)
      out.line(
        `  history ${job}: ${summary[job]!.added} backup(s) added from manifests, ${summary[job]!.known} already known`,
      );
  }
  return summary;
}

/** `dumpvault recover --from <location> --out <dir>` */
export async function recoverCommand(flags: Flags, out: Output, io: Io): Promise<number> {
  if (!flags.from || !flags.out)
    throw new UsageError(
      'recover needs --from <dir | s3://bucket/prefix/ | azure://container/prefix/> and --out <new dir>',
    );
  const location = parseLocation(flags.from, flags, io);
  const outDir = path.resolve(flags.out);
  const passphrase = io.env[META_PASSPHRASE_ENV];
  registerSecret(passphrase);
  const keyFile = flags.key ?? io.env.DUMPVAULT_PRIVATE_KEY;
  if (!passphrase && !keyFile)
    throw new UsageError(
      `recover needs the meta passphrase in ${META_PASSPHRASE_ENV}, or --key <private.asc> when the meta-backup is encrypted to a key`,
    );
  const keyPassphrase = io.env.DUMPVAULT_KEY_PASSPHRASE;
  registerSecret(keyPassphrase);
  const keys = {
    ...(passphrase ? { passphrase } : {}),
    ...(keyFile ? { privateKeys: [await readPrivateKey(path.resolve(keyFile), keyPassphrase)] } : {}),
  };
  const hint = passphrase ? `the passphrase in ${META_PASSPHRASE_ENV}` : `the key ${keyFile}`;
  const at = location.open(0);
  const key = await newestMetaBackup(at, '');
  const doc = await readMetaBackup(at, key, keys, hint);
  const config = validateConfig(parseJsonc(doc.config, `${key} (${doc.configFile})`));
  if (!location.tail.endsWith(config.prefix))
    throw new UsageError(
      `--from: the config's prefix is "${config.prefix}", but ${location.description} does not end with it; point --from at the folder that holds ${config.prefix}_dumpvault/`,
    );
  // Everything is checked before anything is written.
  const configFile = path.join(outDir, doc.configFile);
  const files = placeFiles(doc, outDir);
  const secretsFile = path.join(outDir, 'secrets.env');
  const targets = [configFile, ...files.map((f) => f.file), ...(doc.secrets ? [secretsFile] : [])];
  for (const file of targets)
    if (await exists(file))
      throw new UsageError(`${file} already exists; recover into a new or empty --out directory`);
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  await writeFile(configFile, doc.config, { mode: 0o600 });
  for (const f of files) {
    await mkdir(path.dirname(f.file), { recursive: true, mode: 0o700 });
    await writeFile(f.file, f.text, { mode: 0o600 });
    if (!f.file.endsWith(path.normalize(f.named)))
      out.warn(
        `the config names ${f.named}; its key was written to ${f.file}: copy it there or edit the config`,
      );
  }
  if (doc.secrets) {
    for (const value of Object.values(doc.secrets)) registerSecret(value);
    await writeFile(secretsFile, envFile(doc.secrets), { mode: 0o600 });
  }
  if (!out.isJson) {
    out.line(`recovered ${key} (written ${doc.createdAt}) into ${outDir}`);
    out.line(`  config  ${configFile}`);
    for (const f of files) out.line(`  key     ${f.file}`);
    if (doc.secrets)
      out.line(
        `  secrets ${secretsFile} (${Object.keys(doc.secrets).length}; load with: set -a; . ${secretsFile}; set +a)`,
      );
    else
      out.line(
        '  secrets not in the meta-backup (metaBackup.secrets is off): set the env variables the config names',
      );
  }
  for (const name of doc.missingSecrets)
    out.warn(`${name} was not set where the meta-backup was written; it is not in secrets.env`);
  const loaded = loadConfig(configFile);
  const root = location.open(config.prefix.length);
  const found = await foundBackups(
    config,
    config.jobs.map((job) => ({ job: job.name, dest: root })),
  );
  const summary = await rebuild(new LocalHistoryStore(loaded.stateDir), found, out);
  if (out.isJson)
    out.result({
      key,
      createdAt: doc.createdAt,
      out: outDir,
      config: configFile,
      files: files.map((f) => f.file),
      secrets: doc.secrets ? secretsFile : null,
      history: summary,
    });
  return 0;
}

/** `dumpvault history [<job>] --rebuild [--remote]`: the history rebuilt from every destination's manifests. */
export async function rebuildHistoryCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
  history?: (loaded: LoadedConfig) => Promise<HistoryStore>,
): Promise<number> {
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const jobs = job ? loaded.config.jobs.filter((j) => j.name === job) : loaded.config.jobs;
  if (jobs.length === 0)
    throw new ConfigError(
      `no job named "${job}" in the config (jobs: ${loaded.config.jobs.map((j) => j.name).join(', ')})`,
    );
  const dests: Array<{ job: string; dest: Destination }> = [];
  for (const j of jobs)
    for (const entry of j.destinations) {
      const name = typeof entry === 'string' ? entry : entry.name;
      dests.push({
        job: j.name,
        dest: await openDestination(loaded, name, loaded.config.destinations[name]!, { env: io.env }),
      });
    }
  const store = history ? await history(loaded) : new LocalHistoryStore(loaded.stateDir);
  const found = await foundBackups({ ...loaded.config, jobs }, dests);
  const summary = await rebuild(store, found, out);
  if (out.isJson) out.result(summary);
  return 0;
}
