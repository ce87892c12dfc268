/** `restore`, `drill`, `decrypt`: getting data back. */
import { createWriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { checkSourceUrl, sqlitePath, sqliteUrl } from '../../../core/config/load.ts';
import { decryptStage, readPrivateKey } from '../../../core/crypto/openpgp.ts';
import type { Connection } from '../../../core/engine.ts';
import { UsageError } from '../../../core/errors.ts';
import { manifestId, parseBackupSelector } from '../../../core/pipeline/catalog.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { type RestoreResult, type RestoreTarget, runRestore } from '../../../core/pipeline/restore.ts';
import { redact, registerSecret } from '../../../core/redact.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { asDuplex } from '../../../core/streams/stages.ts';
import type { Flags } from '../args.ts';
import { withInterrupts } from '../interrupts.ts';
import { formatDuration, type Io, type Output } from '../output.ts';
import { openJob, resolveDecryptKeys } from '../resolve.ts';
import { runTimeoutOf, runTimer } from '../run-timeout.ts';
import { findCopy, readableDestinations } from './catalog.ts';
import { restoreForeign } from './restore-foreign.ts';
import { checkSelectionFlags, listBackupContents, restoreGlobalsCommand } from './restore-select.ts';

/** Parses `--to`: a URL of the job's engine; a password in it is lifted out and kept secret. */
function targetConnection(ctx: JobContext, url: string, io: Io): Connection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `--to: "${redact(url)}" is not a URL; give a ${ctx.job.engine} URL like the job's source`,
    );
  }
  let password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  if (password) {
    registerSecret(password);
    parsed.password = '';
  }
  const clean = parsed.toString();
  const problem = checkSourceUrl(ctx.job.engine, clean);
  if (problem) throw new UsageError(`--to: ${problem}`);
  password ??= io.env.DUMPVAULT_TARGET_PASSWORD ?? ctx.source.password;
  registerSecret(password);
  const finalUrl = ctx.job.engine === 'sqlite' ? sqliteUrl(path.resolve(sqlitePath(clean))) : clean;
  return { url: finalUrl, ...(password ? { password } : {}) };
}

async function confirmDrop(ctx: JobContext, target: Connection, flags: Flags, io: Io): Promise<void> {
  if (!flags.drop || flags.yes) return;
  if (!io.prompt) {
    throw new UsageError(
      `--drop replaces the data in ${redact(target.url)}: add --yes to confirm (no terminal to ask on)`,
    );
  }
  const answer = await io.prompt(
    `This replaces everything in ${redact(target.url)} with the backup: objects the backup does not have are dropped too. Type the job name (${ctx.job.name}) to continue: `,
  );
  if (answer.trim() !== ctx.job.name) throw new UsageError('not confirmed; nothing was changed');
}

function printRestore(out: Output, result: RestoreResult, from: Destination): void {
  if (out.isJson) {
    out.result({ status: 'SUCCEEDED', ...result, destination: from.name });
    return;
  }
  out.line(
    `SUCCEEDED restored ${result.id} from destination ${from.name} into ${result.target} in ${formatDuration(result.durationMs)}`,
  );
  out.line(
    `  verified: ${result.comparison.tablesCompared} tables, ${result.comparison.rowsCompared} rows match the manifest${result.dropped ? '; scratch database dropped' : ''}`,
  );
}

