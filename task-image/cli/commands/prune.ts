import { blockingBackupRun, pruneJob } from '../../../core/pipeline/prune.ts';
import { formatPlan } from '../../../core/retention/plan.ts';
import type { Flags } from '../args.ts';
import type { Io, Output } from '../output.ts';
import { openJob } from '../resolve.ts';

/**
 * `dumpvault prune <job> [--dry-run]`. Refuses to run when the job's last finished backup run
 * did not succeed (later SKIPPED runs do not count as finished).
 */
export async function pruneCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { ctx } = await openJob(job, flags, io, { forReading: true, offline: true });
  const blocking = blockingBackupRun(await ctx.history.list(ctx.job.name));
  const lastRunFailed = blocking !== undefined;
  if (blocking) {
    out.warn(
      `the last finished backup run of ${ctx.job.name} (${blocking.runId}, ${blocking.startedAt}) is ${blocking.status}${blocking.error ? `: ${blocking.error}` : ''}; retention runs only after a successful backup`,
    );
  }
  const dryRun = Boolean(flags['dry-run']);
  const results = await pruneJob(ctx, { dryRun, lastRunFailed });
  if (out.isJson) {
    out.result(
      results.map((r) => ({
        destination: r.destination,
        runnable: r.plan.runnable,
        reason: r.plan.reason,
        decisions: r.plan.decisions.map((d) => ({ id: d.backup.id, action: d.action, rules: d.rules })),
        deleted: r.deleted,
        errors: r.errors,
        problems: r.problems,
      })),
    );
  } else {
    for (const r of results) {
      out.line(`${dryRun ? 'plan (dry run)' : 'prune'} for ${ctx.job.name} in ${r.destination}:`);
      if (!r.plan.runnable) out.line(`  not run: ${r.plan.reason}`);
      for (const line of formatPlan(r.plan)) out.line(`  ${line}`);
      if (!dryRun) out.line(`  deleted ${r.deleted.length} object(s)`);
      for (const p of r.problems) out.line(`  left alone ${p.key}: ${p.problem}`);
      for (const e of r.errors) out.warn(`could not delete ${e}`);
    }
  }
  if (results.some((r) => r.errors.length)) return 1;
  return results.some((r) => !r.plan.runnable) ? 1 : 0;
}
