/**
 * `npm run demo`: the embedded default. Backs up a sample SQLite database into ./backups with
 * gzip + OpenPGP (a demo keypair is generated once), lists, verifies, restores into a new file,
 * proves the restored data equals the original, and prunes by retention — each step printed
 * with the command a user would type.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const demoDir = path.join(root, 'demo');
const cli = path.join(root, 'dist', 'dumpvault.mjs');
const config = path.join(demoDir, 'dumpvault.config.json');
const db = path.join(demoDir, 'data', 'sample.db');
const privateKey = path.join(demoDir, 'keys', 'dumpvault.private.asc');

function title(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

/** Runs the dumpvault CLI like a user would and fails the demo if it fails. */
function dumpvault(args: string[], options: { expectFailure?: boolean } = {}): string {
  process.stdout.write(`$ dumpvault ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args, '--config', config], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DUMPVAULT_PRIVATE_KEY: privateKey },
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (!options.expectFailure && r.status !== 0) {
    process.stderr.write(`demo failed: "dumpvault ${args.join(' ')}" exited with ${r.status}\n`);
    process.exit(1);
  }
  return r.stdout;
}

function sqlite(file: string, sql: string): string {
  const r = spawnSync('sqlite3', ['-batch', file], { input: sql, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

function createSampleDatabase(): void {
  mkdirSync(path.dirname(db), { recursive: true });
  sqlite(
    db,
    `PRAGMA journal_mode=WAL;
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, city TEXT);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT UNIQUE NOT NULL, title TEXT NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, note TEXT, created_at TEXT NOT NULL);
CREATE INDEX orders_by_customer ON orders(customer_id);
CREATE VIEW order_totals AS SELECT o.id, o.quantity * p.price_cents AS total_cents FROM orders o JOIN products p ON p.id = o.product_id;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO customers SELECT i, 'Customer ' || i, 'customer' || i || '@example.com', CASE i % 4 WHEN 0 THEN 'Berlin' WHEN 1 THEN 'São Paulo' WHEN 2 THEN 'Zürich' ELSE NULL END FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO products SELECT i, 'SKU-' || printf('%05d', i), 'Product ' || i || ' — ' || hex(randomblob(8)), 100 + (i * 37) % 9900 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO orders SELECT i, 1 + (i * 7) % 2000, 1 + (i * 13) % 300, 1 + i % 5, CASE WHEN i % 10 = 0 THEN 'gift ✓ ' || hex(randomblob(16)) END, datetime('2026-01-01', '+' || (i % 320) || ' days') FROM n;`,
  );
}

/** Row counts and a checksum of ordered contents, table by table. */
function fingerprint(file: string): string {
  return sqlite(
    file,
    `SELECT 'customers', count(*), sum(length(name || ifnull(email,'') || ifnull(city,''))) FROM customers;
SELECT 'products', count(*), sum(price_cents) FROM products;
SELECT 'orders', count(*), sum(quantity * customer_id), sum(length(ifnull(note,''))) FROM orders;
SELECT 'order_totals', count(*), sum(total_cents) FROM order_totals;`,
  );
}

function main(): void {
  if (!existsSync(cli)) {
    const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-cli.mjs')], {
      cwd: root,
      stdio: 'inherit',
    });
    if (built.status !== 0) process.exit(1);
  }
  title('Setting up the demo (once): sample SQLite database, demo keypair, config');
  if (!existsSync(db)) {
    createSampleDatabase();
    process.stdout.write(`created ${path.relative(root, db)}\n`);
  } else process.stdout.write(`using ${path.relative(root, db)}\n`);
  if (!existsSync(privateKey)) {
    dumpvault(['keygen', '--out', path.join(demoDir, 'keys'), '--name', 'dumpvault demo']);
  }
  if (!existsSync(config)) {
    writeFileSync(
      config,
      `${JSON.stringify(
        {
          destinations: { local: { type: 'file', path: '../backups' } },
          encryption: { demo: { type: 'openpgp', recipients: ['keys/dumpvault.pub.asc'] } },
          jobs: [
            {
              name: 'demo-sqlite',
              engine: 'sqlite',
              source: { url: 'sqlite:./data/sample.db' },
              destinations: ['local'],
              compression: 'gzip',
              encryption: 'demo',
              retention: { keepLast: 2, daily: 1 },
            },
          ],
        },
        null,
        2,
      )}\n`,
    );
    process.stdout.write(`wrote ${path.relative(root, config)}\n`);
  }

  title('1. Validate the config and check the job');
  dumpvault(['validate']);
  dumpvault(['check', 'demo-sqlite']);

  title('2. Back up (three runs, so retention has something to prune)');
  for (let i = 0; i < 3; i++) dumpvault(['backup', 'demo-sqlite']);

  title('3. List backups (read from the manifests in ./backups)');
  dumpvault(['list', 'demo-sqlite']);

  title('4. Verify the latest backup: size, sha256, decryption');
  dumpvault(['verify', 'demo-sqlite', 'latest', '--key', privateKey]);

  title('5. Restore into a new file and compare with the original');
  const restored = path.join(demoDir, `restored-${Date.now()}.db`);
  dumpvault(['restore', 'demo-sqlite', 'latest', '--to', `sqlite:${restored}`, '--key', privateKey]);
  const before = fingerprint(db);
  const after = fingerprint(restored);
  process.stdout.write(`original: ${before.replace(/\n/g, '  ')}\nrestored: ${after.replace(/\n/g, '  ')}\n`);
  if (before !== after) {
    process.stderr.write('demo failed: the restored database differs from the original\n');
    process.exit(1);
  }
  process.stdout.write('restored data equals the original ✓\n');

  title('6. Retention: the plan, then the history');
  dumpvault(['prune', 'demo-sqlite', '--dry-run']);
  dumpvault(['history', 'demo-sqlite', '--limit', '6']);

  title('Done');
  process.stdout.write(
    `Backups are in ./backups/demo-sqlite/. Without dumpvault:\n  gpg --decrypt <file>.sql.gz.gpg | gunzip | sqlite3 copy.db   (after: gpg --import ${path.relative(root, privateKey)})\n`,
  );
}

main();
