/**
 * History in DynamoDB (DESIGN.md §5): the store the task and the Lambdas share in AWS.
 *
 * One table, keys `pk` / `sk`:
 *
 *   pk = JOB#{job}  sk = RUN#{startedAt}#{runId}   one item per run (ISO times sort chronologically);
 *                                                  TTL attribute `ttl` per the job's retention
 *                                                  (core/history/lifetime.ts)
 *   pk = JOB#{job}  sk = LASTSUCCESS#{kind}        copy of the newest SUCCEEDED run of a kind
 *                                                  (backup, restore, drill), written with it
 *   pk = JOB#{job}  sk = FIRSTSEEN                 when the watchdog first saw the job
 *   pk = JOB#{job}  sk = LEASE                     who runs the job now; `expiresAt` + TTL attribute `ttl`
 *   pk = JOB#{job}  sk = ALERT                     alert de-duplication state
 *   pk = JOBS       sk = JOB#{job}                 registry of jobs that ever ran (for listJobs)
 *
 * Only single-item conditional writes are used (no transactions), so every operation is
 * correct on its own and safe to retry.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AlertState, HistoryItem, HistoryStore, Lease, LeaseResult } from './history.ts';
import { RunKind, RunStatus } from './history.ts';

/** Key layout constants; infra, tests and the CLI's `--remote` commands rely on them. */
export const HistoryKeys = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds after which DynamoDB may delete an item (leases and run items). */
  ttlAttribute: 'ttl',
  lease: 'LEASE',
  alert: 'ALERT',
  /** Followed by the run kind: the job's newest SUCCEEDED run of that kind. */
  lastSuccessPrefix: 'LASTSUCCESS#',
  firstSeen: 'FIRSTSEEN',
  runPrefix: 'RUN#',
  jobsPartition: 'JOBS',
} as const;

/** A lease that has expired is kept this long before TTL deletion, for post-mortems. */
const LEASE_TTL_GRACE_SECONDS = 24 * 3600;

/** The partition of one job. */
export function jobPartition(job: string): string {
  return `JOB#${job}`;
}

/** The sort key of one run. */
export function runSortKey(startedAt: string, runId: string): string {
  return `${HistoryKeys.runPrefix}${startedAt}#${runId}`;
}

/** A document client that drops `undefined` fields (optional HistoryItem fields are often unset). */
export function createHistoryDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export interface DynamoHistoryStoreProps {
  /** The history table. */
  readonly tableName: string;
  /** A document client; build it with {@link createHistoryDocumentClient}. */
  readonly client: DynamoDBDocumentClient;
  /**
   * Days a run item of a job is kept after its start (its `ttl`); undefined = no TTL. Build it
   * with `runLifetimes(config)` (core/history/lifetime.ts).
   * @default - run items get no TTL
   */
  readonly runLifetimeDays?: (job: string) => number | undefined;
}

type StoredRun = HistoryItem & { pk?: string; sk?: string; entity?: string; ttl?: number };

function toHistoryItem(stored: Record<string, unknown>): HistoryItem {
  const { pk: _pk, sk: _sk, entity: _entity, ttl: _ttl, ...item } = stored as unknown as StoredRun;
  return item;
}

const DAY_SECONDS = 86_400;

function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err instanceof Error && err.name === 'ConditionalCheckFailedException')
  );
}

