/**
 * The completeness checkers on real dumps (pg_dump custom and plain, mariadb-dump, sqlite3
 * .dump; mongodump through its stand-in), fed in chunks of random sizes the way a pipe delivers
 * them: the whole dump passes and counts its objects; every truncation fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DumpChecker, Verdict } from '../../../core/formats/checker.ts';
import { checkerFor } from '../../../core/formats/index.ts';
import { standInArchiveBytes as archiveBytes } from '../../../scripts/emulators/stand-in-tools.ts';
import { dropMariaDb, dropPostgresDb, MY, PG } from '../../support/databases.ts';
import {
  createMariaObjectsDb,
  createPostgresObjectsDb,
  createSqliteObjectsDb,
  MARIA_OBJECTS,
  PG_OBJECTS,
  SQLITE_OBJECTS,
} from '../../support/objects.ts';
import { asArchiveVersion } from '../../support/pg-archive.ts';

/**
 * Feeds `bytes` to a new checker in chunks cut at `cuts` (offsets, any order), each through one
 * scratch buffer that is overwritten after the write, as the backup's relay reuses its read
 * buffers (core/raw-relay.ts): a checker that keeps a view of a chunk instead of a copy then
 * reads garbage and fails a whole dump.
 */
function verdict(make: () => DumpChecker, bytes: Buffer, cuts: readonly number[] = []): Verdict {
  const checker = make();
  const ends = [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  const scratch = Buffer.alloc(Math.max(1, bytes.length));
  let at = 0;
  for (const end of [...ends, bytes.length]) {
    const n = bytes.copy(scratch, 0, at, end);
    checker.write(scratch.subarray(0, n));
    scratch.fill(0xa5, 0, n);
    at = end;
  }
  return checker.finish();
}

const format = (dumpFormat: string) => () => {
  const checker = checkerFor(dumpFormat);
  if (!checker) throw new Error(`no checker for ${dumpFormat}`);
  return checker;
};

/** Random chunk boundaries inside `length` bytes. */
const chunking = (length: number) =>
  fc.array(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 40 });

let dir: string;
let pgDb: string;
let pgSmallDb: string;
let myDb: string;
const dumps: Record<string, Buffer> = {};

function pgDump(db: string, args: string[]): Buffer {
  return execFileSync('pg_dump', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, ...args, db], {
    maxBuffer: 256 << 20,
  });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dv-formats-'));
  pgDb = createPostgresObjectsDb(3000);
  pgSmallDb = createPostgresObjectsDb(20);
  myDb = createMariaObjectsDb(3000);
  const lite = path.join(dir, 'objects.db');
  createSqliteObjectsDb(lite, 3000);
  // The engines' own arguments (postgres.ts, mysql.ts): custom without compression, plain without owners.
  dumps.custom = pgDump(pgDb, ['--format=custom', '--compress=0']);
  dumps.customSmall = pgDump(pgSmallDb, ['--format=custom', '--compress=0']);
  dumps.customGzip = pgDump(pgSmallDb, ['--format=custom', '--compress=6']);
  dumps.plain = pgDump(pgDb, ['--format=plain', '--no-owner']);
  dumps.mysql = execFileSync(
    'mariadb-dump',
    [
      `--host=${MY.host}`,
      `--port=${MY.port}`,
      `--user=${MY.user}`,
      '--single-transaction',
      '--routines',
      '--triggers',
      '--events',
      '--hex-blob',
      '--default-character-set=utf8mb4',
      '--no-tablespaces',
      '--skip-dump-date',
      myDb,
    ],
    { maxBuffer: 256 << 20 },
  );
  dumps.mysqlDated = execFileSync(
    'mariadb-dump',
    [`--host=${MY.host}`, `--user=${MY.user}`, '--routines', myDb],
    {
      maxBuffer: 256 << 20,
    },
  );
  dumps.sqlite = execFileSync('sqlite3', ['-readonly', lite, '.dump'], { maxBuffer: 256 << 20 });
  dumps.mongodb = archiveBytes(1 << 20);
}, 120_000);

