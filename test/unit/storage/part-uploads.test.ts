/**
 * PartUploads, the bounded part-upload queue MultipartWriter and BlockWriter share, driven with
 * requests the test answers by hand: how many are on the wire, how many buffers exist, and what
 * the first failure does. The writers' own tests (multipart.test.ts, and on s3rver and Azurite
 * test/integration/storage/) cover the same through the stores.
 */
import { once } from 'node:events';
import { setImmediate as idle } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PartUploads } from '../../../core/storage/part-uploads.ts';
import { UploadStalledError } from '../../../core/storage/stall-watch.ts';

/** A request the test answers: `answer()` / `fail(err)` settle the promise `run()` returned. */
function pending() {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, answer: () => resolve(), fail: (err: unknown) => reject(err) };
}

// `idle()` resolves once the event loop reaches its check phase: every promise the queue could
// settle by then has settled (nothing here waits for I/O), so "did it go on?" is a fair question.

describe('PartUploads', () => {
  it('never has more than queueSize uploads on the wire and holds at most queueSize + 1 buffers', async () => {
    const uploads = new PartUploads({ queueSize: 2 });
    const requests: ReturnType<typeof pending>[] = [];
    const buffers = new Set<Buffer>();
    let onWire = 0;
    let most = 0;
    let sent = 0;
    // The writer's loop: take a buffer, fill it, send it; 8 parts of 4 bytes.
    const writing = (async () => {
      for (let part = 0; part < 8; part++) {
        const buffer = await uploads.takeBuffer(4);
        buffers.add(buffer);
        await uploads.upload(buffer, async () => {
          sent++;
          onWire++;
          most = Math.max(most, onWire);
          const request = pending();
          requests.push(request);
          await request.promise;
          onWire--;
        });
      }
      await uploads.settled();
    })();

    // Answer one request at a time, only once the loop went as far as it could: a queue allowing
    // more would have sent a third meanwhile (bug: `>` for `>=` in the slot wait).
    for (let round = 0; round < 100 && (sent < 8 || onWire > 0); round++) {
      await idle();
      requests.shift()?.answer();
    }
    await writing;

    expect(sent).toBe(8);
    expect(most).toBe(2);
    // Two on the wire and one filling: a buffer refilled while its request was out, or a fourth
    // allocated, would show here.
    expect(buffers.size).toBe(3);
  });

  it('reports the first failure once, sends nothing more after it, and rejects every wait with it', async () => {
    const reported: unknown[] = [];
    const uploads = new PartUploads({ queueSize: 2, onRequestFailed: (err) => reported.push(err) });
    const slow = pending();
    const refused = Object.assign(new Error('slow down'), { name: 'SlowDown' });
    let slowDone = false;
    await uploads.upload(await uploads.takeBuffer(4), async () => {
      await slow.promise;
      slowDone = true;
    });
    await uploads.upload(await uploads.takeBuffer(4), async () => {
      throw refused;
    });
    await idle();
    let sentAfterFailure = false;

    // Bug caught: a failed part not recorded (the write would go on and complete without it).
    const nextUpload = await uploads
      .upload(Buffer.alloc(4), async () => {
        sentAfterFailure = true;
      })
      .catch((err: unknown) => err);
    const nextBuffer = await uploads.takeBuffer(4).catch((err: unknown) => err);
    let settled = false;
    const settling = uploads.settled().then(() => (settled = true));
    await idle();
    const settledWhileSlowOut = settled;
    slow.fail(new Error('a later failure'));
    await settling;

    expect(reported).toEqual([refused]);
    expect(nextUpload).toBe(refused);
    expect(nextBuffer).toBe(refused);
    expect(() => uploads.throwIfFailed()).toThrow(refused);
    expect(sentAfterFailure).toBe(false);
    expect(settledWhileSlowOut).toBe(false);
    expect(slowDone).toBe(false);
  });

  it('fails with UploadStalledError and cancels the requests on the wire when none completes for stallMs', {
    timeout: 10_000,
  }, async () => {
    const reported: unknown[] = [];
    const uploads = new PartUploads({
      queueSize: 2,
      stallMs: 50,
      onRequestFailed: (err) => reported.push(err),
    });
    uploads.start();
    const cancelled = once(uploads.signal, 'abort');
    const hung = new Promise<void>((_resolve, reject) => {
      uploads.signal.addEventListener('abort', () => reject(uploads.signal.reason), { once: true });
    });

    await uploads.upload(Buffer.alloc(4), () => hung);
    await cancelled;
    await uploads.settled();
    uploads.close();

    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(UploadStalledError);
    expect(uploads.signal.reason).toBe(reported[0]);
    expect(() => uploads.throwIfFailed()).toThrow(UploadStalledError);
  });
});
