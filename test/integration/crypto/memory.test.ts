import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptStage,
  encryptStage,
  generateKeyPair,
  loadRecipients,
  type PrivateKey,
  type Recipients,
  readPrivateKey,
} from '../../../core/crypto/openpgp.ts';
import { generatedData, HashSink } from '../../unit/crypto/support.ts';

const MB = 1024 * 1024;
const TOTAL = 300 * MB;
const RSS_BOUND = 100 * MB; // generous: the point is "does not grow with the stream", not a tight number

let dir: string;
let recipients: Recipients;
let privateKey: PrivateKey;

/** A sink that records the peak RSS seen while it receives data. */
class PeakRssSink extends HashSink {
  peak = process.memoryUsage().rss;
  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.chunks % 64 === 0) this.peak = Math.max(this.peak, process.memoryUsage().rss);
    super._write(chunk, encoding, callback);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dv-mem-'));
  const pair = await generateKeyPair({ name: 'Mem', email: 'mem@example.com' });
  await writeFile(join(dir, 'mem.pub.asc'), pair.publicKey);
  await writeFile(join(dir, 'mem.key.asc'), pair.privateKey);
  recipients = await loadRecipients(['mem.pub.asc'], dir);
  privateKey = await readPrivateKey(join(dir, 'mem.key.asc'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bounded memory', () => {
  it('encrypts a 300 MB stream with RSS growth under 100 MB', async () => {
    const input = generatedData(TOTAL, { seed: 1 });
    const sink = new PeakRssSink();
    const before = process.memoryUsage().rss;
    const started = performance.now();

    await pipeline(input.stream, encryptStage({ recipients }), sink);

    const seconds = (performance.now() - started) / 1000;
    console.info(
      `encrypt: ${(TOTAL / MB / seconds).toFixed(0)} MiB/s (incl. data generation), peak RSS growth ${((sink.peak - before) / MB).toFixed(0)} MiB`,
    );
    expect(sink.bytes).toBeGreaterThan(TOTAL);
    expect(sink.peak - before).toBeLessThan(RSS_BOUND);
  });

  it('encrypts and decrypts 300 MB in one pipeline with RSS growth under 100 MB', async () => {
    const input = generatedData(TOTAL, { seed: 2 });
    const sink = new PeakRssSink();
    const before = process.memoryUsage().rss;

    await pipeline(
      input.stream,
      encryptStage({ recipients }),
      decryptStage({ privateKeys: [privateKey] }),
      sink,
    );

    expect(sink.bytes).toBe(TOTAL);
    expect(sink.sha256()).toBe(input.sha256());
    expect(sink.peak - before).toBeLessThan(RSS_BOUND);
  });
});
