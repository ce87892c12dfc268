/**
 * Lock waits of a dump are bounded, and its helpers end with it (issue 11 §4), against the real
 * PostgreSQL and MariaDB servers: another session holds a table lock (a psql or mariadb child of
 * this test, in an open transaction or under LOCK TABLES) and the dump must fail within the
 * job's lockWaitSeconds, naming the lock wait — or, when it is destroyed while it waits, leave
 * no client process of its own behind (before the fix, a stopped MariaDB backup lived on until
 * the lock was released, held open by its row-count client).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Connection, Engine } from '../../../core/engine.ts';
import { MysqlEngine } from '../../../task-image/engines/mysql.ts';
import { PostgresEngine } from '../../../task-image/engines/postgres.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { childPids, collect, mariadb, psql, rejectionOf, uniqueName, waitFor } from './support.ts';

const pgDb = uniqueName('dv_pg_lock');
const myDb = uniqueName('dv_my_lock');
const pgSource: Connection = { url: `postgres://postgres@127.0.0.1:5432/${pgDb}` };
const mySource: Connection = { url: `mysql://root@127.0.0.1:3306/${myDb}` };

/** A client session of its own that took a lock and holds it until it is stopped. */
interface Locker {
  readonly child: ChildProcess;
  release(): Promise<void>;
}

/**
 * Every lock still held, released after each test even when it timed out (a dump that waits
 * forever never reaches the test's own clean-up, and a held lock would block dropping the
 * databases).
 */
const held = new Set<Locker>();

/**
 * Starts `command args`, sends `sql` (which takes the lock, then prints `locked`) and resolves
 * once the lock is held: the line arrives only after the lock statement succeeded.
 */
