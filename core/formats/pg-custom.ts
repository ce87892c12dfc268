/**
 * Structural completeness of a `pg_dump --format=custom` archive, read as it streams
 * (PostgreSQL's src/bin/pg_dump/pg_backup_archiver.c ReadHead/ReadToc, pg_backup_custom.c).
 *
 *   header   "PGDMP", version (3 bytes), int size, offset size, format (1 = custom),
 *            compression (an algorithm byte from 1.15 on, an int level before), creation date
 *            (7 ints), database name, server version, pg_dump version (strings)
 *   TOC      entry count, then per entry: dump id, had-dumper, table oid, oid, tag, desc,
 *            section, defn, drop statement, copy statement, namespace, tablespace, table access
 *            method (1.14+), relkind (1.16+), owner, "with oids", dependencies (strings up to a
 *            null one), data offset (flag byte + offset size bytes)
 *   data     per entry that announces data, in TOC order: a block type byte (1 = BLK_DATA,
 *            3 = BLK_BLOBS), the dump id, then length-prefixed chunks up to a zero length (BLOBS:
 *            per large object its oid then such chunks, and a zero oid at the end)
 *   end      the end of the stream, right after the last announced block
 *
 * An int is a sign byte then `int size` bytes, least significant first; a string is an int
 * length (-1 for null) then that many bytes. pg_dump writing to a pipe cannot seek back to
 * rewrite the TOC, so every data offset reads "not set"; an entry with data is still told
 * from one without by its flag (K_OFFSET_NO_DATA = 3 means none).
 *
 * Archive versions 1.12 (PostgreSQL 9.0) to 1.16 (pg_dump 17 and 18) are read; anything else
 * is reported rather than guessed at.
 */
import type { DumpChecker, ObjectCounts, Verdict } from './checker.ts';
import {
  BLK_BLOBS,
  BLK_DATA,
  BYTE_WEIGHT,
  describeTocEntry,
  FORMAT_CUSTOM,
  KIND_OF_DESC,
  MAGIC,
  Malformed,
  NeedMore,
  OFFSET_NO_DATA,
  Reader,
  skipChunks,
  type TocEntry,
  V1_12,
  V1_14,
  V1_15,
  V1_16,
  V1_17,
  VALID_OFFSET_FLAGS,
  version,
} from './pg-custom-archive.ts';

type Phase = 'header' | 'count' | 'toc' | 'data' | 'failed';

/** Streaming parser states of the data section (plain numbers: the hot loop compares them). */
const BLOCK_TYPE = 0;
const BLOCK_ID = 1;
const CHUNK_LENGTH = 2;
const CHUNK_BYTES = 3;
const BLOB_OID = 4;
const END = 5;
type DataState = 0 | 1 | 2 | 3 | 4 | 5;

/** Checks a custom-format archive; see the file comment for the layout it expects. */
export class PgCustomChecker implements DumpChecker {
  private phase: Phase = 'header';
  private problem = '';
  private version = 0;
  private intSize = 0;
  private offSize = 0;
  private tocCount = 0;
  private readonly entries: TocEntry[] = [];
  private readonly byId = new Map<number, TocEntry>();
  /** Entries with data whose block has not been read completely yet. */
  private readonly awaited = new Set<number>();

  /** Header and TOC bytes received but not parsed yet (the fields are parsed whole). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** How many pending bytes the next parse attempt needs at least. */
  private needed = 0;

  private state: DataState = BLOCK_TYPE;
  private blockType = 0;
  private block: TocEntry | undefined;
  private intPos = 0;
  private intNegative = false;
  private intValue = 0;
  private chunkLeft = 0;
  /** Where {@link skipChunks} left a chunk cut by the end of a buffer. */
  private readonly cut = { left: 0 };

