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
 * Leases, first-seen and alert state are written by core/history/dynamodb-job-state.ts.
 * Only single-item conditional writes are used (no transactions), so every operation is
 * correct on its own and safe to retry.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { HistoryKeys, jobPartition, runSortKey } from '../contracts/history-keys.ts';
import {
  acquireLease,
  getAlertState,
  getLease,
  recordFirstSeen,
  releaseLease,
  setAlertState,
} from './dynamodb-job-state.ts';
import { type HistoryTable, isConditionFailure, itemKey, PK, SK, TTL } from './dynamodb-table.ts';
import type { AlertState, HistoryItem, HistoryStore, Lease, LeaseResult } from './history.ts';
import { RunKind, RunStatus } from './history.ts';

export { createHistoryDocumentClient } from './dynamodb-table.ts';

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

type StoredRun = HistoryItem & { [PK]?: string; [SK]?: string; entity?: string; [TTL]?: number };

/** A run as the callers see it: the stored item without its keys, entity and TTL. */
function toHistoryItem(stored: Record<string, unknown>): HistoryItem {
  const { [PK]: _pk, [SK]: _sk, entity: _entity, [TTL]: _ttl, ...item } = stored as unknown as StoredRun;
  return item;
}

const DAY_SECONDS = 86_400;

/** {@link HistoryStore} on DynamoDB, plus the queries the Lambdas need. */
export class DynamoHistoryStore implements HistoryStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly table: HistoryTable;
  private readonly runLifetimeDays: (job: string) => number | undefined;

  constructor(props: DynamoHistoryStoreProps) {
    this.tableName = props.tableName;
    this.client = props.client;
    this.table = { tableName: props.tableName, client: props.client };
    this.runLifetimeDays = props.runLifetimeDays ?? (() => undefined);
  }

  /** The stored form of a run item: keys, and `ttl` = its start + the job's run lifetime. */
  private runItem(item: HistoryItem): Record<string, unknown> {
    const days = this.runLifetimeDays(item.job);
    const started = Date.parse(item.startedAt);
    return {
      ...itemKey(jobPartition(item.job), runSortKey(item.startedAt, item.runId)),
      entity: 'run',
      ...item,
      ...(days !== undefined && Number.isFinite(started)
        ? { [TTL]: Math.ceil(started / 1000) + days * DAY_SECONDS }
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
            ...itemKey(jobPartition(item.job), `${HistoryKeys.lastSuccessPrefix}${item.kind}`),
            entity: 'lastSuccess',
            ...item,
          },
          ConditionExpression: `attribute_not_exists(${PK}) OR startedAt <= :startedAt`,
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
        Key: itemKey(jobPartition(job), runSortKey(startedAt, runId)),
        UpdateExpression: 'SET taskArn = :taskArn',
        ConditionExpression: `attribute_exists(${PK})`,
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
          KeyConditionExpression: `${PK} = :pk AND ${SK} BETWEEN :from AND :to`,
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
        Key: itemKey(jobPartition(job), `${HistoryKeys.lastSuccessPrefix}${kind}`),
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
          KeyConditionExpression: `${PK} = :jobs`,
          ExpressionAttributeValues: { ':jobs': HistoryKeys.jobsPartition },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) jobs.push(String(item['job']));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return jobs.sort();
  }

  /** Takes the job's lease (see acquireLease in core/history/dynamodb-job-state.ts). */
  acquireLease(job: string, runId: string, ttlMs: number, now: Date = new Date()): Promise<LeaseResult> {
    return acquireLease(this.table, job, runId, ttlMs, now);
  }

  /**
   * Hands the job's lease from run `from` (whose task has stopped) to run `to`, in one
   * conditional write: it also succeeds when nobody holds the lease or it has expired, and
   * fails when a third run holds it.
   */
  handOverLease(job: string, from: string, to: string, ttlMs: number, now: Date): Promise<LeaseResult> {
    return acquireLease(this.table, job, to, ttlMs, now, from);
  }

  /** The current lease of a job, expired or not, or undefined. */
  getLease(job: string): Promise<Lease | undefined> {
    return getLease(this.table, job);
  }

  /** Deletes the lease if `runId` holds it; a lease held by another run is left alone. */
  releaseLease(job: string, runId: string): Promise<void> {
    return releaseLease(this.table, job, runId);
  }

  /** When the watchdog first saw the job (recorded now when it never did). */
  recordFirstSeen(job: string, now: Date): Promise<string> {
    return recordFirstSeen(this.table, job, now);
  }

  /** The job's alert de-duplication state, or undefined before its first alert. */
  getAlertState(job: string): Promise<AlertState | undefined> {
    return getAlertState(this.table, job);
  }

  /** Replaces the job's alert state. */
  setAlertState(state: AlertState): Promise<void> {
    return setAlertState(this.table, state);
  }

  private async registerJob(job: string): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...itemKey(HistoryKeys.jobsPartition, jobPartition(job)), job },
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
          KeyConditionExpression: `${PK} = :pk AND begins_with(${SK}, :run)`,
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
