/**
 * The Guard's look into a restore target (functions/logic/target-probe.ts) with the real drivers
 * against the real servers on this machine — PostgreSQL (127.0.0.1:5432, trust, user postgres)
 * and MariaDB (127.0.0.1:3306, root without a password): an empty database, one with data, a
 * missing one, objects only an engine would count, and agreement with the engines' own
 * `isEmpty` on every case. MongoDB: no server can be installed here, so its probe runs against
 * a STAND-IN CLIENT (an object shaped like the driver's MongoClient), clearly labelled below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';
import {
  type MongoConnect,
  type MongoProbeClient,
  type MongoProbeOptions,
  probeMongo,
} from '../../../functions/logic/probe-mongo.ts';
import {
  connectMysql,
  type MysqlConnect,
  type MysqlProbeSettings,
  probeMysql,
} from '../../../functions/logic/probe-mysql.ts';
import {
  connectPostgres,
  type PgConnect,
  type PgProbeSettings,
  probePostgres,
} from '../../../functions/logic/probe-postgres.ts';
import { RestoreInputError, TargetUnreachableError } from '../../../functions/logic/restore-contract.ts';
import { describeObjects, probeTarget } from '../../../functions/logic/target-probe.ts';
import { MysqlEngine } from '../../../task-image/engines/mysql.ts';
import { PostgresEngine } from '../../../task-image/engines/postgres.ts';
import {
  createMariaDb,
  createPostgresDb,
  dropMariaDb,
  dropPostgresDb,
  MY,
  mariadb,
  PG,
  psql,
  uniqueName,
} from '../../support/databases.ts';

const PASSWORD = 'probe-password-5e4d3c';
const pgUrl = (db: string, query = '') => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}${query}`;
const myUrl = (db: string) => `mysql://${MY.user}@${MY.host}:${MY.port}/${db}`;

/** The real driver, with every settings object it was handed recorded. */
function recordingPg(): { connect: PgConnect; attempts: PgProbeSettings[] } {
  const attempts: PgProbeSettings[] = [];
  return {
    attempts,
    connect: (settings) => {
      attempts.push(settings);
      return connectPostgres(settings);
    },
  };
}

function recordingMysql(): { connect: MysqlConnect; attempts: MysqlProbeSettings[] } {
  const attempts: MysqlProbeSettings[] = [];
  return {
    attempts,
    connect: (settings) => {
      attempts.push(settings);
      return connectMysql(settings);
    },
  };
}

