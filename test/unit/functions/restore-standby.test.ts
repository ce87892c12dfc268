/**
 * Which manifest key names which backup of which job for a standby execution (issue 16 §2;
 * functions/logic/restore-standby.ts). Bug caught: a key of job "otherapp" (or one outside the
 * job's folder, like the meta-backup) accepted as a backup of "app" because it merely ends with
 * "app/<id>.manifest.json".
 */
import { describe, expect, it } from 'vitest';
import { backupOfManifestKey } from '../../../functions/logic/restore-standby.ts';

const ID = '2026-12-02T030000Z-0a1b2c3d';

describe('backupOfManifestKey', () => {
  it.each([
    [`dv/app/${ID}.manifest.json`, 'dv/'],
    [`backups/dv/app/${ID}.manifest.json`, 'dv/'],
    [`app/${ID}.manifest.json`, ''],
    [`root/app/${ID}.manifest.json`, ''],
  ])('reads the backup id of %s (prefix %j)', (key, prefix) => {
    expect(backupOfManifestKey(key, prefix, 'app')).toBe(ID);
  });

  it.each([
    [`dv/otherapp/${ID}.manifest.json`, 'dv/'],
    [`otherapp/${ID}.manifest.json`, ''],
    [`dv/app/sub/${ID}.manifest.json`, 'dv/'],
    ['dv/_dumpvault/config-2026-12-02T030500Z.json.gpg', 'dv/'],
    [`dv/app/${ID}.pgdump.gpg`, 'dv/'],
    [`dv/app/.manifest.json`, 'dv/'],
  ])('refuses %s (prefix %j)', (key, prefix) => {
    expect(() => backupOfManifestKey(key, prefix, 'app')).toThrow(/is not a manifest of job app/);
  });
});
