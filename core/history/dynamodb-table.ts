/**
 * The DynamoDB history table as its store addresses it (core/history/dynamodb.ts): a document
 * client and a table name, the key of an item, and the error of a failed condition. Attribute
 * names come from core/contracts/history-keys.ts, the one place infra and the Lambdas read them.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HistoryKeys } from '../contracts/history-keys.ts';

/** The partition key attribute, for key expressions. */
export const PK = HistoryKeys.partitionKey;
/** The sort key attribute, for key expressions. */
export const SK = HistoryKeys.sortKey;
/** The TTL attribute (epoch seconds). */
export const TTL = HistoryKeys.ttlAttribute;

/** The table and the client every history request goes through. */
export interface HistoryTable {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
}

/** A document client that drops `undefined` fields (optional HistoryItem fields are often unset). */
export function createHistoryDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The key of one item: its partition and sort key values under the table's attribute names. */
export function itemKey(partition: string, sort: string): Record<string, string> {
  return { [PK]: partition, [SK]: sort };
}

/** Whether a write was refused because its condition did not hold. */
export function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err instanceof Error && err.name === 'ConditionalCheckFailedException')
  );
}
