/**
 * `dumpvault standby <job>`, and the standby run that follows every successful backup of a
 * job with a `standby` (issue 16 §2; core/standby/run.ts says what a run promises).
 */
import type { LoadedConfig } from '../../../core/config/load.ts';
import type { Connection } from '../../../core/engine.ts';
import { UsageError } from '../../../core/errors.ts';
import type { Manifest } from '../../../core/manifest.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import type { RestoreSource } from '../../../core/pipeline/restore.ts';
import { resolveSecret, type SecretFetcher } from '../../../core/secrets/resolve.ts';
import { runStandby, type StandbyResult } from '../../../core/standby/run.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { standbySwapFor } from '../../engines/standby.ts';
import type { Flags } from '../args.ts';
import { withInterrupts } from '../interrupts.ts';
import { formatDuration, type Io, type Output } from '../output.ts';
import { jobIndex, openJob, resolveDecryptKeys } from '../resolve.ts';
import { runTimeoutOf, runTimer } from '../run-timeout.ts';
import { findCopy } from './catalog.ts';

/** The job's standby as a connection, its password resolved from passwordEnv / passwordSecret (via `fetchSecret` in AWS). */
export async function standbyConnection(
  loaded: LoadedConfig,
  ctx: JobContext,
  env: NodeJS.ProcessEnv,
  fetchSecret?: SecretFetcher,
): Promise<Connection | undefined> {
  const standby = ctx.job.standby;
  if (!standby) return undefined;
  const password = await resolveSecret(
    {
      env: standby.passwordEnv,
      arn: standby.passwordSecret,
      path: `jobs[${jobIndex(loaded, ctx.job)}].standby`,
      field: 'password',
    },
    env,
    ...(fetchSecret ? [fetchSecret] : []),
  );
  return { url: standby.url, ...(password !== undefined ? { password } : {}) };
}

/**
 * Brings the job's standby up to `source` (the backup just made, or the newest one found
 * inside the run). Resolves with the result; rejects after the run recorded FAILED and alerted.
 */
export async function followWithStandby(
  loaded: LoadedConfig,
  ctx: JobContext,
  io: Io,
  source: () => Promise<RestoreSource>,
): Promise<StandbyResult> {
  const standby = await standbyConnection(loaded, ctx, io.env);
  if (!standby) {
    throw new UsageError(`job ${ctx.job.name} has no "standby" in the config; add one (docs/standby.md)`);
  }
  const keys = await resolveDecryptKeys(loaded, ctx.job, undefined, { env: io.env });
  return runStandby(ctx, {
    resolve: source,
    standby,
    swap: standbySwapFor(ctx.engine),
    keys,
    exclusive: true,
  });
}

/** The source of a standby run after a backup: the copy in the first destination that took it. */
export function justWritten(
  ctx: JobContext,
  manifest: Manifest,
  written: readonly string[],
): () => Promise<RestoreSource> {
  return async () => {
    const from: Destination | undefined = ctx.destinations.find((d) => written.includes(d.name));
    if (!from) throw new Error(`no destination holds backup ${manifest.runId}`);
    return { manifest, from };
  };
}

/** Prints a standby result (one line, or the JSON result). */
export function printStandby(out: Output, result: StandbyResult): void {
  if (out.isJson) {
    out.result({ status: 'SUCCEEDED', ...result });
    return;
  }
  out.line(
    `SUCCEEDED standby ${result.swapped.standby} now holds ${result.id} (${result.tablesCompared} tables, ${result.rowsCompared} rows verified) in ${formatDuration(result.durationMs)}${result.swapped.previous ? `; previous standby kept as ${result.swapped.previous}` : ''}`,
  );
}

/** `dumpvault standby <job> [--key <file>] [--destination <name>] [--timeout <t>]`: the newest backup into the standby. */
export async function standbyCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, { forReading: true, progress: out.progress });
  if (!ctx.job.standby) {
    throw new UsageError(`job ${ctx.job.name} has no "standby" in the config; add one (docs/standby.md)`);
  }
  if (!out.isJson) out.line(`standby ${ctx.job.name}`);
  const withKey = flags.key ? { ...io, env: { ...io.env, DUMPVAULT_PRIVATE_KEY: flags.key } } : io;
  // Bounded like restore and drill: a restore stuck behind a lock is stopped (the restore tool
  // killed, the next database dropped, the standby untouched) and recorded FAILED with the bound.
  const timer = runTimer(runTimeoutOf(flags.timeout, ctx.job), 'the standby');
  let result: StandbyResult;
  try {
    result = await withInterrupts(io.interrupts, { ...ctx, signal: timer.signal }, (run) =>
      followWithStandby(loaded, run, withKey, () => findCopy(run, flags, 'latest', out)),
    );
  } finally {
    timer.dispose();
  }
  printStandby(out, result);
  return 0;
}
