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
  /**
   * Aborts the restore (a signal, the run's timeout): the restore tools are stopped even when
   * they have read all their input and are still working (waiting on a lock, committing), and
   * the restore rejects with the signal's reason.
   */
  readonly signal?: AbortSignal;
  /**
   * Restore only these (restore --table / --schema), named as {@link BackupContents} names
   * them and already checked against the backup's contents (core/pipeline/selection.ts).
   * Never combined with `drop`.
   */
  readonly select?: Selection;
}

/** What a backup holds, read from the raw dump itself (`restore --list`). */
export interface BackupContents {
  /** Tables named as {@link TableStats} names them (`public.accounts`; `accounts` without schemas). */
  readonly tables: readonly string[];
  /** PostgreSQL: the schemas holding or created by the dump. */
  readonly schemas?: readonly string[];
  /** Set when this dump cannot be restored selectively: the sentence saying why. */
  readonly unselectable?: string;
}

/** Part of a backup to restore: whole tables, or (PostgreSQL) whole schemas. */
export interface Selection {
  readonly tables?: readonly string[];
  readonly schemas?: readonly string[];
}

/** How {@link Engine.contents} reads a raw dump. */
export interface ContentsOptions {
  readonly dumpFormat: string;
  readonly signal?: AbortSignal;
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
  /**
   * Lists the tables (and schemas) a raw dump holds, reading as little of `input` as the
   * format allows (a PostgreSQL archive's table of contents is at its head): it may resolve
   * before `input` ended, and the caller then stops feeding it. Engines without it cannot
   * restore selectively.
   */
  contents?(input: Readable, options: ContentsOptions): Promise<BackupContents>;
  /**
   * PostgreSQL: the server's globals (roles, tablespaces) as an SQL script, `pg_dumpall
   * --globals-only`; resolves only after the tool exited 0.
   */
  dumpGlobals?(conn: Connection, signal?: AbortSignal): Promise<Buffer>;
  /**
   * Runs a globals script on the target's server: roles that exist there already are left as
   * they are; the rest is created. Resolves with what was done, as a phrase.
   */
  restoreGlobals?(target: Connection, script: string, signal?: AbortSignal): Promise<string>;
  /** Which selections {@link RestoreOptions.select} this engine honours. */
  readonly selects?: { readonly tables: boolean; readonly schemas: boolean };
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
