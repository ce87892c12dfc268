/**
 * The Resolve step's rules for target `standby` (issue 16 §2): which backup a standby run
 * restores, and when an execution the job's standby rule started has nothing to do.
 *
 * The rule fires on every manifest written under the job's folder (infra/standby-rules.ts). Not
 * every such write is a new backup: a rekey rewrites the manifests of old backups, S3 and
 * EventBridge deliver an event more than once, and a manifest can land while an earlier standby
 * run is still restoring. A standby must never go back in time nor be restored twice at once,
 * so an event-started run proceeds only for the job's newest backup, when the standby does not
 * hold it yet and no other standby run of the job is under way; otherwise it ends SKIPPED,
 * with the reason, and no task starts.
 */
import type { Job } from '../../core/config/schema.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import { MANIFEST_SUFFIX } from '../../core/manifest.ts';
import { RestoreInputError, type RestoreRequest } from './restore-contract.ts';

/**
 * The backup id a standby event names: the manifest key must be `{root}{prefix}{job}/{id}.manifest.json`,
 * `{root}` empty or ending in `/` (a managed destination's own prefix).
 */
export function backupOfManifestKey(key: string, prefix: string, job: string): string {
  const folder = `${prefix}${job}/`;
  const start = key.lastIndexOf(folder);
  const id = start >= 0 ? key.slice(start + folder.length, -MANIFEST_SUFFIX.length) : '';
  const rooted = start === 0 || (start > 0 && key[start - 1] === '/');
  if (!rooted || id === '' || id.includes('/') || !key.endsWith(MANIFEST_SUFFIX)) {
    throw new RestoreInputError(
      `"key" ${JSON.stringify(key)} is not a manifest of job ${job} (expected …${folder}<id>${MANIFEST_SUFFIX})`,
    );
  }
  return id;
}

/** Checks a standby request against the job; the backup to resolve (`latest` for an event). */
export function standbyBackup(request: RestoreRequest, job: Job, prefix: string): string {
  if (!job.standby) {
    throw new RestoreInputError(`job ${job.name} has no "standby" in the config; add one (docs/standby.md)`);
  }
  if (request.drop) {
    throw new RestoreInputError(
      '"drop" does not apply to target "standby": the standby is replaced by a swap',
    );
  }
  // An event is checked against the newest backup: resolving "latest" finds it.
  if (request.key !== undefined) backupOfManifestKey(request.key, prefix, job.name);
  return request.key !== undefined ? 'latest' : request.backup;
}

/**
 * Why an event-started standby run has nothing to do, or undefined when it should restore
 * `newest` (see the file comment). Runs started by hand (no `key`) always proceed.
 */
export async function standbySkipReason(
  history: DynamoHistoryStore,
  request: RestoreRequest,
  run: { job: string; runId: string; prefix: string; newest: string; timeoutSeconds: number; now: Date },
): Promise<string | undefined> {
  if (request.key === undefined) return undefined;
  const landed = backupOfManifestKey(request.key, run.prefix, run.job);
  if (landed !== run.newest) {
    return `the manifest of ${landed} was written, but ${run.newest} is the newest backup; the standby follows only the newest`;
  }
  const held = (await history.lastSuccess(run.job, 'standby'))?.details?.['backup'];
  if (held === run.newest) return `the standby already holds ${run.newest}`;
  const since = new Date(run.now.getTime() - run.timeoutSeconds * 1000).toISOString();
  const busy = (await history.listSince(run.job, since)).find(
    (i) => i.kind === 'standby' && i.status === 'RUNNING' && i.runId !== run.runId,
  );
  if (busy) return `standby run ${busy.runId} of ${run.job} is still under way`;
  return undefined;
}
