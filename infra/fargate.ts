/**
 * What the backup task and the restore/drill tasks share: the Fargate shape the dump image runs
 * in (RunTask overrides cpu and memory per job), and the writable /tmp volume its read-only root
 * filesystem needs.
 */
import { Tags } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import { DEFAULT_TASK_SIZE } from '../core/contracts/task-size.ts';

/**
 * The user every dumpvault container runs as: the image's own unprivileged user (task-image/
 * Dockerfile `USER`), set on the task definition too so that an image built without that line,
 * or a replacement image, still does not run as root (test/unit/task-image/dockerfile.test.ts
 * keeps the two equal).
 */
export const TASK_USER = '10001:10001';

/**
 * Cost allocation tags (docs/aws.md, costs): every task definition carries `dumpvault:task`
 * (`backup`, `restore` or `drill`), a backup task definition also `dumpvault:job` (the job's
 * name); RunTask propagates them to the tasks it starts. Restore and drill task definitions are
 * shared by the jobs, so their tasks are told apart by kind, not by job.
 */
export const CostTag = { job: 'dumpvault:job', task: 'dumpvault:task' } as const;

/** What a task definition runs, as its `dumpvault:task` tag says. */
export type TaskKind = 'backup' | 'restore' | 'drill';

/** Tags a task definition for cost allocation ({@link CostTag}). */
export function tagTaskDefinition(definition: Construct, kind: TaskKind, job?: string): void {
  Tags.of(definition).add(CostTag.task, kind);
  if (job !== undefined) Tags.of(definition).add(CostTag.job, job);
}

/** The volume mounted at /tmp in every dumpvault container. */
const TMP_VOLUME = 'tmp';

/** The CPU architecture the tasks run on, as `aws.task.architecture` chooses (default arm64). */
export function taskArchitecture(config: Config): 'arm64' | 'x86_64' {
  return config.aws?.task?.architecture ?? 'arm64';
}

/** The platform the default task image is built for: the tasks' architecture. */
export function taskImagePlatform(config: Config): Platform {
  return taskArchitecture(config) === 'arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64;
}

/** Task definition properties common to every dumpvault task (roles are the caller's). */
export function dumpTaskShape(
  config: Config,
): Pick<ecs.FargateTaskDefinitionProps, 'cpu' | 'memoryLimitMiB' | 'runtimePlatform' | 'volumes'> {
  return {
    cpu: DEFAULT_TASK_SIZE.cpu,
    memoryLimitMiB: DEFAULT_TASK_SIZE.memoryMiB,
    runtimePlatform: {
      cpuArchitecture:
        taskArchitecture(config) === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    },
    volumes: [{ name: TMP_VOLUME }],
  };
}

/**
 * The Linux parameters of every dumpvault container: ECS's init process as PID 1. The image has
 * no init of its own (its ENTRYPOINT execs node), so without this node would be PID 1: the
 * kernel's default SIGTERM handling does not apply to it, and the orphans of dump tools it
 * spawned (pg_dump's children, a killed tool's helpers) would never be reaped
 * (test/unit/task-image/dockerfile.test.ts checks the two together).
 */
export function taskLinuxParameters(definition: Construct): ecs.LinuxParameters {
  return new ecs.LinuxParameters(definition, 'LinuxParameters', { initProcessEnabled: true });
}

/** Mounts the task's /tmp volume in `container` (its root filesystem is read-only). */
export function mountTmp(container: ecs.ContainerDefinition): void {
  container.addMountPoints({ sourceVolume: TMP_VOLUME, containerPath: '/tmp', readOnly: false });
}
