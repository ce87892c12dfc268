/**
 * What a restore target already holds, seen by the Guard step through a database driver before
 * any task starts. "Empty" means what the engines mean by it (task-image/engines/*.ts
 * `isEmpty`), counted the same way so the Guard and the restore task never disagree:
 *
 * - PostgreSQL: tables, views, sequences, functions, types and schemas other than `public`,
 *   outside the system schemas and not members of an extension; a missing database is empty.
 * - MySQL / MariaDB: tables, views, sequences, routines and events of the database; a missing
 *   database is empty.
 * - MongoDB: collections other than `system.*` (a database exists only once it has one).
 *
 * Each engine's probe takes a connection factory, so tests hand in the real driver against a
 * real server, or a stand-in client where no server can run.
 */
import type { EngineName } from '../../core/config/schema.ts';
import { connectMongo, type MongoConnect, probeMongo } from './probe-mongo.ts';
import { connectMysql, type MysqlConnect, probeMysql } from './probe-mysql.ts';
import { connectPostgres, type PgConnect, probePostgres } from './probe-postgres.ts';
import { RestoreInputError } from './restore-contract.ts';
import type { ProbeTarget, TargetInventory } from './target-inventory.ts';

export { describeObjects, objectCount, type ProbeTarget, type TargetInventory } from './target-inventory.ts';

/** A connection factory per engine. */
export interface TargetConnectors {
  readonly postgres: PgConnect;
  readonly mysql: MysqlConnect;
  readonly mongodb: MongoConnect;
}

/** The real drivers. */
export const DRIVER_CONNECTORS: TargetConnectors = {
  postgres: connectPostgres,
  mysql: connectMysql,
  mongodb: connectMongo,
};

/** What the target of a job with `engine` holds. SQLite files are out of the Guard's reach. */
export async function probeTarget(
  engine: EngineName,
  target: ProbeTarget,
  connectors: TargetConnectors = DRIVER_CONNECTORS,
): Promise<TargetInventory> {
  switch (engine) {
    case 'postgres':
      return probePostgres(target, connectors.postgres);
    case 'mysql':
      return probeMysql(target, connectors.mysql);
    case 'mongodb':
      return probeMongo(target, connectors.mongodb);
    case 'sqlite':
      throw new RestoreInputError(
        'a SQLite file is no restore target in AWS: restore it where the file lives',
      );
  }
}
