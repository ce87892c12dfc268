/**
 * Real databases for integration tests: unique PostgreSQL/MariaDB databases and SQLite files
 * with the same sample schema, and a content fingerprint (row counts + checksum of ordered
 * contents per table) to prove that what was restored equals what was dumped.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;
export const MY = { host: '127.0.0.1', port: 3306, user: 'root' } as const;

function run(command: string, args: string[], input?: string): string {
  const r = spawnSync(command, args, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export function psql(db: string, sql: string): string {
  return run(
    'psql',
    ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt'],
    sql,
  );
}

export function mariadb(db: string | undefined, sql: string): string {
  return run(
    'mariadb',
    ['-h', MY.host, '-P', String(MY.port), '-u', MY.user, '-N', '-B', ...(db ? [db] : [])],
    sql,
  );
}

export function sqlite(file: string, sql: string): string {
  return run('sqlite3', ['-batch', file], sql);
}

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;

/**
 * A run id (8 lowercase hex characters) no other test run uses. Scratch and drill databases are
 * named after the run (`{job}_{kind}_{runId}`), and two `npm test` may share the servers: a
 * hard-coded run id makes them create and drop each other's databases.
 */
export const uniqueRunId = () => randomBytes(4).toString('hex');

const SAMPLE_ROWS = 500;

/** Creates a PostgreSQL database with sample data; returns its name. */
export function createPostgresDb(name = uniqueName('dvt_pg')): string {
  psql('postgres', `CREATE DATABASE ${name}`);
  psql(
    name,
    `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, city text, photo bytea);
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2), note text, placed_at timestamptz);
     CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int PRIMARY KEY, amount int);
     INSERT INTO customers (name, city, photo) SELECT 'Kunde ' || i || ' ✓ ünïcödé', CASE WHEN i % 3 = 0 THEN NULL ELSE 'Zürich' END, decode(md5(i::text), 'hex') FROM generate_series(1, ${SAMPLE_ROWS}) i;
     INSERT INTO orders (customer_id, total, note, placed_at) SELECT 1 + i % ${SAMPLE_ROWS}, i * 1.25, repeat(md5(i::text), 3), '2026-01-01'::timestamptz + i * interval '1 hour' FROM generate_series(1, ${SAMPLE_ROWS * 4}) i;
     INSERT INTO billing.invoices SELECT i, i * 7 FROM generate_series(1, 50) i;
     CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;`,
  );
  return name;
}

/** Row counts and md5 of ordered contents per user table. */
export function postgresFingerprint(db: string): string {
  const tables = psql(
    db,
    `SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1`,
  )
    .trim()
    .split('\n')
    .filter(Boolean);
  return tables
    .map(
      (t) =>
        `${t}:${psql(db, `SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM ${t} x`).trim()}`,
    )
    .join('\n');
}

export function dropPostgresDb(name: string): void {
  psql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** Creates a MariaDB database with sample data; returns its name. */
export function createMariaDb(name = uniqueName('dvt_my')): string {
  mariadb(undefined, `CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  mariadb(
    name,
    `CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, city VARCHAR(100), photo BLOB) ENGINE=InnoDB;
     CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT, total DECIMAL(12,2), note TEXT, placed_at DATETIME) ENGINE=InnoDB;
     INSERT INTO customers (name, city, photo) SELECT CONCAT('Kunde ', seq, ' ✓ ünïcödé'), IF(seq % 3 = 0, NULL, 'Zürich'), UNHEX(MD5(seq)) FROM seq_1_to_${SAMPLE_ROWS};
     INSERT INTO orders (customer_id, total, note, placed_at) SELECT 1 + seq % ${SAMPLE_ROWS}, seq * 1.25, REPEAT(MD5(seq), 3), '2026-01-01' + INTERVAL seq HOUR FROM seq_1_to_${SAMPLE_ROWS * 4};
     CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;`,
  );
  return name;
}

export function mariaFingerprint(db: string): string {
  const tables = mariadb(
    db,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1`,
  )
    .trim()
    .split('\n')
    .filter(Boolean);
  return tables
    .map((t) => {
      const cols = mariadb(
        db,
        `SELECT GROUP_CONCAT(CONCAT('IFNULL(HEX(\`', column_name, '\`),"~")') ORDER BY ordinal_position SEPARATOR ',') FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '${t}'`,
      ).trim();
      return `${t}:${mariadb(db, `SET SESSION group_concat_max_len = 1073741824; SELECT CONCAT(COUNT(*), ':', IFNULL(MD5(GROUP_CONCAT(CONCAT_WS(',', ${cols}) ORDER BY 1 SEPARATOR '|')), '')) FROM \`${t}\``).trim()}`;
    })
    .join('\n');
}

export function dropMariaDb(name: string): void {
  mariadb(undefined, `DROP DATABASE IF EXISTS ${name}`);
}

/** Creates a SQLite file with sample data. */
export function createSqliteDb(file: string): void {
  sqlite(
    file,
    `PRAGMA journal_mode=WAL;
     CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, photo BLOB);
     CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL, note TEXT);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SAMPLE_ROWS})
     INSERT INTO customers SELECT i, 'Kunde ' || i || ' ✓ ünïcödé', CASE WHEN i % 3 = 0 THEN NULL ELSE 'Zürich' END, randomblob(16) FROM n;
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SAMPLE_ROWS * 4})
     INSERT INTO orders SELECT i, 1 + i % ${SAMPLE_ROWS}, i * 1.25, hex(randomblob(24)) FROM n;
     CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;`,
  );
}

export function sqliteFingerprint(file: string): string {
  const tables = sqlite(
    file,
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1`,
  )
    .trim()
    .split('\n')
    .filter(Boolean);
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
  return tables
    .map((t) => {
      const cols = sqlite(
        file,
        `SELECT group_concat('quote(' || quote(name) || ')', ' || '','' || ') FROM pragma_table_info('${t.replace(/'/g, "''")}')`,
      ).trim();
      // Sorted here, not by rowid: virtual tables' shadow tables may have none (WITHOUT ROWID).
      const rows = sqlite(file, `SELECT ${cols} FROM ${quote(t)}`)
        .trim()
        .split('\n')
        .filter(Boolean)
        .sort();
      return `${t}:${rows.length}:${createHash('md5').update(rows.join('\n')).digest('hex')}`;
    })
    .join('\n');
}
