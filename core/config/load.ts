/**
 * Reading and validating `dumpvault.config.json`. Every problem is reported with its JSON path
 * (`jobs[2].retention.daily: expected a whole number ≥ 0, got -1`), all at once, before
 * anything is touched.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { metaKeyProblem } from '../meta/document.ts';
import { parseJsonc } from './jsonc.ts';
import { type Config, type ConfigInput, ConfigSchema, type Job, jobDestinations } from './schema.ts';
import { STANDBY_NEXT_SUFFIX, STANDBY_PREV_SUFFIX } from './standby-schema.ts';

export const DEFAULT_CONFIG_FILE = 'dumpvault.config.json';

/** A validated config plus where it came from (relative paths resolve against `baseDir`). */
export interface LoadedConfig {
  readonly config: Config;
  readonly file: string;
  readonly baseDir: string;
  readonly stateDir: string;
}

/** Formats a path like `jobs[2].retention.daily`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${String(s)}` : String(s);
  }
  return out || '(root)';
}

function formatIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return [
      `${formatPath(issue.path)}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
    ];
  }
  if (issue.code === 'invalid_union') {
    // A value of the right shape for one option (`"retention": { "daily": -1 }`) is reported by
    // that option's own messages, not as "none of the options matched".
    const wrongShape = (errors: readonly z.core.$ZodIssue[]) =>
      errors.every((e) => e.path.length === 0 && (e.code === 'invalid_type' || e.code === 'invalid_value'));
    const matching = issue.errors.filter((errors) => !wrongShape(errors));
    if (matching.length === 1) {
      return matching[0]!.flatMap((e) => formatIssue({ ...e, path: [...issue.path, ...e.path] }));
    }
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

const URL_SCHEMES: Record<Job['engine'], readonly string[]> = {
  postgres: ['postgres:', 'postgresql:'],
  mysql: ['mysql:', 'mariadb:'],
  mongodb: ['mongodb:', 'mongodb+srv:'],
  sqlite: ['sqlite:'],
};

const USE_PASSWORD_SETTING = 'use "passwordEnv" (local) or "passwordSecret" (AWS)';

/**
 * A query parameter that carries a secret: libpq's `password` / `sslpassword`, MongoDB's
 * `tlsCertificateKeyFilePassword`, any `…secret…` / `…token…`, and MongoDB's
 * `authMechanismProperties` when it holds a session token. URLs reach tool command lines
 * (`mongodump --uri=…`) and messages, so a secret in one would show in `ps` and in logs.
 */
function secretParameter(params: URLSearchParams): string | undefined {
  for (const [name, value] of params) {
    if (/password|secret|token/i.test(name)) return name;
    if (/^authMechanismProperties$/i.test(name) && /TOKEN|SECRET|PASSWORD/i.test(value)) return name;
  }
  return undefined;
}

/**
 * libpq URL parameters that re-point a connection the URL itself names (a `dbname` in the query
 * wins over the database in the path): the restore Guard, messages and the engine would
 * disagree about which database is meant.
 */
const PG_REDIRECTING_PARAMETERS = ['dbname', 'host', 'hostaddr', 'port', 'user', 'service'];

/**
 * A name from a URL that starts with `-`: passed to a tool it could be read as an option (a
 * database named `--database=other` made the mysql client restore into `other`). The engines
 * pass names in forms no tool reads as an option; refusing them as well gives one clear
 * sentence where the name was written.
 */
