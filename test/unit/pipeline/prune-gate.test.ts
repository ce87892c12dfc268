import { describe, expect, it } from 'vitest';
import type { HistoryItem, RunStatus } from '../../../core/history/history.ts';
import { blockingBackupRun } from '../../../core/pipeline/prune.ts';

let minute = 0;
/** History items of job `app`, listed newest first like HistoryStore.list returns them. */
function history(...runs: Array<[HistoryItem['kind'], RunStatus]>): HistoryItem[] {
  return runs.map(([kind, status]) => ({
    job: 'app',
    runId: `run${minute}`,
    kind,
    status,
    trigger: 'schedule',
    startedAt: new Date(Date.UTC(2026, 10, 21, 3, minute++)).toISOString(),
  }));
}

describe('blockingBackupRun (may retention run?)', () => {
  it('blocks pruning after a FAILED backup even when SKIPPED runs came after it', () => {
    const items = history(
      ['backup', 'SKIPPED'],
      ['backup', 'SKIPPED'],
      ['backup', 'FAILED'],
      ['backup', 'SUCCEEDED'],
    );
    expect(blockingBackupRun(items)?.status).toBe('FAILED');
  });

  it('blocks pruning after a FAILED backup while another run is RUNNING', () => {
    const items = history(['backup', 'RUNNING'], ['backup', 'SKIPPED'], ['backup', 'FAILED']);
    expect(blockingBackupRun(items)?.status).toBe('FAILED');
  });

  it('blocks pruning after a PARTIAL backup (some destinations failed)', () => {
    const items = history(['backup', 'PARTIAL' as RunStatus], ['backup', 'SUCCEEDED']);
    expect(blockingBackupRun(items)?.status).toBe('PARTIAL');
  });

  it('allows pruning when the last finished backup succeeded, whatever restores and skips came after', () => {
    const items = history(
      ['restore', 'FAILED'],
      ['backup', 'SKIPPED'],
      ['drill', 'FAILED'],
      ['backup', 'SUCCEEDED'],
      ['backup', 'FAILED'],
    );
    expect(blockingBackupRun(items)).toBeUndefined();
  });

  it('allows pruning with no history at all (the manifests are the source of truth)', () => {
    expect(blockingBackupRun([])).toBeUndefined();
    expect(blockingBackupRun(history(['backup', 'SKIPPED']))).toBeUndefined();
  });
});
