/**
 * What the Guard's probe of a restore target reports (TargetInventory), how long it may take,
 * and how its objects read in a message.
 */

/** A restore target as the Guard reaches it: the execution input's URL and the password its secret holds. */
export interface ProbeTarget {
  readonly url: string;
  readonly password?: string;
}

/** What a probe found in a target. */
export interface TargetInventory {
  /**
   * True when the database is known not to exist (the restore creates it). MongoDB creates a
   * database on its first write and cannot tell a missing database from an empty one, so its
   * probe never says missing.
   */
  readonly missing: boolean;
  /**
   * What a restore could collide with, by kind (`tables`, `views`, `collections`, …) in a fixed
   * order; kinds with none are left out, so `{}` means empty.
   */
  readonly objects: Readonly<Record<string, number>>;
}

/** How long a probe waits for a connection, per attempt (the Guard Lambda allows two). */
export const PROBE_CONNECT_TIMEOUT_MS = 10_000;
/** How long a probe waits for its one catalog query. */
export const PROBE_QUERY_TIMEOUT_MS = 15_000;
/** The application name the probe's sessions carry (visible in pg_stat_activity, server logs). */
export const PROBE_APPLICATION_NAME = 'dumpvault-guard';

const SINGULAR: Readonly<Record<string, string>> = {
  tables: 'table',
  views: 'view',
  sequences: 'sequence',
  functions: 'function',
  types: 'type',
  schemas: 'schema',
  routines: 'routine',
  events: 'event',
  collections: 'collection',
};

/** The objects in words: `3 tables`, `3 tables and 1 view`, `2 tables, 1 view and 4 functions`. */
export function describeObjects(objects: TargetInventory['objects']): string {
  const parts = Object.entries(objects).map(
    ([kind, n]) => `${n} ${n === 1 ? (SINGULAR[kind] ?? kind) : kind}`,
  );
  if (parts.length <= 1) return parts[0] ?? 'nothing';
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** The number of objects of an inventory. */
export function objectCount(inventory: TargetInventory): number {
  return Object.values(inventory.objects).reduce((sum, n) => sum + n, 0);
}

/** Keeps the kinds that have objects, in the order given. */
export function nonZero(counts: ReadonlyArray<readonly [string, unknown]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, value] of counts) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`the target's catalog answered ${String(value)} for ${kind}`);
    if (n > 0) out[kind] = n;
  }
  return out;
}