/** `dumpvault restore <job> [<id>|latest|<time>] [--to <url>] [--drop] [--yes] [--from <file|s3-url>]` */
export async function restoreCommand(
  job: string | undefined,
  selector: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, progress: out.progress });
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  const select = checkSelectionFlags(ctx, flags);
  if (flags.list) return listBackupContents(ctx, keys, flags, selector, out);
  const targetConn = flags.to ? targetConnection(ctx, flags.to, io) : undefined;
  if (flags.globals) return restoreGlobalsCommand(ctx, keys, flags, selector, targetConn ?? ctx.source, out);
  if (flags.drop && !targetConn)
    throw new UsageError('--drop only applies with --to <url>; scratch restores never drop');
  if (targetConn) await confirmDrop(ctx, targetConn, flags, io);
  if (flags.from) {
    if (flags.destination !== undefined)
      throw new UsageError('--from reads the file it names; leave out --destination');
    const timer = runTimer(runTimeoutOf(flags.timeout, ctx.job), 'the restore');
    try {
      return await withInterrupts(io.interrupts, { ...ctx, signal: timer.signal }, (run) =>
        restoreForeign(loaded, run, flags.from!, targetConn, keys, flags, out, io),
      );
    } finally {
      timer.dispose();
    }
  }
  // Command-line mistakes are refused before the run starts (and are not recorded as runs).
  readableDestinations(ctx, flags);
  parseBackupSelector(selector ?? 'latest');
  const target: RestoreTarget = targetConn
    ? { kind: 'connection', connection: targetConn, drop: Boolean(flags.drop) }
    : { kind: 'scratch' };
  if (!out.isJson) out.line(`restore ${ctx.job.name} ${selector ?? 'latest'}`);
  // Bounded like a backup: a restore that hangs (a lock it waits on, a store that stops
  // answering) is stopped the way SIGTERM stops it and recorded FAILED with the bound.
  const timer = runTimer(runTimeoutOf(flags.timeout, ctx.job), 'the restore');
  // The backup is found inside the run: one that is missing or ambiguous is recorded FAILED
  // like every other refusal.
  let from: Destination | undefined;
  const resolve = async () => {
    const copy = await findCopy(ctx, flags, selector ?? 'latest', out);
    from = copy.from;
    if (!out.isJson)
      out.line(`  selected backup ${manifestId(copy.manifest)} (started ${copy.manifest.startedAt})`);
    return copy;
  };
  let result: Awaited<ReturnType<typeof runRestore>>;
  try {
    result = await withInterrupts(io.interrupts, { ...ctx, signal: timer.signal }, (run) =>
      runRestore(run, {
        resolve,
        target,
        keys,
        skipVerify: Boolean(flags['skip-verify']),
        ...(select ? { select } : {}),
      }),
    );
  } finally {
    timer.dispose();
  }
  printRestore(out, result, from!);
  return 0;
}

/** `dumpvault drill <job>`: restore the latest backup into a scratch database, compare, drop it. */
export async function drillCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, progress: out.progress });
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  readableDestinations(ctx, flags);
  if (!out.isJson) out.line(`drill ${ctx.job.name}`);
  const timer = runTimer(runTimeoutOf(flags.timeout, ctx.job), 'the drill');
  let from: Destination | undefined;
  const resolve = async () => {
    const copy = await findCopy(ctx, flags, 'latest', out);
    from = copy.from;
    return copy;
  };
  let result: Awaited<ReturnType<typeof runRestore>>;
  try {
    result = await withInterrupts(io.interrupts, { ...ctx, signal: timer.signal }, (run) =>
      runRestore(run, { resolve, target: { kind: 'scratch' }, keys, kind: 'drill' }),
    );
  } finally {
    timer.dispose();
  }
  printRestore(out, result, from!);
  return 0;
}

/** `dumpvault decrypt <file> --key <private.asc> [-o <out>]` — like `gpg --decrypt`. */
export async function decryptCommand(
  file: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  if (!file)
    throw new UsageError('decrypt needs a file: dumpvault decrypt <file> --key <private.asc> [-o <out>]');
  const keyFile = flags.key ?? io.env.DUMPVAULT_PRIVATE_KEY;
  const passphrase = io.env.DUMPVAULT_PASSPHRASE;
  registerSecret(passphrase);
  if (!keyFile && !passphrase) {
    throw new UsageError(
      'decrypt needs --key <private.asc> (or DUMPVAULT_PASSPHRASE for passphrase-encrypted files)',
    );
  }
  const keyPassphrase = io.env.DUMPVAULT_KEY_PASSPHRASE;
  registerSecret(keyPassphrase);
  const privateKeys = keyFile ? [await readPrivateKey(path.resolve(keyFile), keyPassphrase)] : undefined;
  let input: import('node:fs/promises').FileHandle;
  try {
    input = await open(path.resolve(file));
  } catch {
    throw new UsageError(`cannot read ${file}: check the path`);
  }
  const stage = asDuplex(
    decryptStage({ ...(privateKeys ? { privateKeys } : {}), ...(passphrase ? { passphrase } : {}) }),
  );
  if (!flags.out) {
    await pipeline(input.createReadStream(), stage, io.stdout, { end: false });
    return 0;
  }
  const outFile = path.resolve(flags.out);
  try {
    await pipeline(input.createReadStream(), stage, createWriteStream(outFile, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    // A partial plaintext is worse than none: it looks complete.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(outFile).catch(() => {});
    else throw new UsageError(`${flags.out} already exists; refusing to overwrite it`);
    throw err;
  }
  out.line(`decrypted ${file} -> ${flags.out}`);
  return 0;
}
