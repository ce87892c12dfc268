/**
 * Looking at the start of a stream without consuming it.
 */
import type { Readable } from 'node:stream';

/** Reads the first `n` bytes of a stream and puts them back, so the stream can still be consumed whole. */
export async function peek(stream: Readable, n = 16): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const chunk = stream.read() as Buffer | null;
    if (chunk) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= n) break;
      continue;
    }
    if (stream.readableEnded) break;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        stream.off('readable', done);
        stream.off('end', done);
        reject(err);
      };
      stream.once('readable', done);
      stream.once('end', done);
      stream.once('error', onError);
    });
    if (stream.readableEnded && stream.readableLength === 0) break;
  }
  const head = Buffer.concat(chunks);
  if (head.length) stream.unshift(head);
  return head.subarray(0, n);
}
