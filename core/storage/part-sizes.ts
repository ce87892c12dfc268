/**
 * How big the parts of a multipart upload are: S3's limits, and part sizes that double every
 * {@link GROW_EVERY} parts so an object far bigger than expected still fits.
 */

/** S3's limits: parts of one multipart upload, and bytes per part. */
export const MAX_PARTS = 10_000;
export const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
/** Parts after which the part size doubles (see MultipartWriterParams.growEvery). */
export const GROW_EVERY = 2_000;

/** The size of part `partNumber` (1-based) of an upload whose parts start at `partSize`. */
export function sizeOfPart(partNumber: number, partSize: number, growEvery: number): number {
  const doublings = Math.floor((partNumber - 1) / growEvery);
  return Math.min(partSize * 2 ** doublings, MAX_PART_BYTES);
}

/** The most bytes an upload holds whose parts start at `partSize` and double every `growEvery`. */
export function uploadCapacity(partSize: number, growEvery = GROW_EVERY, maxParts = MAX_PARTS): number {
  let bytes = 0;
  for (let part = 1; part <= maxParts; part += growEvery) {
    bytes += sizeOfPart(part, partSize, growEvery) * Math.min(growEvery, maxParts - part + 1);
  }
  return bytes;
}

/**
 * The smallest first-part size, `minimum` or a whole number of MiB above it, of an upload that
 * holds `bytes`; S3's 5 GiB when none does.
 */
export function firstPartSizeFor(bytes: number, minimum: number, growEvery = GROW_EVERY): number {
  const MiB = 1024 * 1024;
  if (uploadCapacity(minimum, growEvery) >= bytes) return minimum;
  let low = Math.ceil(minimum / MiB);
  let high = MAX_PART_BYTES / MiB;
  if (uploadCapacity(high * MiB, growEvery) < bytes) return MAX_PART_BYTES;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (uploadCapacity(middle * MiB, growEvery) >= bytes) high = middle;
    else low = middle + 1;
  }
  return low * MiB;
}

/** The body needs more parts than an upload may have: the part size is too small for it. */
export class TooManyPartsError extends Error {
  override readonly name = 'TooManyPartsError';
  constructor(
    readonly maxParts: number,
    /** The size of the first parts. */
    readonly partSize: number,
    /** The most bytes the parts could hold. */
    readonly capacity: number,
  ) {
    super(
      `the object is larger than the ${capacity} bytes ${maxParts} parts starting at ${partSize} bytes hold`,
    );
  }
}
