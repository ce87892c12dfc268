/**
 * What the backup task and the restore/drill tasks share: the Fargate shape the dump image runs
 * in (RunTask overrides cpu and memory per job), and the writable /tmp volume its read-only root
 * filesystem needs.
 */
import * as ecs from 'aws-cdk-lib/aws-ecs';

/** The volume mounted at /tmp in every dumpvault container. */
const TMP_VOLUME = 'tmp';

/** Task definition properties common to every dumpvault task (roles are the caller's). */
export const DUMP_TASK_SHAPE: Pick<
  ecs.FargateTaskDefinitionProps,
  'cpu' | 'memoryLimitMiB' | 'runtimePlatform' | 'volumes'
> = {
  cpu: 1024,
  memoryLimitMiB: 2048,
  runtimePlatform: {
    cpuArchitecture: ecs.CpuArchitecture.X86_64,
    operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
  },
  volumes: [{ name: TMP_VOLUME }],
};

/** Mounts the task's /tmp volume in `container` (its root filesystem is read-only). */
export function mountTmp(container: ecs.ContainerDefinition): void {
  container.addMountPoints({ sourceVolume: TMP_VOLUME, containerPath: '/tmp', readOnly: false });
}
