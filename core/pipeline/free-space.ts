/**
 * The free-space warning of `check` and of a backup's start: a file destination with less room
 * than 1.2 × the job's previous backup will likely fill up mid-write. A warning, not a failure:
 * the backup may shrink, and a full disk fails the write cleanly anyway (no partial object).
 */
import { messageOf } from '../errors.ts';
import type { HistoryStore } from '../history/history.ts';
import type { Destination } from '../storage/destination.ts';

/** How many times the previous backup's size a file destination should have free. */
export const FREE_SPACE_FACTOR = 1.2;

/** The stored size of the job's latest successful backup (from history), if any. */
export async function previousBackupBytes(history: HistoryStore, job: string): Promise<number | undefined> {
  const recent = await history.list(job, { limit: 50 });
  return recent.find((item) => item.kind === 'backup' && item.status === 'SUCCEEDED' && item.bytes)?.bytes;
}

function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * One warning per destination that can say how much room it has (Destination.freeBytes) and
 * has less than {@link FREE_SPACE_FACTOR} × `previousBytes`; none without a previous backup. A
 * free space that cannot be read is a warning too, naming why.
 */
export async function freeSpaceWarnings(
  destinations: readonly Destination[],
  previousBytes: number | undefined,
): Promise<string[]> {
  if (!previousBytes) return [];
  const needed = Math.ceil(previousBytes * FREE_SPACE_FACTOR);
  const warnings: string[] = [];
  for (const dest of destinations) {
    if (!dest.freeBytes) continue;
    let free: number;
    try {
      free = await dest.freeBytes();
    } catch (err) {
      warnings.push(`destination ${dest.name} (${dest.description}): free space unknown (${messageOf(err)})`);
      continue;
    }
    if (free < needed) {
      warnings.push(
        `destination ${dest.name} (${dest.description}) has ${formatSize(free)} free, less than the ${formatSize(needed)} a backup needs (${FREE_SPACE_FACTOR} × the previous backup's ${formatSize(previousBytes)})`,
      );
    }
  }
  return warnings;
}
