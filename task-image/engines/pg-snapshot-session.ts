/**
 * A psql session that holds an exported snapshot open while pg_dump runs in it.
 *
 * PostgreSQL lets several sessions share one snapshot: this session starts a REPEATABLE READ
 * READ ONLY transaction, exports its snapshot, and pg_dump --snapshot=<id> reads exactly the
 * same data. Row counts taken in this session therefore describe what the dump contains, even
 * while the application keeps writing. The exported snapshot can only be imported while the
 * exporting transaction is open, so the session stays open until the dump has finished.
 *
 * This has not proved fragile, so there is no fallback to counting before the dump: the
 * server-side requirements are the same as pg_dump's own (PostgreSQL 9.2+, and 10+ on a
 * standby), and the session disables the timeouts that could end it while pg_dump runs —
 * except `lock_timeout`: a row count that waits for a table lock longer than the job allows
 * fails (and fails the dump) instead of waiting for as long as another session holds it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { childEnvironment } from '../../core/child-env.ts';
import { ToolError } from '../../core/errors.ts';
import type { SpawnSpec } from '../../core/process.ts';
import { summarizeStderr } from '../../core/tool-stderr.ts';

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One open psql session inside an exported-snapshot transaction. */
export class PgSnapshotSession {
  private readonly lines: AsyncIterator<string>;
  private readonly exited: Promise<Exit>;
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();
  private ending: Promise<void> | undefined;
  /** `server_version_num` of the server, e.g. 150020. */
  serverVersionNum = 0;
  /** The id to pass to `pg_dump --snapshot`. */
  snapshotId = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly name: string,
  ) {
    child.stdin?.on('error', () => {}); // EPIPE after psql died; the exit code tells why
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-16_384);
    });
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    this.exited = new Promise<Exit>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    this.exited.catch(() => {});
  }

  /**
   * Starts psql (`spec` must connect it with -A -t -q and ON_ERROR_STOP), reads the server
   * version and exports a snapshot. Rejects with a ToolError carrying psql's reason when the
   * connection or the export fails, or with `spec.signal`'s reason when it aborts meanwhile; the
   * session is then already gone. `lockTimeoutSeconds` bounds each lock wait of its queries.
   */
  static async open(spec: SpawnSpec, lockTimeoutSeconds: number): Promise<PgSnapshotSession> {
    spec.signal?.throwIfAborted();
    const child = spawn(spec.command, [...spec.args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnvironment(spec.env),
    });
    const session = new PgSnapshotSession(child, spec.command);
    // Only while opening: later the dump's clean-up ends the session, after it asked why it failed.
    const stop = () => void session.abort();
    spec.signal?.addEventListener('abort', stop, { once: true });
    try {
      session.serverVersionNum = Number(await session.query("SELECT current_setting('server_version_num');"));
      // A snapshot held open while a long dump runs must not be cut off by the server's own
      // timeouts; pg_dump disables them for its session for the same reason. Lock waits stay
      // bounded: pg_dump's own are (--lock-wait-timeout).
      const settings = ['SET statement_timeout = 0;'];
      if (session.serverVersionNum >= 90300)
        settings.push(`SET lock_timeout = ${Math.round(lockTimeoutSeconds * 1000)};`);
      if (session.serverVersionNum >= 90600) settings.push('SET idle_in_transaction_session_timeout = 0;');
      session.snapshotId = await session.query(
        `${settings.join(' ')} BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();`,
      );
      if (!/^[0-9A-F]+-[0-9A-F]+(-\d+)?$/i.test(session.snapshotId)) {
        throw new ToolError(`psql returned an unexpected snapshot id ${JSON.stringify(session.snapshotId)}`);
      }
    } catch (err) {
      await session.abort();
      throw spec.signal?.aborted ? spec.signal.reason : err;
    } finally {
      spec.signal?.removeEventListener('abort', stop);
    }
    return session;
  }

  /**
   * Runs `sql` (which must print exactly one line) inside the snapshot transaction and
   * returns that line. Calls are serialised: psql answers in order.
   */
  query(sql: string): Promise<string> {
    const run = this.queue.then(async () => {
      this.child.stdin?.write(`${sql}\n`);
      const next = await this.lines.next();
      if (next.done) throw await this.failure();
      return next.value;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Commits the read-only transaction, ends psql and checks that it exited 0. Call it after
   * the dump finished; pending queries finish first.
   */
  close(): Promise<void> {
    this.ending ??= (async () => {
      await this.queue;
      this.child.stdin?.end('COMMIT;\n');
      const exit = await this.exited;
      if (exit.code !== 0) throw this.describe(exit);
    })();
    return this.ending;
  }

  /** Ends the session without caring how (after a failed or cancelled dump). Never rejects. */
  async abort(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin?.end();
      this.child.kill('SIGTERM');
    }
    await this.exited.catch(() => {});
  }

  private async failure(): Promise<Error> {
    try {
      return this.describe(await this.exited);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return new ToolError(
        code === 'ENOENT'
          ? `${this.name} is not installed or not on PATH; install postgresql-client`
          : `cannot start ${this.name}: ${String(err)}`,
      );
    }
  }

  private describe(exit: Exit): ToolError {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const why = summarizeStderr(this.stderr);
    return new ToolError(`${this.name} ${how}${why ? `: ${why}` : ''}`, { signal: exit.signal });
  }
}
