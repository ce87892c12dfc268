/**
 * The Fargate task's environment is one contract (core/contracts/task-env.ts, restore-task.ts):
 * start-backup, the restore state machine's Resolve step and the task definitions set it, the
 * task parses it once into a typed object.
 * Bugs caught: a variable the parser reads under another name than the one the setter writes
 * (the run then fails at start, or runs without a value it was given), and a missing variable
 * that surfaces as a TypeError deep in the run instead of one sentence naming it.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { parseRestoreTaskEnv, type RestoreTaskRun } from '../../../core/contracts/restore-task.ts';
import { parseTaskRun, type TaskRun } from '../../../core/contracts/task-env.ts';
import { type ResolvedTarget, restoreTaskEnvironment } from '../../../functions/logic/restore-resolve.ts';

/** What the task definitions set (infra/backup-tasks.ts, infra/restore-task-definitions.ts). */
const TASK_DEFINITION = {
  DUMPVAULT_HISTORY_TABLE: 'History',
  DUMPVAULT_BUCKET: 'backups-bucket',
  DUMPVAULT_TOPIC_ARN: 'arn:aws:sns:eu-central-1:123456789012:alerts',
};

/** What start-backup sets per run (functions/logic/start-backup.ts), as ECS hands it over. */
const BACKUP_ENV = {
  ...TASK_DEFINITION,
  DUMPVAULT_PUBLIC_KEYS_JSON: JSON.stringify({ 'keys/ops.pub.asc': '-----BEGIN PGP PUBLIC KEY BLOCK-----' }),
  DUMPVAULT_PRUNE: 'separately',
  DUMPVAULT_JOB: 'app',
  DUMPVAULT_RUN_ID: '0a1b2c3d',
  DUMPVAULT_STARTED_AT: '2026-12-03T03:00:00.123Z',
  DUMPVAULT_TRIGGER: 'manual',
  DUMPVAULT_JOB_JSON: '{"jobs": []}',
  DUMPVAULT_CAPACITY: 'FARGATE_SPOT',
};

const without = (env: Record<string, string>, name: string) =>
  Object.fromEntries(Object.entries(env).filter(([key]) => key !== name));

describe('parseTaskRun (task backup)', () => {
  it('reads every variable start-backup and the task definition set into one typed object', () => {
    const run = parseTaskRun(BACKUP_ENV);

    expect(run).toEqual({
      job: 'app',
      runId: '0a1b2c3d',
      startedAt: '2026-12-03T03:00:00.123Z',
      trigger: 'manual',
      jobJson: '{"jobs": []}',
      publicKeys: { 'keys/ops.pub.asc': '-----BEGIN PGP PUBLIC KEY BLOCK-----' },
      capacity: 'FARGATE_SPOT',
      historyTable: 'History',
      topicArn: 'arn:aws:sns:eu-central-1:123456789012:alerts',
      bucket: 'backups-bucket',
      pruneSeparately: true,
    } satisfies TaskRun);
  });

  it.each([
    'DUMPVAULT_JOB',
    'DUMPVAULT_RUN_ID',
    'DUMPVAULT_STARTED_AT',
    'DUMPVAULT_JOB_JSON',
    'DUMPVAULT_HISTORY_TABLE',
    'DUMPVAULT_TOPIC_ARN',
  ])('fails naming %s when it is missing or misspelt', (name) => {
    const misspelt = { ...without(BACKUP_ENV, name), [`${name}S`]: 'x' };

    expect(parseTaskRun(misspelt)).toEqual({ error: expect.stringContaining(`${name} is not set`) });
    expect(parseTaskRun({ ...BACKUP_ENV, [name]: '' })).toEqual({
      error: expect.stringContaining(`${name} is not set`),
    });
  });

  it('fails when the start time or the public keys are not what the stack writes', () => {
    expect(parseTaskRun({ ...BACKUP_ENV, DUMPVAULT_STARTED_AT: 'yesterday' })).toEqual({
      error: 'DUMPVAULT_STARTED_AT is not an ISO time',
    });
    expect(parseTaskRun({ ...BACKUP_ENV, DUMPVAULT_PUBLIC_KEYS_JSON: '{"a": 1}' })).toEqual({
      error: expect.stringMatching(/^DUMPVAULT_PUBLIC_KEYS_JSON: expected a JSON object/),
    });
    expect(parseTaskRun({ ...BACKUP_ENV, DUMPVAULT_PUBLIC_KEYS_JSON: '{' })).toEqual({
      error: expect.stringMatching(/^DUMPVAULT_PUBLIC_KEYS_JSON is not valid JSON/),
    });
  });

  it('leaves retention to the task and counts a run as scheduled when the optional variables are absent', () => {
    const run = parseTaskRun(
      without(
        without(without(BACKUP_ENV, 'DUMPVAULT_PRUNE'), 'DUMPVAULT_TRIGGER'),
        'DUMPVAULT_PUBLIC_KEYS_JSON',
      ),
    );

    expect(run).toMatchObject({ pruneSeparately: false, trigger: 'schedule', publicKeys: {} });
  });
});

