/**
 * The deployment's history table and alert topic, as every handler builds them from the
 * environment the stack gives it (DUMPVAULT_HISTORY_TABLE, DUMPVAULT_TOPIC_ARN).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { Config } from '../../core/config/schema.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import { runLifetimes } from '../../core/history/lifetime.ts';
import { SnsNotifier } from '../../core/notify/sns.ts';
import { FunctionEnv, requireEnv } from './environment.ts';

/**
 * The history table named by the environment. Run items written through it expire per the
 * jobs' retention (core/history/lifetime.ts), so every writer passes the deployed config.
 */
export function deployedHistory(dynamodb: DynamoDBClient, config: Config): DynamoHistoryStore {
  return new DynamoHistoryStore({
    tableName: requireEnv(FunctionEnv.historyTable),
    client: createHistoryDocumentClient(dynamodb),
    runLifetimeDays: runLifetimes(config),
  });
}

/** The alert topic named by the environment. */
export function deployedNotifier(sns: SNSClient): SnsNotifier {
  return new SnsNotifier({ client: sns, topicArn: requireEnv(FunctionEnv.topicArn) });
}
