/**
 * The MongoDB engine: `mongodump --archive` / `mongorestore --archive`, counts through mongosh.
 *
 * Passwords never reach a command line: the database tools read theirs from a temporary
 * `--config` YAML file (mode 0600, removed when the tool is done), and mongosh, which has no
 * such option, gets the full connection string in its environment and connects from the
 * script it runs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import type {
  Connection,
  DumpOptions,
  DumpSession,
  Engine,
  RestoreOptions,
  ServerInfo,
  TableStats,
} from '../../core/engine.ts';
import { ToolError, UserError } from '../../core/errors.ts';
import type { DumpChecker } from '../../core/formats/checker.ts';
import { MongoArchiveChecker } from '../../core/formats/mongo-archive.ts';
import { processInput, processOutput, runCommand } from '../../core/process.ts';
import { redactUrl, registerSecret } from '../../core/redact.ts';
import { deferred, deferredOutput } from './deferred-output.ts';
import { explainFailure, type FailureHint } from './failure-hints.ts';
import { abandonInput } from './restore-input.ts';
import { claimScratch, forgetScratch, rememberScratch, scratchIdentifier } from './scratch.ts';
import { lastJsonObject, parseTableCounts } from './table-counts.ts';

/** The manifest's `dumpFormat` value of this engine. */
export const MONGODB_DUMP_FORMAT = DUMP_FORMATS.mongodb;

/** MongoDB's limit on database name length (64 bytes, including the terminator). */
const MAX_IDENTIFIER = 63;

/** The environment variable through which mongosh receives its connection string. */
export const MONGOSH_URI_ENV = 'DUMPVAULT_MONGODB_URI';

/** Mechanisms that authenticate without a password (so a user without one is fine). */
const PASSWORDLESS_MECHANISMS = ['MONGODB-X509', 'GSSAPI', 'MONGODB-AWS', 'MONGODB-OIDC'];

const HINTS: readonly FailureHint[] = [
  {
    when: /Authentication failed|auth error|AuthenticationFailed/i,
    fix: 'check the user name, the password (passwordEnv / passwordSecret) and authSource in the URL',
  },
  {
    when: /server selection (error|timeout)|connection refused|no reachable servers|ECONNREFUSED|ENOTFOUND/i,
    fix: 'check the hosts in the URL and that the server accepts connections from here',
  },
  {
    when: /not authorized|Unauthorized/i,
    fix: 'grant the backup user the backup role (or read on the database) and the restore user the restore role',
  },
  {
    when: /does not appear to be a mongodump archive|archive format error|unexpected EOF/i,
    fix: 'the input is not a complete mongodump archive; check the backup object',
  },
];

const explain = (err: unknown): Error => explainFailure(err, HINTS);

/** mongodump's log lines that report a failure (`<timestamp>\tFailed: …`), even with exit 0. */
const MONGODUMP_ERROR_LINES = [/(?:^|\t)Failed: /];

/** A parsed mongodb:// or mongodb+srv:// URL. WHATWG URL cannot parse multi-host strings. */
interface MongoTarget {
  readonly scheme: string;
  /** Still percent-encoded, as in the URL. */
  readonly user: string;
  readonly hosts: string;
  readonly database: string;
  readonly params: URLSearchParams;
  readonly password: string | undefined;
}