  write(chunk: Buffer): void {
    if (this.phase === 'failed' || chunk.length === 0) return;
    if (this.phase === 'data') {
      this.scanData(chunk);
      return;
    }
    this.pending.push(Buffer.from(chunk)); // the chunk itself is reused after this call
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.needed) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const rest = buf.subarray(this.parseStructure(buf));
    // parseStructure moves the phase on: read it afresh.
    const phase = this.phase as Phase;
    if (phase === 'failed') return;
    if (phase === 'data') {
      this.pending = [];
      this.pendingBytes = 0;
      if (rest.length) this.scanData(rest);
      return;
    }
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
  }

  finish(): Verdict {
    switch (this.phase) {
      case 'failed':
        return { complete: false, missing: this.problem };
      case 'header':
        return {
          complete: false,
          missing:
            this.pendingBytes === 0
              ? 'it is empty'
              : 'it ends inside the archive header (before the table of contents)',
        };
      case 'count':
      case 'toc':
        return {
          complete: false,
          missing: `it ends inside the table of contents (after ${this.entries.length} of ${this.phase === 'toc' ? this.tocCount : '?'} entries)`,
        };
      case 'data':
        break;
    }
    if (this.state === BLOCK_ID) {
      return { complete: false, missing: 'it ends inside the header of a data block' };
    }
    if (this.state !== BLOCK_TYPE && this.state !== END) {
      return { complete: false, missing: `it ends inside the data of ${describeTocEntry(this.block)}` };
    }
    if (this.awaited.size > 0) {
      const first = this.entries.find((e) => this.awaited.has(e.dumpId));
      const withData = this.entries.filter((e) => e.hasData).length;
      return {
        complete: false,
        missing: `the data of ${this.awaited.size} of the ${withData} TOC entries with data is missing (the first: ${describeTocEntry(first)})`,
      };
    }
    return { complete: true, objects: this.objects() };
  }

  private objects(): ObjectCounts {
    const counts = { tables: 0, views: 0, routines: 0, triggers: 0, sequences: 0 };
    for (const entry of this.entries) {
      const kind = KIND_OF_DESC[entry.desc];
      if (kind) counts[kind]++;
    }
    return counts;
  }

  private fail(problem: string): void {
    this.phase = 'failed';
    this.problem = problem;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Parses whole header / TOC fields from `buf`; returns how many bytes they took. */
  private parseStructure(buf: Buffer): number {
    const r = new Reader(buf, this.intSize, this.offSize);
    let committed = 0;
    try {
      if (this.phase === 'header') {
        this.readHeader(r);
        committed = r.pos;
        this.phase = 'count';
      }
      if (this.phase === 'count') {
        this.tocCount = r.int();
        if (this.tocCount < 0) throw new Malformed(`its table of contents has ${this.tocCount} entries`);
        committed = r.pos;
        this.phase = 'toc';
      }
      while (this.entries.length < this.tocCount) {
        this.readEntry(r);
        committed = r.pos;
      }
      this.phase = 'data';
      this.needed = 0;
      this.state = this.awaited.size === 0 ? END : BLOCK_TYPE;
    } catch (err) {
      if (err instanceof NeedMore) this.needed = err.upTo - committed;
      else if (err instanceof Malformed)
        this.fail(`it is not a complete pg_dump custom-format archive: ${err.problem}`);
      else throw err;
    }
    return committed;
  }

  private readHeader(r: Reader): void {
    if (r.bytes(MAGIC.length).toString('latin1') !== MAGIC) {
      throw new Malformed(`it does not start with "${MAGIC}"`);
    }
    const major = r.byte();
    const minor = r.byte();
    const rev = major > 1 || (major === 1 && minor > 0) ? r.byte() : 0;
    this.version = version(major, minor, rev);
    if (this.version < V1_12 || this.version >= V1_17) {
      throw new Malformed(
        `archive version ${major}.${minor} is not one dumpvault can check (1.12 to 1.16, pg_dump 9.0 to 18)`,
      );
    }
    this.intSize = r.byte();
    this.offSize = r.byte();
    if (this.intSize < 1 || this.intSize > 8 || this.offSize < 1 || this.offSize > 16) {
      throw new Malformed(
        `its integer and offset sizes (${this.intSize}, ${this.offSize}) are not plausible`,
      );
    }
    r.intSize = this.intSize;
    r.offSize = this.offSize;
    const format = r.byte();
    if (format !== FORMAT_CUSTOM) throw new Malformed(`its format byte is ${format}, not 1 (custom)`);
    if (this.version >= V1_15) r.byte();
    else r.int();
    for (let i = 0; i < 7; i++) r.int();
    r.str(false); // database name
    r.str(false); // server version
    r.str(false); // pg_dump version
  }

  private readEntry(r: Reader): void {
    const dumpId = r.int();
    if (dumpId <= 0) throw new Malformed(`TOC entry ${this.entries.length + 1} has dump id ${dumpId}`);
    r.int(); // had dumper
    r.str(false); // table oid
    r.str(false); // oid
    const tag = r.str() ?? '';
    const desc = r.str() ?? '';
    r.int(); // section
    r.str(false); // definition
    r.str(false); // drop statement
    r.str(false); // copy statement
    const namespace = r.str();
    r.str(false); // tablespace
    if (this.version >= V1_14) r.str(false); // table access method
    if (this.version >= V1_16) r.int(); // relkind
    r.str(false); // owner
    r.str(false); // "with oids"
    while (r.str(false) !== null) {
      // dependencies, up to a null string
    }
    const flag = r.offsetFlag();
    if (!VALID_OFFSET_FLAGS.has(flag)) {
      throw new Malformed(`TOC entry ${dumpId} (${desc}) has data offset flag ${flag}`);
    }
    const entry: TocEntry = {
      dumpId,
      desc,
      name: namespace ? `${namespace}.${tag}` : tag,
      hasData: flag !== OFFSET_NO_DATA,
    };
    if (this.byId.has(dumpId)) throw new Malformed(`two TOC entries have dump id ${dumpId}`);
    this.entries.push(entry);
    this.byId.set(dumpId, entry);
    if (entry.hasData) this.awaited.add(dumpId);
  }

  /**
   * The data section, byte by byte where it must be (block headers, lengths) and skipping
   * chunk contents: millions of rows mean millions of chunks, so this stays a tight loop.
   */
  private scanData(buf: Buffer): void {
    const length = buf.length;
    let i = 0;
    while (i < length) {
      if (this.state === CHUNK_BYTES) {
        const n = Math.min(this.chunkLeft, length - i);
        i += n;
        this.chunkLeft -= n;
        if (this.chunkLeft > 0) return;
        this.state = CHUNK_LENGTH;
      }
      if (this.state === CHUNK_LENGTH && this.intPos === 0) {
        i = skipChunks(buf, i, this.intSize, this.cut);
        if (this.cut.left > 0) {
          this.chunkLeft = this.cut.left;
          this.state = CHUNK_BYTES;
          return;
        }
        if (i >= length) return;
      }
      i = this.step(buf, i);
      if (i < 0) return;
    }
  }

  /**
   * One step of the data section off the hot path: a block header, an int cut by a buffer
   * boundary, a zero length, a large object's oid. Returns the next offset, or -1 once the
   * archive turned out malformed.
   */
  private step(buf: Buffer, from: number): number {
    let i = from;
    const state = this.state;
    if (state === BLOCK_TYPE) {
      const type = buf[i++]!;
      if (type !== BLK_DATA && type !== BLK_BLOBS) {
        this.fail(
          `it is not a complete pg_dump custom-format archive: byte ${type} where a data block should start`,
        );
        return -1;
      }
      this.blockType = type;
      this.expectInt(BLOCK_ID);
      return i;
    }
    if (state === END) {
      this.fail('it continues after the last data block its table of contents announces');
      return -1;
    }
    // An int field: sign byte, then intSize bytes, least significant first.
    const intBytes = 1 + this.intSize;
    while (this.intPos < intBytes && i < buf.length) {
      const b = buf[i++]!;
      if (this.intPos === 0) this.intNegative = b !== 0;
      else this.intValue += b * BYTE_WEIGHT[this.intPos - 1]!;
      this.intPos++;
    }
    if (this.intPos === intBytes && !this.takeInt(this.intNegative ? -this.intValue : this.intValue))
      return -1;
    return i;
  }

  private expectInt(state: DataState): void {
    this.state = state;
    this.intPos = 0;
    this.intNegative = false;
    this.intValue = 0;
  }

  /** Acts on a whole int of the data section; false when the archive turned out malformed. */
  private takeInt(value: number): boolean {
    // The accumulator is free again whatever comes next (the hot path reads lengths itself).
    this.intPos = 0;
    this.intNegative = false;
    this.intValue = 0;
    switch (this.state) {
      case BLOCK_ID: {
        const entry = this.byId.get(value);
        if (!entry?.hasData || !this.awaited.has(value)) {
          const why = !entry
            ? 'which is not in its table of contents'
            : entry.hasData
              ? 'a second time'
              : 'whose TOC entry announces no data';
          this.fail(
            `it is not a complete pg_dump custom-format archive: a data block for dump id ${value}, ${why}`,
          );
          return false;
        }
        this.block = entry;
        this.expectInt(this.blockType === BLK_BLOBS ? BLOB_OID : CHUNK_LENGTH);
        return true;
      }
      case CHUNK_LENGTH:
        if (value < 0) {
          this.fail(
            `it is not a complete pg_dump custom-format archive: a chunk of ${value} bytes in ${describeTocEntry(this.block)}`,
          );
          return false;
        }
        if (value > 0) {
          this.chunkLeft = value;
          this.state = CHUNK_BYTES;
        } else if (this.blockType === BLK_BLOBS) this.expectInt(BLOB_OID);
        else this.endBlock();
        return true;
      case BLOB_OID:
        if (value === 0) this.endBlock();
        else this.expectInt(CHUNK_LENGTH);
        return true;
      default:
        return true;
    }
  }

  private endBlock(): void {
    if (this.block) this.awaited.delete(this.block.dumpId);
    this.block = undefined;
    this.state = this.awaited.size === 0 ? END : BLOCK_TYPE;
  }
}
