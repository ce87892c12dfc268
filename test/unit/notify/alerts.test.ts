import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { causeKey, decideAlert, notifyOutcome, type RunOutcome } from '../../../core/notify/alerts.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';

const outcome = (status: RunOutcome['status'], over: Partial<RunOutcome> = {}): RunOutcome => ({
  job: 'app',
  kind: 'backup',
  runId: 'r1',
  status,
  investigate: 'dumpvault history app',
  ...over,
});

describe('decideAlert', () => {
  it.each([
    [false, false, 'FAILED', 'FAILED'],
    [true, false, 'FAILED', undefined],
    [true, false, 'SUCCEEDED', 'RECOVERED'],
    [false, false, 'SUCCEEDED', undefined],
    [false, false, 'SKIPPED', 'SKIPPED'],
    [false, true, 'SKIPPED', undefined],
    [false, false, 'PARTIAL', 'PARTIAL'],
    [true, false, 'PARTIAL', undefined],
  ] as const)('failing=%s skipping=%s %s -> %s', (failing, skipping, status, expected) => {
    expect(decideAlert(failing, skipping, status)).toBe(expected);
  });
});

describe('notifyOutcome', () => {
  it('sends one alert per failing streak, one recovery, and keeps kinds apart', async () => {
    const history = new LocalHistoryStore(await mkdtemp(path.join(tmpdir(), 'dv-alerts-')));
    const sent: Alert[] = [];
    const notifier = { publish: async (a: Alert) => void sent.push(a) };
    await notifyOutcome(history, notifier, outcome('FAILED', { error: 'pg_dump exited with code 1' }));
    await notifyOutcome(history, notifier, outcome('FAILED'));
    await notifyOutcome(history, notifier, outcome('FAILED', { kind: 'drill' }));
    await notifyOutcome(history, notifier, outcome('SUCCEEDED'));
    await notifyOutcome(history, notifier, outcome('SUCCEEDED'));
    expect(sent.map((a) => `${a.kind}:${a.status}`)).toEqual([
      'backup:FAILED',
      'drill:FAILED',
      'backup:RECOVERED',
    ]);
    expect(sent[0]!.body).toContain('Cause:     pg_dump exited with code 1');
    expect(sent[0]!.body).toContain('Investigate: dumpvault history app');
    expect(sent[0]!.subject.length).toBeLessThanOrEqual(100);
  });

  it('treats PARTIAL as a failure: it opens an outage, does not end one, and a later success recovers it', async () => {
    const history = new LocalHistoryStore(await mkdtemp(path.join(tmpdir(), 'dv-alerts-')));
    const sent: Alert[] = [];
    const notifier = { publish: async (a: Alert) => void sent.push(a) };
    const error = 'destination offsite: ECONNREFUSED';
    await notifyOutcome(history, notifier, outcome('PARTIAL', { error }));
    await notifyOutcome(history, notifier, outcome('FAILED'));
    await notifyOutcome(history, notifier, outcome('PARTIAL', { error }));
    expect(await history.getAlertState('app')).toMatchObject({ failing: true });
    await notifyOutcome(history, notifier, outcome('SUCCEEDED'));
    expect(sent.map((a) => a.status)).toEqual(['PARTIAL', 'RECOVERED']);
    expect(sent[0]!.subject).toBe('dumpvault: backup of app PARTIAL (a destination has no copy)');
    expect(sent[0]!.body).toContain(`Cause:     ${error}`);
  });

  it('alerts again inside an outage when the cause is new, but not when only numbers in it changed', async () => {
    const history = new LocalHistoryStore(await mkdtemp(path.join(tmpdir(), 'dv-alerts-')));
    const sent: Alert[] = [];
    const notifier = { publish: async (a: Alert) => void sent.push(a) };
    await notifyOutcome(
      history,
      notifier,
      outcome('FAILED', { error: 'pg_dump: connection to 10.0.0.5 refused' }),
    );
    await notifyOutcome(
      history,
      notifier,
      outcome('FAILED', { error: 'pg_dump: connection to 10.0.0.6 refused' }),
    );
    await notifyOutcome(history, notifier, outcome('FAILED'));
    await notifyOutcome(history, notifier, outcome('FAILED', { error: 'destination s3: AccessDenied' }));
    await notifyOutcome(history, notifier, outcome('FAILED', { error: 'destination s3: AccessDenied' }));
    await notifyOutcome(history, notifier, outcome('SUCCEEDED'));
    await notifyOutcome(history, notifier, outcome('FAILED', { error: 'destination s3: AccessDenied' }));
    expect(sent.map((a) => `${a.status}:${a.cause ?? ''}`)).toEqual([
      'FAILED:pg_dump: connection to 10.0.0.5 refused',
      'FAILED:destination s3: AccessDenied',
      'RECOVERED:',
      'FAILED:destination s3: AccessDenied',
    ]);
  });

  it('retries the alert on the next run when publishing failed', async () => {
    const history = new LocalHistoryStore(await mkdtemp(path.join(tmpdir(), 'dv-alerts-')));
    const sent: Alert[] = [];
    let down = true;
    const notifier = {
      publish: async (a: Alert) => {
        if (down) throw new Error('SNS unavailable');
        sent.push(a);
      },
    };
    const first = await notifyOutcome(history, notifier, outcome('FAILED'));
    expect(first.error).toBeInstanceOf(Error);
    down = false;
    await notifyOutcome(history, notifier, outcome('FAILED'));
    expect(sent.map((a) => a.status)).toEqual(['FAILED']);
  });

  it('never puts a registered secret into an alert', async () => {
    registerSecret('hunter2-very-secret');
    try {
      const history = new LocalHistoryStore(await mkdtemp(path.join(tmpdir(), 'dv-alerts-')));
      const sent: Alert[] = [];
      await notifyOutcome(
        history,
        { publish: async (a) => void sent.push(a) },
        outcome('FAILED', { error: 'auth failed for hunter2-very-secret' }),
      );
      expect(sent[0]!.body).not.toContain('hunter2-very-secret');
      expect(sent[0]!.body).toContain('auth failed for ***');
    } finally {
      clearSecrets();
    }
  });
});

