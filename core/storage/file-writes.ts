/** Writing chunks to an open file: whole, and several at once with writev (file.ts). */
import type { FileHandle } from 'node:fs/promises';

/** Writes all of `chunk`, however many writes that takes. */
export async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

/** At most this many bytes go into one writev. */
export const MAX_BATCH_BYTES = 4 << 20;

/** A body chunk as bytes (a string chunk as UTF-8). */
export function asBytes(chunk: unknown): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
}

/** Writes every buffer in order, in one writev when the file takes it all (it does, but for a short write). */
export async function writeAllv(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  if (chunks.length === 1) return writeAll(handle, chunks[0]!);
  let { bytesWritten } = await handle.writev(chunks);
  for (const chunk of chunks) {
    if (bytesWritten >= chunk.byteLength) {
      bytesWritten -= chunk.byteLength;
      continue;
    }
    await writeAll(handle, bytesWritten === 0 ? chunk : chunk.subarray(bytesWritten));
    bytesWritten = 0;
  }
}
