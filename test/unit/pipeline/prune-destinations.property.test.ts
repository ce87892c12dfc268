/**
 * Retention per destination (issue 15 §3), as properties of pruneJob over in-memory
 * destinations: each destination is planned with its own rules (`{ "name", "retention" }`, else
 * the job's) from its own listing, so deleting in one never changes what another keeps, and
 * each keeps its newest complete backup and the backup just written.
 * Catches: a planner that applies the job's retention to every destination, or plans one
 * destination from another's listing.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Job, type JobRetention, jobDestinations } from '../../../core/config/schema.ts';
import { backupId, MANIFEST_SUFFIX, type Manifest, objectKeys } from '../../../core/manifest.ts';
import { type PruneResult, pruneJob } from '../../../core/pipeline/prune.ts';
import type { Destination, ObjectInfo } from '../../../core/storage/destination.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-02T12:00:00.000Z');
const RUNS = { numRuns: 150 } as const;

/** A destination held in a Map: just what listing, reading and deleting need. */
class MemoryDestination implements Destination {
  readonly type = 'file';
  readonly description: string;
  readonly removed: string[] = [];
  constructor(
    readonly name: string,
    readonly objects: Map<string, string>,
  ) {
    this.description = `memory://${name}`;
  }
  async write(): Promise<never> {
    throw new Error('not used');
  }
  async put(): Promise<never> {
    throw new Error('not used');
  }
  async read(key: string): Promise<Readable> {
    const text = this.objects.get(key);
    if (text === undefined) throw new Error(`${key} not found`);
    return Readable.from([Buffer.from(text)]);
  }
  async stat(key: string): Promise<ObjectInfo> {
    const text = this.objects.get(key);
    if (text === undefined) throw new Error(`${key} not found`);
    return { key, size: text.length };
  }
  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .map((key) => ({ key, size: this.objects.get(key)!.length }));
  }
  async remove(key: string): Promise<void> {
    this.removed.push(key);
    this.objects.delete(key);
  }
  async checkWritable(): Promise<void> {}
}

interface BackupSpec {
  readonly ageMs: number;
  readonly runId: string;
  /** In which of the two destinations it is complete, only a data object, or absent. */
  readonly where: readonly ['complete' | 'data' | 'absent', 'complete' | 'data' | 'absent'];
}

/** The objects of one backup of job `app` (data object, and the manifest when complete). */
function objectsOf(spec: BackupSpec, state: 'complete' | 'data'): [string, string][] {
  const startedAt = new Date(NOW.getTime() - spec.ageMs);
  const keys = objectKeys({
    prefix: '',
    job: 'app',
    startedAt,
    runId: spec.runId,
    dumpExt: 'sql',
    compression: 'gzip',
    encrypted: false,
  });
  const data: [string, string] = [keys.dataKey, 'x'];
  if (state === 'data') return [data];
  const manifest: Manifest = {
    formatVersion: 1,
    job: 'app',
    runId: spec.runId,
    engine: 'sqlite',
    serverVersion: '3',
    tool: { name: 'sqlite3', version: '3' },
    database: 'app',
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    dumpFormat: 'sqlite3-dump',
    compression: 'gzip',
    encryption: { type: 'none', recipients: [] },
    object: { key: keys.dataKey, bytes: 1, sha256: '0'.repeat(64) },
    rawBytes: 1,
    stats: { tables: {} },
  };
  return [data, [keys.manifestKey, JSON.stringify(manifest)]];
}

const state = fc.constantFrom('complete', 'complete', 'complete', 'data', 'absent') as fc.Arbitrary<
  'complete' | 'data' | 'absent'
>;
const backups = fc.uniqueArray(
  fc.record({
    ageMs: fc.oneof(
      fc.integer({ min: 0, max: 400 }).map((d) => d * DAY_MS),
      fc.integer({ min: 0, max: 500 * DAY_MS }),
    ),
    runId: fc.stringMatching(/^[0-9a-f]{8}$/),
    where: fc.tuple(state, state),
  }),
  { maxLength: 14, selector: (b) => b.runId },
);
const rules: fc.Arbitrary<JobRetention> = fc.oneof(
  fc.constant('forever' as const),
  fc.record({
    keepLast: fc.integer({ min: 0, max: 4 }),
    daily: fc.integer({ min: 0, max: 8 }),
    weekly: fc.integer({ min: 0, max: 5 }),
    monthly: fc.integer({ min: 0, max: 12 }),
    yearly: fc.integer({ min: 0, max: 2 }),
    maxAgeDays: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
    timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'Pacific/Chatham'),
  }),
);
/** The second destination's entry: a plain name (the job's rules) or its own rules. */
const second = fc.option(rules, { freq: 4, nil: undefined });