afterAll(() => {
  if (pgDb) dropPostgresDb(pgDb);
  if (pgSmallDb) dropPostgresDb(pgSmallDb);
  if (myDb) dropMariaDb(myDb);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pg_dump custom format (structure: header, TOC, every announced data block, the end)', () => {
  const custom = format('pg_dump-custom');

  it('passes a whole archive however it is chunked, and counts objects from the TOC', () => {
    fc.assert(
      fc.property(chunking(dumps.custom!.length), (cuts) => {
        expect(verdict(custom, dumps.custom!, cuts)).toEqual({ complete: true, objects: PG_OBJECTS });
      }),
      { numRuns: 50 },
    );
    expect(verdict(custom, dumps.customGzip!)).toEqual({ complete: true, objects: PG_OBJECTS });
  });

  it('fails every truncation of a real pg_dump -Fc archive (each of its prefixes)', () => {
    const whole = dumps.customSmall!;
    const passed: number[] = [];
    for (let length = 0; length < whole.length; length++) {
      // Two chunks, cut at a point that moves with the length, so boundaries fall everywhere.
      if (verdict(custom, whole.subarray(0, length), [Math.floor(length / 3)]).complete) passed.push(length);
    }
    expect(passed).toEqual([]);
    expect(verdict(custom, whole).complete).toBe(true);
  });

  it('fails truncations of a large archive, and names where it ends', () => {
    const whole = dumps.custom!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: whole.length - 1 }), chunking(whole.length), (length, cuts) => {
        const v = verdict(custom, whole.subarray(0, length), cuts);
        expect(v.complete).toBe(false);
      }),
      { numRuns: 200 },
    );
    expect(verdict(custom, whole.subarray(0, 100))).toMatchObject({
      missing: expect.stringMatching(/ends inside the (archive header|table of contents)/),
    });
    const v = verdict(custom, whole.subarray(0, whole.length - 30));
    expect(v).toMatchObject({ missing: expect.stringMatching(/ends inside the data of|is missing/) });
  });

  it('fails an archive with bytes after its last block, or a block announced nowhere', () => {
    const whole = dumps.customSmall!;
    expect(verdict(custom, Buffer.concat([whole, Buffer.from([1])]))).toMatchObject({
      complete: false,
      missing: expect.stringMatching(/continues after the last data block/),
    });
    expect(verdict(custom, Buffer.from('PGDMQ this is no archive'))).toMatchObject({
      complete: false,
      missing: expect.stringMatching(/does not start with "PGDMP"/),
    });
    expect(verdict(custom, Buffer.alloc(0))).toEqual({ complete: false, missing: 'it is empty' });
  });

  for (const minor of [12, 13, 15, 16] as const) {
    it(`reads archive version 1.${minor} (re-encoded from pg_dump 15's 1.14): whole passes, truncations fail`, () => {
      const whole = asArchiveVersion(dumps.customSmall!, minor);
      expect(whole[6]).toBe(minor);
      expect(verdict(custom, whole)).toEqual({ complete: true, objects: PG_OBJECTS });
      fc.assert(
        fc.property(fc.integer({ min: 0, max: whole.length - 1 }), chunking(whole.length), (length, cuts) => {
          expect(verdict(custom, whole.subarray(0, length), cuts).complete).toBe(false);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('re-encodes 1.12 and 1.13 archives that pg_restore itself reads (the re-encoder is right)', () => {
    for (const minor of [12, 13] as const) {
      const file = path.join(dir, `v1_${minor}.pgdump`);
      execFileSync('sh', ['-c', `cat > ${file}`], { input: asArchiveVersion(dumps.customSmall!, minor) });
      const listing = execFileSync('pg_restore', ['-l', file], { encoding: 'utf8' });
      expect(listing).toContain(`Format: CUSTOM`);
      expect(listing).toMatch(/TABLE DATA public t /);
    }
  });

  it('refuses an archive version it does not know (1.17) instead of guessing', () => {
    const whole = Buffer.from(dumps.customSmall!);
    whole[6] = 17;
    expect(verdict(custom, whole)).toMatchObject({
      complete: false,
      missing: expect.stringMatching(/archive version 1\.17 is not one dumpvault can check/),
    });
  });
});

describe('pg_dump plain format (completion trailer, \\restrict pair, COPY blocks)', () => {
  const plain = format('pg_dump-plain');

  it('passes the whole script however it is chunked, and counts objects from its TOC comments', () => {
    fc.assert(
      fc.property(chunking(dumps.plain!.length), (cuts) => {
        expect(verdict(plain, dumps.plain!, cuts)).toEqual({ complete: true, objects: PG_OBJECTS });
      }),
      { numRuns: 50 },
    );
  });

  it('fails every truncation: each cut in the last 400 bytes and 300 anywhere', () => {
    const whole = dumps.plain!;
    for (let length = whole.length - 400; length < whole.length; length++) {
      expect(verdict(plain, whole.subarray(0, length)).complete).toBe(false);
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: whole.length - 1 }), chunking(whole.length), (length, cuts) => {
        expect(verdict(plain, whole.subarray(0, length), cuts).complete).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('names the table whose COPY data it ends in', () => {
    const whole = dumps.plain!;
    const inCopy = whole.indexOf('COPY public.t ') + 2000;
    expect(verdict(plain, whole.subarray(0, inCopy))).toEqual({
      complete: false,
      missing: 'it ends inside the data of table t',
    });
  });

  it('does not accept the trailer without the \\unrestrict line its \\restrict line calls for', () => {
    const whole = dumps.plain!.toString('latin1');
    expect(whole).toMatch(/^\\restrict \S+$/m);
    const withoutUnrestrict = whole.replace(/\\unrestrict \S+\n\n$/, '');
    expect(verdict(plain, Buffer.from(withoutUnrestrict, 'latin1'))).toMatchObject({ complete: false });
  });
});

describe('mariadb-dump (the "-- Dump completed" line)', () => {
  const mysql = format('mysqldump-sql');

  it('passes the whole dump however it is chunked (with and without a dump date), counting objects', () => {
    // mariadb-dump leaves routines out unless asked (--routines): the count shows it.
    const withoutRoutines = execFileSync('mariadb-dump', [`--host=${MY.host}`, `--user=${MY.user}`, myDb]);
    expect(verdict(mysql, withoutRoutines)).toEqual({
      complete: true,
      objects: { ...MARIA_OBJECTS, routines: 0 },
    });
    fc.assert(
      fc.property(chunking(dumps.mysql!.length), (cuts) => {
        expect(verdict(mysql, dumps.mysql!, cuts)).toEqual({ complete: true, objects: MARIA_OBJECTS });
      }),
      { numRuns: 50 },
    );
    expect(dumps.mysqlDated!.toString()).toMatch(/-- Dump completed on \d{4}-/);
    expect(verdict(mysql, dumps.mysqlDated!)).toEqual({ complete: true, objects: MARIA_OBJECTS });
  });

  it('counts a line whose prefix or text a chunk boundary cuts, whatever the chunk after it', () => {
    // Lines that start in what the scanner kept of one chunk are read from a window of the
    // next (core/formats/checker.ts LinePrefixScanner): a wrong window loses or repeats them.
    const whole = dumps.mysql!;
    const starts: number[] = [];
    for (const prefix of ['\n-- Table structure', '\n-- Final view', '\nDELIMITER ;;\n']) {
      for (let at = whole.indexOf(prefix); at >= 0; at = whole.indexOf(prefix, at + 1)) starts.push(at);
    }
    expect(starts.length).toBeGreaterThan(5);
    for (const start of starts) {
      for (let d = 0; d < 80; d += 3) {
        const cut = start + d;
        // The rest in one long chunk, and in chunks shorter than the window.
        expect(verdict(mysql, whole, [cut])).toEqual({ complete: true, objects: MARIA_OBJECTS });
        expect(verdict(mysql, whole, [cut, cut + 500, cut + 1000])).toEqual({
          complete: true,
          objects: MARIA_OBJECTS,
        });
      }
    }
  });

  it('fails every truncation: each cut in the last 300 bytes and 300 anywhere', () => {
    const whole = dumps.mysql!;
    for (let length = whole.length - 300; length < whole.length; length++) {
      expect(verdict(mysql, whole.subarray(0, length))).toEqual({
        complete: false,
        missing: 'it does not end with the "-- Dump completed" line',
      });
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: whole.length - 1 }), chunking(whole.length), (length, cuts) => {
        expect(verdict(mysql, whole.subarray(0, length), cuts).complete).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('sqlite3 .dump (ends its transaction with COMMIT;)', () => {
  const lite = format('sqlite3-sql');

  it('passes the whole dump however it is chunked, counting tables, views and triggers', () => {
    fc.assert(
      fc.property(chunking(dumps.sqlite!.length), (cuts) => {
        expect(verdict(lite, dumps.sqlite!, cuts)).toEqual({ complete: true, objects: SQLITE_OBJECTS });
      }),
      { numRuns: 50 },
    );
  });

  it('fails every truncation, and a dump that ended in ROLLBACK because of errors', () => {
    const whole = dumps.sqlite!;
    for (let length = whole.length - 300; length < whole.length; length++) {
      expect(verdict(lite, whole.subarray(0, length)).complete).toBe(false);
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: whole.length - 1 }), chunking(whole.length), (length, cuts) => {
        expect(verdict(lite, whole.subarray(0, length), cuts).complete).toBe(false);
      }),
      { numRuns: 300 },
    );
    const rolledBack = Buffer.concat([whole.subarray(0, 500), Buffer.from('ROLLBACK; -- due to errors\n')]);
    expect(verdict(lite, rolledBack)).toMatchObject({
      missing: expect.stringMatching(/ROLLBACK.*integrity_check/),
    });
  });
});

describe('mongodump --archive (stand-in archive: no MongoDB server here)', () => {
  const mongo = format('mongodump-archive');

  it('passes the whole archive however it is chunked', () => {
    fc.assert(
      fc.property(chunking(dumps.mongodb!.length), (cuts) => {
        expect(verdict(mongo, dumps.mongodb!, cuts)).toEqual({ complete: true });
      }),
      { numRuns: 50 },
    );
  });

  it('fails every truncation: each cut in the last 300 bytes and 300 anywhere', () => {
    const whole = dumps.mongodb!;
    for (let length = whole.length - 300; length < whole.length; length++) {
      expect(verdict(mongo, whole.subarray(0, length)).complete).toBe(false);
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: whole.length - 1 }), chunking(whole.length), (length, cuts) => {
        expect(verdict(mongo, whole.subarray(0, length), cuts).complete).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

it('has no checker for a format dumpvault does not write', () => {
  expect(checkerFor('oracle-expdp')).toBeUndefined();
  expect(checkerFor('__proto__')).toBeUndefined();
});
