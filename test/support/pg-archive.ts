/**
 * Re-encodes a real pg_dump custom-format archive as another archive version, the way pg_dump
 * of that version writes it (src/bin/pg_dump/pg_backup_archiver.c WriteHead/WriteToc): only
 * pg_dump 15 is installed here, which writes 1.14. From 1.15 the header's compression is one
 * algorithm byte instead of an int level; 1.14 added the table access method string to every
 * TOC entry, 1.16 a relkind int after it. Data blocks are the same in every version.
 */

interface Layout {
  intSize: number;
  offSize: number;
  /** Header bytes after the version bytes up to the compression field. */
  sizes: Buffer;
  compressionLevel: Buffer;
  /** Header bytes after the compression field (date, names). */
  headerRest: Buffer;
  /** Per TOC entry: the bytes before the table access method, the method, the bytes after. */
  entries: { before: Buffer; tableam: Buffer; after: Buffer }[];
  tocCount: Buffer;
  data: Buffer;
}

function parse(archive: Buffer): Layout {
  if (archive.toString('latin1', 0, 5) !== 'PGDMP' || archive[5] !== 1 || archive[6] !== 14) {
    throw new Error('expected a version 1.14 custom-format archive (pg_dump 13-15)');
  }
  let pos = 8;
  const intSize = archive[pos]!;
  const offSize = archive[pos + 1]!;
  const sizes = archive.subarray(pos, pos + 3); // int size, offset size, format
  pos += 3;
  const int = () => {
    const negative = archive[pos] !== 0;
    let value = 0;
    for (let b = 0; b < intSize; b++) value += archive[pos + 1 + b]! * 2 ** (8 * b);
    pos += 1 + intSize;
    return negative ? -value : value;
  };
  const str = () => {
    const length = int();
    if (length > 0) pos += length;
    return length >= 0;
  };
  const compressionStart = pos;
  int();
  const compressionLevel = archive.subarray(compressionStart, pos);
  const restStart = pos;
  for (let i = 0; i < 7; i++) int();
  str();
  str();
  str();
  const headerRest = archive.subarray(restStart, pos);
  const countStart = pos;
  const count = int();
  const tocCount = archive.subarray(countStart, pos);
  const entries: Layout['entries'] = [];
  for (let e = 0; e < count; e++) {
    const start = pos;
    int(); // dump id
    int(); // had dumper
    str(); // table oid
    str(); // oid
    str(); // tag
    str(); // desc
    int(); // section
    str(); // defn
    str(); // drop statement
    str(); // copy statement
    str(); // namespace
    str(); // tablespace
    const amStart = pos;
    str(); // table access method
    const afterStart = pos;
    str(); // owner
    str(); // with oids
    while (str()) {
      // dependencies
    }
    pos += 1 + offSize; // data offset
    entries.push({
      before: archive.subarray(start, amStart),
      tableam: archive.subarray(amStart, afterStart),
      after: archive.subarray(afterStart, pos),
    });
  }
  return {
    intSize,
    offSize,
    sizes,
    compressionLevel,
    headerRest,
    entries,
    tocCount,
    data: archive.subarray(pos),
  };
}

function writeInt(value: number, intSize: number): Buffer {
  const out = Buffer.alloc(1 + intSize);
  out[0] = value < 0 ? 1 : 0;
  let v = Math.abs(value);
  for (let b = 0; b < intSize; b++) {
    out[1 + b] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/** `archive` (version 1.14) as archive version 1.`minor`. */
export function asArchiveVersion(archive: Buffer, minor: 12 | 13 | 14 | 15 | 16): Buffer {
  const layout = parse(archive);
  const parts: Buffer[] = [Buffer.from('PGDMP', 'latin1'), Buffer.from([1, minor, 0]), layout.sizes];
  // 1.15+: the compression algorithm as one byte (0 = none); before: the level as an int.
  parts.push(minor >= 15 ? Buffer.from([0]) : layout.compressionLevel);
  parts.push(layout.headerRest, layout.tocCount);
  for (const entry of layout.entries) {
    parts.push(entry.before);
    if (minor >= 14) parts.push(entry.tableam);
    if (minor >= 16) parts.push(writeInt(0, layout.intSize)); // relkind
    parts.push(entry.after);
  }
  parts.push(layout.data);
  return Buffer.concat(parts);
}
