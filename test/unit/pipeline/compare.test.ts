import { describe, expect, it } from 'vitest';
import { compareObjects, compareStats } from '../../../core/pipeline/compare.ts';

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

  it('names each object kind whose count differs from the manifest (a restore that lost a view and a function)', () => {
    const result = compareStats(
      { 'public.a': 1 },
      { 'public.a': 1 },
      {
        expected: { tables: 1, views: 3, routines: 1, triggers: 0, sequences: 2 },
        actual: { tables: 1, views: 2, routines: 0, triggers: 0, sequences: 2 },
      },
    );
    expect(result.matches).toBe(false);
    expect(result.differences).toEqual([
      'manifest records 3 views, the restored database has 2',
      'manifest records 1 routine, the restored database has 0',
    ]);
    expect(result.objectsCompared).toEqual({ tables: 1, views: 3, routines: 1, triggers: 0, sequences: 2 });
  });

  it('compares object counts only when both sides count them (older manifests, MongoDB, kinds an engine lacks)', () => {
    expect(compareStats({}, {}, { actual: { views: 9 } })).toEqual({
      matches: true,
      tablesCompared: 0,
      rowsCompared: 0,
      differences: [],
    });
    expect(compareObjects({ tables: 2, views: 1 }, { tables: 2, triggers: 4 }, 'the dump defines')).toEqual({
      compared: { tables: 2 },
      differences: [],
    });
    expect(compareObjects({ triggers: 1 }, { triggers: 2 }, 'the dump defines').differences).toEqual([
      'manifest records 1 trigger, the dump defines 2',
    ]);
  });
});
