/**
 * The Guard step: the rules a restore must pass before any task starts. A target other than a
 * scratch or drill database needs `confirm` equal to the job name, and — seen by connecting to
 * it with a driver from inside the VPC (target-probe.ts) — must be empty unless `drop` is true;
 * `drop` only makes sense for such a target. The restore task checks emptiness again before it
 * writes (defence in depth: the target may change between the two looks).
 */
import { checkSourceUrl, findJob } from '../../core/config/load.ts';
import type { Config, EngineName } from '../../core/config/schema.ts';
import { RestoreState } from '../../core/contracts/restore-state-machine.ts';
import { redact } from '../../core/redact.ts';
import { readSecret, type SecretFetcher } from '../../core/secrets/resolve.ts';
import type { RunLog } from './log.ts';
import {
  GuardRefusedError,
  parseRestoreRequest,
  RestoreInputError,
  type RestoreStepEvent,
  requireRun,
} from './restore-contract.ts';
import { describeObjects, objectCount, type ProbeTarget, type TargetInventory } from './target-probe.ts';

/** What Guard stores at `$.guard`: which rule let the restore through, and what the target held. */
export interface GuardResult {
  readonly allowed: true;
  readonly rule: string;
  /** A URL target's contents when Guard looked (absent for scratch and ephemeral targets). */
  readonly target?: TargetInventory;
}

export interface GuardDeps {
  readonly config: Config;
  readonly fetchSecret: SecretFetcher;
  /** Looks into a target (target-probe.ts `probeTarget` with the real drivers). */
  readonly probe: (engine: EngineName, target: ProbeTarget) => Promise<TargetInventory>;
  /**
   * The tag (`dumpvault-restore-target=<stack>`) that lets the deployment read a target's
   * password secret; named when a secret cannot be read.
   */
  readonly restoreTargetTag?: string;
  readonly log: RunLog;
}

/**
 * The password a target's secret holds: the whole string, or the `password` field of a JSON
 * secret (the shape RDS-managed secrets have) — as the restore task reads it. A refused read
 * names the tag that lets the deployment read a target's secret.
 */
export async function readTargetPassword(
  fetchSecret: SecretFetcher,
  arn: string,
  restoreTargetTag: string | undefined,
): Promise<string> {
  const unreadableHint = restoreTargetTag
    ? `the deployment reads only the jobs' password secrets and secrets tagged ${restoreTargetTag}`
    : `the deployment reads only the jobs' password secrets and tagged restore target secrets`;
  return readSecret(arn, { path: 'target.passwordSecret', field: 'password', unreadableHint }, fetchSecret);
}

/**
 * Applies the rules; throws GuardRefusedError saying exactly what is missing or in the way,
 * TargetUnreachableError when the target cannot be reached, ConfigError when its password
 * secret cannot be read.
 */
export async function guardRestore(deps: GuardDeps, event: RestoreStepEvent): Promise<GuardResult> {
  const request = parseRestoreRequest(event.state);
  const run = requireRun(event.state, RestoreState.guard);
  if (run.targetKind !== 'connection') {
    if (request.drop) {
      throw new GuardRefusedError(
        `"drop" only applies to a target URL; a ${run.targetKind} target is always a new, empty database: leave "drop" out`,
      );
    }
    return {
      allowed: true,
      rule:
        run.targetKind === 'standby'
          ? 'standby target: the config names it; the backup goes into a new database beside it, swapped in only once it matches the manifest (a database dumpvault did not make is refused); no confirmation needed'
          : `${run.targetKind} target: a new database, nothing existing is touched; no confirmation needed`,
    };
  }
  if (request.confirm !== run.job) {
    throw new GuardRefusedError(
      `restoring into ${run.target} writes to a database outside dumpvault's scratch space: set "confirm" to the job name "${run.job}"${request.confirm !== undefined ? ` (got ${JSON.stringify(request.confirm)})` : ''}`,
    );
  }
  if (typeof request.target !== 'object') {
    throw new RestoreInputError(`the run has a target URL but the input's "target" is ${request.target}`);
  }
  const job = findJob(deps.config, run.job);
  const { url, passwordSecret } = request.target;
  // The rules a job's source URL obeys: no secret in it, no name a tool could read as an option.
  const problem = job.engine === 'sqlite' ? undefined : checkSourceUrl(job.engine, url);
  if (problem) throw new RestoreInputError(redact(`target.url: ${problem}`));
  const password = passwordSecret
    ? await readTargetPassword(deps.fetchSecret, passwordSecret, deps.restoreTargetTag)
    : undefined;
  const inventory = await deps.probe(job.engine, { url, ...(password !== undefined ? { password } : {}) });
  const where = redact(url);
  const objects = objectCount(inventory);
  deps.log.info('restore target probed', {
    job: job.name,
    runId: run.runId,
    target: where,
    missing: inventory.missing,
    objects: inventory.objects,
  });
  if (objects > 0 && !request.drop) {
    throw new GuardRefusedError(
      `the target ${where} already has ${describeObjects(inventory.objects)}: pass drop: true to replace them`,
    );
  }
  let state: string;
  if (inventory.missing) state = `${where} does not exist yet: the restore creates it`;
  else if (objects === 0) state = `${where} is empty`;
  else {
    state = `drop: ${where} has ${describeObjects(inventory.objects)}; the restore drops and recreates the backup's objects`;
  }
  return { allowed: true, rule: `confirmed by the job name; ${state}`, target: inventory };
}
