/**
 * Shared fixtures of the function tests: a validated config with secret ARNs (never secret
 * values), a recording log, and a fresh dynalite-backed history store per test.
 */
import { validateConfig } from '../../../core/config/load.ts';
import type { Config } from '../../../core/config/schema.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { RunLog } from '../../../functions/logic/log.ts';
import type { LocalDynamo } from '../../support/dynalite.ts';

export const PASSWORD_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod-db-AbCdEf';
export const OFFSITE_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:offsite-s3-AbCdEf';
export const PASSPHRASE_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:passphrase-AbCdEf';
/** A value that would be in those secrets: it must never show up anywhere. */
export const SECRET_VALUE = 'hunter2-very-secret';

export const CLUSTER = 'arn:aws:ecs:eu-central-1:123456789012:cluster/dumpvault';
/** The task definition family of job `prod` (each job has its own). */
export const TASK_DEFINITION = 'DumpVault-backup-prod';
export const TASK_ARN = 'arn:aws:ecs:eu-central-1:123456789012:task/dumpvault/0123456789abcdef';
export const TOPIC_ARN = 'arn:aws:sns:eu-central-1:123456789012:dumpvault-alerts';

export const launch = {
  cluster: CLUSTER,
  taskFamilyPrefix: 'DumpVault-backup-',
  containerName: 'dumpvault',
  subnets: ['subnet-aaa', 'subnet-bbb'],
  securityGroups: ['sg-123'],
};

/** Two jobs: `prod` (postgres, two destinations, passphrase, custom size) and `small` (defaults). */
export function testConfig(): Config {
  return validateConfig({
    prefix: 'dumpvault/',
    destinations: {
      primary: { type: 's3', bucket: 'managed' },
      offsite: {
        type: 's3',
        bucket: 'offsite-backups',
        endpoint: 'https://s3.example.net',
        region: 'auto',
        credentialsSecret: OFFSITE_ARN,
      },
      unused: { type: 's3', bucket: 'other' },
    },
    encryption: {
      pass: { type: 'passphrase', passphraseSecret: PASSPHRASE_ARN },
      other: { type: 'openpgp', recipients: ['keys/other.pub.asc'] },
    },
    jobs: [
      {
        name: 'prod',
        engine: 'postgres',
        source: { url: 'postgres://app@db.internal:5432/app', passwordSecret: PASSWORD_ARN },
        schedule: { cron: '0 3 * * ? *', timezone: 'Europe/Berlin' },
        destinations: ['primary', 'offsite'],
        encryption: 'pass',
        retention: { keepLast: 3, daily: 7 },
        task: { cpu: 2048, memoryMiB: 8192, timeoutMinutes: 120 },
      },
      {
        name: 'small',
        engine: 'mysql',
        source: { url: 'mysql://app@db.internal:3306/app', passwordSecret: PASSWORD_ARN },
        schedule: { rate: '6 hours' },
        destinations: ['primary'],
      },
    ],
  });
}

export interface RecordingLog extends RunLog {
  readonly records: Array<{ level: string; message: string; attributes: Record<string, unknown> }>;
}

/** A log that keeps every record for assertions. */
export function recordingLog(): RecordingLog {
  const records: RecordingLog['records'] = [];
  return {
    records,
    info: (message, attributes) => records.push({ level: 'info', message, attributes }),
    warn: (message, attributes) => records.push({ level: 'warn', message, attributes }),
  };
}

/** A history store on a fresh table. */
export async function freshHistory(dynamo: LocalDynamo): Promise<DynamoHistoryStore> {
  const tableName = await dynamo.createHistoryTable();
  return new DynamoHistoryStore({ tableName, client: createHistoryDocumentClient(dynamo.client) });
}