async function holdLock(command: string, args: readonly string[], sql: string): Promise<Locker> {
  const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stdin?.write(`${sql}\n`);
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.trim() === 'locked') resolve();
    });
    void exited.then(() => reject(new Error(`the locking session ended: ${stderr}`)));
  });
  const locker: Locker = {
    child,
    release: async () => {
      held.delete(locker);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  held.add(locker);
  return locker;
}

const pgLocker = () =>
  holdLock(
    'psql',
    ['-X', '-q', '-A', '-t', '-h', '127.0.0.1', '-U', 'postgres', '-d', pgDb],
    "BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; SELECT 'locked';",
  );

const myLocker = (table: string) =>
  holdLock(
    'mariadb',
    ['-h', '127.0.0.1', '-u', 'root', '--batch', '--skip-column-names', '--unbuffered', myDb],
    `LOCK TABLES \`${table}\` WRITE; SELECT 'locked';`,
  );

/** This process's client children of `names`, except the locking session. */
function ownClients(names: readonly string[], locker: Locker): number[] {
  return names.flatMap((name) => childPids(name)).filter((pid) => pid !== locker.child.pid);
}

/** Dumps with a lock-wait bound of 2 s; resolves with the error and how long it took. */
async function failedDump(engine: Engine, source: Connection): Promise<{ error: Error; seconds: number }> {
  const started = Date.now();
  const session = engine.dump(source, { format: 'custom', lockWaitSeconds: 2 });
  session.stats.catch(() => {});
  const error = await rejectionOf(collect(session.output));
  return { error, seconds: (Date.now() - started) / 1000 };
}

beforeAll(() => {
  psql('postgres', `CREATE DATABASE ${pgDb}`);
  psql(
    pgDb,
    'CREATE TABLE accounts (id int PRIMARY KEY); INSERT INTO accounts SELECT generate_series(1, 100);',
  );
  mariadb(null, `CREATE DATABASE \`${myDb}\``);
  mariadb(
    myDb,
    `CREATE TABLE accounts (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO accounts VALUES (1), (2), (3);
     CREATE SEQUENCE invoice_numbers;`,
  );
}, TIMEOUT.setup);

afterEach(async () => {
  await Promise.all([...held].map((locker) => locker.release()));
});

afterAll(() => {
  psql('postgres', `DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`);
  mariadb(null, `DROP DATABASE IF EXISTS \`${myDb}\``);
});

describe('PostgreSQL: a table another session holds locked', { timeout: TIMEOUT.roundTrips }, () => {
  it('fails the dump within lockWaitSeconds, naming the lock wait and the bound', async () => {
    const locker = await pgLocker();
    try {
      const { error, seconds } = await failedDump(new PostgresEngine(), pgSource);

      expect(error.message).toMatch(/lock/i);
      expect(error.message).toMatch(/than 2 s (for a table lock )?\(lockWaitTimeoutSeconds\)/);
      // 2 s and the time to start psql and pg_dump on a busy machine; without a bound, never.
      expect(seconds).toBeLessThan(60);
    } finally {
      await locker.release();
    }
  });

  it('stops pg_dump and the row-count session when the dump is destroyed while they wait', async () => {
    const locker = await pgLocker();
    try {
      const session = new PostgresEngine().dump(pgSource, { format: 'custom', lockWaitSeconds: 600 });
      session.stats.catch(() => {});
      const done = collect(session.output).catch(() => {});
      // Both wait behind the lock: pg_dump's LOCK TABLE and the session's count.
      await waitFor(
        () =>
          Number(
            psql(
              'postgres',
              `SELECT count(*) FROM pg_stat_activity WHERE datname = '${pgDb}' AND wait_event_type = 'Lock'`,
            ).trim(),
          ) >= 2,
      );
      const clients = ownClients(['psql', 'pg_dump'], locker);
      expect(clients.length).toBeGreaterThanOrEqual(2);

      session.output.destroy();
      await done;

      await waitFor(() => ownClients(['psql', 'pg_dump'], locker).length === 0, 30_000);
      expect(locker.child.exitCode).toBeNull(); // the lock was never released meanwhile
    } finally {
      await locker.release();
    }
  });
});

describe('MariaDB: a table another session holds locked', { timeout: TIMEOUT.roundTrips }, () => {
  it('fails the dump within lockWaitSeconds when the row count waits for the lock', async () => {
    const locker = await myLocker('accounts');
    try {
      const { error, seconds } = await failedDump(new MysqlEngine(), mySource);

      expect(error.message).toMatch(/lock/i);
      expect(error.message).toMatch(/than 2 s (for a table lock )?\(lockWaitTimeoutSeconds\)/);
      expect(seconds).toBeLessThan(60);
      await waitFor(() => ownClients(['mariadb', 'mariadb-dump'], locker).length === 0, 30_000);
    } finally {
      await locker.release();
    }
  });

  it('fails the dump within lockWaitSeconds when only mariadb-dump waits (a locked sequence is not counted)', async () => {
    const locker = await myLocker('invoice_numbers');
    try {
      const { error, seconds } = await failedDump(new MysqlEngine(), mySource);

      expect(error.message).toMatch(
        /^the dump waited more than 2 s for a table lock \(lockWaitTimeoutSeconds\): Waiting for table metadata lock at .*invoice_numbers/,
      );
      expect(seconds).toBeLessThan(60);
      await waitFor(() => ownClients(['mariadb', 'mariadb-dump'], locker).length === 0, 30_000);
    } finally {
      await locker.release();
    }
  });

  it('stops mariadb-dump and the row-count client when the dump is destroyed while they wait', async () => {
    const locker = await myLocker('accounts');
    try {
      const session = new MysqlEngine().dump(mySource, { format: 'custom', lockWaitSeconds: 600 });
      session.stats.catch(() => {});
      const done = collect(session.output).catch(() => {});
      // The count and the dump's SELECT both wait for the table's metadata lock.
      await waitFor(
        () =>
          Number(
            mariadb(
              null,
              `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '${myDb}' AND STATE LIKE 'Waiting for%lock%'`,
            ).trim(),
          ) >= 2,
      );
      const clients = ownClients(['mariadb', 'mariadb-dump'], locker);
      expect(clients.length).toBeGreaterThanOrEqual(2);

      session.output.destroy();
      await done;

      await waitFor(() => ownClients(['mariadb', 'mariadb-dump'], locker).length === 0, 30_000);
      expect(locker.child.exitCode).toBeNull(); // the lock was never released meanwhile
    } finally {
      await locker.release();
    }
  });
});
