/**
 * Where `recover --from` reads (DESIGN.md §3): a folder (`/mnt/nas/dv`, `file:///mnt/nas/dv`),
 * `s3://bucket/prefix/` (any S3-compatible store with `--endpoint`) or
 * `azure://container/prefix/`, each opened as a destination with nothing but the storage
 * credentials the environment holds: there is no config yet to name them.
 *
 * Azure credentials, by the Azure CLI's names: `AZURE_STORAGE_CONNECTION_STRING`, else
 * `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN` (`--endpoint`
 * for a blob endpoint other than `https://<account>.blob.core.windows.net`, e.g. Azurite).
 */
import path from 'node:path';
import type { Destination as DestinationConfig } from '../../../core/config/schema.ts';
import { UsageError } from '../../../core/errors.ts';
import { registerSecret } from '../../../core/redact.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { type AzureCredentials, createDestination } from '../../../core/storage/index.ts';
import type { Flags } from '../args.ts';
import type { Io } from '../output.ts';

/** Where `--from` points: a destination rooted there, and the path below its root (for the prefix check). */
export interface Location {
  readonly description: string;
  /** The folder part of the location, ending with "/" (or ""), compared with the config prefix. */
  readonly tail: string;
  /** A destination rooted at the location minus `strip` trailing characters of its folder part. */
  open(strip: number): Destination;
}

/** `scheme://root/rest` split into root (bucket, container) and a folder prefix ending with "/". */
function splitUrl(from: string, scheme: string, shape: string): { root: string; prefix: string } {
  const rest = from.slice(scheme.length);
  const slash = rest.indexOf('/');
  const root = slash < 0 ? rest : rest.slice(0, slash);
  if (!root) throw new UsageError(`--from: expected ${shape}, got ${from}`);
  let prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  return { root, prefix };
}

function s3Location(from: string, flags: Flags, io: Io): Location {
  const { root: bucket, prefix } = splitUrl(from, 's3://', 's3://bucket/prefix/');
  const accessKeyId = io.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = io.env.AWS_SECRET_ACCESS_KEY;
  registerSecret(secretAccessKey);
  const open = (strip: number): Destination => {
    const cfg: DestinationConfig = {
      type: 's3',
      bucket,
      prefix: prefix.slice(0, prefix.length - strip),
      partSizeMiB: 8,
      queueSize: 2,
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
    };
    return createDestination('from', cfg, {
      baseDir: process.cwd(),
      ...(accessKeyId && secretAccessKey ? { s3Credentials: { accessKeyId, secretAccessKey } } : {}),
    });
  };
  return { description: from, tail: prefix, open };
}

function azureCredentials(env: NodeJS.ProcessEnv): { credentials: AzureCredentials; account?: string } {
  const connectionString = env.AZURE_STORAGE_CONNECTION_STRING;
  const account = env.AZURE_STORAGE_ACCOUNT;
  const accountKey = env.AZURE_STORAGE_KEY;
  const sasToken = env.AZURE_STORAGE_SAS_TOKEN;
  for (const secret of [connectionString, accountKey, sasToken]) registerSecret(secret);
  if (connectionString) return { credentials: { connectionString } };
  if (account && accountKey) return { credentials: { accountKey }, account };
  if (account && sasToken) return { credentials: { sasToken }, account };
  throw new UsageError(
    '--from azure://…: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN',
  );
}

function azureLocation(from: string, flags: Flags, io: Io): Location {
  const { root: container, prefix } = splitUrl(from, 'azure://', 'azure://container/prefix/');
  const { credentials, account } = azureCredentials(io.env);
  const open = (strip: number): Destination => {
    const cfg: DestinationConfig = {
      type: 'azure',
      container,
      prefix: prefix.slice(0, prefix.length - strip),
      blockSizeMiB: 8,
      queueSize: 2,
      ...(account ? { account } : {}),
      ...(flags.endpoint ? { accountUrl: flags.endpoint } : {}),
    };
    return createDestination('from', cfg, { baseDir: process.cwd(), azureCredentials: credentials });
  };
  return { description: from, tail: prefix, open };
}

/** The location `--from` names; see the module comment. */
export function parseLocation(from: string, flags: Flags, io: Io): Location {
  if (from.startsWith('s3://')) return s3Location(from, flags, io);
  if (from.startsWith('azure://')) return azureLocation(from, flags, io);
  if (flags.endpoint)
    throw new UsageError('--endpoint goes with --from s3://bucket/prefix/ or azure://container/prefix/ only');
  const dir = path.resolve(from.replace(/^file:\/\//, ''));
  const tail = `${dir.split(path.sep).join('/')}/`;
  return {
    description: dir,
    tail,
    open: (strip) =>
      createDestination(
        'from',
        { type: 'file', path: tail.slice(0, tail.length - strip) || '/' },
        { baseDir: '/' },
      ),
  };
}