function job(jobRules: JobRetention | undefined, secondRules: JobRetention | undefined): Job {
  return {
    name: 'app',
    engine: 'sqlite',
    source: { url: 'sqlite:./app.db' },
    destinations: [
      'near',
      secondRules === undefined ? { name: 'far' } : { name: 'far', retention: secondRules },
    ],
    compression: 'gzip',
    dumpFormat: 'custom',
    ...(jobRules === undefined ? {} : { retention: jobRules }),
  } as Job;
}

function stores(specs: readonly BackupSpec[]): [MemoryDestination, MemoryDestination] {
  const [near, far] = [0, 1].map((i) => {
    const objects = new Map<string, string>();
    for (const spec of specs) {
      const at = spec.where[i]!;
      if (at !== 'absent') for (const [k, v] of objectsOf(spec, at)) objects.set(k, v);
    }
    return new MemoryDestination(i === 0 ? 'near' : 'far', objects);
  });
  return [near!, far!];
}

const prune = (j: Job, destinations: Destination[], current?: string) =>
  pruneJob(
    { job: j, prefix: '', destinations, now: () => NOW },
    { dryRun: false, lastRunFailed: false, ...(current ? { current } : {}) },
  );

/** What a result decided, comparable across runs. */
const verdicts = (r: PruneResult) => ({
  destination: r.destination,
  decisions: r.plan.decisions.map((d) => [d.backup.id, d.action]),
  deleted: r.deleted,
});

/** The ids of complete backups in a store, newest first. */
const completeIds = (d: MemoryDestination) =>
  [...d.objects.keys()]
    .filter((k) => k.endsWith(MANIFEST_SUFFIX))
    .map((k) => k.slice('app/'.length, -MANIFEST_SUFFIX.length))
    .sort()
    .reverse();

describe('retention per destination (pruneJob, properties)', () => {
  it('plans each destination alone: pruning both gives what pruning each by itself gives, in either order', async () => {
    await fc.assert(
      fc.asyncProperty(
        backups,
        fc.option(rules, { nil: undefined }),
        second,
        async (specs, jobRules, farRules) => {
          const j = job(jobRules, farRules);
          const [near, far] = stores(specs);
          const together = await prune(j, [near, far]);
          const [nearAlone] = stores(specs);
          const [, farAlone] = stores(specs);
          const reversed = stores(specs);
          expect(together.map(verdicts)).toEqual([
            verdicts((await prune(j, [nearAlone]))[0]!),
            verdicts((await prune(j, [farAlone]))[0]!),
          ]);
          expect((await prune(j, [reversed[1], reversed[0]])).map(verdicts).reverse()).toEqual(
            together.map(verdicts),
          );
        },
      ),
      RUNS,
    );
  });

  it("plans each destination with its own rules, else the job's", async () => {
    await fc.assert(
      fc.asyncProperty(
        backups,
        fc.option(rules, { nil: undefined }),
        second,
        async (specs, jobRules, farRules) => {
          const j = job(jobRules, farRules);
          const [near, far] = stores(specs);
          const [nearResult, farResult] = await prune(j, [near, far]);
          // The same destination pruned by a job whose own retention is that destination's rules.
          const [, farAsJob] = stores(specs);
          const farRetention = jobDestinations(j)[1]!.retention;
          const [expected] = await prune(job(farRetention, undefined), [farAsJob]);
          expect(verdicts(farResult!)).toEqual(verdicts(expected!));
          const [nearAsJob] = stores(specs);
          const [expectedNear] = await prune(job(jobRules, undefined), [nearAsJob]);
          expect(verdicts(nearResult!)).toEqual(verdicts(expectedNear!));
        },
      ),
      RUNS,
    );
  });

  it('keeps in every destination its newest complete backup and the backup just written', async () => {
    await fc.assert(
      fc.asyncProperty(
        backups,
        fc.option(rules, { nil: undefined }),
        second,
        fc.nat(),
        async (specs, jobRules, farRules, pick) => {
          const j = job(jobRules, farRules);
          const [near, far] = stores(specs);
          const before = [completeIds(near), completeIds(far)];
          const written = specs.length ? specs[pick % specs.length]! : undefined;
          const current = written
            ? backupId(new Date(NOW.getTime() - written.ageMs), written.runId)
            : undefined;
          await prune(j, [near, far], current);
          [near, far].forEach((store, i) => {
            const after = completeIds(store);
            if (before[i]!.length) expect(after[0]).toBe(before[i]![0]);
            if (current && before[i]!.includes(current)) expect(after).toContain(current);
          });
        },
      ),
      RUNS,
    );
  });
});
