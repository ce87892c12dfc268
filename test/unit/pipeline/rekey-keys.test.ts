/**
 * The object keys `dumpvault rekey` writes: beside the old object, under the same backup id (so
 * the catalog, selectors and retention still see one backup), always ending in `.gpg`.
 */
import { describe, expect, it } from 'vitest';
import { idOfManifestKey, rekeyedObjectKey } from '../../../core/manifest.ts';
import { manifestProblem } from '../../../core/pipeline/catalog.ts';

const ID = '2026-11-21T030000Z-a1b2c3d4';

describe('rekeyedObjectKey', () => {
  // Catches a new key that overwrites the old object (it must sit beside it until the manifest moves).
  it('puts the rekey run between the id and the extension chain', () => {
    expect(rekeyedObjectKey(`dv/app/${ID}.pgdump.gz.gpg`, ID, '0f1e2d3c')).toBe(
      `dv/app/${ID}.rekey-0f1e2d3c.pgdump.gz.gpg`,
    );
  });

  // Catches names that grow a `rekey-…` segment per rotation.
  it('replaces an earlier rekey generation instead of stacking it', () => {
    expect(rekeyedObjectKey(`app/${ID}.rekey-0f1e2d3c.sql.zst.gpg`, ID, '99aa88bb')).toBe(
      `app/${ID}.rekey-99aa88bb.sql.zst.gpg`,
    );
  });

  // Catches an unencrypted backup that gets encrypted but keeps a name without `.gpg`.
  it('adds .gpg when the old object was not encrypted', () => {
    expect(rekeyedObjectKey(`app/${ID}.globals.sql.gz`, ID, '0f1e2d3c')).toBe(
      `app/${ID}.rekey-0f1e2d3c.globals.sql.gz.gpg`,
    );
  });

  // Catches a key the catalog would not count as this backup's object (the manifest would be refused).
  it('names an object the manifest of the same backup may point at', () => {
    const key = rekeyedObjectKey(`app/${ID}.pgdump.gz.gpg`, ID, '0f1e2d3c');
    const manifest = { job: 'app', runId: 'a1b2c3d4', object: { key } } as Parameters<
      typeof manifestProblem
    >[0];
    expect(idOfManifestKey(`app/${ID}.manifest.json`)).toBe(ID);
    expect(manifestProblem(manifest, `app/${ID}.manifest.json`, '', 'app')).toBeUndefined();
  });

  it('refuses an object of another backup', () => {
    expect(() => rekeyedObjectKey('app/2026-11-22T030000Z-ffffffff.sql.gpg', ID, '0f1e2d3c')).toThrow(
      /not an object of backup/,
    );
  });
});
