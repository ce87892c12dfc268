/**
 * The benchmark's databases: a pgbench database and a MariaDB table of the same shape, built
 * once and reused while their recorded shape (scale, filler) still matches the options.
 *
 * The default pgbench filler is blank padding, which every codec squeezes to almost nothing,
 * so a benchmark on it measures nothing an operator would see. With `filler: 'md5'` every
 * account row carries 32 random hex characters instead: about 290 MB of dump at scale 30 that
 * gzip shrinks about 4x, like real tables with ids, hashes and text.
 */
import { runQuiet } from './measure.ts';

/** The data in the account rows' `filler` column. */
export type Filler = 'md5' | 'blank';

export interface DatasetShape {
  /** pgbench scale: 100 000 account rows per unit. */
  readonly scale: number;
  readonly filler: Filler;
}

/** Where the bench databases live (loopback only). */
export const PG_SERVER = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;
export const MY_SERVER = { host: '127.0.0.1', port: 3306, user: 'root' } as const;

/** Database names: one per shape, so a quick run never replaces the full dataset. */
export function databaseName(shape: DatasetShape): string {
  return `dvbench_s${String(shape.scale).replace('.', '_')}_${shape.filler}`;
}

/** `postgres://postgres@127.0.0.1:5432/<db>` */
export function pgUrl(db: string): string {
  return `postgres://${PG_SERVER.user}@${PG_SERVER.host}:${PG_SERVER.port}/${db}`;
}

/** `mysql://root@127.0.0.1:3306/<db>` */
export function myUrl(db: string): string {
  return `mysql://${MY_SERVER.user}@${MY_SERVER.host}:${MY_SERVER.port}/${db}`;
}

const pgArgs = ['-h', PG_SERVER.host, '-p', String(PG_SERVER.port), '-U', PG_SERVER.user];
const myArgs = ['-h', MY_SERVER.host, '-P', String(MY_SERVER.port), '-u', MY_SERVER.user];

/** Runs SQL through psql and returns its unaligned output. */
export async function psql(db: string, sql: string, timeoutMs = 30 * 60_000): Promise<string> {
  return runQuiet('psql', [...pgArgs, '-d', db, '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    timeoutMs,
  });
}

/** Runs SQL through the mariadb client and returns its batch output. */
export async function mariadb(db: string | undefined, sql: string, timeoutMs = 30 * 60_000): Promise<string> {
  return runQuiet('mariadb', [...myArgs, '-N', '-B', ...(db ? [db] : []), '-e', sql], { timeoutMs });
}

// The shape is recorded in the database itself, so a half-built dataset (the build was
// interrupted) is never mistaken for a finished one: the marker is written last.
const MARKER = 'dvbench_shape';

async function pgReady(db: string, shape: DatasetShape): Promise<boolean> {
  const exists = await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${db}'`);
  if (exists.trim() !== '1') return false;
  const marker = await psql(db, `SELECT obj_description('public.pgbench_accounts'::regclass)`).catch(
    () => '',
  );
  return marker.trim() === `${MARKER} ${JSON.stringify(shape)}`;
}

/**
 * Builds the PostgreSQL dataset if it is absent: pgbench -i at `scale`, then (md5 filler)
 * every account's filler rewritten and the table compacted, then the primary keys.
 */
export async function ensurePostgresDataset(
  shape: DatasetShape,
  log: (line: string) => void,
): Promise<string> {
  const db = databaseName(shape);
  if (await pgReady(db, shape)) return db;
  log(`building PostgreSQL dataset ${db} (pgbench scale ${shape.scale}, ${shape.filler} filler)…`);
  await psql('postgres', `DROP DATABASE IF EXISTS ${db}`);
  await psql('postgres', `CREATE DATABASE ${db}`);
  // Tables and rows first, keys last: the filler rewrite is much cheaper without indexes.
  await runQuiet('pgbench', [...pgArgs, '-i', '-q', '-I', 'dtg', '-s', String(shape.scale), db], {
    timeoutMs: 60 * 60_000,
  });
  if (shape.filler === 'md5') {
    await psql(db, 'UPDATE pgbench_accounts SET filler = md5(random()::text)');
    await psql(db, 'VACUUM FULL pgbench_accounts');
  }
  await runQuiet('pgbench', [...pgArgs, '-i', '-q', '-I', 'vp', db], { timeoutMs: 60 * 60_000 });
  await psql(db, `COMMENT ON TABLE pgbench_accounts IS '${MARKER} ${JSON.stringify(shape)}'`);
  return db;
}

/** The one-row database of the fixed-cost row: what a backup costs before any byte of data. */
export const FIXED_DB = 'dvbench_fixed';

/**
 * Builds the fixed-cost row's database if it is absent: one table, one row. A backup of it is
 * start-up, config, keys, the server's inspection, the dump tool's own start and the manifest:
 * everything but the streaming, which the full rows' own CPU minus this row's is.
 */
export async function ensureFixedDataset(): Promise<string> {
  const exists = await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${FIXED_DB}'`);
  if (exists.trim() === '1') return FIXED_DB;
  await psql('postgres', `CREATE DATABASE ${FIXED_DB}`);
  await psql(
    FIXED_DB,
    `CREATE TABLE one (id int PRIMARY KEY, note text); INSERT INTO one VALUES (1, 'fixed cost')`,
  );
  return FIXED_DB;
}

async function myReady(db: string, shape: DatasetShape): Promise<boolean> {
  const comment = await mariadb(
    undefined,
    `SELECT table_comment FROM information_schema.tables WHERE table_schema = '${db}' AND table_name = 'accounts'`,
  );
  return comment.trim() === `${MARKER} ${JSON.stringify(shape)}`;
}

/**
 * Builds the MariaDB dataset if it is absent: the pgbench tables' shape (branches, tellers,
 * accounts with the same filler) generated with MariaDB's sequence engine.
 */
export async function ensureMariadbDataset(
  shape: DatasetShape,
  log: (line: string) => void,
): Promise<string> {
  const db = databaseName(shape);
  if (await myReady(db, shape)) return db;
  log(
    `building MariaDB dataset ${db} (${Math.round(shape.scale * 100_000)} account rows, ${shape.filler} filler)…`,
  );
  const accounts = Math.round(shape.scale * 100_000);
  const branches = Math.max(1, Math.round(shape.scale));
  const filler = shape.filler === 'md5' ? 'MD5(RAND())' : "''";
  await mariadb(undefined, `DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}`);
  await mariadb(
    db,
    [
      'CREATE TABLE branches (bid INT PRIMARY KEY, bbalance INT, filler CHAR(88)) ENGINE=InnoDB',
      'CREATE TABLE tellers (tid INT PRIMARY KEY, bid INT, tbalance INT, filler CHAR(84)) ENGINE=InnoDB',
      'CREATE TABLE accounts (aid INT PRIMARY KEY, bid INT, abalance INT, filler CHAR(84)) ENGINE=InnoDB',
      `INSERT INTO branches SELECT seq, 0, '' FROM seq_1_to_${branches}`,
      `INSERT INTO tellers SELECT seq, (seq - 1) DIV 10 + 1, 0, '' FROM seq_1_to_${branches * 10}`,
      `INSERT INTO accounts SELECT seq, (seq - 1) DIV 100000 + 1, 0, ${filler} FROM seq_1_to_${accounts}`,
      `ALTER TABLE accounts COMMENT = '${MARKER} ${JSON.stringify(shape)}'`,
    ].join(';\n'),
  );
  return db;
}