function optionShaped(engine: Job['engine'], url: string, parsed: URL): string | undefined {
  const shaped = (what: string, value: string) =>
    value.startsWith('-')
      ? `the ${what} ${JSON.stringify(value)} starts with "-", which a database tool could take for an option: use a ${what} that starts with a letter, digit, "_" or "."`
      : undefined;
  if (engine === 'sqlite') return shaped('file path', sqlitePath(url));
  return (
    shaped('host name', parsed.hostname) ??
    shaped('user name', safeDecode(parsed.username)) ??
    shaped('database name', safeDecode(parsed.pathname.replace(/^\//, '')))
  );
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Checks a source (or restore target) URL for an engine; returns a problem sentence or undefined. */
export function checkSourceUrl(engine: Job['engine'], url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `expected a ${engine} URL like ${example(engine)}, got ${JSON.stringify(url)}`;
  }
  if (!URL_SCHEMES[engine].includes(parsed.protocol)) {
    return `expected a URL starting with ${URL_SCHEMES[engine].map((s) => `${s}//`).join(' or ')} for engine "${engine}", got "${parsed.protocol}"`;
  }
  if (parsed.password) {
    return `contains a password: remove it from the URL and ${USE_PASSWORD_SETTING}`;
  }
  if (engine !== 'sqlite') {
    const secret = secretParameter(parsed.searchParams);
    if (secret) {
      return `has the secret parameter "${secret}" in its query string: remove it from the URL and ${USE_PASSWORD_SETTING}`;
    }
  }
  if (engine === 'postgres') {
    const redirecting = [...parsed.searchParams.keys()].find((k) => PG_REDIRECTING_PARAMETERS.includes(k));
    if (redirecting) {
      return `sets "${redirecting}" in its query string, which would override the URL's own host, user or database: write it in the URL itself, like ${example(engine)}`;
    }
  }
  if (engine !== 'sqlite' && !parsed.hostname)
    return `expected a host name in the URL, like ${example(engine)}`;
  if (engine === 'sqlite' && !sqlitePath(url)) return `expected a file path, like ${example(engine)}`;
  return optionShaped(engine, url, parsed);
}

function example(engine: Job['engine']): string {
  return {
    postgres: 'postgres://app@db.internal:5432/app',
    mysql: 'mysql://app@db.internal:3306/app',
    mongodb: 'mongodb://app@db.internal:27017/app',
    sqlite: 'sqlite:./data/app.db',
  }[engine];
}

/** The file path of a `sqlite:` URL (`sqlite:./rel.db`, `sqlite:/abs.db`, `sqlite:///abs.db`). */
export function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:/, '');
  return decodeURIComponent(rest.startsWith('//') ? rest.slice(2) : rest);
}

/** The `sqlite:` URL of a file path (the inverse of {@link sqlitePath}, safe for `%`, `#`, `?`). */
export function sqliteUrl(file: string): string {
  return `sqlite:${encodeURI(file).replace(/#/g, '%23').replace(/\?/g, '%3F')}`;
}

/** Validates an already-parsed config object (the CDK construct's typed input uses this too). */
export function validateConfig(input: unknown): Config {
  const result = ConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap(formatIssue).join('\n'));
  }
  const config = result.data;
  const problems: string[] = [];
  const seen = new Set<string>();
  config.jobs.forEach((job, i) => {
    const at = `jobs[${i}]`;
    if (seen.has(job.name))
      problems.push(`${at}.name: "${job.name}" is used by another job; job names must be unique`);
    seen.add(job.name);
    const named = new Set<string>();
    jobDestinations(job).forEach(({ name: d }, j) => {
      if (!config.destinations[d]) {
        problems.push(
          `${at}.destinations[${j}]: no destination named "${d}" (defined: ${Object.keys(config.destinations).join(', ') || 'none'})`,
        );
      } else if (named.has(d)) {
        problems.push(`${at}.destinations[${j}]: "${d}" is listed twice; list each destination once`);
      }
      named.add(d);
    });
    if (job.encryption !== undefined && !config.encryption[job.encryption]) {
      problems.push(
        `${at}.encryption: no encryption named "${job.encryption}" (defined: ${Object.keys(config.encryption).join(', ') || 'none'})`,
      );
    }
    const urlProblem = checkSourceUrl(job.engine, job.source.url);
    if (urlProblem) problems.push(`${at}.source.url: ${urlProblem}`);
    if (job.source.passwordEnv && job.source.passwordSecret) {
      problems.push(`${at}.source: set "passwordEnv" or "passwordSecret", not both`);
    }
    if (job.compressionLevel !== undefined && job.compression === 'gzip' && job.compressionLevel > 9) {
      problems.push(`${at}.compressionLevel: expected 1-9 for gzip, got ${job.compressionLevel}`);
    }
    if (job.engine === 'sqlite' && job.source.passwordEnv) {
      problems.push(`${at}.source.passwordEnv: sqlite databases have no password; remove it`);
    }
    if (job.source.globals && job.engine !== 'postgres') {
      problems.push(
        `${at}.source.globals: globals (roles, tablespaces) are a PostgreSQL feature, not ${job.engine}; remove it`,
      );
    }
    problems.push(...standbyProblems(job, at));
  });
  const metaProblem = metaKeyProblem(config);
  if (metaProblem) problems.push(metaProblem);
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return config;
}

