/**
 * Completeness of a `mongodump --archive` stream, read as it streams (mongo-tools'
 * common/archive; the format's specification in its docs):
 *
 *   archive   = magic (0x8199e26d, little-endian), header document, collection-metadata
 *               documents, terminator (0xffffffff), then namespace segments and namespace ends
 *   segment   = namespace header {db, collection, EOF: false}, documents, terminator
 *   end       = namespace header {db, collection, EOF: true, CRC}, terminator
 *
 * Documents are BSON, each starting with its int32 length. mongodump writes a namespace end
 * for every collection it dumped once all of its segments are out; the archive is complete
 * when the stream stops right after a terminator and every collection named in the metadata
 * (or opened by a segment) has its end. Tested against a stand-in mongodump only (no MongoDB
 * server can be installed where dumpvault is developed).
 */
import type { DumpChecker, Verdict } from './checker.ts';

const MAGIC = 0x8199e26d;
const TERMINATOR = -1;
/** Header and metadata documents are small; anything larger is not one. */
const MAX_HEADER_DOCUMENT = 16 * 1024 * 1024;

/** Where in the archive the next int32 (a length or a terminator) is. */
type Context = 'header' | 'metadata' | 'namespace' | 'segment' | 'end-terminator';

/** Parses the string and boolean fields of a small BSON document (others are skipped). */
function bsonFields(doc: Buffer): Map<string, string | boolean> {
  const fields = new Map<string, string | boolean>();
  try {
    readFields(doc, fields);
  } catch {
    // a damaged document: keep what was read
  }
  return fields;
}

function readFields(doc: Buffer, fields: Map<string, string | boolean>): void {
  let i = 4;
  while (i < doc.length - 1) {
    const type = doc[i++]!;
    const nameEnd = doc.indexOf(0, i);
    if (nameEnd < 0) return;
    const name = doc.toString('utf8', i, nameEnd);
    i = nameEnd + 1;
    switch (type) {
      case 0x02: {
        const length = doc.readInt32LE(i);
        fields.set(name, doc.toString('utf8', i + 4, i + 4 + length - 1));
        i += 4 + length;
        break;
      }
      case 0x08:
        fields.set(name, doc[i] === 1);
        i += 1;
        break;
      case 0x01:
      case 0x09:
      case 0x11:
      case 0x12:
        i += 8;
        break;
      case 0x10:
        i += 4;
        break;
      case 0x0a:
        break;
      case 0x03:
      case 0x04:
        i += doc.readInt32LE(i);
        break;
      case 0x05:
        i += 5 + doc.readInt32LE(i);
        break;
      case 0x07:
        i += 12;
        break;
      case 0x13:
        i += 16;
        break;
      default:
        return; // a type these documents never hold: stop, keeping what was read
    }
  }
}

/** Checks a mongodump archive; see the file comment. */
export class MongoArchiveChecker implements DumpChecker {
  private problem: string | undefined;
  private bytes = 0;
  /** The next fixed-size unit being collected (magic, an int32, a header document). */
  private acc: Buffer[] = [];
  private accBytes = 0;
  private want = 4;
  private unit: 'magic' | 'int' | 'document' = 'magic';
  private skip = 0;
  private context: Context = 'header';
  private documentLength = 0;
  private readonly open = new Set<string>();
  private readonly ended = new Set<string>();

  write(chunk: Buffer): void {
    if (this.problem !== undefined || chunk.length === 0) return;
    this.bytes += chunk.length;
    let i = 0;
    while (i < chunk.length && this.problem === undefined) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const n = Math.min(this.want - this.accBytes, chunk.length - i);
      const piece = chunk.subarray(i, i + n);
      // A unit cut by the end of the chunk waits for the next one: the chunk itself is reused.
      this.acc.push(this.accBytes + n === this.want ? piece : Buffer.from(piece));
      this.accBytes += n;
      i += n;
      if (this.accBytes === this.want) {
        const unit = this.acc.length === 1 ? this.acc[0]! : Buffer.concat(this.acc, this.accBytes);
        this.acc = [];
        this.accBytes = 0;
        this.take(unit);
      }
    }
  }

  finish(): Verdict {
    if (this.problem !== undefined) return { complete: false, missing: this.problem };
    if (this.bytes === 0) return { complete: false, missing: 'it is empty' };
    const betweenUnits = this.unit === 'int' && this.accBytes === 0 && this.skip === 0;
    if (!betweenUnits || this.context !== 'namespace') {
      return {
        complete: false,
        missing:
          this.context === 'header' || this.context === 'metadata'
            ? 'it ends inside the archive prelude (before the first terminator)'
            : "it ends inside a collection's data, before its terminator",
      };
    }
    const unfinished = [...this.open].filter((ns) => !this.ended.has(ns));
    if (unfinished.length > 0) {
      return {
        complete: false,
        missing: `${unfinished.length} collection(s) have no end-of-collection marker (the first: ${unfinished[0]})`,
      };
    }
    return { complete: true };
  }

  private fail(problem: string): void {
    this.problem = `it is not a complete mongodump archive: ${problem}`;
  }

  private expectInt(context: Context): void {
    this.context = context;
    this.unit = 'int';
    this.want = 4;
  }

  private take(unit: Buffer): void {
    if (this.unit === 'magic') {
      if (unit.readUInt32LE(0) !== MAGIC) {
        this.fail('it does not start with the archive magic number');
        return;
      }
      this.expectInt('header');
      return;
    }
    if (this.unit === 'document') {
      this.document(unit);
      return;
    }
    const value = unit.readInt32LE(0);
    if (value === TERMINATOR) {
      if (this.context === 'metadata' || this.context === 'segment' || this.context === 'end-terminator') {
        this.expectInt('namespace');
        return;
      }
      this.fail(
        `a terminator where ${this.context === 'header' ? 'the header' : 'a namespace header'} should be`,
      );
      return;
    }
    if (this.context === 'end-terminator') {
      this.fail('no terminator after a collection end');
      return;
    }
    if (value < 5) {
      this.fail(`a document of ${value} bytes`);
      return;
    }
    if (this.context === 'segment') {
      this.skip = value - 4;
      return;
    }
    if (value > MAX_HEADER_DOCUMENT) {
      this.fail(`a ${value}-byte ${this.context} document`);
      return;
    }
    this.documentLength = value;
    this.unit = 'document';
    this.want = value - 4;
  }

  private document(body: Buffer): void {
    const doc = Buffer.alloc(this.documentLength);
    doc.writeInt32LE(this.documentLength, 0);
    body.copy(doc, 4);
    if (this.context === 'header') {
      this.expectInt('metadata');
      return;
    }
    const fields = bsonFields(doc);
    const ns = `${String(fields.get('db') ?? '')}.${String(fields.get('collection') ?? '')}`;
    if (this.context === 'metadata') {
      this.open.add(ns);
      this.expectInt('metadata');
      return;
    }
    // A namespace header: a segment of documents follows, or it ends the collection.
    this.open.add(ns);
    if (fields.get('EOF') === true) {
      this.ended.add(ns);
      this.expectInt('end-terminator');
      return;
    }
    if (this.ended.has(ns)) {
      this.fail(`documents of ${ns} after its end`);
      return;
    }
    this.expectInt('segment');
  }
}
