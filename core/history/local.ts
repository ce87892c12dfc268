/**
 * History in the local state directory (`.dumpvault/` beside the config):
 *   history/{job}.jsonl   one JSON line per save; the last line for a run wins
 *   history/{job}.last-success-{kind}.json
 *                         the job's newest SUCCEEDED run of a kind (backup, restore, drill),
 *                         replaced (write + rename) by each SUCCEEDED save
 *   locks/{job}.lock      the job's lease, created with O_EXCL so two runs cannot both hold it;
 *                         it names its owner (PID, boot id, process start time, host) and is
 *                         taken over once expired or once that process has ended
 *   alerts/{job}.json     alert de-duplication state
 * Files are created 0600 and folders 0700: history holds causes, keys and sizes of backups.
 */
import { appendFile, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  AbandonedRun,
  AlertState,
  DestinationOutcome,
  HistoryItem,
  HistoryStore,
  Lease,
  LeaseResult,
  RunKind,
} from './history.ts';
import { asProcessOwner, currentProcessOwner, isOwnerGone, type ProcessOwner } from './process-owner.ts';

function itemKey(item: HistoryItem): string {
  return `${item.startedAt}#${item.runId}`;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** The local-mode {@link HistoryStore}: plain files, safe against two concurrent runs of a job. */
export class LocalHistoryStore implements HistoryStore {
  private owner: Promise<ProcessOwner> | undefined;

  constructor(readonly stateDir: string) {}

  /** This process as locks and RUNNING runs record it (read once). */
  private currentOwner(): Promise<ProcessOwner> {
    this.owner ??= currentProcessOwner();
    return this.owner;
  }

  private file(kind: 'history' | 'locks' | 'alerts', job: string, ext: string): string {
    return path.join(this.stateDir, kind, `${job}.${ext}`);
  }

  /**
   * Appends the item. A RUNNING item is stamped with this process (`details.owner`), so a later
   * run can tell a run still in progress from one whose process ended ({@link abandonedRuns}).
   */
  async save(item: HistoryItem): Promise<void> {
    const file = this.file('history', item.job, 'jsonl');
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const saved =
      item.status === 'RUNNING' && item.details?.['owner'] === undefined
        ? { ...item, details: { ...item.details, owner: await this.currentOwner() } }
        : item;
    await appendFile(file, `${JSON.stringify(saved)}\n`, { mode: 0o600 });
    if (item.status === 'SUCCEEDED') await this.pointLastSuccessAt(item);
  }

  private lastSuccessFile(job: string, kind: RunKind): string {
    return this.file('history', job, `last-success-${kind}.json`);
  }

  /** Replaces the kind's last-success pointer unless it names a run that started later. */
  private async pointLastSuccessAt(item: HistoryItem): Promise<void> {
    const file = this.lastSuccessFile(item.job, item.kind);
    const current = await readJson<HistoryItem>(file);
    if (current && current.startedAt > item.startedAt) return;
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(item), { mode: 0o600 });
    await rename(tmp, file);
  }

  /**
   * The newest SUCCEEDED run of a kind (backups by default), from the job's pointer file; a
   * state directory written before pointers existed is searched instead.
   */
  async lastSuccess(job: string, kind: RunKind = 'backup'): Promise<HistoryItem | undefined> {
    const pointer = await readJson<HistoryItem>(this.lastSuccessFile(job, kind));
    if (pointer) return pointer;
    return (await this.list(job)).find((i) => i.kind === kind && i.status === 'SUCCEEDED');
  }

  async list(job: string, options?: { limit?: number }): Promise<HistoryItem[]> {
    let text: string;
    try {
      text = await readFile(this.file('history', job, 'jsonl'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const byKey = new Map<string, HistoryItem>();
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const item = JSON.parse(line) as HistoryItem;
        byKey.set(itemKey(item), item);
      } catch {
        // A torn last line from a crash: the previous lines are still valid history.
      }
    }
    const items = [...byKey.values()].sort((a, b) => (itemKey(a) < itemKey(b) ? 1 : -1));
    return options?.limit ? items.slice(0, options.limit) : items;
  }

  async acquireLease(job: string, runId: string, ttlMs: number, now = new Date()): Promise<LeaseResult> {
    const file = this.file('locks', job, 'lock');
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const lease: Lease & ProcessOwner = {
      job,
      runId,
      expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
      ...(await this.currentOwner()),
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(file, 'wx', 0o600);
        await handle.writeFile(JSON.stringify(lease));
        await handle.close();
        return { acquired: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = await readJson<Lease & Record<string, unknown>>(file);
      if (held?.runId === runId) {
        // The orchestrator took the lease for this very run: extend it.
        await writeFile(file, JSON.stringify(lease), { mode: 0o600 });
        return { acquired: true };
      }
      const holder = asProcessOwner(held);
      const stale =
        !held ||
        !(new Date(held.expiresAt).getTime() > now.getTime()) ||
        (holder !== undefined && (await isOwnerGone(holder)));
      if (!stale) return { acquired: false, heldBy: { job, runId: held.runId, expiresAt: held.expiresAt } };
      // Move the stale lock aside atomically; whoever renames it first retries the O_EXCL create.
      await rename(file, `${file}.stale-${runId}`).catch(() => {});
      await unlink(`${file}.stale-${runId}`).catch(() => {});
    }
    const held = await readJson<Lease>(file);
    return { acquired: false, heldBy: held ?? { job, runId: 'unknown', expiresAt: now.toISOString() } };
  }

  async releaseLease(job: string, runId: string): Promise<void> {
    const file = this.file('locks', job, 'lock');
    const held = await readJson<Lease>(file);
    if (held?.runId === runId) await unlink(file).catch(() => {});
  }

  /**
   * RUNNING runs of `job` (other than `currentRunId`) whose recorded process has ended. A
   * RUNNING backup that names no process (written before owners were recorded) counts as
   * abandoned too: the caller holds the lease, which a live backup would hold.
   */
  async abandonedRuns(job: string, currentRunId: string): Promise<AbandonedRun[]> {
    const abandoned: AbandonedRun[] = [];
    for (const item of await this.list(job)) {
      if (item.status !== 'RUNNING' || item.runId === currentRunId) continue;
      const owner = asProcessOwner(item.details?.['owner']);
      if (owner === undefined) {
        if (item.kind === 'backup') abandoned.push({ item });
      } else if (await isOwnerGone(owner)) {
        abandoned.push({ item, pid: owner.pid });
      }
    }
    return abandoned;
  }

  async getAlertState(job: string): Promise<AlertState | undefined> {
    return readJson<AlertState>(this.file('alerts', job, 'json'));
  }

  async setAlertState(state: AlertState): Promise<void> {
    const file = this.file('alerts', state.job, 'json');
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
    await rename(tmp, file);
  }
}

/**
 * A backup's per-destination outcome in one cell: `local:ok offsite:failed` (the causes are in
 * `error`). Empty for runs that record none.
 */
export function destinationsSummary(item: HistoryItem): string {
  const outcomes = item.details?.['destinations'];
  if (!Array.isArray(outcomes)) return '';
  return (outcomes as DestinationOutcome[])
    .filter((o) => typeof o?.name === 'string')
    .map((o) => `${o.name}:${o.status}`)
    .join(' ');
}

/** Renders history items as CSV (RFC 4180 quoting) for `dumpvault history --csv`. */
export function historyToCsv(items: readonly HistoryItem[]): string {
  const columns = [
    'job',
    'runId',
    'kind',
    'status',
    'trigger',
    'startedAt',
    'finishedAt',
    'durationMs',
    'key',
    'bytes',
    'rawBytes',
    'sha256',
    'error',
    'taskArn',
    'pruned',
  ] as const;
  const quote = (v: unknown): string => {
    if (v === undefined || v === null) return '';
    const s = Array.isArray(v) ? v.join(' ') : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = items.map((item) =>
    [...columns.map((c) => quote(item[c])), quote(destinationsSummary(item))].join(','),
  );
  return `${[[...columns, 'destinations'].join(','), ...rows].join('\n')}\n`;
}
