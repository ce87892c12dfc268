/** The standby swap for a job's engine (issue 16 §2): PostgreSQL and MySQL/MariaDB have one. */
import type { Engine } from '../../core/engine.ts';
import { ConfigError } from '../../core/errors.ts';
import type { StandbySwap } from '../../core/standby/swap.ts';
import { MysqlStandbySwap } from './mysql-standby.ts';
import { PostgresStandbySwap } from './pg-standby.ts';

/** The swap for `engine`; a ConfigError for engines without standby support. */
export function standbySwapFor(engine: Engine): StandbySwap {
  if (engine.name === 'postgres') return new PostgresStandbySwap(engine);
  if (engine.name === 'mysql') return new MysqlStandbySwap(engine);
  throw new ConfigError(`standby databases work for postgres and mysql jobs, not ${engine.name}`);
}
