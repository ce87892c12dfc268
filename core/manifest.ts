/**
 * Object layout and manifest v1 (DESIGN.md §4; docs/format.md).
 *
 *   {prefix}{job}/{yyyy-mm-ddTHHMMSSZ}-{runId}.{dump-ext}[.gz|.zst][.gpg]
 *   {prefix}{job}/{yyyy-mm-ddTHHMMSSZ}-{runId}.manifest.json
 *
 * The manifest is written after the data object; its presence means the backup is complete.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { COMPRESSIONS, ENGINES, prefixProblem } from './config/schema.ts';
import { ConfigError, IntegrityError } from './errors.ts';
import type { ObjectKind } from './formats/checker.ts';

export const MANIFEST_SUFFIX = '.manifest.json';
export const FORMAT_VERSION = 1;

/**
 * A new run id: 8 lowercase hex characters — the milliseconds of `at` (3 hex digits) then 5
 * random ones, so two runs started within the same second still sort chronologically by key.
 */
export function newRunId(at: Date = new Date()): string {
  const ms = at.getUTCMilliseconds().toString(16).padStart(3, '0');
  return ms + randomBytes(3).toString('hex').slice(0, 5);
}

/** `2026-11-21T235505Z` for a date (UTC, second precision; sorts chronologically). */
export function formatStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '');
}

const STEM = /^(\d{4}-\d{2}-\d{2}T\d{6}Z)-([0-9a-z]+)$/;

/** Parses a backup id (`2026-11-21T235505Z-a1b2c3d4`) into its time and run id. */
export function parseBackupId(id: string): { startedAt: Date; runId: string } | undefined {
  const m = STEM.exec(id);
  if (!m) return undefined;
  const s = m[1]!;
  const iso = `${s.slice(0, 13)}:${s.slice(13, 15)}:${s.slice(15, 17)}Z`;
  const startedAt = new Date(iso);
  if (Number.isNaN(startedAt.getTime())) return undefined;
  return { startedAt, runId: m[2]! };
}

/** The id (`{stamp}-{runId}`) of a backup started at `startedAt`. */
export function backupId(startedAt: Date, runId: string): string {
  return `${formatStamp(startedAt)}-${runId}`;
}

/**
 * The folder of a job's objects: `{prefix}{job}/`, always with the trailing "/" so job `app`
 * never lists the objects of `app-2`. A prefix that does not end with "/" is refused (config
 * validation refuses it first): `team` + `app` would be the folder of job `teamapp`.
 */
export function jobPrefix(prefix: string, job: string): string {
  const problem = prefixProblem(prefix);
  if (problem) throw new ConfigError(`prefix: ${problem}`);
  return `${prefix}${job}/`;
}

/** The extension chain of a data object: `pgdump.gz.gpg`, `sql.zst`, `archive`. */
export function dataExtension(dumpExt: string, compression: string, encrypted: boolean): string {
  const comp = compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : '';
  return `${dumpExt}${comp}${encrypted ? '.gpg' : ''}`;
}

export interface ObjectKeys {
  readonly id: string;
  readonly dataKey: string;
  readonly manifestKey: string;
  /** The PostgreSQL globals object (`….globals.sql[.gz|.zst][.gpg]`), written when the job asks. */
  readonly globalsKey: string;
}

/** The keys of one backup's data object and manifest. */
export function objectKeys(args: {
  prefix: string;
  job: string;
  startedAt: Date;
  runId: string;
  dumpExt: string;
  compression: string;
  encrypted: boolean;
}): ObjectKeys {
  const id = backupId(args.startedAt, args.runId);
  const base = `${jobPrefix(args.prefix, args.job)}${id}`;
  return {
    id,
    dataKey: `${base}.${dataExtension(args.dumpExt, args.compression, args.encrypted)}`,
    manifestKey: `${base}${MANIFEST_SUFFIX}`,
    globalsKey: `${base}.${dataExtension('globals.sql', args.compression, args.encrypted)}`,
  };
}

