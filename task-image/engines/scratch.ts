/**
 * Scratch databases: throw-away restore targets for drills and verification. Their names come
 * from job names and run ids, so they are sanitised here; and because dropping a database is
 * the most dangerous thing an engine can do, an engine only drops scratch databases it
 * created itself in this process.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../../core/errors.ts';

/**
 * A valid, portable database identifier derived from `name`: lowercase letters, digits and
 * underscores, starting with a letter, at most `maxLength` characters. Names that had to be
 * shortened end in a hash of the original, so two long names never collapse into one.
 */
export function scratchIdentifier(name: string, maxLength: number): string {
  let id = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!id)
    throw new UserError(`cannot derive a database name from ${JSON.stringify(name)}; use letters or digits`);
  if (!/^[a-z]/.test(id)) id = `db_${id}`;
  if (id.length > maxLength) {
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
    id = `${id.slice(0, maxLength - hash.length - 1).replace(/_+$/, '')}_${hash}`;
  }
  return id;
}

const created = new Set<string>();

/** Remembers that this process created the scratch target `url` for `engine`. */
export function rememberScratch(engine: string, url: string): void {
  created.add(`${engine} ${url}`);
}

/**
 * Throws unless this process created the scratch target `url`, so a bug (or a mix-up between
 * source and target) can never make dropScratch drop a real database.
 */
export function claimScratch(engine: string, url: string, shown: string): void {
  if (!created.has(`${engine} ${url}`)) {
    throw new UserError(
      `refusing to drop ${shown}: it is not a scratch database created by this dumpvault process; drop it by hand if it really is one`,
    );
  }
}

/** Forgets a dropped scratch target. */
export function forgetScratch(engine: string, url: string): void {
  created.delete(`${engine} ${url}`);
}
