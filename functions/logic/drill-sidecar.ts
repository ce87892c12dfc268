/**
 * Which drill task definition restores a backup: the one whose sidecar database runs the
 * engine and major version the backup was made from. The deployment names its drill task
 * definitions by the official image they run (`postgres:16`, `mariadb:10.11`, `mysql:8.0`,
 * `mongo:7.0`), or by job for a job that brings its own image (`restoreDrill.engineImage`).
 */
import type { EngineName } from '../../core/config/schema.ts';
import { UserError } from '../../core/errors.ts';
import type { RestoreDeployment } from './restore-contract.ts';

/** The image (name and version) of the official image matching a server, e.g. `postgres:16`. */
export function sidecarImageOf(engine: EngineName, serverVersion: string): string | undefined {
  const numbers = /(\d+)(?:\.(\d+))?/.exec(serverVersion);
  if (!numbers) return undefined;
  const major = numbers[1]!;
  const minor = numbers[2] ?? '0';
  switch (engine) {
    case 'postgres':
      // 9.6 and older have two-part majors; they are older than any sidecar offered.
      return Number(major) >= 10 ? `postgres:${major}` : `postgres:${major}.${minor}`;
    case 'mysql':
      return /mariadb/i.test(serverVersion) ? `mariadb:${major}.${minor}` : `mysql:${major}.${minor}`;
    case 'mongodb':
      return `mongo:${major}.${minor}`;
    case 'sqlite':
      return undefined;
  }
}

/** Compares `a.b` versions numerically. */
function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

/**
 * The drill task definition for a backup: the job's own image when it has one, else the
 * sidecar of the same image name and version, else the oldest newer version with the same
 * major (MariaDB 10.8 restores into 10.11). Throws a UserError naming what to configure.
 */
export function chooseDrillTaskDefinition(
  deployment: RestoreDeployment,
  job: { name: string; engine: EngineName },
  serverVersion: string,
): { taskDefinition: string; sidecar: string } {
  const own = deployment.drillTaskDefinitions[`job:${job.name}`];
  if (own) return { taskDefinition: own, sidecar: `the image of jobs.${job.name}.restoreDrill.engineImage` };
  const wanted = sidecarImageOf(job.engine, serverVersion);
  if (!wanted) {
    throw new UserError(
      `cannot tell which ${job.engine} server version "${serverVersion}" is; set restoreDrill.engineImage of job ${job.name}`,
    );
  }
  const exact = deployment.drillTaskDefinitions[wanted];
  if (exact) return { taskDefinition: exact, sidecar: wanted };
  const [name, version = ''] = wanted.split(':');
  const major = version.split('.')[0];
  const offered = Object.keys(deployment.drillTaskDefinitions)
    .filter((key) => key.startsWith(`${name}:`))
    .map((key) => key.slice(name!.length + 1));
  const newer = offered
    .filter((v) => v.split('.')[0] === major && compareVersions(v, version) > 0)
    .sort(compareVersions)[0];
  if (newer)
    return {
      taskDefinition: deployment.drillTaskDefinitions[`${name}:${newer}`]!,
      sidecar: `${name}:${newer}`,
    };
  throw new UserError(
    offered.length
      ? `no drill sidecar for ${wanted} (the backup's server is ${serverVersion}); this deployment offers ${offered.map((v) => `${name}:${v}`).join(', ')}: set restoreDrill.engineImage of job ${job.name} to an image of that version`
      : `this deployment has no drill sidecar for ${job.engine} backups: add "restoreDrill" to job ${job.name} and deploy`,
  );
}
