/**
 * History rebuilt from the manifests in storage (DESIGN.md §5: the manifests are the source of
 * truth, so losing the history — a deleted `.dumpvault/`, a dropped table, a whole stack — never
 * makes a backup unfindable). Each complete backup found becomes a SUCCEEDED backup run; runs the
 * history already holds are left as they are (they know more: trigger, pruned keys, task ARN).
 */
import type { Manifest } from '../manifest.ts';
import type { HistoryItem, HistoryStore } from './history.ts';

/** One backup and the destinations that hold a valid copy of it. */
export interface FoundBackup {
  readonly manifest: Manifest;
  readonly destinations: readonly string[];
}

/** The history item of a backup known only from its manifest. */
export function historyItemOfManifest(found: FoundBackup): HistoryItem {
  const m = found.manifest;
  return {
    job: m.job,
    runId: m.runId,
    kind: 'backup',
    status: 'SUCCEEDED',
    // Unknown from the manifest; "manual" claims no schedule that may not exist.
    trigger: 'manual',
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    durationMs: Math.max(0, Date.parse(m.finishedAt) - Date.parse(m.startedAt)),
    key: m.object.key,
    bytes: m.object.bytes,
    rawBytes: m.rawBytes,
    sha256: m.object.sha256,
    details: {
      rebuiltFrom: 'manifests',
      destinations: found.destinations.map((name) => ({ name, status: 'ok' })),
      tables: Object.keys(m.stats.tables).length,
    },
  };
}

/**
 * Merges the backups found in several destinations into one list by backup run, oldest first,
 * each with every destination that holds it.
 */
export function mergeFound(
  byDestination: ReadonlyArray<{ destination: string; manifests: Manifest[] }>,
): FoundBackup[] {
  const byRun = new Map<string, { manifest: Manifest; destinations: string[] }>();
  for (const { destination, manifests } of byDestination) {
    for (const manifest of manifests) {
      const key = `${manifest.job}\u0000${manifest.runId}`;
      const entry = byRun.get(key) ?? { manifest, destinations: [] };
      entry.destinations.push(destination);
      byRun.set(key, entry);
    }
  }
  return [...byRun.values()].sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
}

/**
 * Saves a SUCCEEDED backup run for each backup of `job` the history does not know yet, oldest
 * first so the last-success pointer ends on the newest. Returns how many were added and how many
 * were known already.
 */
export async function rebuildJobHistory(
  history: HistoryStore,
  job: string,
  found: readonly FoundBackup[],
): Promise<{ added: number; known: number }> {
  const known = new Set((await history.list(job)).map((item) => item.runId));
  let added = 0;
  for (const backup of found) {
    if (backup.manifest.job !== job || known.has(backup.manifest.runId)) continue;
    await history.save(historyItemOfManifest(backup));
    added++;
  }
  return { added, known: found.length - added };
}
