/**
 * The in-stream completeness check of a backup: the raw dump passes a tap on its way to the
 * compressor (no second read), and the run fails before the upload is completed when the
 * dump's format says it is incomplete (DESIGN.md §4).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { ToolError } from '../errors.ts';
import type { DumpChecker, Verdict } from '../formats/checker.ts';
import type { RawTap } from '../process.ts';

/** A {@link RawTap} that remembers the checker's verdict. */
export interface CompletenessTap extends RawTap {
  /** The verdict, once `end` ran. */
  readonly verdict: () => Verdict | undefined;
}

/**
 * A tap feeding `checker`; its `end` throws a ToolError naming `tool` when the dump is
 * incomplete (`pg_dump exited 0 but its output is incomplete: …`). Calling `end` again
 * returns the same verdict.
 */
export function completenessTap(checker: DumpChecker, tool: string): CompletenessTap {
  let verdict: Verdict | undefined;
  return {
    write: (chunk) => checker.write(chunk),
    end: () => {
      verdict ??= checker.finish();
      if (!verdict.complete) {
        throw new ToolError(`${tool} exited 0 but its output is incomplete: ${verdict.missing}`);
      }
    },
    verdict: () => verdict,
  };
}

/**
 * The same tap as a pipeline stage, for dumps that pass through Node anyway (gzip, no
 * compression, engines that read their tool's output): it passes bytes on unchanged and fails
 * at the end of its input, before anything after it sees the end.
 */
export function completenessStage(tap: RawTap): Transform {
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      tap.write(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      Promise.resolve()
        .then(() => tap.end())
        .then(
          () => callback(),
          (err: unknown) => callback(err instanceof Error ? err : new ToolError(String(err))),
        );
    },
  });
}