describe('parseRestoreTaskEnv (task restore)', () => {
  const config = validateConfig({
    destinations: { primary: { type: 's3', bucket: 'managed' }, offsite: { type: 's3', bucket: 'far' } },
    jobs: [
      {
        name: 'app',
        engine: 'postgres',
        source: { url: 'postgres://backup@db:5432/app' },
        destinations: ['primary', 'offsite'],
      },
    ],
  });
  const job = config.jobs[0]!;
  const run = {
    runId: '1a2b3c4d',
    startedAt: '2026-12-03T04:00:00.456Z',
    trigger: 'schedule' as const,
    kind: 'restore' as const,
    manifestKey: 'app/2026-12-02T030000Z-0a1b2c3d.manifest.json',
    drop: true,
    destination: 'offsite',
  };
  /** The environment the task sees: Resolve's container overrides over the task definition's. */
  const urlTarget: ResolvedTarget = {
    kind: 'connection',
    url: 'postgres://restorer@db2:5432/app',
    passwordSecret: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:db2-AbCdEf',
  };
  const resolvedEnv = (target: ResolvedTarget = urlTarget): Record<string, string> => ({
    ...TASK_DEFINITION,
    ...Object.fromEntries(restoreTaskEnvironment(config, job, run, target).map((e) => [e.Name, e.Value])),
  });

  it('reads every variable the Resolve step and the task definition set into one typed object', () => {
    const parsed = parseRestoreTaskEnv(resolvedEnv());

    expect(parsed).toEqual({
      job: 'app',
      runId: '1a2b3c4d',
      startedAt: '2026-12-03T04:00:00.456Z',
      trigger: 'schedule',
      jobJson: expect.stringContaining('"name":"app"'),
      publicKeys: {},
      historyTable: 'History',
      topicArn: 'arn:aws:sns:eu-central-1:123456789012:alerts',
      bucket: 'backups-bucket',
      pruneSeparately: false,
      kind: 'restore',
      backupKey: 'app/2026-12-02T030000Z-0a1b2c3d.manifest.json',
      backupDestination: 'offsite',
      target: 'postgres://restorer@db2:5432/app',
      targetPasswordSecret: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:db2-AbCdEf',
      drop: true,
    } satisfies RestoreTaskRun);
  });

  it('reads the drill sidecar of a drill task definition', () => {
    const parsed = parseRestoreTaskEnv({
      ...resolvedEnv({ kind: 'ephemeral' }),
      DUMPVAULT_EPHEMERAL_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    });

    expect(parsed).toMatchObject({
      target: 'ephemeral',
      ephemeralUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
    });
  });

  it.each([
    'DUMPVAULT_JOB',
    'DUMPVAULT_RUN_ID',
    'DUMPVAULT_STARTED_AT',
    'DUMPVAULT_JOB_JSON',
    'DUMPVAULT_HISTORY_TABLE',
    'DUMPVAULT_TOPIC_ARN',
    'DUMPVAULT_BACKUP_KEY',
    'DUMPVAULT_RESTORE_TARGET',
  ])('fails naming %s when it is missing or misspelt', (name) => {
    const env = resolvedEnv();
    const misspelt = { ...without(env, name), [`${name}S`]: env[name] ?? 'x' };

    expect(parseRestoreTaskEnv(misspelt)).toEqual({ error: expect.stringContaining(`${name} is not set`) });
  });

  it('fails naming DUMPVAULT_RESTORE_KIND when it is missing or not a kind of restore', () => {
    expect(parseRestoreTaskEnv(without(resolvedEnv(), 'DUMPVAULT_RESTORE_KIND'))).toEqual({
      error: 'DUMPVAULT_RESTORE_KIND: expected "restore", "drill" or "standby", got null',
    });
    expect(parseRestoreTaskEnv({ ...resolvedEnv(), DUMPVAULT_RESTORE_KIND: 'drills' })).toEqual({
      error: 'DUMPVAULT_RESTORE_KIND: expected "restore", "drill" or "standby", got "drills"',
    });
  });

  it('refuses a target with data unless DUMPVAULT_DROP is exactly true, and counts a run as manual without a trigger', () => {
    const base = without(resolvedEnv(), 'DUMPVAULT_TRIGGER');

    expect(parseRestoreTaskEnv({ ...base, DUMPVAULT_DROP: 'yes' })).toMatchObject({
      drop: false,
      trigger: 'manual',
    });
    expect(parseRestoreTaskEnv(without(base, 'DUMPVAULT_DROP'))).toMatchObject({ drop: false });
  });
});
