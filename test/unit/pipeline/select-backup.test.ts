import { describe, expect, it } from 'vitest';
import { NotFoundError, UsageError } from '../../../core/errors.ts';
import { type Manifest, objectKeys } from '../../../core/manifest.ts';
import { manifestId, parseBackupSelector, selectBackup } from '../../../core/pipeline/catalog.ts';

/** A manifest of job `app` started at `iso` (millisecond precision, as the pipeline records it). */
function manifest(iso: string, runId: string): Manifest {
  const startedAt = new Date(iso);
  const keys = objectKeys({
    prefix: '',
    job: 'app',
    startedAt,
    runId,
    dumpExt: 'sql',
    compression: 'gzip',
    encrypted: false,
  });
  return {
    formatVersion: 1,
    job: 'app',
    runId,
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
}

const newestFirst = (...ms: Manifest[]) => [...ms].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
const pick = (ms: Manifest[], selector: string) =>
  manifestId(selectBackup(newestFirst(...ms), selector, 'app', 'file:///b'));

const beforeMidnight = manifest('2026-11-30T23:59:59.999Z', 'a0000001');
const atMidnight = manifest('2026-12-01T00:00:00.000Z', 'b0000002');
const laterThatDay = manifest('2026-12-01T03:00:00.000Z', 'c0000003');

describe('selecting a backup by date or time', () => {
  it('reads a date alone as 00:00 UTC: never a backup taken later that day (the old id-prefix match did)', () => {
    expect(pick([beforeMidnight, laterThatDay], '2026-12-01')).toBe(manifestId(beforeMidnight));
  });

  it('includes a backup started exactly at the instant named, and not one a millisecond later', () => {
    expect(pick([beforeMidnight, atMidnight, laterThatDay], '2026-12-01')).toBe(manifestId(atMidnight));
    expect(pick([beforeMidnight, atMidnight, laterThatDay], '2026-12-01T03:00')).toBe(
      manifestId(laterThatDay),
    );
    const justAfter = manifest('2026-12-01T03:00:00.001Z', 'd0000004');
    expect(pick([atMidnight, justAfter], '2026-12-01T03:00:00Z')).toBe(manifestId(atMidnight));
    expect(pick([atMidnight, justAfter], '2026-12-01T03:00:00.001Z')).toBe(manifestId(justAfter));
  });

  it('reads a time without an offset as UTC, and honours an offset', () => {
    expect(pick([atMidnight, laterThatDay], '2026-12-01T02:59:59')).toBe(manifestId(atMidnight));
    expect(pick([atMidnight, laterThatDay], '2026-12-01T04:00+01:00')).toBe(manifestId(laterThatDay));
    expect(pick([atMidnight, laterThatDay], '2026-12-01T03:59-01:00')).toBe(manifestId(laterThatDay));
    expect(pick([atMidnight, laterThatDay], '2026-12-01T0300Z')).toBe(manifestId(laterThatDay));
  });

  it('says no backup is that old, naming the instant, when every backup is later', () => {
    expect(() => selectBackup([laterThatDay], '2026-12-01', 'app', 'file:///b')).toThrow(NotFoundError);
    expect(() => selectBackup([laterThatDay], '2026-12-01', 'app', 'file:///b')).toThrow(
      /no backup in file:\/\/\/b started at or before 2026-12-01T00:00:00.000Z \("2026-12-01": a date alone means 00:00 UTC that day\)/,
    );
  });

  it('refuses something that starts like a date but is not one, naming the forms it takes', () => {
    for (const bad of ['2026-02-30', '2026-12-01T03', '2026-12-01T25:00', '2026-12-01x']) {
      expect(() => parseBackupSelector(bad)).toThrow(UsageError);
      expect(() => parseBackupSelector(bad)).toThrow(/is neither a backup id nor an ISO date or time/);
    }
  });
});

describe('selecting a backup by id or run id', () => {
  it('takes the run id alerts show, or a unique prefix of it', () => {
    expect(pick([beforeMidnight, atMidnight, laterThatDay], 'b0000002')).toBe(manifestId(atMidnight));
    expect(pick([beforeMidnight, atMidnight, laterThatDay], 'c0')).toBe(manifestId(laterThatDay));
  });

  it('takes a backup id, or its stamp alone', () => {
    expect(pick([atMidnight, laterThatDay], manifestId(atMidnight))).toBe(manifestId(atMidnight));
    expect(pick([atMidnight, laterThatDay], '2026-12-01T030000Z')).toBe(manifestId(laterThatDay));
  });

  it('lists the candidates when a prefix is ambiguous', () => {
    const twin = manifest('2026-12-02T03:00:00.000Z', 'c0ffee05');
    const call = () => selectBackup(newestFirst(laterThatDay, twin, atMidnight), 'c0', 'app', 'file:///b');
    expect(call).toThrow(UsageError);
    expect(call).toThrow(
      `"c0" matches 2 backups of app: ${manifestId(twin)}, ${manifestId(laterThatDay)}; give more of the id`,
    );
  });

  it('says nothing matches, pointing at dumpvault list', () => {
    expect(() => selectBackup([atMidnight], 'ffff', 'app', 'file:///b')).toThrow(NotFoundError);
    expect(() => selectBackup([atMidnight], 'ffff', 'app', 'file:///b')).toThrow(
      /"dumpvault list app" shows the ids/,
    );
  });
});
