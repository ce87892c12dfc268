/**
 * A stand-in dump tool: writes `<bytes>` of generated rows shaped like a pgbench_accounts COPY
 * (`aid<TAB>bid<TAB>0<TAB><32 random hex><52 spaces>`), then exits 0. It compresses about like
 * the md5-filler benchmark dataset, costs little CPU, and needs no database, so memory tests
 * can push gigabytes through the pipeline.
 *
 *   node --import tsx scripts/bench/generate-dump.ts <bytes>
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';

const ROW_PAD = ' '.repeat(52);
const BLOCK_ROWS = 8192;

/** One block of rows starting at account `firstAid`, as bytes. */
function block(firstAid: number): Buffer {
  const hex = randomBytes(16 * BLOCK_ROWS).toString('hex');
  const rows: string[] = new Array(BLOCK_ROWS);
  for (let i = 0; i < BLOCK_ROWS; i++) {
    const aid = firstAid + i;
    rows[i] = `${aid}\t${Math.floor(aid / 100_000) + 1}\t0\t${hex.slice(i * 32, i * 32 + 32)}${ROW_PAD}\n`;
  }
  return Buffer.from(rows.join(''));
}

/** Writes exactly `total` bytes of rows to stdout, respecting backpressure. */
async function generate(total: number): Promise<void> {
  let written = 0;
  let aid = 1;
  while (written < total) {
    let chunk = block(aid);
    aid += BLOCK_ROWS;
    if (written + chunk.length > total) chunk = chunk.subarray(0, total - written);
    written += chunk.length;
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  }
}

const total = Number(process.argv[2]);
if (!Number.isSafeInteger(total) || total <= 0) {
  process.stderr.write('usage: generate-dump.ts <bytes>\n');
  process.exit(2);
}
await generate(total);
