/**
 * What both Fargate task commands (`task backup` in task.ts, `task restore` in task-restore.ts)
 * take from where they run: the single-job config and public keys the stack put in their
 * environment, the ARN of the ECS task, and the stand-ins tests inject.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from '../../../core/config/load.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { TaskEnv, type TaskRun } from '../../../core/contracts/task-env.ts';
import { ConfigError } from '../../../core/errors.ts';
import type { HistoryStore } from '../../../core/history/history.ts';
import type { Notifier } from '../../../core/notify/notifier.ts';
import type { SecretFetcher } from '../../../core/secrets/resolve.ts';
import type { Interrupts } from '../interrupts.ts';

/** What the task needs besides its environment; tests inject local stand-ins. */
export interface TaskDeps {
  readonly history?: HistoryStore;
  readonly notifier?: Notifier;
  readonly fetchSecret?: SecretFetcher;
  /**
   * SIGTERM (ECS StopTask) and SIGINT as an abort of the run.
   * @default - signals keep their default action
   */
  readonly interrupts?: () => Interrupts;
  /**
   * How long `task.timeoutMinutes` counts a minute, in ms (tests shorten it).
   * @default 60_000
   */
  readonly minuteMs?: number;
}

/**
 * Builds a LoadedConfig from the run's single-job config, writing the recipients' public keys
 * (both from the task environment, core/contracts/task-env.ts) into a private temp dir under the paths the config names.
 */
export async function loadTaskConfig(
  run: Pick<TaskRun, 'jobJson' | 'publicKeys'>,
): Promise<{ loaded: LoadedConfig; cleanup: () => Promise<void> }> {
  let json: unknown;
  try {
    json = JSON.parse(run.jobJson);
  } catch {
    throw new ConfigError(`${TaskEnv.jobJson} is not valid JSON; redeploy the stack`);
  }
  const config = validateConfig(json);
  const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-task-'));
  for (const [relative, armored] of Object.entries(run.publicKeys)) {
    const file = path.resolve(dir, relative);
    if (!file.startsWith(`${dir}${path.sep}`))
      throw new ConfigError(`public key path ${relative} leaves the key directory`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, armored, { mode: 0o600 });
  }
  return {
    loaded: { config, file: TaskEnv.jobJson, baseDir: dir, stateDir: dir },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The ARN of the task this process runs in, from the ECS task metadata endpoint (v4), so the
 * final history item keeps the ARN start-backup recorded. Undefined outside ECS.
 */
export async function currentTaskArn(
  run: Pick<TaskRun, 'taskArn' | 'metadataUri'>,
): Promise<string | undefined> {
  if (run.taskArn) return run.taskArn;
  const base = run.metadataUri;
  if (!base) return undefined;
  try {
    const response = await fetch(`${base}/task`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { TaskARN?: string };
    return body.TaskARN;
  } catch {
    return undefined; // history then lacks the ARN; task-stopped still finds the run by its id
  }
}
