/**
 * The database engines, by the name jobs use in the config. The pipeline (core/) only knows
 * the Engine interface; the CLI and the task pick the implementation here.
 */
import type { EngineName } from '../../core/config/schema.ts';
import type { Engine } from '../../core/engine.ts';
import { ConfigError } from '../../core/errors.ts';
import { MongodbEngine } from './mongodb.ts';
import { MysqlEngine } from './mysql.ts';
import { PostgresEngine } from './postgres.ts';
import { SqliteEngine } from './sqlite.ts';

/** The engine for a job's `engine` setting. */
export function engineFor(name: EngineName): Engine {
  switch (name) {
    case 'postgres':
      return new PostgresEngine();
    case 'mysql':
      return new MysqlEngine();
    case 'sqlite':
      return new SqliteEngine();
    case 'mongodb':
      return new MongodbEngine();
    default:
      throw new ConfigError(
        `unknown engine ${JSON.stringify(name)}; expected postgres, mysql, sqlite or mongodb`,
      );
  }
}

export { MongodbEngine, MysqlEngine, PostgresEngine, SqliteEngine };