describe('probePostgres (real PostgreSQL server)', () => {
  const engine = new PostgresEngine();
  const dbs = {
    empty: uniqueName('dvt_probe_empty'),
    data: '',
    functionOnly: uniqueName('dvt_probe_fn'),
    extensionOnly: uniqueName('dvt_probe_ext'),
    missing: uniqueName('dvt_probe_missing'),
  };

  beforeAll(() => {
    psql('postgres', `CREATE DATABASE ${dbs.empty}`);
    dbs.data = createPostgresDb(uniqueName('dvt_probe_data'));
    psql('postgres', `CREATE DATABASE ${dbs.functionOnly}`);
    psql(
      dbs.functionOnly,
      `CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'; CREATE TYPE mood AS ENUM ('ok', 'meh');`,
    );
    psql('postgres', `CREATE DATABASE ${dbs.extensionOnly}`);
    psql(dbs.extensionOnly, 'CREATE EXTENSION citext');
  });

  afterAll(() => {
    for (const db of Object.values(dbs)) if (db) dropPostgresDb(db);
  });

  it('finds nothing in an empty database', async () => {
    expect(await probePostgres({ url: pgUrl(dbs.empty) })).toEqual({ missing: false, objects: {} });
  });

  it('counts the tables, views, sequences and schemas of a database with data', async () => {
    const inventory = await probePostgres({ url: pgUrl(dbs.data) });

    // customers, orders, billing.invoices; big_orders; the two serial sequences; billing.
    expect(inventory).toEqual({
      missing: false,
      objects: { tables: 3, views: 1, sequences: 2, schemas: 1 },
    });
    expect(describeObjects(inventory.objects)).toBe('3 tables, 1 view, 2 sequences and 1 schema');
  });

  it('says missing for a database that does not exist', async () => {
    expect(await probePostgres({ url: pgUrl(dbs.missing) })).toEqual({ missing: true, objects: {} });
  });

  it('counts functions and types, and leaves out what an extension installed', async () => {
    expect(await probePostgres({ url: pgUrl(dbs.functionOnly) })).toEqual({
      missing: false,
      objects: { functions: 1, types: 1 },
    });
    expect(await probePostgres({ url: pgUrl(dbs.extensionOnly) })).toEqual({ missing: false, objects: {} });
  });

  it("agrees with the PostgreSQL engine's isEmpty on every database", async () => {
    for (const db of Object.values(dbs)) {
      const inventory = await probePostgres({ url: pgUrl(db) });
      const empty = Object.keys(inventory.objects).length === 0;

      expect(empty, db).toBe(await engine.isEmpty({ url: pgUrl(db) }));
    }
  });

  it('tries TLS first and falls back to a plain connection on a server without TLS (sslmode prefer, the default)', async () => {
    const pg = recordingPg();

    await probePostgres({ url: pgUrl(dbs.empty), password: PASSWORD }, pg.connect);

    expect(pg.attempts).toEqual([
      {
        host: PG.host,
        port: PG.port,
        user: PG.user,
        password: PASSWORD,
        database: dbs.empty,
        ssl: { rejectUnauthorized: false },
      },
      { host: PG.host, port: PG.port, user: PG.user, password: PASSWORD, database: dbs.empty, ssl: false },
    ]);
  });

  it('connects in plain text at once with sslmode=disable, and refuses a server without TLS with sslmode=require', async () => {
    const pg = recordingPg();

    await probePostgres({ url: pgUrl(dbs.empty, '?sslmode=disable') }, pg.connect);
    const err = await probePostgres({ url: pgUrl(dbs.empty, '?sslmode=require') }).catch((e: unknown) => e);

    expect(pg.attempts.map((a) => a.ssl)).toEqual([false]);
    expect(err).toBeInstanceOf(TargetUnreachableError);
    expect((err as Error).message).toMatch(/The server does not support SSL connections/);
  });

  it('fails with TargetUnreachableError naming the target, never the password, when nothing listens', async () => {
    registerSecret(PASSWORD);
    const url = `postgres://restore@${PG.host}:1/app`;

    const err = await probePostgres({ url, password: PASSWORD }).catch((e: unknown) => e);
    clearSecrets();

    expect(err).toBeInstanceOf(TargetUnreachableError);
    expect((err as Error).message).toBe(
      `cannot connect to the target ${url}: connect ECONNREFUSED ${PG.host}:1; check the URL and its password secret, and that the database accepts connections from the deployment's task security group`,
    );
  });

  it('refuses a URL without a database or with an unknown sslmode as bad input', async () => {
    await expect(probePostgres({ url: `postgres://${PG.host}:5432/` })).rejects.toThrow(RestoreInputError);
    await expect(probePostgres({ url: pgUrl('x', '?sslmode=maybe') })).rejects.toThrow(
      /sslmode must be disable, allow, prefer, require, verify-ca or verify-full, got "maybe"/,
    );
  });
});

