/**
 * Manifest v1's optional `stats.objects`: manifests written before it existed still parse, and
 * counts that are no whole numbers do not.
 */
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../core/errors.ts';
import { parseManifest } from '../../../core/manifest.ts';

const manifest = (stats: unknown) =>
  JSON.stringify({
    formatVersion: 1,
    job: 'app',
    runId: 'a1b2c3d4',
    engine: 'postgres',
    serverVersion: '15.2',
    tool: { name: 'pg_dump', version: '15.2' },
    database: 'app',
    startedAt: '2026-12-01T00:00:00.000Z',
    finishedAt: '2026-12-01T00:00:01.000Z',
    dumpFormat: 'pg_dump-custom',
    compression: 'gzip',
    encryption: { type: 'none', recipients: [] },
    object: { key: 'app/2026-12-01T000000Z-a1b2c3d4.pgdump.gz', bytes: 10, sha256: 'a'.repeat(64) },
    rawBytes: 20,
    stats,
  });

describe('manifest stats.objects', () => {
  it('parses a manifest without object counts (written before they were recorded)', () => {
    expect(parseManifest('k', manifest({ tables: { 'public.t': 1 } })).stats).toEqual({
      tables: { 'public.t': 1 },
    });
  });

  it('parses the counts an engine records, any subset of the kinds', () => {
    const objects = { tables: 7, views: 1, triggers: 1 };
    expect(parseManifest('k', manifest({ tables: {}, objects })).stats.objects).toEqual(objects);
  });

  it('refuses a count that is not a whole number ≥ 0', () => {
    expect(() => parseManifest('k', manifest({ tables: {}, objects: { views: -1 } }))).toThrow(
      IntegrityError,
    );
    expect(() => parseManifest('k', manifest({ tables: {}, objects: { views: 1.5 } }))).toThrow(
      /stats\.objects\.views/,
    );
  });
});
