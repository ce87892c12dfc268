/**
 * The Verify step: the state machine's own check of what the restore task reports. It reads
 * the backup's manifest from storage (the stats taken at backup time) and the restored row
 * counts the task recorded on the run's history item, and compares them with the same code as
 * every restore and local drill (core/pipeline/compare.ts).
 */

import { findJob } from '../../core/config/load.ts';
import type { Config, Job } from '../../core/config/schema.ts';
import { RestoreState, type VerifyResult } from '../../core/contracts/restore-state-machine.ts';
import type { TableStats } from '../../core/engine.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import { readManifest } from '../../core/pipeline/catalog.ts';
import { compareStats } from '../../core/pipeline/compare.ts';
import { destinationNamed } from '../../core/pipeline/copies.ts';
import type { Destination } from '../../core/storage/destination.ts';
import { type RestoreStepEvent, requireRun, VerifyFailedError } from './restore-contract.ts';

export interface VerifyDeps {
  readonly config: Config;
  readonly history: DynamoHistoryStore;
  /** Opens the job's destinations AWS can read, in config order (see backup-source.ts). */
  readonly openSources: (job: Job) => Promise<readonly Destination[]>;
}

/** What Verify stores at `$.verify` (the contract lives in core/contracts). */
export type { VerifyResult } from '../../core/contracts/restore-state-machine.ts';

function isTableStats(value: unknown): value is TableStats {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0)
  );
}

/** Compares the restored row counts with the manifest; throws VerifyFailedError naming the tables. */
export async function verifyRestore(deps: VerifyDeps, event: RestoreStepEvent): Promise<VerifyResult> {
  const run = requireRun(event.state, RestoreState.verify);
  const job = findJob(deps.config, run.job);
  const item = await deps.history.findRun(run.job, run.runId);
  if (!item) {
    throw new VerifyFailedError(
      `run ${run.runId} of ${run.job} is not in history: the restore task recorded nothing`,
    );
  }
  if (item.status === 'FAILED') {
    throw new VerifyFailedError(item.error ?? 'the restore task recorded the run FAILED');
  }
  const restored = item.details?.['restoredTables'];
  if (item.status !== 'SUCCEEDED' || !isTableStats(restored)) {
    throw new VerifyFailedError(
      `the restore task exited 0 but recorded no restored row counts (run ${run.runId} is ${item.status}); see its log stream`,
    );
  }
  // The manifest of the copy Resolve chose (older runs name none: the first destination).
  const sources = await deps.openSources(job);
  const from = run.destination ? destinationNamed(sources, run.destination, job.name) : sources[0]!;
  const manifest = await readManifest(from, run.manifestKey);
  const comparison = compareStats(manifest.stats.tables, restored);
  if (!comparison.matches) {
    const shown = comparison.differences.slice(0, 3).join('; ');
    const more = comparison.differences.length > 3 ? ` (+${comparison.differences.length - 3} more)` : '';
    throw new VerifyFailedError(`restored data differs from backup ${run.backup}: ${shown}${more}`);
  }
  return { matches: true, tablesCompared: comparison.tablesCompared, rowsCompared: comparison.rowsCompared };
}