const MONGO_URL = /^(mongodb(?:\+srv)?):\/\/(?:([^@/?#]*)@)?([^/?#]+)(?:\/([^?#]*))?(?:\?([^#]*))?$/;

function mongoTarget(conn: Connection): MongoTarget {
  const m = MONGO_URL.exec(conn.url);
  if (!m) {
    throw new UserError(`expected a MongoDB URL like mongodb://app@db:27017/app, got ${redactUrl(conn.url)}`);
  }
  const [, scheme, userinfo = '', hosts, rawDb = '', query = ''] = m;
  if (userinfo.includes(':')) {
    throw new UserError(
      'the MongoDB URL contains a password: remove it and use passwordEnv or passwordSecret',
    );
  }
  const database = decodeURIComponent(rawDb);
  if (!database) {
    throw new UserError(
      `add the database name to the URL, like mongodb://app@db:27017/app (got ${conn.url})`,
    );
  }
  const params = new URLSearchParams(query);
  const mechanism = params.get('authMechanism')?.toUpperCase();
  if (userinfo && conn.password === undefined && !PASSWORDLESS_MECHANISMS.includes(mechanism ?? '')) {
    // The tools would stop and prompt for it, on a terminal that a scheduled task does not have.
    throw new UserError(
      `MongoDB user ${decodeURIComponent(userinfo)} needs a password: set passwordEnv or passwordSecret`,
    );
  }
  if (!userinfo && conn.password !== undefined) {
    throw new UserError('a MongoDB password is configured but the URL names no user: add user@ to the URL');
  }
  registerSecret(conn.password);
  // Connection strings carry it percent-encoded, and tools may echo them.
  if (conn.password !== undefined) registerSecret(encodeURIComponent(conn.password));
  return {
    scheme: scheme!,
    user: userinfo,
    hosts: hosts!,
    database,
    params,
    password: conn.password,
  };
}

/**
 * A connection string for the tools. `database: null` leaves the path empty. Whenever the
 * path no longer names the URL's own database, that database keeps its role as the
 * authentication database through `authSource`.
 */
function mongoUri(t: MongoTarget, options: { database: string | null; withPassword: boolean }): string {
  const params = new URLSearchParams(t.params);
  if (options.database !== t.database && t.user && !params.has('authSource'))
    params.set('authSource', t.database);
  const query = params.toString();
  const credentials = t.user
    ? `${t.user}${options.withPassword && t.password !== undefined ? `:${encodeURIComponent(t.password)}` : ''}@`
    : '';
  const db = options.database === null ? '' : encodeURIComponent(options.database);
  return `${t.scheme}://${credentials}${t.hosts}/${db}${query ? `?${query}` : ''}`;
}

/**
 * The AWS credentials of this process, for MONGODB-AWS authentication only: the tools read them
 * from their environment, and no other child is given them (core/child-env.ts).
 */
const AWS_CREDENTIAL_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
] as const;

/** The environment the tools need beyond the common allow-list: AWS credentials for MONGODB-AWS. */
function toolEnv(t: MongoTarget): Record<string, string | undefined> {
  if (t.params.get('authMechanism')?.toUpperCase() !== 'MONGODB-AWS') return {};
  return Object.fromEntries(AWS_CREDENTIAL_ENV.map((name) => [name, process.env[name]]));
}

/** A temporary `--config` file holding the password, removed by `remove()`. */
interface ToolConfig {
  readonly args: readonly string[];
  remove(): Promise<void>;
}

async function writeToolConfig(t: MongoTarget): Promise<ToolConfig> {
  if (t.password === undefined) return { args: [], remove: async () => {} };
  let dir: string;
  try {
    dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-mongo-'));
  } catch (err) {
    throw new ToolError(
      `cannot create a temporary directory for the MongoDB tools' config (${(err as NodeJS.ErrnoException).code}): check that ${tmpdir()} is writable`,
      { cause: err },
    );
  }
  const file = path.join(dir, 'tool-config.yaml');
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    // A JSON string is a valid YAML double-quoted scalar, escapes included.
    await writeFile(file, `password: ${JSON.stringify(t.password)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    await remove();
    throw new ToolError(
      `cannot write the MongoDB tools' config file (${(err as NodeJS.ErrnoException).code})`,
      {
        cause: err,
      },
    );
  }
  return { args: [`--config=${file}`], remove };
}

/**
 * mongosh scripts. Each starts with a marker comment naming what it asks (the test stand-in
 * answers by it) and prints exactly one JSON line.
 */
const SCRIPTS = {
  version: `/* dumpvault:version */ (() => { const d = connect(process.env.${MONGOSH_URI_ENV}); print(JSON.stringify({ version: d.version() })); })()`,
  stats: `/* dumpvault:stats */ (() => { const d = connect(process.env.${MONGOSH_URI_ENV}); const out = {}; for (const c of d.getCollectionInfos({ type: 'collection' }, { nameOnly: true })) { if (c.name.startsWith('system.')) continue; out[c.name] = d.getCollection(c.name).countDocuments({}); } print(JSON.stringify(out)); })()`,
  objects: `/* dumpvault:objects */ (() => { const d = connect(process.env.${MONGOSH_URI_ENV}); print(JSON.stringify({ collections: d.getCollectionNames().filter((n) => !n.startsWith('system.')).length })); })()`,
  exists: `/* dumpvault:exists */ (() => { const d = connect(process.env.${MONGOSH_URI_ENV}); print(JSON.stringify({ exists: d.getMongo().getDBNames().includes(d.getName()) })); })()`,
  drop: `/* dumpvault:drop */ (() => { const d = connect(process.env.${MONGOSH_URI_ENV}); d.dropDatabase(); print(JSON.stringify({ dropped: d.getName() })); })()`,
} as const;

/** MongoDB through the MongoDB Database Tools and mongosh. */
export class MongodbEngine implements Engine {
  readonly name = 'mongodb' as const;

  /** Always `archive`. */
  dumpExtension(_options: DumpOptions): string {
    return 'archive';
  }

  /** Always `mongodump-archive`. */
  dumpFormat(_options: DumpOptions): string {
    return MONGODB_DUMP_FORMAT;
  }

  /** The archive's structure: prelude, segments, and an end for every collection. */
  dumpChecker(_options: DumpOptions): DumpChecker {
    return new MongoArchiveChecker();
  }

  /** Connects with mongosh for the server version and reads `mongodump --version`. */
  async inspect(conn: Connection): Promise<ServerInfo> {
    const t = mongoTarget(conn);
    const reply = await this.mongosh(t, SCRIPTS.version);
    if (typeof reply.version !== 'string') throw new ToolError('mongosh did not report the server version');
    const toolOutput = await runCommand({ command: 'mongodump', args: ['--version'] });
    const version = /version:?\s*r?(\d[\w.-]*)/i.exec(toolOutput)?.[1];
    if (!version) throw new ToolError(`cannot read a version from ${JSON.stringify(toolOutput.trim())}`);
    return { serverVersion: reply.version, tool: { name: 'mongodump', version }, database: t.database };
  }

  /** Exact `countDocuments` of every collection (views and system collections excluded). */
  async stats(conn: Connection): Promise<TableStats> {
    const t = mongoTarget(conn);
    return parseTableCounts(JSON.stringify(await this.mongosh(t, SCRIPTS.stats)), 'mongosh');
  }

  /**
   * Counts documents, then runs `mongodump --archive` on the URL's database. MongoDB offers no
   * snapshot to share with the counts, so they are taken immediately before the dump.
   */
  dump(conn: Connection, options: DumpOptions): DumpSession {
    const stats = deferred<TableStats>();
    let config: ToolConfig | undefined;
    const output = deferredOutput(
      async () => {
        const t = mongoTarget(conn);
        stats.resolve(await this.stats(conn));
        config = await writeToolConfig(t);
        return processOutput(
          {
            command: 'mongodump',
            args: [
              '--archive',
              `--uri=${mongoUri(t, { database: t.database, withPassword: false })}`,
              ...config.args,
            ],
            env: toolEnv(t),
            errorLines: MONGODUMP_ERROR_LINES,
          },
          undefined,
          options.through,
        );
      },
      {
        onSettled: async (error) => {
          if (error) stats.reject(error);
          await config?.remove();
        },
        mapError: explain,
      },
    );
    return { output, stats: stats.promise, piped: options.through !== undefined };
  }

  /**
   * `mongorestore --archive --stopOnError`, renaming whatever database the archive came from to
   * the target's, so a backup restores under any name. With `drop` the target database is
   * dropped first (`dropDatabase`: collections, views, indexes; users live in admin and stay):
   * `mongorestore --drop` alone drops only the collections the archive has, and the others
   * would stay. MongoDB cannot roll this back: a restore that fails after the drop leaves the
   * target partly restored (and the run FAILED).
   */
  async restore(target: Connection, input: Readable, options: RestoreOptions): Promise<void> {
    let config: ToolConfig | undefined;
    try {
      const t = mongoTarget(target);
      if (options.dumpFormat !== MONGODB_DUMP_FORMAT) {
        throw new UserError(
          `the mongodb engine cannot restore a "${options.dumpFormat}" dump; restore it with the engine that made it`,
        );
      }
      if (!options.drop && !(await this.isEmpty(target))) {
        throw new UserError(
          `${t.database} on ${t.hosts} already has collections: restore with --drop to replace them, or into an empty database`,
        );
      }
      if (options.drop) await this.mongosh(t, SCRIPTS.drop);
      config = await writeToolConfig(t);
      await processInput(
        {
          command: 'mongorestore',
          args: [
            '--archive',
            // The tools take a database in the URL as --db, which is meant for BSON files and
            // does not rename an archive's namespaces; --nsTo names the target instead.
            `--uri=${mongoUri(t, { database: null, withPassword: false })}`,
            ...config.args,
            '--nsFrom=$db$.$coll$',
            `--nsTo=${t.database}.$coll$`,
            // Without it mongorestore logs failed documents and still exits 0.
            '--stopOnError',
            ...(options.drop ? ['--drop'] : []),
          ],
          env: toolEnv(t),
          ...(options.signal ? { signal: options.signal } : {}),
        },
        input,
      );
    } catch (err) {
      const error = explain(err);
      abandonInput(input, error);
      throw error;
    } finally {
      await config?.remove();
    }
  }

  /** True when the database has no collections (MongoDB databases exist only once they have one). */
  async isEmpty(target: Connection): Promise<boolean> {
    const reply = await this.mongosh(mongoTarget(target), SCRIPTS.objects);
    return Number(reply.collections) === 0;
  }

  /**
   * A connection to database `name` (sanitised) on the source's servers; MongoDB creates it on
   * the first write. Fails if a database of that name already exists.
   */
  async createScratch(source: Connection, name: string): Promise<Connection> {
    const src = mongoTarget(source);
    const database = scratchIdentifier(name, MAX_IDENTIFIER);
    const url = mongoUri(src, { database, withPassword: false });
    const scratch = { url, ...(source.password !== undefined ? { password: source.password } : {}) };
    const reply = await this.mongosh(mongoTarget(scratch), SCRIPTS.exists);
    if (reply.exists === true) {
      throw new UserError(
        `database ${database} already exists on ${src.hosts}: drop it or choose another name`,
      );
    }
    rememberScratch(this.name, scratch.url);
    return scratch;
  }

  /** Drops a database made by {@link createScratch}. */
  async dropScratch(scratch: Connection): Promise<void> {
    const t = mongoTarget(scratch);
    claimScratch(this.name, scratch.url, `${t.database} on ${t.hosts}`);
    await this.mongosh(t, SCRIPTS.drop);
    forgetScratch(this.name, scratch.url);
  }

  /** Runs one of {@link SCRIPTS} and returns the JSON object it printed. */
  private async mongosh(t: MongoTarget, script: string): Promise<Record<string, unknown>> {
    try {
      const out = await runCommand({
        command: 'mongosh',
        args: ['--nodb', '--quiet', '--eval', script],
        env: { ...toolEnv(t), [MONGOSH_URI_ENV]: mongoUri(t, { database: t.database, withPassword: true }) },
      });
      return lastJsonObject(out, 'mongosh');
    } catch (err) {
      throw explain(err);
    }
  }
}
