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

/** Groups a job's objects by backup id, newest first; foreign keys are ignored. */
export async function listCatalog(dest: Destination, prefix: string, job: string): Promise<CatalogEntry[]> {
  const folder = jobPrefix(prefix, job);
  const objects = await dest.list(folder);
  const byId = new Map<string, { manifestKey?: string; dataObjects: ObjectInfo[] }>();
  for (const obj of objects) {
    const name = obj.key.slice(folder.length);
    if (name.includes('/')) continue;
    const manifestId = idOfManifestKey(obj.key);
    const id = manifestId ?? name.split('.')[0]!;
    if (!parseBackupId(id)) continue;
    const entry = byId.get(id) ?? { dataObjects: [] };
    if (manifestId) entry.manifestKey = obj.key;
    else entry.dataObjects.push(obj);
    byId.set(id, entry);
  }
  return [...byId.entries()]
    .map(([id, e]) => ({ id, startedAt: parseBackupId(id)!.startedAt, ...e }))
    .sort((a, b) => (a.id < b.id ? 1 : -1));
}

/** Reads and validates one manifest. */
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

/** Every complete backup of a job (manifest present and valid), newest first. */
export async function listBackups(
  dest: Destination,
  prefix: string,
  job: string,
): Promise<{ manifests: Manifest[]; problems: string[] }> {
  const entries = await listCatalog(dest, prefix, job);
  const manifests: Manifest[] = [];
  const problems: string[] = [];
  for (const entry of entries) {
    if (!entry.manifestKey) continue;
    try {
      manifests.push(await readManifest(dest, entry.manifestKey));
    } catch (err) {
      if (err instanceof IntegrityError) problems.push(err.message);
      else throw err;
    }
  }
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
