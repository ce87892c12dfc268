/**
 * How the restore task records its run (task-restore.ts): on the history item the Resolve state
 * created, with the row counts of the restored database the engine counted.
 */
import type { Engine, TableStats } from '../../../core/engine.ts';
import type {
  AlertState,
  HistoryItem,
  HistoryStore,
  LeaseResult,
  RunKind,
} from '../../../core/history/history.ts';

/**
 * History as the state machine keeps it: every item of this run lands on the item the Resolve
 * state created (same startedAt), carries the task ARN, and a finished item also carries the
 * restored row counts. Everything else is passed through.
 */
export class RunHistory implements HistoryStore {
  /** The last SUCCEEDED or FAILED item saved for this run, if any. */
  finished: HistoryItem | undefined;
  /** Row counts of the restored database, once the engine counted them. */
  restoredTables: TableStats | undefined;

  constructor(
    private readonly inner: HistoryStore,
    private readonly run: { job: string; runId: string; startedAt: string; taskArn?: string },
  ) {}

  async save(item: HistoryItem): Promise<void> {
    if (item.job !== this.run.job || item.runId !== this.run.runId) return this.inner.save(item);
    const pinned: HistoryItem = {
      ...item,
      startedAt: this.run.startedAt,
      ...(this.run.taskArn ? { taskArn: this.run.taskArn } : {}),
    };
    if (pinned.finishedAt) {
      pinned.durationMs = Math.max(0, Date.parse(pinned.finishedAt) - Date.parse(this.run.startedAt));
    }
    if (pinned.status === 'SUCCEEDED' || pinned.status === 'FAILED') {
      if (this.restoredTables) pinned.details = { ...pinned.details, restoredTables: this.restoredTables };
      this.finished = pinned;
    }
    await this.inner.save(pinned);
  }

  list(job: string, options?: { limit?: number }): Promise<HistoryItem[]> {
    return this.inner.list(job, options);
  }
  lastSuccess(job: string, kind?: RunKind): Promise<HistoryItem | undefined> {
    return this.inner.lastSuccess(job, kind);
  }
  acquireLease(job: string, runId: string, ttlMs: number, now?: Date): Promise<LeaseResult> {
    return this.inner.acquireLease(job, runId, ttlMs, now);
  }
  releaseLease(job: string, runId: string): Promise<void> {
    return this.inner.releaseLease(job, runId);
  }
  getAlertState(job: string): Promise<AlertState | undefined> {
    return this.inner.getAlertState(job);
  }
  setAlertState(state: AlertState): Promise<void> {
    return this.inner.setAlertState(state);
  }
}

/** The engine, with the row counts of every `stats()` call handed to `onStats`. */
export function countingEngine(engine: Engine, onStats: (stats: TableStats) => void): Engine {
  return {
    name: engine.name,
    dumpExtension: (options) => engine.dumpExtension(options),
    dumpFormat: (options) => engine.dumpFormat(options),
    dumpChecker: (options) => engine.dumpChecker(options),
    inspect: (conn) => engine.inspect(conn),
    stats: async (conn) => {
      const stats = await engine.stats(conn);
      onStats(stats);
      return stats;
    },
    // The object counts runRestore compares with the manifest (a wrapper that left this out
    // would skip that comparison in every AWS restore and drill).
    ...(engine.objects ? { objects: engine.objects.bind(engine) } : {}),
    dump: (conn, options) => engine.dump(conn, options),
    restore: (target, input, options) => engine.restore(target, input, options),
    isEmpty: (target) => engine.isEmpty(target),
    createScratch: (source, name) => engine.createScratch(source, name),
    dropScratch: (scratch) => engine.dropScratch(scratch),
  };
}
