/**
 * The items of a job in the DynamoDB history table that are not runs (DESIGN.md §5): its lease
 * (`sk = LEASE`), when the watchdog first saw it (`sk = FIRSTSEEN`) and its alert
 * de-duplication state (`sk = ALERT`). Single-item conditional writes only, each safe to retry.
 * DynamoHistoryStore (core/history/dynamodb.ts) answers the HistoryStore calls with these.
 */
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { HistoryKeys, jobPartition } from '../contracts/history-keys.ts';
import { type HistoryTable, isConditionFailure, itemKey, PK, TTL } from './dynamodb-table.ts';
import type { AlertState, Lease, LeaseResult } from './history.ts';

/** A lease that has expired is kept this long before TTL deletion, for post-mortems. */
const LEASE_TTL_GRACE_SECONDS = 24 * 3600;

/**
 * Takes the job's lease: succeeds when nobody holds it, when the holder's lease has expired
 * (at `expiresAt` or later, as in the local store), when `runId` already holds it (so a
 * retried start is not refused by itself), or when `from` holds it (a hand-over: the retry of
 * a run whose task has stopped takes its lease in one conditional write, so no other run can
 * slip in between).
 */
export async function acquireLease(
  table: HistoryTable,
  job: string,
  runId: string,
  ttlMs: number,
  now: Date,
  from?: string,
): Promise<LeaseResult> {
  const expires = new Date(now.getTime() + ttlMs);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await table.client.send(
        new PutCommand({
          TableName: table.tableName,
          Item: {
            ...itemKey(jobPartition(job), HistoryKeys.lease),
            job,
            runId,
            acquiredAt: now.toISOString(),
            expiresAt: expires.toISOString(),
            [TTL]: Math.ceil(expires.getTime() / 1000) + LEASE_TTL_GRACE_SECONDS,
          },
          ConditionExpression: `attribute_not_exists(${PK}) OR expiresAt <= :now OR runId = :runId${from === undefined ? '' : ' OR runId = :from'}`,
          ExpressionAttributeValues: {
            ':now': now.toISOString(),
            ':runId': runId,
            ...(from === undefined ? {} : { ':from': from }),
          },
        }),
      );
      return { acquired: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
    const heldBy = await getLease(table, job);
    if (heldBy) return { acquired: false, heldBy };
    // Released between our write and our read: try again.
  }
  throw new Error(`the lease of job "${job}" changed hands three times while acquiring it`);
}

/** The current lease of a job, expired or not, or undefined. */
export async function getLease(table: HistoryTable, job: string): Promise<Lease | undefined> {
  const result = await table.client.send(
    new GetCommand({
      TableName: table.tableName,
      Key: itemKey(jobPartition(job), HistoryKeys.lease),
      ConsistentRead: true,
    }),
  );
  const item = result.Item;
  if (!item) return undefined;
  return { job: String(item['job']), runId: String(item['runId']), expiresAt: String(item['expiresAt']) };
}

/** Deletes the lease if `runId` holds it; a lease held by another run is left alone. */
export async function releaseLease(table: HistoryTable, job: string, runId: string): Promise<void> {
  try {
    await table.client.send(
      new DeleteCommand({
        TableName: table.tableName,
        Key: itemKey(jobPartition(job), HistoryKeys.lease),
        ConditionExpression: 'runId = :runId',
        ExpressionAttributeValues: { ':runId': runId },
      }),
    );
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
}

/**
 * When the job was first seen (by the watchdog): the recorded time, or `now`, recorded by this
 * call when there was none. A job that never succeeded is measured from it.
 */
export async function recordFirstSeen(table: HistoryTable, job: string, now: Date): Promise<string> {
  const key = itemKey(jobPartition(job), HistoryKeys.firstSeen);
  const read = async () =>
    (await table.client.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true })))
      .Item?.['at'] as string | undefined;
  const seen = await read();
  if (seen) return seen;
  try {
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...key, job, at: now.toISOString() },
        ConditionExpression: `attribute_not_exists(${PK})`,
      }),
    );
    return now.toISOString();
  } catch (err) {
    // Another watchdog pass recorded it first: its time stands.
    if (!isConditionFailure(err)) throw err;
    return (await read()) ?? now.toISOString();
  }
}

/** The job's alert de-duplication state, or undefined before its first alert. */
export async function getAlertState(table: HistoryTable, job: string): Promise<AlertState | undefined> {
  const result = await table.client.send(
    new GetCommand({
      TableName: table.tableName,
      Key: itemKey(jobPartition(job), HistoryKeys.alert),
      ConsistentRead: true,
    }),
  );
  const item = result.Item;
  if (!item) return undefined;
  const state: AlertState = { job: String(item['job']), failing: item['failing'] === true };
  if (typeof item['skipping'] === 'boolean') state.skipping = item['skipping'];
  if (typeof item['since'] === 'string') state.since = item['since'];
  if (typeof item['cause'] === 'string') state.cause = item['cause'];
  if (typeof item['lastRunId'] === 'string') state.lastRunId = item['lastRunId'];
  if (Array.isArray(item['undelivered']))
    state.undelivered = item['undelivered'] as AlertState['undelivered'];
  return state;
}

/** Replaces the job's alert state. */
export async function setAlertState(table: HistoryTable, state: AlertState): Promise<void> {
  await table.client.send(
    new PutCommand({
      TableName: table.tableName,
      Item: { ...itemKey(jobPartition(state.job), HistoryKeys.alert), ...state },
    }),
  );
}
