/** A restore run as the Resolve step prepares it (at `$.run`), for tests that hand a step state to a later step. */
import type { RestoreRun } from '../../core/contracts/restore-state-machine.ts';

export const RESOLVED_RUN: RestoreRun = {
  job: 'app',
  runId: '07b3f9a1c',
  startedAt: '2026-11-22T10:00:00.123Z',
  kind: 'restore',
  trigger: 'manual',
  backup: '2026-11-21T030000Z-aaaa0002',
  manifestKey: 'app/2026-11-21T030000Z-aaaa0002.manifest.json',
  objectKey: 'app/2026-11-21T030000Z-aaaa0002.dump.gz',
  destination: 'primary',
  serverVersion: '16.4',
  targetKind: 'scratch',
  target: 'a scratch database next to the source',
  drop: false,
  taskDefinition: 'arn:aws:ecs:eu-central-1:123456789012:task-definition/restore:1',
  startedBy: 'dumpvault-restore',
  cpu: '1024',
  memory: '2048',
  ephemeralStorageGiB: 21,
  timeoutSeconds: 3600,
  environment: [{ Name: 'DUMPVAULT_JOB', Value: 'app' }],
  failingBefore: false,
};
