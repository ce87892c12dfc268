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

/** What a restore/verify selector asks for (see {@link parseBackupSelector}). */
export type BackupSelector =
  | { readonly kind: 'latest' }
  | { readonly kind: 'id'; readonly prefix: string }
  | { readonly kind: 'time'; readonly at: Date }
  | { readonly kind: 'run'; readonly prefix: string };

/** A backup id, or its stamp followed by a prefix of its run id: `2026-11-21T030000Z[-a1b2…]`. */
const ID_SELECTOR = /^\d{4}-\d{2}-\d{2}T\d{6}Z(?:-[0-9a-z]*)?$/;
/**
 * ISO 8601 date, or date and time (extended `03:00[:00[.000]]` or basic `0300[00]`), with an
 * optional `Z` or `±hh[:mm]` offset.
 */
const TIME_SELECTOR =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** The instant an ISO date or time names; a date alone is 00:00 UTC, a time without offset is UTC. */
function parseInstant(selector: string): Date | undefined {
  const m = TIME_SELECTOR.exec(selector);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone = 'Z'] = m;
  if (m[4] !== undefined && m[5] === undefined) return undefined; // `T03` alone: an hour is too vague
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), ms);
  const check = new Date(utc);
  // Date.UTC rolls 2026-02-30 over into March: a date that does not exist is not a time.
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(sec) > 59
  ) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes =
      (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0')) * (zone[0] === '-' ? -1 : 1);
  }
  return new Date(utc - offsetMinutes * 60_000);
}

/**
 * Reads a selector: `latest`; a backup id, or its stamp with a prefix of its run id
 * (`2026-11-21T030000Z-a1b2`); any other ISO date or time (`2026-11-21`, `2026-11-21T03:00`,
 * `2026-11-21T03:00:00+01:00`): the newest backup started at or before it — a date alone is
 * that day's 00:00 UTC, so it never selects a backup taken during the day it names, and a time
 * without an offset is UTC like the ids; otherwise a run id as alerts show it (`a1b2c3d4`), or
 * a prefix of one. Throws a UsageError for something that starts like a date but is not one.
 */
export function parseBackupSelector(selector: string): BackupSelector {
  if (selector === 'latest') return { kind: 'latest' };
  if (ID_SELECTOR.test(selector)) return { kind: 'id', prefix: selector };
  if (/^\d{4}-\d{2}-\d{2}/.test(selector)) {
    const at = parseInstant(selector);
    if (!at) {
      throw new UsageError(
        `"${selector}" is neither a backup id nor an ISO date or time; give a time like 2026-11-21T03:00Z (UTC unless it has an offset), a date, or an id from "dumpvault list"`,
      );
    }
    return { kind: 'time', at };
  }
  if (/^[0-9a-z]+$/.test(selector)) return { kind: 'run', prefix: selector };
  throw new UsageError(
    `"${selector}" is not a backup selector: give latest, an id or run id from "dumpvault list", or an ISO date or time`,
  );
}

/** How many candidates an ambiguous selector's error lists before "and N more". */
const CANDIDATES_SHOWN = 10;

/**
 * Picks one of `manifests` (newest first) by `selector`. Throws a NotFoundError when nothing
 * matches and a UsageError naming the candidates when an id or run id prefix is ambiguous.
 */
export function selectBackup(
  manifests: readonly Manifest[],
  selector: string,
  job: string,
  where: string,
): Manifest {
  const wanted = parseBackupSelector(selector);
  if (manifests.length === 0) {
    throw new NotFoundError(
      `job ${job} has no complete backups in ${where}; run "dumpvault backup ${job}" first`,
    );
  }
  if (wanted.kind === 'latest') return manifests[0]!;
  if (wanted.kind === 'time') {
    const at = wanted.at.getTime();
    const found = manifests.find((m) => Date.parse(m.startedAt) <= at);
    if (found) return found;
    throw new NotFoundError(
      `job ${job} has no backup in ${where} started at or before ${wanted.at.toISOString()} ("${selector}"${/^\d{4}-\d{2}-\d{2}$/.test(selector) ? ': a date alone means 00:00 UTC that day' : ''})`,
    );
  }
  const matches = manifests.filter((m) =>
    wanted.kind === 'id' ? manifestId(m).startsWith(wanted.prefix) : m.runId.startsWith(wanted.prefix),
  );
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    const shown = matches.slice(0, CANDIDATES_SHOWN).map(manifestId);
    const more = matches.length > shown.length ? `, and ${matches.length - shown.length} more` : '';
    throw new UsageError(
      `"${selector}" matches ${matches.length} backups of ${job}: ${shown.join(', ')}${more}; give more of the id`,
    );
  }
  throw new NotFoundError(
    `no backup "${selector}" for job ${job} in ${where}; "dumpvault list ${job}" shows the ids`,
  );
}

/**
 * Finds a backup of `job` in `dest` by a selector (see {@link parseBackupSelector}); only
 * manifests that validate for the job are candidates.
 */
export async function resolveBackup(
  dest: Destination,
  prefix: string,
  job: string,
  selector = 'latest',
): Promise<Manifest> {
  parseBackupSelector(selector); // a malformed selector is refused before any listing
  const { manifests } = await listBackups(dest, prefix, job);
  return selectBackup(manifests, selector, job, dest.description);
}

/** The backup id (`{stamp}-{runId}`) of a manifest. */
export function manifestId(m: Manifest): string {
  return m.object.key.slice(m.object.key.lastIndexOf('/') + 1).split('.')[0]!;
}

export { MANIFEST_SUFFIX };
