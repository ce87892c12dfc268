import { describe, expect, it } from 'vitest';
import { compareStats } from '../../../core/pipeline/compare.ts';

describe('compareStats', () => {
  it('matches equal tables and counts rows', () => {
    expect(compareStats({ 'public.a': 3, 'public.b': 0 }, { 'public.b': 0, 'public.a': 3 })).toEqual({
      matches: true,
      tablesCompared: 2,
      rowsCompared: 3,
      differences: [],
    });
  });

  it('names the table that differs, is missing or is extra', () => {
    const result = compareStats({ 'public.a': 3, 'public.b': 5 }, { 'public.a': 2, 'public.c': 1 });
    expect(result.matches).toBe(false);
    expect(result.differences).toEqual([
      'public.a: expected 3 rows, found 2',
      'public.b: missing from the restored database (expected 5 rows)',
      "public.c: present after restore but not in the backup's manifest",
    ]);
  });
});
