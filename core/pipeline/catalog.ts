/**
 * The catalog of a job's backups, read from the manifests in storage (the source of truth:
 * history can be lost, manifests cannot be without losing the backups too).
 */
import { IntegrityError, NotFoundError, UsageError } from '../errors.ts';
import {
  idOfManifestKey,
  jobPrefix,
  MANIFEST_SUFFIX,
  type Manifest,
  parseBackupId,
  parseManifest,
} from '../manifest.ts';
import type { Destination, ObjectInfo } from '../storage/destination.ts';

export interface CatalogEntry {
  readonly id: string;
  readonly startedAt: Date;
  readonly manifestKey?: string;
  /** Data object(s) sharing the id (normally exactly one). */
  readonly dataObjects: ObjectInfo[];
}

/** An object in a job's folder that is not part of any backup of the job, and why. */
export interface CatalogProblem {
  readonly key: string;
  readonly problem: string;
}

/** Groups a job's objects by backup id, newest first; `strays` are manifest-named keys that are no backup id. */
async function groupCatalog(
  dest: Destination,
  prefix: string,
  job: string,
): Promise<{ entries: CatalogEntry[]; strays: CatalogProblem[] }> {
  const folder = jobPrefix(prefix, job);
  const objects = await dest.list(folder);
  const byId = new Map<string, { manifestKey?: string; dataObjects: ObjectInfo[] }>();
  const strays: CatalogProblem[] = [];
  for (const obj of objects) {
    const name = obj.key.slice(folder.length);
    if (name.includes('/')) continue;
    const manifestId = idOfManifestKey(obj.key);
    if (!manifestId && name.endsWith(MANIFEST_SUFFIX)) {
      strays.push({
        key: obj.key,
        problem: 'named like a manifest but not {timestamp}-{runId}; not a backup of this job',
      });
      continue;
    }
    const id = manifestId ?? name.split('.')[0]!;
    if (!parseBackupId(id)) continue;
    const entry = byId.get(id) ?? { dataObjects: [] };
    if (manifestId) entry.manifestKey = obj.key;
    else entry.dataObjects.push(obj);
    byId.set(id, entry);
  }
  const entries = [...byId.entries()]
    .map(([id, e]) => ({ id, startedAt: parseBackupId(id)!.startedAt, ...e }))
    .sort((a, b) => (a.id < b.id ? 1 : -1));
  return { entries, strays };
}

/** Groups a job's objects by backup id, newest first; foreign keys are ignored. */
export async function listCatalog(dest: Destination, prefix: string, job: string): Promise<CatalogEntry[]> {
  return (await groupCatalog(dest, prefix, job)).entries;
}

/** Reads and parses one manifest (schema only: see {@link manifestProblem} for whose it is). */
export async function readManifest(dest: Destination, key: string): Promise<Manifest> {
  const stream = await dest.read(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024 * 1024) throw new IntegrityError(`${key} is too large to be a dumpvault manifest`);
    chunks.push(chunk as Buffer);
  }
  return parseManifest(key, Buffer.concat(chunks).toString('utf8'));
}

/**
 * Why a manifest that parsed does not count as a backup of `job`, or undefined when it does: it
 * must name the job, and point at an object in the job's folder carrying the manifest's own id
 * (`{timestamp}-{runId}`, the stem of its key) and run id. A copied, foreign or forged manifest
 * could otherwise protect a backup that is not there, or get a real one deleted.
 */
export function manifestProblem(
  manifest: Manifest,
  manifestKey: string,
  prefix: string,
  job: string,
): string | undefined {
  const folder = jobPrefix(prefix, job);
  const id = idOfManifestKey(manifestKey);
  if (manifest.job !== job) return `names job ${JSON.stringify(manifest.job)}, not ${JSON.stringify(job)}`;
  const key = manifest.object.key;
  if (!key.startsWith(folder) || key.slice(folder.length).includes('/')) {
    return `points at ${JSON.stringify(key)}, outside the job's folder ${folder}`;
  }
  if (!id || key.slice(folder.length).split('.')[0] !== id) {
    return `points at ${JSON.stringify(key)}, which is not backup ${id ?? manifestKey}`;
  }
  if (manifest.runId !== parseBackupId(id)?.runId) {
    return `has run id ${JSON.stringify(manifest.runId)}, not the ${parseBackupId(id)?.runId} of its key`;
  }
  return undefined;
}

