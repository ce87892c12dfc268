/**
 * An in-process dynalite (DynamoDB protocol on loopback) with the history table created, for
 * tests of the DynamoDB history store and the Lambdas that use it.
 */

import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { holdIdleConnections } from './s3rver.ts';

type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number }) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface LocalDynamo {
  readonly endpoint: string;
  /** A low-level client pointed at dynalite with dummy credentials. */
  readonly client: DynamoDBClient;
  /** Creates a table shaped like the stack's history table (pk/sk strings) and returns its name. */
  createHistoryTable(name?: string): Promise<string>;
  stop(): Promise<void>;
}

let tables = 0;

/** Starts dynalite on 127.0.0.1 with a random port. */
export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  holdIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Keep idle connections open far longer than Node's 5 s: a test that blocks the event loop
  // (spawnSync psql building a big table) would otherwise reuse a socket the server closed
  // meanwhile and fail with ECONNRESET, which the client below does not retry.
  server.keepAliveTimeout = 120_000;
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  return {
    endpoint,
    client,
    async createHistoryTable(name = `history-${process.pid}-${++tables}`) {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
      return name;
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
