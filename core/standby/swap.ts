/**
 * The contract between a standby run (core/standby/run.ts) and the engine-specific swap
 * (task-image/engines/*-standby.ts): where the next standby is restored, and how it replaces
 * the current one at once.
 */
import type { Connection } from '../engine.ts';

/** What a swap recorded: the names, for history and for the operator who fails over. */
export interface SwapOutcome {
  /** The standby database (now holding the new backup). */
  readonly standby: string;
  /** Where the previous standby is kept until the next swap; undefined on the first swap. */
  readonly previous?: string;
}

/** Engine-specific operations on a standby database and its neighbours. */
export interface StandbySwap {
  /**
   * Refuses (UserError) a standby that exists, holds data and was not made by dumpvault: a
   * mistyped URL must never have its database renamed away. Nothing is changed.
   */
  checkStandby(standby: Connection): Promise<void>;
  /**
   * Drops whatever a failed earlier run left in the next database and creates it empty (with
   * the standby's, else the server's, encoding); returns a connection to it.
   */
  prepareNext(standby: Connection): Promise<Connection>;
  /**
   * Replaces the standby with `next` (its data now under the standby's name) and keeps the
   * replaced standby as the previous one, dropping the one before. `label` says which backup
   * the new standby holds (PostgreSQL keeps it as the database's comment).
   */
  swap(standby: Connection, next: Connection, label: string): Promise<SwapOutcome>;
  /** Drops the next database after a failed run; the standby is not touched. */
  discardNext(next: Connection): Promise<void>;
}