/**
 * Reads a manifest and checks it is one of `job`'s backups; throws an IntegrityError naming
 * the key and the problem otherwise (garbage, another job's, another object's).
 */
export async function readJobManifest(
  dest: Destination,
  key: string,
  prefix: string,
  job: string,
): Promise<Manifest> {
  const manifest = await readManifest(dest, key);
  const problem = manifestProblem(manifest, key, prefix, job);
  if (problem) throw new IntegrityError(`${key} is not a backup of job ${job}: it ${problem}`);
  return manifest;
}

/** A catalog entry with its manifest read and judged. */
export interface ScannedEntry extends CatalogEntry {
  /** The manifest, when it parsed and belongs to this entry. */
  readonly manifest?: Manifest;
  /** Why the entry's manifest does not count (it exists but is invalid or foreign). */
  readonly problem?: string;
}

/**
 * Every entry of a job's folder with its manifest read and validated, newest first, plus the
 * objects that are no backup at all. Read errors other than a bad manifest propagate.
 */
export async function scanCatalog(
  dest: Destination,
  prefix: string,
  job: string,
): Promise<{ entries: ScannedEntry[]; strays: CatalogProblem[] }> {
  const { entries, strays } = await groupCatalog(dest, prefix, job);
  const scanned: ScannedEntry[] = [];
  for (const entry of entries) {
    if (!entry.manifestKey) {
      scanned.push(entry);
      continue;
    }
    try {
      scanned.push({ ...entry, manifest: await readJobManifest(dest, entry.manifestKey, prefix, job) });
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      scanned.push({ ...entry, problem: err.message });
    }
  }
  return { entries: scanned, strays };
}

/**
 * Every complete backup of a job (a manifest that parses, validates and is the job's own),
 * newest first; `problems` name every manifest that does not count and why.
 */
export async function listBackups(
  dest: Destination,
  prefix: string,
  job: string,
): Promise<{ manifests: Manifest[]; problems: string[] }> {
  const { entries, strays } = await scanCatalog(dest, prefix, job);
  const manifests = entries.flatMap((e) => (e.manifest ? [e.manifest] : []));
  const problems = [
    ...entries.flatMap((e) => (e.problem ? [e.problem] : [])),
    ...strays.map((s) => `${s.key} is ${s.problem}`),
  ];
  // Newest first by the recorded start time (millisecond precision), then by id.
  manifests.sort(
    (a, b) => b.startedAt.localeCompare(a.startedAt) || manifestId(b).localeCompare(manifestId(a)),
  );
  return { manifests, problems };
}

/**
 * Finds a backup by `latest`, by id (`2026-11-21T030000Z-a1b2c3d4`, or a unique prefix of
 * one), or by an ISO time (the newest backup started at or before it).
 */
export async function resolveBackup(
  dest: Destination,
  prefix: string,
  job: string,
  selector = 'latest',
): Promise<Manifest> {
  const { manifests } = await listBackups(dest, prefix, job);
  if (manifests.length === 0) {
    throw new NotFoundError(
      `job ${job} has no complete backups in ${dest.description}; run "dumpvault backup ${job}" first`,
    );
  }
  const idOf = (m: Manifest) => m.object.key.slice(m.object.key.lastIndexOf('/') + 1).split('.')[0]!;
  if (selector === 'latest') return manifests[0]!;
  const exact = manifests.filter((m) => idOf(m).startsWith(selector));
  if (exact.length === 1) return exact[0]!;
  if (exact.length > 1) {
    throw new UsageError(`"${selector}" matches ${exact.length} backups of ${job}; give more of the id`);
  }
  const time = Date.parse(selector);
  if (!Number.isNaN(time) && /^\d{4}-\d{2}-\d{2}/.test(selector)) {
    const found = manifests.find((m) => Date.parse(m.startedAt) <= time);
    if (found) return found;
    throw new NotFoundError(`job ${job} has no backup started at or before ${selector}`);
  }
  throw new NotFoundError(
    `no backup "${selector}" for job ${job} in ${dest.description}; "dumpvault list ${job}" shows the ids`,
  );
}

/** The backup id (`{stamp}-{runId}`) of a manifest. */
export function manifestId(m: Manifest): string {
  return m.object.key.slice(m.object.key.lastIndexOf('/') + 1).split('.')[0]!;
}

export { MANIFEST_SUFFIX };
