/**
 * A job with several destinations holds several copies of each backup, and after a PARTIAL run
 * (or an outage of one store) not every destination holds every backup. Reading commands
 * (list, restore, verify, drill, the restore state machine) therefore select a backup among
 * all the job's destinations and read it from the first one, in config order, that holds a
 * valid copy; an unreachable destination is skipped with its reason instead of failing the read.
 */
import { IntegrityError, messageOf, NotFoundError, UsageError } from '../errors.ts';
import type { Manifest } from '../manifest.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import { listBackups, manifestId, resolveBackup } from './catalog.ts';

/** A destination that was not used, and why (one line naming it). */
export interface SkippedDestination {
  readonly destination: string;
  /** `destination <name>: <why>` */
  readonly reason: string;
}

export interface ResolvedCopy {
  /** The manifest as the destination read from holds it. */
  readonly manifest: Manifest;
  readonly from: Destination;
  /** Destinations before or instead of `from` that had no valid copy, or could not be read. */
  readonly skipped: SkippedDestination[];
}

/** `destination <name>: <cause>`, one line; a cause that already says so is kept as it is. */
function describe(name: string, err: unknown): string {
  const cause = redact(messageOf(err)).split('\n')[0]!;
  const prefix = `destination ${name}:`;
  return cause.startsWith(prefix) ? cause : `${prefix} ${cause}`;
}

/**
 * The job destination called `name`. Throws a UsageError (exit 2) naming the job's
 * destinations when there is none.
 */
export function destinationNamed(
  destinations: readonly Destination[],
  name: string,
  job: string,
): Destination {
  const found = destinations.find((d) => d.name === name);
  if (found) return found;
  throw new UsageError(
    `--destination: job ${job} has no destination "${name}"; its destinations are ${destinations.map((d) => d.name).join(', ')}`,
  );
}

/** Newest first: by recorded start time, then by id (the order of {@link listBackups}). */
function newerFirst(a: Manifest, b: Manifest): number {
  return b.startedAt.localeCompare(a.startedAt) || manifestId(b).localeCompare(manifestId(a));
}

/**
 * Selects a backup (`latest`, an id or unique id prefix, a time) among every destination of the
 * job, and finds a copy to read: the first destination, in config order, whose manifest for it
 * is valid and whose data object exists with the recorded size. With one destination this is
 * {@link resolveBackup}. Throws the selector's UsageError, a NotFoundError when no destination
 * has the backup, or an IntegrityError when every copy of it is damaged.
 */
export async function resolveCopy(
  destinations: readonly Destination[],
  prefix: string,
  job: string,
  selector = 'latest',
): Promise<ResolvedCopy> {
  if (destinations.length === 1) {
    const from = destinations[0]!;
    return { manifest: await resolveBackup(from, prefix, job, selector), from, skipped: [] };
  }
  type Answer = { dest: Destination } & ({ manifest: Manifest } | { err: unknown });
  const answers = await Promise.all(
    destinations.map(async (dest): Promise<Answer> => {
      try {
        return { dest, manifest: await resolveBackup(dest, prefix, job, selector) };
      } catch (err) {
        if (err instanceof UsageError) throw err;
        return { dest, err };
      }
    }),
  );
  const found = answers.flatMap((a) => ('manifest' in a ? [{ dest: a.dest, manifest: a.manifest }] : []));
  const unanswered = answers.flatMap((a) =>
    'err' in a ? [{ destination: a.dest.name, reason: describe(a.dest.name, a.err), err: a.err }] : [],
  );
  if (found.length === 0) {
    const notFound = unanswered.find((u) => u.err instanceof NotFoundError);
    if (notFound && unanswered.every((u) => u.err instanceof NotFoundError)) throw notFound.err;
    throw new NotFoundError(
      `no destination of job ${job} could provide backup "${selector}": ${unanswered.map((u) => u.reason).join('; ')}`,
    );
  }
  const ids = [...new Set(found.map((f) => manifestId(f.manifest)))];
  if (selector !== 'latest' && ids.length > 1 && ids.every((id) => id.startsWith(selector))) {
    throw new UsageError(
      `"${selector}" matches ${ids.length} backups of ${job} (${ids.join(', ')}) in different destinations; give more of the id`,
    );
  }
  const chosen = [...found].sort((a, b) => newerFirst(a.manifest, b.manifest))[0]!;
  const id = manifestId(chosen.manifest);
  const skipped: SkippedDestination[] = [];
  for (const answer of answers) {
    const name = answer.dest.name;
    if ('err' in answer) {
      skipped.push({ destination: name, reason: describe(name, answer.err) });
      continue;
    }
    if (manifestId(answer.manifest) !== id) {
      skipped.push({ destination: name, reason: `destination ${name}: has no copy of backup ${id}` });
      continue;
    }
    const problem = await copyProblem(answer.dest, answer.manifest);
    if (!problem) return { manifest: answer.manifest, from: answer.dest, skipped };
    skipped.push({ destination: name, reason: describe(name, problem) });
  }
  throw new IntegrityError(
    `no destination of job ${job} holds a valid copy of backup ${id}: ${skipped.map((s) => s.reason).join('; ')}`,
  );
}

/** Why the data object of a copy cannot be read as its manifest describes, or undefined. */
async function copyProblem(dest: Destination, manifest: Manifest): Promise<string | undefined> {
  try {
    const info = await dest.stat(manifest.object.key);
    if (info.size === manifest.object.bytes) return undefined;
    return `${manifest.object.key} is ${info.size} bytes but its manifest says ${manifest.object.bytes}`;
  } catch (err) {
    if (err instanceof NotFoundError) return `${manifest.object.key} is missing (its manifest is there)`;
    return messageOf(err);
  }
}

/** One backup of the job and the destinations that hold a manifest for it (config order). */
export interface CatalogCopy {
  readonly manifest: Manifest;
  readonly destinations: string[];
}

/**
 * Every complete backup of a job across its destinations, newest first, each with the
 * destinations that hold it. Destinations that cannot be listed are reported in `skipped`;
 * when none can, the first one's error is thrown.
 */
export async function listCopies(
  destinations: readonly Destination[],
  prefix: string,
  job: string,
): Promise<{ backups: CatalogCopy[]; problems: string[]; skipped: SkippedDestination[] }> {
  type Answer = { dest: Destination } & (
    | { listed: Awaited<ReturnType<typeof listBackups>> }
    | { err: unknown }
  );
  const answers = await Promise.all(
    destinations.map(async (dest): Promise<Answer> => {
      try {
        return { dest, listed: await listBackups(dest, prefix, job) };
      } catch (err) {
        return { dest, err };
      }
    }),
  );
  const failed = answers.flatMap((a) => ('err' in a ? [{ dest: a.dest, err: a.err }] : []));
  if (failed.length === answers.length) throw failed[0]!.err;
  const byId = new Map<string, CatalogCopy>();
  const problems: string[] = [];
  for (const answer of answers) {
    if (!('listed' in answer)) continue;
    const many = destinations.length > 1;
    problems.push(...answer.listed.problems.map((p) => (many ? describe(answer.dest.name, p) : p)));
    for (const manifest of answer.listed.manifests) {
      const id = manifestId(manifest);
      const entry = byId.get(id);
      if (entry) entry.destinations.push(answer.dest.name);
      else byId.set(id, { manifest, destinations: [answer.dest.name] });
    }
  }
  return {
    backups: [...byId.values()].sort((a, b) => newerFirst(a.manifest, b.manifest)),
    problems,
    skipped: failed.map((a) => ({ destination: a.dest.name, reason: describe(a.dest.name, a.err) })),
  };
}