/**
 * The key a backup's object gets when `dumpvault rekey` re-encrypts it in run `runId`:
 * `{id}.rekey-{runId}.{dump-ext}[.gz|.zst].gpg` beside the old one (which it replaces only once
 * the new manifest names it). The backup id stays, so history, selectors and retention still
 * find the same backup; an earlier `rekey-…` generation is dropped from the name.
 */
export function rekeyedObjectKey(oldKey: string, id: string, runId: string): string {
  const cut = oldKey.lastIndexOf('/') + 1;
  const name = oldKey.slice(cut);
  if (!name.startsWith(`${id}.`)) throw new Error(`${oldKey} is not an object of backup ${id}`);
  let rest = name.slice(id.length + 1).replace(/^rekey-[0-9a-z]+\./, '');
  if (!rest.endsWith('.gpg')) rest = `${rest}.gpg`;
  return `${oldKey.slice(0, cut)}${id}.rekey-${runId}.${rest}`;
}

/** The backup id of a manifest key, or undefined for any other key. */
export function idOfManifestKey(key: string): string | undefined {
  if (!key.endsWith(MANIFEST_SUFFIX)) return undefined;
  const stem = key.slice(key.lastIndexOf('/') + 1, -MANIFEST_SUFFIX.length);
  return parseBackupId(stem) ? stem : undefined;
}

const count = z.number().int().nonnegative();

export const ManifestSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  job: z.string(),
  runId: z.string(),
  engine: z.enum(ENGINES),
  serverVersion: z.string(),
  tool: z.object({ name: z.string(), version: z.string() }),
  database: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  dumpFormat: z.string(),
  compression: z.enum(COMPRESSIONS),
  encryption: z.object({
    type: z.enum(['none', 'openpgp', 'passphrase']),
    recipients: z.array(z.string()),
  }),
  object: z.object({
    key: z.string(),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  rawBytes: z.number().int().nonnegative(),
  /**
   * PostgreSQL with `source.globals`: the `pg_dumpall --globals-only` script (roles, tablespaces),
   * compressed and encrypted like the data object, beside it. Optional: other backups have none.
   */
  globals: z
    .object({
      key: z.string(),
      bytes: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .optional(),
  /**
   * Set by `dumpvault rekey` when it re-encrypted the backup to new keys: when, in which run, and
   * what the backup was encrypted to before. Optional: backups never re-encrypted have none.
   */
  rekeyed: z
    .object({
      at: z.string(),
      runId: z.string(),
      previous: z.object({
        type: z.enum(['none', 'openpgp', 'passphrase']),
        recipients: z.array(z.string()),
      }),
    })
    .optional(),
  stats: z.object({
    tables: z.record(z.string(), z.number().int().nonnegative()),
    /**
     * The schema objects the dump defines, counted in-stream by the format's checker. Optional:
     * manifests written before it existed, and MongoDB's, have none.
     */
    objects: z
      .object({
        tables: count.optional(),
        views: count.optional(),
        routines: count.optional(),
        triggers: count.optional(),
        sequences: count.optional(),
      } satisfies Record<ObjectKind, z.ZodOptional<typeof count>>)
      .optional(),
  }),
});

/** The JSON Schema of manifest v1 (docs/manifest.schema.json is this text). */
export function manifestJsonSchema(): string {
  const schema = z.toJSONSchema(ManifestSchema, { io: 'output' });
  return `${JSON.stringify({ title: `dumpvault manifest v${FORMAT_VERSION}`, ...schema }, null, 2)}\n`;
}

/** Manifest format version 1. Not encrypted; holds no secrets. */
export type Manifest = z.infer<typeof ManifestSchema>;

/** Parses a manifest's bytes; a foreign or damaged file gets an IntegrityError naming the key. */
export function parseManifest(key: string, text: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IntegrityError(
      `${key} is not a dumpvault manifest (not JSON); remove it or restore with --from <data-file>`,
    );
  }
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new IntegrityError(
      `${key} is not a valid dumpvault manifest v${FORMAT_VERSION} (${first ? `${first.path.join('.')}: ${first.message}` : 'unknown problem'}); it may be foreign or damaged`,
    );
  }
  return result.data;
}
