import { MongoClient } from 'mongodb';
import { redact, registerSecret } from '../../core/redact.ts';
import { unreachable, unreadable } from './probe-connection.ts';
import { RestoreInputError } from './restore-contract.ts';
import {
  nonZero,
  PROBE_APPLICATION_NAME,
  PROBE_CONNECT_TIMEOUT_MS,
  type ProbeTarget,
  type TargetInventory,
} from './target-inventory.ts';

/** The MongoClient options a probe sets. */
export interface MongoProbeOptions {
  readonly auth?: { readonly username: string; readonly password: string };
  readonly serverSelectionTimeoutMS: number;
  readonly connectTimeoutMS: number;
  readonly appName: string;
}

/** The part of a MongoClient a probe uses. */
export interface MongoProbeClient {
  db(name: string): {
    listCollections(
      filter: Record<string, never>,
      options: { nameOnly: true; authorizedCollections: true },
    ): { toArray(): Promise<Array<{ name: string }>> };
  };
  close(): Promise<void>;
}

/** Opens a connected client, or fails with the driver's error. */
export type MongoConnect = (url: string, options: MongoProbeOptions) => Promise<MongoProbeClient>;

/** The `mongodb` driver. */
export const connectMongo: MongoConnect = (url, options) => MongoClient.connect(url, options);

const MONGO_URL = /^(mongodb(?:\+srv)?):\/\/(?:([^@/]*)@)?([^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/;

/**
 * What a MongoDB target holds: its collections, `system.*` aside (views count: a restore would
 * collide with them too). The password goes in the client's `auth` option, never in the URL.
 */
export async function probeMongo(
  target: ProbeTarget,
  connect: MongoConnect = connectMongo,
): Promise<TargetInventory> {
  const example = 'mongodb://restore@db.internal:27017/app';
  const m = MONGO_URL.exec(target.url);
  if (!m)
    throw new RestoreInputError(`target.url: expected a URL like ${example}, got ${redact(target.url)}`);
  const [, scheme, userinfo = '', hosts, rawDb = '', query] = m;
  const database = decodeURIComponent(rawDb);
  if (!database) {
    throw new RestoreInputError(
      `target.url: add the database name, like ${example} (got ${redact(target.url)})`,
    );
  }
  registerSecret(target.password);
  const where = redact(target.url);
  const withAuth = userinfo !== '' && target.password !== undefined;
  const url = withAuth
    ? `${scheme}://${hosts}/${rawDb}${query !== undefined ? `?${query}` : ''}`
    : target.url;
  let client: MongoProbeClient;
  try {
    client = await connect(url, {
      ...(withAuth ? { auth: { username: decodeURIComponent(userinfo), password: target.password! } } : {}),
      serverSelectionTimeoutMS: PROBE_CONNECT_TIMEOUT_MS,
      connectTimeoutMS: PROBE_CONNECT_TIMEOUT_MS,
      appName: PROBE_APPLICATION_NAME,
    });
  } catch (err) {
    throw unreachable(where, err);
  }
  try {
    const collections = await client
      .db(database)
      .listCollections({}, { nameOnly: true, authorizedCollections: true })
      .toArray();
    const count = collections.filter((c) => !c.name.startsWith('system.')).length;
    return { missing: false, objects: nonZero([['collections', count]]) };
  } catch (err) {
    throw unreadable(where, err);
  } finally {
    await client.close().catch(() => undefined);
  }
}
