/**
 * The throw-away databases of restore drills: a sidecar container in the drill task, of the
 * engine and version the backup was made from. A drill task definition is an immutable image
 * choice, and the server version is only known from a backup's manifest at run time, so the
 * deployment offers one drill task definition per supported version of each engine that has
 * drills, and the Resolve step picks the one matching the manifest (functions/logic/drill-sidecar.ts
 * uses the same keys: `<image name>:<version>`, or `job:<name>` for `restoreDrill.engineImage`).
 */
import type { Config, Job } from '../core/config/schema.ts';

/** Official images are pulled through ECR Public (no Docker Hub rate limits from NAT addresses). */
export const PUBLIC_IMAGES = 'public.ecr.aws/docker/library';

/**
 * Versions offered per image: the majors (minor lines for MariaDB/MySQL/MongoDB) still
 * maintained upstream on 2026-12-01 (PostgreSQL 13 and 14, MariaDB 10.6, MySQL 8.0, MongoDB 6.0
 * and 7.0 have reached their end of life). A backup of an older server drills in the job's own
 * image (`restoreDrill.engineImage`); the Resolve step says so.
 */
export const SIDECAR_VERSIONS = {
  postgres: ['15', '16', '17', '18'],
  mariadb: ['10.11', '11.4', '11.8'],
  mysql: ['8.4'],
  mongo: ['8.0'],
} as const;

export type SidecarFamily = keyof typeof SIDECAR_VERSIONS;

export interface DrillSidecar {
  /** How the Resolve step finds it: `postgres:16`, or `job:<name>` for a job's own image. */
  readonly key: string;
  readonly image: string;
  readonly family: SidecarFamily;
}

/** How each official image is started empty, reachable only from its own task, and checked. */
export interface SidecarSettings {
  readonly environment: Record<string, string>;
  readonly command: string[];
  readonly healthCheck: string[];
  /** What the restore container connects to (`DUMPVAULT_EPHEMERAL_URL`). */
  readonly url: string;
}

export const SIDECAR_SETTINGS: Readonly<Record<SidecarFamily, SidecarSettings>> = {
  // The entrypoint initialises with networking off; the final server listens on loopback only,
  // so "healthy" means initialised. Trust authentication never leaves the task's loopback.
  postgres: {
    environment: { POSTGRES_HOST_AUTH_METHOD: 'trust' },
    command: ['postgres', '-c', 'listen_addresses=127.0.0.1'],
    healthCheck: ['CMD-SHELL', 'pg_isready -h 127.0.0.1 -U postgres || exit 1'],
    url: 'postgres://postgres@127.0.0.1:5432/postgres',
  },
  mariadb: {
    environment: { MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1' },
    command: ['--bind-address=127.0.0.1'],
    healthCheck: ['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized'],
    url: 'mysql://root@127.0.0.1:3306/mysql',
  },
  mysql: {
    environment: { MYSQL_ALLOW_EMPTY_PASSWORD: 'yes' },
    command: ['--bind-address=127.0.0.1'],
    healthCheck: ['CMD-SHELL', 'mysqladmin ping -h 127.0.0.1 --silent || exit 1'],
    url: 'mysql://root@127.0.0.1:3306/mysql',
  },
  mongo: {
    environment: {},
    command: ['--bind_ip', '127.0.0.1'],
    healthCheck: ['CMD', 'mongosh', '--quiet', '--eval', "quit(db.adminCommand('ping').ok ? 0 : 1)"],
    url: 'mongodb://127.0.0.1:27017/admin',
  },
};

/** The image family a job's own drill image is started like (MySQL images by name, else MariaDB). */
function familyOf(job: Job, image: string): SidecarFamily {
  if (job.engine === 'postgres') return 'postgres';
  if (job.engine === 'mongodb') return 'mongo';
  return /(^|\/)mysql[:@]/.test(image) || /(^|\/)mysql$/.test(image) ? 'mysql' : 'mariadb';
}

/** The sidecars a job's drills may need: its own image, or every offered version of its engine. */
export function drillSidecarsOf(job: Job): DrillSidecar[] {
  if (!job.restoreDrill || job.engine === 'sqlite') return [];
  const own = job.restoreDrill.engineImage;
  if (own) return [{ key: `job:${job.name}`, image: own, family: familyOf(job, own) }];
  const families: SidecarFamily[] =
    job.engine === 'postgres' ? ['postgres'] : job.engine === 'mysql' ? ['mariadb', 'mysql'] : ['mongo'];
  return families.flatMap((family) =>
    SIDECAR_VERSIONS[family].map((version) => ({
      key: `${family}:${version}`,
      image: `${PUBLIC_IMAGES}/${family}:${version}`,
      family,
    })),
  );
}

/** The sidecars of every drill job of a config, each once, in a stable order. */
export function drillSidecarsOfConfig(config: Config): DrillSidecar[] {
  const byKey = new Map<string, DrillSidecar>();
  for (const job of config.jobs) for (const sidecar of drillSidecarsOf(job)) byKey.set(sidecar.key, sidecar);
  return [...byKey.values()];
}