describe('probeMysql (real MariaDB server)', () => {
  const engine = new MysqlEngine();
  const dbs = {
    empty: uniqueName('dvt_probe_empty'),
    data: '',
    routineOnly: uniqueName('dvt_probe_routine'),
    sequenceOnly: uniqueName('dvt_probe_seq'),
    missing: uniqueName('dvt_probe_missing'),
  };

  beforeAll(() => {
    mariadb(undefined, `CREATE DATABASE ${dbs.empty}`);
    dbs.data = createMariaDb(uniqueName('dvt_probe_data'));
    mariadb(undefined, `CREATE DATABASE ${dbs.routineOnly}`);
    mariadb(
      dbs.routineOnly,
      `CREATE PROCEDURE hello() SELECT 1; CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;`,
    );
    mariadb(undefined, `CREATE DATABASE ${dbs.sequenceOnly}`);
    mariadb(dbs.sequenceOnly, 'CREATE SEQUENCE ids');
  });

  afterAll(() => {
    for (const db of Object.values(dbs)) if (db) dropMariaDb(db);
  });

  it('finds nothing in an empty database', async () => {
    expect(await probeMysql({ url: myUrl(dbs.empty) })).toEqual({ missing: false, objects: {} });
  });

  it('counts the base tables and views of a database with data', async () => {
    const inventory = await probeMysql({ url: myUrl(dbs.data) });

    expect(inventory).toEqual({ missing: false, objects: { tables: 2, views: 1 } });
    expect(describeObjects(inventory.objects)).toBe('2 tables and 1 view');
  });

  it('says missing for a database that does not exist', async () => {
    expect(await probeMysql({ url: myUrl(dbs.missing) })).toEqual({ missing: true, objects: {} });
  });

  it('counts routines, events and sequences, which a restore would collide with too', async () => {
    expect(await probeMysql({ url: myUrl(dbs.routineOnly) })).toEqual({
      missing: false,
      objects: { routines: 1, events: 1 },
    });
    expect(await probeMysql({ url: myUrl(dbs.sequenceOnly) })).toEqual({
      missing: false,
      objects: { sequences: 1 },
    });
  });

  it("agrees with the MySQL engine's isEmpty on every database", async () => {
    for (const db of Object.values(dbs)) {
      const inventory = await probeMysql({ url: myUrl(db) });
      const empty = Object.keys(inventory.objects).length === 0;

      expect(empty, db).toBe(await engine.isEmpty({ url: myUrl(db) }));
    }
  });

  it('tries TLS first and falls back to a plain connection on a server without TLS', async () => {
    const my = recordingMysql();

    await probeMysql({ url: myUrl(dbs.empty) }, my.connect);

    expect(my.attempts).toEqual([
      { host: MY.host, port: MY.port, user: MY.user, ssl: { rejectUnauthorized: false } },
      { host: MY.host, port: MY.port, user: MY.user },
    ]);
  });

  it('fails with TargetUnreachableError when the server refuses the password, never showing it', async () => {
    registerSecret(PASSWORD);

    const err = await probeMysql({ url: myUrl(dbs.empty), password: PASSWORD }).catch((e: unknown) => e);
    clearSecrets();

    expect(err).toBeInstanceOf(TargetUnreachableError);
    expect((err as Error).message).toMatch(
      new RegExp(`^cannot connect to the target ${myUrl(dbs.empty)}: Access denied for user 'root'@`),
    );
    expect((err as Error).message).not.toContain(PASSWORD);
  });
});

/**
 * STAND-IN CLIENT, not a MongoDB server: none can be installed here. It is shaped like the
 * driver's MongoClient (the real one is type-checked against the same MongoProbeClient
 * interface in target-probe.ts) and records what the probe asked of it.
 */
function standInMongo(collections: string[] | Error): {
  connect: MongoConnect;
  calls: Array<{ url: string; options: MongoProbeOptions }>;
  listed: Array<{ database: string; options: unknown }>;
  closed: () => number;
} {
  const calls: Array<{ url: string; options: MongoProbeOptions }> = [];
  const listed: Array<{ database: string; options: unknown }> = [];
  let closed = 0;
  const client: MongoProbeClient = {
    db: (database) => ({
      listCollections: (_filter, options) => {
        listed.push({ database, options });
        return {
          toArray: async () => {
            if (collections instanceof Error) throw collections;
            return collections.map((name) => ({ name }));
          },
        };
      },
    }),
    close: async () => {
      closed += 1;
    },
  };
  return {
    calls,
    listed,
    closed: () => closed,
    connect: async (url, options) => {
      calls.push({ url, options });
      return client;
    },
  };
}

