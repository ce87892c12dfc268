/**
 * The post-restore check: table names and row counts of the restored database compared with
 * the stats the manifest captured at backup time. Shared by restore, local drills and the
 * Step Functions Verify state.
 */
import type { TableStats } from '../engine.ts';

export interface StatsComparison {
  readonly matches: boolean;
  readonly tablesCompared: number;
  readonly rowsCompared: number;
  /** One line per difference: `public.orders: expected 120 rows, found 119`. */
  readonly differences: string[];
}

/** Compares expected (manifest) and actual (restored) per-table row counts. */
export function compareStats(expected: TableStats, actual: TableStats): StatsComparison {
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
  return {
    matches: differences.length === 0,
    tablesCompared: Object.keys(expected).length,
    rowsCompared: rows,
    differences,
  };
}
