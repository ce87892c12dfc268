/**
 * PostgreSQL globals beside a backup (`source.globals`): the `pg_dumpall --globals-only` script
 * (roles with their password hashes, tablespaces) compressed and encrypted exactly like the data
 * object, written to every destination that holds the backup before its manifest, and listed in
 * the manifest (`globals`). The script is small (one line per role and setting), so it is
 * encoded in memory. A globals dump or write that fails fails the run: a backup that was asked
 * for its roles and lacks them is not a success.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encryptStage } from '../crypto/openpgp.ts';
import { IntegrityError, messageOf, ToolError, UserError } from '../errors.ts';
import type { Manifest } from '../manifest.ts';
import type { Destination } from '../storage/destination.ts';
import { asDuplex } from '../streams/stages.ts';
import { compressStage } from './compress.ts';
import type { JobContext } from './context.ts';
import { type DecryptKeys, decodeStages } from './decode.ts';

/** What the manifest records of the globals object. */
export type GlobalsEntry = NonNullable<Manifest['globals']>;

async function collect(
  stages: readonly (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[],
  signal?: AbortSignal,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  await pipeline([...stages, sink], signal ? { signal } : {});
  return Buffer.concat(chunks);
}

/**
 * Dumps the globals when the job asks for them and encodes them like the data object; undefined
 * when it does not. Runs before the dump, so a failure stores nothing at all.
 */
export async function dumpGlobals(ctx: JobContext): Promise<Buffer | undefined> {
  if (!ctx.job.source.globals) return undefined;
  if (!ctx.engine.dumpGlobals) {
    throw new UserError(
      `the ${ctx.engine.name} engine has no globals; remove source.globals from job ${ctx.job.name}`,
    );
  }
  let script: Buffer;
  try {
    script = await ctx.engine.dumpGlobals(ctx.source, ctx.signal);
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    throw new ToolError(`the globals dump (pg_dumpall --globals-only) failed: ${messageOf(err)}`, {
      cause: err,
    });
  }
  const job = ctx.job;
  const encrypt = ctx.encryption
    ? encryptStage(
        ctx.encryption.type === 'openpgp'
          ? { recipients: ctx.encryption.recipients }
          : { passphrase: ctx.encryption.passphrase },
      )
    : undefined;
  return collect(
    [
      Readable.from([script]),
      asDuplex(compressStage(job.compression, job.compressionLevel)),
      ...(encrypt ? [asDuplex(encrypt)] : []),
    ],
    ctx.signal,
  );
}

/** Writes the encoded globals to every destination; rejects when any write fails. */
export async function storeGlobals(
  destinations: readonly Destination[],
  key: string,
  body: Buffer,
): Promise<GlobalsEntry> {
  const written = await Promise.allSettled(destinations.map((d) => d.put(key, body)));
  const failed = written.findIndex((w) => w.status === 'rejected');
  if (failed >= 0) {
    await Promise.all(destinations.map((d) => d.remove(key).catch(() => {})));
    const reason = (written[failed] as PromiseRejectedResult).reason;
    throw new ToolError(
      `writing the globals object to ${destinations[failed]!.name} failed: ${messageOf(reason)}`,
      {
        cause: reason,
      },
    );
  }
  return { key, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
}

/**
 * Reads a backup's globals script: the stored object checked against the manifest's size and
 * sha256, then decrypted and decompressed.
 */
export async function readGlobals(
  from: Destination,
  manifest: Manifest,
  keys: DecryptKeys | undefined,
  id: string,
  signal?: AbortSignal,
): Promise<string> {
  const entry = manifest.globals;
  if (!entry) {
    throw new UserError(
      `backup ${id} has no globals object: set "globals": true in the job's source (PostgreSQL) and back up again`,
    );
  }
  const stored = await collect([await from.read(entry.key)], signal);
  const sha = createHash('sha256').update(stored).digest('hex');
  if (stored.length !== entry.bytes || sha !== entry.sha256) {
    throw new IntegrityError(
      `${entry.key} does not match its manifest (${stored.length} bytes, sha256 ${sha.slice(0, 12)}…; expected ${entry.bytes} bytes, ${entry.sha256.slice(0, 12)}…)`,
    );
  }
  return (await collect([Readable.from([stored]), ...decodeStages(manifest, keys)], signal)).toString('utf8');
}