describe('probeMongo (STAND-IN client, no MongoDB server)', () => {
  it("counts the database's collections, leaving out system collections, and closes the client", async () => {
    const mongo = standInMongo(['orders', 'customers', 'system.views', 'daily_totals']);

    const inventory = await probeMongo({ url: 'mongodb://db.internal:27017/app' }, mongo.connect);

    expect(inventory).toEqual({ missing: false, objects: { collections: 3 } });
    expect(mongo.listed).toEqual([
      { database: 'app', options: { nameOnly: true, authorizedCollections: true } },
    ]);
    expect(mongo.closed()).toBe(1);
  });

  it('finds nothing in a database without collections (a missing database is the same to MongoDB)', async () => {
    const mongo = standInMongo(['system.profile']);

    expect(await probeMongo({ url: 'mongodb://db.internal:27017/app' }, mongo.connect)).toEqual({
      missing: false,
      objects: {},
    });
  });

  it('hands the password to the auth option and keeps it out of the URL it connects to', async () => {
    const mongo = standInMongo([]);

    await probeMongo(
      {
        url: 'mongodb://re%40store@a.internal:27017,b.internal:27017/app?replicaSet=rs0&tls=true',
        password: PASSWORD,
      },
      mongo.connect,
    );

    expect(mongo.calls).toEqual([
      {
        url: 'mongodb://a.internal:27017,b.internal:27017/app?replicaSet=rs0&tls=true',
        options: {
          auth: { username: 're@store', password: PASSWORD },
          serverSelectionTimeoutMS: 10_000,
          connectTimeoutMS: 10_000,
          appName: 'dumpvault-guard',
        },
      },
    ]);
  });

  it('connects with the URL as given when there is no password (x.509, AWS IAM, no auth)', async () => {
    const mongo = standInMongo([]);
    const url = 'mongodb+srv://cluster0.example.net/app?authMechanism=MONGODB-X509';

    await probeMongo({ url }, mongo.connect);

    expect(mongo.calls[0]?.url).toBe(url);
    expect(mongo.calls[0]?.options.auth).toBeUndefined();
  });

  it('fails with TargetUnreachableError when no server is selected, and closes the client when listing fails', async () => {
    const unreachable: MongoConnect = async () => {
      throw Object.assign(new Error('Server selection timed out after 10000 ms'), {
        name: 'MongoServerSelectionError',
      });
    };
    const failing = standInMongo(
      Object.assign(new Error('not authorized on app'), { name: 'MongoServerError' }),
    );

    const connectErr = await probeMongo({ url: 'mongodb://db.internal/app' }, unreachable).catch(
      (e: unknown) => e,
    );
    const listErr = await probeMongo({ url: 'mongodb://db.internal/app' }, failing.connect).catch(
      (e: unknown) => e,
    );

    expect(connectErr).toBeInstanceOf(TargetUnreachableError);
    expect((connectErr as Error).message).toMatch(
      /^cannot connect to the target mongodb:\/\/db\.internal\/app: Server selection timed out after 10000 ms;/,
    );
    expect(listErr).toBeInstanceOf(TargetUnreachableError);
    expect((listErr as Error).message).toBe(
      'cannot read the catalog of the target mongodb://db.internal/app: not authorized on app',
    );
    expect(failing.closed()).toBe(1);
  });

  it('refuses a URL without a database as bad input', async () => {
    await expect(
      probeMongo({ url: 'mongodb://db.internal:27017' }, standInMongo([]).connect),
    ).rejects.toThrow(/add the database name, like mongodb:\/\/restore@db\.internal:27017\/app/);
  });
});

describe('probeTarget', () => {
  it("dispatches on the job's engine", async () => {
    const mongo = standInMongo(['a']);
    const connectors = {
      postgres: connectPostgres,
      mysql: connectMysql,
      mongodb: mongo.connect,
    };

    expect(await probeTarget('mongodb', { url: 'mongodb://db/app' }, connectors)).toEqual({
      missing: false,
      objects: { collections: 1 },
    });
    expect(await probeTarget('postgres', { url: pgUrl(uniqueName('dvt_probe_none')) }, connectors)).toEqual({
      missing: true,
      objects: {},
    });
    await expect(probeTarget('sqlite', { url: 'sqlite:/data/app.db' }, connectors)).rejects.toThrow(
      /a SQLite file is no restore target in AWS/,
    );
  });
});
