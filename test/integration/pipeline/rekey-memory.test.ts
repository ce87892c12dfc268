/**
 * `rekey` streams: a 200 MB backup object is decrypted and re-encrypted into a file destination
 * with RSS growth that does not follow the object's size, and no plaintext file is ever written
 * (the only files are the two ciphertexts and the manifest).
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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
import type { Manifest } from '../../../core/manifest.ts';
import { rekeyCopy } from '../../../core/pipeline/rekey-copy.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { Meter } from '../../../core/streams/meter.ts';
import { generatedData, HashSink } from '../../unit/crypto/support.ts';

const MB = 1024 * 1024;
const TOTAL = 200 * MB;
const RSS_BOUND = 100 * MB; // generous: the point is "does not grow with the object", not a tight number
const ID = '2026-11-21T030000Z-a1b2c3d4';

let dir: string;
let dest: Destination;
let keyA: { recipients: Recipients; privateKey: PrivateKey };
let keyB: { recipients: Recipients; privateKey: PrivateKey };

async function keyPair(name: string) {
  const pair = await generateKeyPair({ name, email: `${name}@dumpvault.invalid` });
  await writeFile(join(dir, `${name}.pub.asc`), pair.publicKey);
  await writeFile(join(dir, `${name}.key.asc`), pair.privateKey);
  return {
    recipients: await loadRecipients([`${name}.pub.asc`], dir),
    privateKey: await readPrivateKey(join(dir, `${name}.key.asc`)),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dv-rekey-mem-'));
  keyA = await keyPair('a');
  keyB = await keyPair('b');
  dest = createDestination('local', { type: 'file', path: join(dir, 'store') }, { baseDir: dir });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rekey memory', () => {
  // Catches a rekey that buffers the object (or its plaintext) instead of streaming it.
  it('re-encrypts a 200 MB object with RSS growth under 100 MB and no plaintext on disk', async () => {
    const payload = generatedData(TOTAL, { seed: 7 });
    const stored = new Meter({ sha256: true });
    const key = `app/${ID}.sql.gz.gpg`;
    await dest.write(key, payload.stream.pipe(encryptStage({ recipients: keyA.recipients })).pipe(stored));
    const manifest: Manifest = {
      formatVersion: 1,
      job: 'app',
      runId: 'a1b2c3d4',
      engine: 'postgres',
      serverVersion: '17',
      tool: { name: 'pg_dump', version: '17' },
      database: 'app',
      startedAt: '2026-11-21T03:00:00.000Z',
      finishedAt: '2026-11-21T03:01:00.000Z',
      dumpFormat: 'plain',
      compression: 'gzip',
      encryption: { type: 'openpgp', recipients: keyA.recipients.fingerprints },
      object: { key, bytes: stored.bytes, sha256: stored.sha256() },
      rawBytes: TOTAL,
      stats: { tables: {} },
    };
    await dest.put(`app/${ID}.manifest.json`, JSON.stringify(manifest));
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);

    let result: Awaited<ReturnType<typeof rekeyCopy>>;
    try {
      result = await rekeyCopy(dest, '', manifest, {
        runId: '0f1e2d3c',
        keys: { privateKeys: [keyA.privateKey] },
        target: { encryption: { type: 'openpgp', recipients: keyB.recipients } },
        now: () => new Date(),
        step: () => {},
      });
    } finally {
      clearInterval(sampler);
    }

    expect(peak - before).toBeLessThan(RSS_BOUND);
    expect(await readdir(join(dir, 'store', 'app'))).toEqual(
      [`${ID}.manifest.json`, `${ID}.rekey-0f1e2d3c.sql.gz.gpg`].sort(),
    );
    // The new object holds exactly the old payload, for key B.
    const sink = new HashSink();
    await pipeline(await dest.read(result.copy.to), decryptStage({ privateKeys: [keyB.privateKey] }), sink);
    expect(sink.sha256()).toBe(payload.sha256());
  });
});
