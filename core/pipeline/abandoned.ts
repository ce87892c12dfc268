/**
 * Runs left RUNNING by a process that ended without recording a result (SIGKILL, the OOM
 * killer, a crash, a reboot, a container stopped hard). Nothing in that process could record
 * FAILED or clean up, so the next backup of the job does it, once it holds the job's lease: it
 * removes what the run left in the destinations (temp files, pending multipart uploads, a data
 * object that never got its manifest), marks the run FAILED with the cause "abandoned", and
 * sends the alert a failure gets (deduplicated like any other). On AWS the task-stopped function
 * does the same for a task that stopped; the DynamoDB store therefore reports no abandoned runs.
 */
import { messageOf } from '../errors.ts';
import type { AbandonedRun, HistoryItem } from '../history/history.ts';
import { backupId, jobPrefix, MANIFEST_SUFFIX } from '../manifest.ts';
import { redact } from '../redact.ts';
import type { JobContext } from './context.ts';
import { announceOutcome } from './finish-run.ts';

/** The one-line cause recorded for an abandoned run. */
export function abandonedCause(pid: number | undefined): string {
  return `abandoned: the process that ran it${pid === undefined ? '' : ` (pid ${pid})`} ended without recording a result`;
}

/**
 * Fails the job's abandoned runs (see the module comment). The caller holds the job's lease as
 * run `currentRunId`. Never throws: a run that cannot be cleaned up or recorded is reported
 * through `step`, and the new backup goes on.
 */
export async function failAbandonedRuns(
  ctx: JobContext,
  currentRunId: string,
  step: (message: string) => void,
): Promise<HistoryItem[]> {
  const { history } = ctx;
  if (!history.abandonedRuns) return [];
  let abandoned: AbandonedRun[];
  try {
    abandoned = await history.abandonedRuns(ctx.job.name, currentRunId);
  } catch (err) {
    step(`could not look for abandoned runs: ${redact(messageOf(err))}`);
    return [];
  }
  const failed: HistoryItem[] = [];
  for (const { item, pid } of abandoned) {
    try {
      const kept = item.kind === 'backup' ? await removeLeftovers(ctx, item, step) : [];
      const now = (ctx.now ?? (() => new Date()))();
      const error =
        abandonedCause(pid) +
        (kept.length > 0 ? `; its copy in ${kept.join(', ')} has a manifest and counts as a backup` : '');
      // The owner said who ran it while it ran; the cause names it now.
      const { details: allDetails, ...rest } = item;
      const { owner: _owner, ...details } = allDetails ?? {};
      const record: HistoryItem = {
        ...rest,
        status: 'FAILED',
        finishedAt: now.toISOString(),
        error,
        ...(Object.keys(details).length > 0 ? { details } : {}),
      };
      await history.save(record);
      failed.push(record);
      step(`marked run ${item.runId} FAILED: ${error}`);
      await announceOutcome(
        { history, notifier: ctx.notifier, warn: step },
        {
          job: item.job,
          kind: item.kind,
          runId: item.runId,
          status: 'FAILED',
          error,
          investigate: ctx.investigate(item.runId),
        },
      );
    } catch (err) {
      step(`could not mark the abandoned run ${item.runId} FAILED: ${redact(messageOf(err))}`);
    }
  }
  return failed;
}

/**
 * Removes what abandoned backup `item` left in each destination; returns the destinations where
 * it had finished a copy with its manifest (a complete backup, left alone).
 */
async function removeLeftovers(
  ctx: JobContext,
  item: HistoryItem,
  step: (message: string) => void,
): Promise<string[]> {
  const keyPrefix = `${jobPrefix(ctx.prefix, item.job)}${backupId(new Date(item.startedAt), item.runId)}.`;
  const kept: string[] = [];
  for (const dest of ctx.destinations) {
    try {
      const removed = dest.removeUnfinished ? await dest.removeUnfinished(keyPrefix) : [];
      const objects = await dest.list(keyPrefix);
      if (objects.some((o) => o.key.endsWith(MANIFEST_SUFFIX))) {
        kept.push(dest.name);
      } else {
        // A data object without its manifest is no backup: the write finished, the run did not.
        for (const o of objects) {
          await dest.remove(o.key);
          removed.push(o.key);
        }
      }
      if (removed.length > 0)
        step(`removed what run ${item.runId} left in destination ${dest.name}: ${removed.join(', ')}`);
    } catch (err) {
      step(
        `could not remove what run ${item.runId} left in destination ${dest.name}: ${redact(messageOf(err))}`,
      );
    }
  }
  return kept;
}