/** {@link HistoryStore} on DynamoDB, plus the queries the Lambdas need. */
export class DynamoHistoryStore implements HistoryStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly runLifetimeDays: (job: string) => number | undefined;

  constructor(props: DynamoHistoryStoreProps) {
    this.tableName = props.tableName;
    this.client = props.client;
    this.runLifetimeDays = props.runLifetimeDays ?? (() => undefined);
  }

  /** The stored form of a run item: keys, and `ttl` = its start + the job's run lifetime. */
  private runItem(item: HistoryItem): Record<string, unknown> {
    const days = this.runLifetimeDays(item.job);
    const started = Date.parse(item.startedAt);
    return {
      pk: jobPartition(item.job),
      sk: runSortKey(item.startedAt, item.runId),
      entity: 'run',
      ...item,
      ...(days !== undefined && Number.isFinite(started)
        ? { ttl: Math.ceil(started / 1000) + days * DAY_SECONDS }
        : {}),
    };
  }

  /**
   * Creates or replaces the run item, registers the job for {@link listJobs}, and when the run
   * SUCCEEDED moves the job's last-success pointer of that kind to it.
   */
  async save(item: HistoryItem): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: this.runItem(item) }));
    await this.registerJob(item.job);
    if (item.status === RunStatus.succeeded) await this.pointLastSuccessAt(item);
  }

  /**
   * Points `LASTSUCCESS#{kind}` at `item` unless it already points at a run that started later
   * (a re-save of an older run, e.g. when its prune is recorded, never moves it back). The
   * pointer has no TTL: a job that stopped succeeding long ago still knows when it last did.
   */
  private async pointLastSuccessAt(item: HistoryItem): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: jobPartition(item.job),
            sk: `${HistoryKeys.lastSuccessPrefix}${item.kind}`,
            entity: 'lastSuccess',
            ...item,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR startedAt <= :startedAt',
          ExpressionAttributeValues: { ':startedAt': item.startedAt },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  /**
   * Replaces a run item only while it is still RUNNING. Returns false when another writer
   * (the task itself, or a duplicate event) finished the run first: the caller must then
   * neither overwrite nor alert.
   */
  async saveIfRunning(item: HistoryItem): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.runItem(item),
          ConditionExpression: '#status = :running',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': RunStatus.running },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
    if (item.status === RunStatus.succeeded) await this.pointLastSuccessAt(item);
    return true;
  }

  /** Records the ECS task of a run. Fails if the run item does not exist. */
  async setTaskArn(job: string, startedAt: string, runId: string, taskArn: string): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: jobPartition(job), sk: runSortKey(startedAt, runId) },
        UpdateExpression: 'SET taskArn = :taskArn',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':taskArn': taskArn },
      }),
    );
  }

  /** Runs of a job, newest first. */
  async list(job: string, options?: { limit?: number }): Promise<HistoryItem[]> {
    const limit = options?.limit;
    const items: HistoryItem[] = [];
    for await (const page of this.queryRuns(job, {})) {
      for (const stored of page) {
        items.push(toHistoryItem(stored));
        if (limit !== undefined && items.length >= limit) return items;
      }
    }
    return items;
  }

  /** Runs of a job that started at or after `since` (ISO), newest first: one key-range query. */
  async listSince(job: string, since: string): Promise<HistoryItem[]> {
    const items: HistoryItem[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': jobPartition(job),
            ':from': `${HistoryKeys.runPrefix}${since}`,
            // Every run sort key sorts below this one.
            ':to': `${HistoryKeys.runPrefix}\uffff`,
          },
          ScanIndexForward: false,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const stored of page.Items ?? []) items.push(toHistoryItem(stored));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  /** One run by id (newest first scan of the job's runs), or undefined. */
  async findRun(job: string, runId: string): Promise<HistoryItem | undefined> {
    const filter = {
      FilterExpression: 'runId = :runId',
      ExpressionAttributeValues: { ':runId': runId },
    };
    for await (const page of this.queryRuns(job, filter)) {
      const found = page[0];
      if (found) return toHistoryItem(found);
    }
    return undefined;
  }

  /**
   * The newest SUCCEEDED run of one kind of a job (backups unless told otherwise: a restore or
   * drill is not a backup), or undefined when there is none: one read of the job's
   * `LASTSUCCESS#{kind}` pointer. Only when there is no pointer (a table written before
   * pointers existed, or a job that never succeeded) are the job's run items searched.
   */
  async lastSuccess(job: string, kind: RunKind = RunKind.backup): Promise<HistoryItem | undefined> {
    const pointer = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: jobPartition(job), sk: `${HistoryKeys.lastSuccessPrefix}${kind}` },
        ConsistentRead: true,
      }),
    );
    if (pointer.Item) return toHistoryItem(pointer.Item);
    return this.searchLastSuccess(job, kind);
  }

  /** The newest SUCCEEDED run of a kind, searched among the run items (newest first). */
  async searchLastSuccess(job: string, kind: RunKind = RunKind.backup): Promise<HistoryItem | undefined> {
    const filter = {
      FilterExpression: '#status = :succeeded AND #kind = :kind',
      ExpressionAttributeNames: { '#status': 'status', '#kind': 'kind' },
      ExpressionAttributeValues: { ':succeeded': RunStatus.succeeded, ':kind': kind },
    };
    for await (const page of this.queryRuns(job, filter)) {
      const found = page[0];
      if (found) return toHistoryItem(found);
    }
    return undefined;
  }

  /** Every job that has written history, sorted by name. */
  async listJobs(): Promise<string[]> {
    const jobs: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :jobs',
          ExpressionAttributeValues: { ':jobs': HistoryKeys.jobsPartition },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) jobs.push(String(item['job']));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return jobs.sort();
  }

  /**
   * Takes the job's lease: succeeds when nobody holds it, when the holder's lease expired, or
   * when `runId` already holds it (so a retried start is not refused by itself).
   */
  async acquireLease(
    job: string,
    runId: string,
    ttlMs: number,
    now: Date = new Date(),
  ): Promise<LeaseResult> {
    const expires = new Date(now.getTime() + ttlMs);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: jobPartition(job),
              sk: HistoryKeys.lease,
              job,
              runId,
              acquiredAt: now.toISOString(),
              expiresAt: expires.toISOString(),
              ttl: Math.ceil(expires.getTime() / 1000) + LEASE_TTL_GRACE_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR runId = :runId',
            ExpressionAttributeValues: { ':now': now.toISOString(), ':runId': runId },
          }),
        );
        return { acquired: true };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      const heldBy = await this.getLease(job);
      if (heldBy) return { acquired: false, heldBy };
      // Released between our write and our read: try again.
    }
    throw new Error(`the lease of job "${job}" changed hands three times while acquiring it`);
  }

  /** The current lease of a job, expired or not, or undefined. */
  async getLease(job: string): Promise<Lease | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: jobPartition(job), sk: HistoryKeys.lease },
        ConsistentRead: true,
      }),
    );
    const item = result.Item;
    if (!item) return undefined;
    return { job: String(item['job']), runId: String(item['runId']), expiresAt: String(item['expiresAt']) };
  }

  /** Deletes the lease if `runId` holds it; a lease held by another run is left alone. */
  async releaseLease(job: string, runId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: jobPartition(job), sk: HistoryKeys.lease },
          ConditionExpression: 'runId = :runId',
          ExpressionAttributeValues: { ':runId': runId },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  /**
   * When the job was first seen (by the watchdog): the recorded time, or `now`, recorded by
   * this call when there was none. A job that never succeeded is measured from it.
   */
  async recordFirstSeen(job: string, now: Date): Promise<string> {
    const key = { pk: jobPartition(job), sk: HistoryKeys.firstSeen };
    const read = async () =>
      (await this.client.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })))
        .Item?.['at'] as string | undefined;
    const seen = await read();
    if (seen) return seen;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, job, at: now.toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
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
  async getAlertState(job: string): Promise<AlertState | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: jobPartition(job), sk: HistoryKeys.alert },
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
    return state;
  }

  /** Replaces the job's alert state. */
  async setAlertState(state: AlertState): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: jobPartition(state.job), sk: HistoryKeys.alert, ...state },
      }),
    );
  }

  private async registerJob(job: string): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: HistoryKeys.jobsPartition, sk: jobPartition(job), job },
      }),
    );
  }

  /** Pages of a job's run items, newest first, with an optional filter. */
  private async *queryRuns(
    job: string,
    filter: Pick<
      QueryCommandInput,
      'FilterExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    >,
  ): AsyncGenerator<Record<string, unknown>[]> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)',
          ScanIndexForward: false,
          ...filter,
          ExpressionAttributeValues: {
            ':pk': jobPartition(job),
            ':run': HistoryKeys.runPrefix,
            ...filter.ExpressionAttributeValues,
          },
          ExclusiveStartKey: startKey,
        }),
      );
      yield page.Items ?? [];
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }
}
