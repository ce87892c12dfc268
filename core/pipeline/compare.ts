/**
 * The post-restore check: table names and row counts of the restored database, and how many
 * tables, views, routines, triggers and sequences it holds, compared with the stats the
 * manifest captured at backup time. Shared by restore, local drills and the Step Functions
 * Verify state; `verify` compares the object counts of the decoded dump the same way.
 */
import type { TableStats } from '../engine.ts';
import { describeCount, OBJECT_KINDS, type ObjectCounts } from '../formats/checker.ts';

export interface StatsComparison {
  readonly matches: boolean;
  readonly tablesCompared: number;
  readonly rowsCompared: number;
  /** The object kinds whose counts were compared (those both sides count). */
  readonly objectsCompared?: ObjectCounts;
  /**
   * One line per difference: `public.orders: expected 120 rows, found 119`,
   * `manifest records 3 views, the restored database has 2`.
   */
  readonly differences: string[];
}

/**
 * Compares expected (manifest) and actual (restored) per-table row counts and, when both sides
 * have them, object counts.
 */
export function compareStats(
  expected: TableStats,
  actual: TableStats,
  objects: { expected?: ObjectCounts | undefined; actual?: ObjectCounts | undefined } = {},
): StatsComparison {
  const differences: string[] = [];
  let rows = 0;
  for (const [table, count] of Object.entries(expected).sort()) {
    rows += count;
    const found = actual[table];
    if (found === undefined)
      differences.push(`${table}: missing from the restored database (expected ${count} rows)`);
    else if (found !== count) differences.push(`${table}: expected ${count} rows, found ${found}`);
  }
  for (const table of Object.keys(actual).sort()) {
    if (!(table in expected))
      differences.push(`${table}: present after restore but not in the backup's manifest`);
  }
  const counted = compareObjects(objects.expected, objects.actual, 'the restored database has');
  differences.push(...counted.differences);
  return {
    matches: differences.length === 0,
    tablesCompared: Object.keys(expected).length,
    rowsCompared: rows,
    ...(counted.compared ? { objectsCompared: counted.compared } : {}),
    differences,
  };
}

/**
 * Compares the object counts a manifest records with those found elsewhere, kind by kind, for
 * the kinds both sides count: one line per difference, `manifest records 3 views, <found> 2`
 * (`found` is e.g. `the restored database has`, `the dump defines`). Nothing to compare when
 * either side has no counts (an older manifest, MongoDB).
 */
export function compareObjects(
  expected: ObjectCounts | undefined,
  actual: ObjectCounts | undefined,
  found: string,
): { compared?: ObjectCounts; differences: string[] } {
  if (!expected || !actual) return { differences: [] };
  const compared: Record<string, number> = {};
  const differences: string[] = [];
  for (const kind of OBJECT_KINDS) {
    const want = expected[kind];
    const have = actual[kind];
    if (want === undefined || have === undefined) continue;
    compared[kind] = want;
    if (want !== have) differences.push(`manifest records ${describeCount(kind, want)}, ${found} ${have}`);
  }
  return { compared, differences };
}
