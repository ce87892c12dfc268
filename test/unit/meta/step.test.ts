/**
 * The meta-backup step of a backup run (core/meta/step.ts) ends like every run does
 * (announceOutcome, core/pipeline/finish-run.ts): its alert goes out on the job's own
 * meta-backup streak, and one that could not be sent is told on the run's step lines.
 * Bug caught: the step called notifyOutcome itself and spelled the streak key itself, apart
 * from the alert key contract the deployment grants (`JOB#{job}:meta-backup`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertPart, alertStateKey } from '../../../core/contracts/history-keys.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { type MetaRun, metaBackupStep } from '../../../core/meta/step.ts';
import type { Alert, Notifier } from '../../../core/notify/notifier.ts';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';

const SECRET = 'hunter2-hunter2';
let dir: string;
let history: LocalHistoryStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-meta-step-'));
  history = new LocalHistoryStore(dir);
});
afterEach(async () => {
  clearSecrets();
  await rm(dir, { recursive: true, force: true });
});

const run = (notifier: Notifier): MetaRun => ({
  job: { name: 'app' },
  prefix: '',
  destinations: [],
  history,
  notifier,
  investigate: (runId) => `dumpvault history app   (run ${runId})`,
});
const failingSpec = async (): Promise<never> => {
  throw new Error('metaBackup: environment variable DV_META is not set');
};

describe('metaBackupStep', () => {
  it("alerts a failed meta-backup once, on the job's meta-backup streak, and leaves the backup streak alone", async () => {
    const published: Alert[] = [];
    const steps: string[] = [];
    const notifier: Notifier = { publish: async (a) => void published.push(a) };

    const first = await metaBackupStep(run(notifier), failingSpec, 'r1', new Date(), (m) => steps.push(m));
    await metaBackupStep(run(notifier), failingSpec, 'r2', new Date(), (m) => steps.push(m));

    expect(first.status).toBe('failed');
    expect(published.map((a) => a.subject)).toEqual(['dumpvault: meta-backup of app FAILED']);
    expect(await history.getAlertState(alertStateKey('app', 'backup', AlertPart.metaBackup))).toMatchObject({
      failing: true,
    });
    expect(await history.getAlertState(alertStateKey('app', 'backup'))).toBeUndefined();
    expect(steps).toEqual([
      'warning: meta-backup: metaBackup: environment variable DV_META is not set',
      'warning: meta-backup: metaBackup: environment variable DV_META is not set',
    ]);
  });

  it('tells, redacted, a meta-backup alert that could not be sent, and still returns the outcome', async () => {
    registerSecret(SECRET);
    const steps: string[] = [];
    const notifier: Notifier = {
      publish: async () => {
        throw new Error(`webhook refused the token ${SECRET}`);
      },
    };

    const outcome = await metaBackupStep(run(notifier), failingSpec, 'r1', new Date(), (m) => steps.push(m));

    expect(outcome.status).toBe('failed');
    expect(steps).toEqual([
      'warning: meta-backup: metaBackup: environment variable DV_META is not set',
      'could not send the meta-backup FAILED alert of run r1: webhook refused the token ***',
    ]);
  });
});