/** What is wrong with a job's `standby` (nothing when it has none). */
function standbyProblems(job: Job, at: string): string[] {
  const standby = job.standby;
  if (!standby) return [];
  if (job.engine !== 'postgres' && job.engine !== 'mysql') {
    return [
      `${at}.standby: standby databases work for postgres and mysql jobs, not ${job.engine}; remove it`,
    ];
  }
  const urlProblem = checkSourceUrl(job.engine, standby.url);
  if (urlProblem) return [`${at}.standby.url: ${urlProblem}`];
  const problems: string[] = [];
  if (standby.passwordEnv && standby.passwordSecret) {
    problems.push(`${at}.standby: set "passwordEnv" or "passwordSecret", not both`);
  }
  const database = databaseOf(standby.url);
  // The next and previous standbys are named <database>__dv_next / __dv_prev (9 more characters).
  const limit = (job.engine === 'postgres' ? 63 : 64) - STANDBY_NEXT_SUFFIX.length;
  if (!database) {
    problems.push(`${at}.standby.url: add the standby database name to the URL, like ${example(job.engine)}`);
  } else if (Buffer.byteLength(database) > limit) {
    problems.push(
      `${at}.standby.url: the database name "${database}" is longer than ${limit} bytes; dumpvault needs room for "${STANDBY_NEXT_SUFFIX}" beside it`,
    );
  } else if (database.endsWith(STANDBY_NEXT_SUFFIX) || database.endsWith(STANDBY_PREV_SUFFIX)) {
    problems.push(
      `${at}.standby.url: "${database}" is a name dumpvault uses beside a standby; choose another`,
    );
  }
  if (sameDatabase(job.engine, job.source.url, standby.url)) {
    problems.push(
      `${at}.standby.url: is the job's source database; a standby is replaced by every backup, so name another database`,
    );
  }
  return problems;
}

function databaseOf(url: string): string {
  return safeDecode(new URL(url).pathname.replace(/^\//, ''));
}

/** Same server (loopback names are one server) and same database. */
function sameDatabase(engine: Job['engine'], a: string, b: string): boolean {
  let x: URL;
  let y: URL;
  try {
    x = new URL(a);
    y = new URL(b);
  } catch {
    return false;
  }
  const loopback = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
  const host = (u: URL) => (loopback.has(u.hostname.toLowerCase()) ? 'loopback' : u.hostname.toLowerCase());
  const port = (u: URL) => u.port || (engine === 'postgres' ? '5432' : '3306');
  return host(x) === host(y) && port(x) === port(y) && databaseOf(a) === databaseOf(b);
}

/** Reads, parses and validates a config file. Throws {@link ConfigError} naming what to fix. */
export function loadConfig(file: string, stateDirOverride?: string): LoadedConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `config file ${abs} does not exist: run "dumpvault init" to create one, or pass --config <file>`
        : `cannot read config file ${abs}: ${code ?? String(err)}`,
    );
  }
  const parsed = parseJsonc(text, abs);
  let config: Config;
  try {
    config = validateConfig(parsed);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${abs} is invalid:\n${err.message}`);
    throw err;
  }
  const baseDir = path.dirname(abs);
  const stateDir = path.resolve(baseDir, stateDirOverride ?? config.stateDir ?? '.dumpvault');
  return { config, file: abs, baseDir, stateDir };
}

/** Finds a job by name or throws a usage error listing the jobs there are. */
export function findJob(config: Config, name: string | undefined): Job {
  if (!name) throw new ConfigError(`name a job: ${config.jobs.map((j) => j.name).join(', ')}`);
  const job = config.jobs.find((j) => j.name === name);
  if (!job) {
    throw new ConfigError(
      `no job named "${name}" in the config (jobs: ${config.jobs.map((j) => j.name).join(', ')})`,
    );
  }
  return job;
}

export type { Config, ConfigInput };