describe('causeKey', () => {
  // Bug caught: `--timeout 20s` and `--timeout 0.05` read as two causes ("#s" and "#.#"), so a
  // backup that times out again under another bound alerted again inside the same outage.
  it('reads numbers with decimals and units as one token', () => {
    expect(causeKey('the backup timed out after 20 seconds (--timeout 20s)')).toBe(
      causeKey('the backup timed out after 3 seconds (--timeout 0.05)'),
    );
    expect(causeKey('no progress for 1.5 s')).toBe(causeKey('no progress for 300 s'));
    expect(causeKey('connection to 10.0.0.5 refused')).not.toBe(
      causeKey('permission denied for table payroll'),
    );
  });

  // Bug caught: the file destination's probe has a random hex name; "…probe-2ea8f41b9588" folded
  // to "##" (digits at the end read as a number first) and "…probe-b23b9f44e9ee" to "#", so the
  // same outage alerted twice (seen in CI as a third FAILED in notify.test.ts).
  it('folds a random hex name to one token however its digits fall', () => {
    const probe = (id: string) =>
      causeKey(
        `destination local: cannot write /tmp/ws/backups/flaky/.dumpvault-probe-${id}: a file is in the way (ENOTDIR)`,
      );
    expect(probe('2ea8f41b9588')).toBe(probe('b23b9f44e9ee'));
    expect(probe('6e5bc9f004c7')).toBe(probe('4cb6e7de4bf4'));
    expect(probe('abcdef123456')).toBe(probe('123456abcdef'));
    expect(causeKey('run 01JD3K9ZQ7 failed')).toBe(causeKey('run 01JD3KA0B2 failed'));
  });

  it('still tells different causes apart', () => {
    expect(causeKey('connection to 10.0.0.5 refused')).not.toBe(
      causeKey('permission denied for table payroll'),
    );
  });
});
