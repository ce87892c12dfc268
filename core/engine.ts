/**
 * The contract between the pipeline (core/) and the database engines (task-image/engines/).
 * core/ never imports an engine; the CLI and the task hand one in.
 */
import type { Readable } from 'node:stream';
import type { EngineName } from './config/schema.ts';
import type { DumpChecker, ObjectCounts } from './formats/checker.ts';
import type { ThroughSpec } from './process.ts';

/** A database to dump from or restore into, with its secret already resolved. */
export interface Connection {
  /** The job's source URL (never contains a password: config validation refuses that). */
  readonly url: string;
  /** The resolved password, if any. Registered with redact() by whoever resolved it. */
  readonly password?: string;
}

/** What `inspect` learns before a dump: recorded in the manifest and shown by `check`. */
export interface ServerInfo {
  readonly serverVersion: string;
  readonly tool: { readonly name: string; readonly version: string };
  readonly database: string;
}

/** Per-table row counts, captured at backup time and compared after every restore. */
export type TableStats = Record<string, number>;

export interface DumpOptions {
  /** PostgreSQL: custom or plain; other engines ignore it. */
  readonly format: 'custom' | 'plain';
  /**
   * A process that reads the dump tool's stdout directly (`tool | through`), e.g. the
   * compressor, so that the raw dump never passes through Node. An engine that must read the
   * raw output itself ignores it and says so with {@link DumpSession.piped}.
   */
  readonly through?: ThroughSpec;
  /**
   * How long the dump tool and the helper sessions it runs next to (row counts) may wait for a
   * table lock another session holds before the dump fails naming the lock wait (the job's
   * `lockWaitTimeoutSeconds`).
   * @default LOCK_WAIT_TIMEOUT_SECONDS (core/contracts/timeouts.ts)
   */
  readonly lockWaitSeconds?: number;
}

/** What a probe of the source may be given. */
export interface ProbeOptions {
  /** Stops the probe's client process when it aborts (the run was stopped). */
  readonly signal?: AbortSignal;
}

export interface RestoreOptions {
  /**
   * Replace what the target holds: afterwards it has exactly the backup's objects, none of its
   * own (each engine's README section says how; PostgreSQL does it in one transaction).
   */
  readonly drop: boolean;
  /** The dump format recorded in the manifest. */
  readonly dumpFormat: string;
}

/** A running dump. */
export interface DumpSession {
  readonly output: Readable;
  readonly stats: Promise<TableStats>;
  /** True when `output` is `through`'s output: the engine piped its dump tool into it. */
  readonly piped?: boolean;
}

/** One database engine. Implementations spawn the engine's own standard tools. */
export interface Engine {
  readonly name: EngineName;
  /** File extension of the raw dump (`pgdump`, `sql`, `archive`). */
  dumpExtension(options: DumpOptions): string;
  /** The manifest's `dumpFormat` value (`pg_dump-custom`, `pg_dump-plain`, `mysqldump-sql`, …). */
  dumpFormat(options: DumpOptions): string;
  /**
   * A new completeness checker for the raw dump `dump(options)` writes (core/formats): a
   * backup is stored only when it finds the dump complete.
   */
  dumpChecker(options: DumpOptions): DumpChecker;
  /**
   * Connects, reads the server version and checks the local dump tool can dump it.
   * Throws a UserError whose message says what to fix (e.g. install pg_dump 16).
   */
  inspect(conn: Connection, options?: ProbeOptions): Promise<ServerInfo>;
  /** Row count per table (qualified names, e.g. `public.accounts`) of a live database. */
  stats(conn: Connection): Promise<TableStats>;
  /**
   * How many tables, views, routines, triggers and sequences a live database holds, counted
   * from its catalog the way {@link Engine.dumpChecker}'s checker counts them in a dump of it,
   * so a restore can be compared with the manifest's `stats.objects`. Engines whose dumps
   * record no counts (MongoDB) leave it out.
   */
  objects?(conn: Connection): Promise<ObjectCounts>;
  /**
   * Spawns the dump tool. `output` ends only after the tool exited 0 and fails with a
   * ToolError (stderr summarised, secrets redacted) when it exits non-zero or is killed.
   * `stats` are the row counts of what the dump contains: taken in the dump's own snapshot
   * where the engine allows it (PostgreSQL), otherwise next to it (MySQL) or right before it.
   * Every process it starts ends when `output` ends, fails or is destroyed; a helper that
   * fails (a row count that hit the lock wait bound) fails `output` at once.
   */
  dump(conn: Connection, options: DumpOptions): DumpSession;
  /** Streams a raw dump into the target; resolves when the restore tool exited 0. */
  restore(target: Connection, input: Readable, options: RestoreOptions): Promise<void>;
  /** True when the target holds no user tables/collections (or does not exist yet). */
  isEmpty(target: Connection): Promise<boolean>;
  /**
   * A connection for a new scratch database next to `source` named `name` (a file beside it
   * for SQLite), created empty. Fails if it already exists.
   */
  createScratch(source: Connection, name: string): Promise<Connection>;
  /** Drops a scratch database created by {@link Engine.createScratch}. */
  dropScratch(scratch: Connection): Promise<void>;
}
