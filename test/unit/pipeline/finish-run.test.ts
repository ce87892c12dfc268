/**
 * finishRun (core/pipeline/finish-run.ts), the one way backups, restores and drills end in the
 * pipeline: the outcome recorded, the alert sent, and an alert that could not be sent reported
 * on the run's step lines instead of thrown or dropped. Local history store on a temp folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { finishRun, pipelineFinishDeps } from '../../../core/pipeline/finish-run.ts';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';

const SECRET = 'hunter2-hunter2';
let dir: string;
let history: LocalHistoryStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-finish-'));
  history = new LocalHistoryStore(dir);
});
afterEach(async () => {
  clearSecrets();
  await rm(dir, { recursive: true, force: true });
});

const failed = {
  job: 'app',
  runId: 'r1',
  kind: 'restore' as const,
  status: 'FAILED' as const,
  trigger: 'manual' as const,
  startedAt: '2026-12-02T10:00:00.000Z',
  finishedAt: '2026-12-02T10:01:00.000Z',
  durationMs: 60_000,
  error: 'pg_restore exited with code 1',
};

describe('finishRun', () => {
  it('records the outcome and reports, redacted, an alert that could not be sent (restores dropped it silently)', async () => {
    // Bug caught: an alert that could not be sent dropped silently — core/pipeline/restore.ts
    // ignored notifyOutcome's error before it ended runs through finishRun (backups reported it).
    registerSecret(SECRET);
    const steps: string[] = [];
    const notifier = {
      publish: async (_alert: Alert) => {
        throw new Error(`webhook refused the token ${SECRET}`);
      },
    };

    const sent = await finishRun(
      pipelineFinishDeps({ history, notifier, progress: (e) => e.type === 'step' && steps.push(e.message) }),
      failed,
      { investigate: 'dumpvault history app' },
    );

    expect(await history.list('app')).toEqual([failed]);
    expect(sent.error).toBe('webhook refused the token ***');
    expect(steps).toEqual(['could not send the FAILED alert of run r1: webhook refused the token ***']);
  });

  it("sends the alert with the item's cause and reports nothing when it went out", async () => {
    const published: Alert[] = [];
    const steps: string[] = [];

    await finishRun(
      pipelineFinishDeps({
        history,
        notifier: { publish: async (a) => void published.push(a) },
        progress: (e) => e.type === 'step' && steps.push(e.message),
      }),
      failed,
      { investigate: 'dumpvault history app' },
    );

    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ job: 'app', kind: 'restore', status: 'FAILED', runId: 'r1' });
    expect(published[0]?.body).toContain('pg_restore exited with code 1');
    expect(steps).toEqual([]);
  });
});
