/**
 * Compression stages for the middle of a `stream/promises.pipeline`. gzip runs in-process
 * (node:zlib) and writes a standard .gz; zstd runs the `zstd` executable so it can use every
 * core (-T0) and so its exit code, awaited through core/process.ts, fails the pipeline.
 * Decompression of damaged input always errors (IntegrityError); it never ends quietly with
 * partial output.
 */
import { type Duplex, Readable, type Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { Compression } from '../config/schema.ts';
import { ConfigError, IntegrityError, messageOf, ToolError } from '../errors.ts';
import {
  type HandOffReadable,
  processOutput,
  runCommand,
  type SpawnSpec,
  type ThroughSpec,
} from '../process.ts';
import { generatorStage } from '../streams/generator-stage.ts';

/**
 * Default levels: gzip 6 (zlib's own default) and zstd 1, not the zstd CLI's 3: on the
 * database dumps `npm run bench` measures, level 1 costs about half the CPU of level 3 and its
 * output was no larger (figures: docs/performance.md, "Settings that trade speed for size").
 * CPU is what limits a backup on a small task; higher levels stay available through
 * `compressionLevel`.
 */
export const DEFAULT_LEVEL = { gzip: 6, zstd: 1 } as const;
const LEVEL_RANGE = { gzip: [1, 9], zstd: [1, 19] } as const;

/** Options of the compression stages. */
export interface CodecOptions {
  /** The zstd executable. @default 'zstd' (looked up on PATH) */
  readonly zstdCommand?: string;
}

function checkedLevel(codec: 'gzip' | 'zstd', level: number | undefined): number {
  const value = level ?? DEFAULT_LEVEL[codec];
  const [min, max] = LEVEL_RANGE[codec];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `compression level for ${codec}: expected a whole number ${min}-${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Wraps an async-iterable source so that a failure of the source itself is remembered: a stage
 * that fails *because* its input failed then rethrows the input's error instead of its own
 * (the pipeline reports the root cause, e.g. "pg_dump exited with code 1").
 */
function trackSource(source: AsyncIterable<Buffer>): { readable: Readable; failure: () => unknown } {
  let failure: unknown;
  async function* tracked(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) yield chunk;
    } catch (err) {
      failure = err;
      throw err;
    }
  }
  return { readable: Readable.from(tracked(), { objectMode: false }), failure: () => failure };
}

/** A stage that pushes its input through `transform`, translating the transform's errors with `mapError`. */
function throughTransform(makeTransform: () => Transform, mapError: (err: unknown) => Error): Duplex {
  return generatorStage(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const { readable, failure } = trackSource(source);
    const transform = makeTransform();
    readable.once('error', (err) => transform.destroy(err));
    readable.pipe(transform);
    try {
      for await (const chunk of transform) yield chunk as Buffer;
    } catch (err) {
      throw failure() ?? mapError(err);
    } finally {
      readable.destroy();
      transform.destroy();
    }
  });
}

/** A stage that pushes its input through a child process's stdin and yields its stdout. */
function throughProcess(spec: SpawnSpec, mapError: (err: unknown) => Error): Duplex {
  return generatorStage(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const { readable, failure } = trackSource(source);
    try {
      yield* processOutput(spec, readable);
    } catch (err) {
      throw failure() ?? mapError(err);
    }
  });
}

function passthrough(): Duplex {
  return generatorStage(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    yield* source;
  });
}

const corruptGzip = (err: unknown): Error =>
  new IntegrityError(`the gzip data is corrupted or truncated (${messageOf(err)})`, { cause: err });

const corruptZstd = (err: unknown): Error =>
  err instanceof ToolError && /not installed|cannot start/.test(err.message)
    ? err
    : new IntegrityError(`the zstd data is corrupted or truncated (${messageOf(err)})`, { cause: err });

/**
 * A pipeline stage that compresses with `codec`: gzip (node:zlib, level 1-9, default 6),
 * zstd (`zstd -q -c -T0 -<level>`, level 1-19, default 1) or none (passthrough).
 * Throws a ConfigError at once for a level out of range.
 */
export function compressStage(codec: Compression, level?: number, options: CodecOptions = {}): Duplex {
  switch (codec) {
    case 'gzip': {
      const gzipLevel = checkedLevel('gzip', level);
      return throughTransform(
        () => createGzip({ level: gzipLevel }),
        (err) => new ToolError(`gzip compression failed: ${messageOf(err)}`, { cause: err }),
      );
    }
    case 'zstd': {
      const zstdLevel = checkedLevel('zstd', level);
      return throughProcess(
        { command: options.zstdCommand ?? 'zstd', args: ['-q', '-c', '-T0', `-${zstdLevel}`] },
        (err) => (err instanceof Error ? err : new ToolError(messageOf(err))),
      );
    }
    case 'none':
      return passthrough();
  }
}

/**
 * zstd's closing summary at -vv, e.g. `/*stdin*\ : 18.49%   (306998660 B => 56766407 B, /*stdout*\)`;
 * zstd 1.4 writes `(306998660 => 56766407 bytes, …)`.
 */
const ZSTD_SUMMARY = /\(\s*(\d+)\s*(?:B\s*)?=>\s*(\d+)\s*(?:B|bytes)\s*,/g;

/** How many bytes zstd read, from the summary it prints at -vv; throws a ToolError without one. */
export function zstdInputBytes(stderr: string): number {
  const last = [...stderr.matchAll(ZSTD_SUMMARY)].at(-1);
  if (!last) {
    throw new ToolError(
      'zstd did not report how many bytes it compressed (no summary line at -vv); install zstd 1.4 or later',
    );
  }
  return Number(last[1]);
}

/**
 * zstd as a process that reads the dump tool's stdout directly (`pg_dump | zstd`): the raw
 * dump never passes through Node, which leaves Node's CPU to encryption and upload. The same
 * output as {@link compressStage}; `onInputBytes` gets the raw byte count once zstd exited 0.
 */
export function zstdThrough(
  level: number | undefined,
  onInputBytes: (bytes: number) => void,
  options: CodecOptions = {},
): ThroughSpec {
  const zstdLevel = checkedLevel('zstd', level);
  return {
    command: options.zstdCommand ?? 'zstd',
    // -vv only adds a few lines at start and end (no progress: stderr is not a terminal),
    // among them the summary with exact byte counts.
    args: ['-vv', '-c', '-T0', `-${zstdLevel}`],
    onSuccess: (stderr) => onInputBytes(zstdInputBytes(stderr)),
  };
}

/**
 * Runs the zstd a backup would run on a few bytes, the way a backup runs it (`printf | zstd -vv`),
 * and returns its version: a zstd that is missing, fails, or reports no byte count fails here
 * with the same one-line error the backup would give.
 */
export async function probeZstd(level: number | undefined, options: CodecOptions = {}): Promise<string> {
  let counted: number | undefined;
  const output = processOutput(
    { command: 'printf', args: ['dumpvault'] },
    undefined,
    zstdThrough(level, (bytes) => (counted = bytes), options),
  );
  for await (const _chunk of output) {
    // drained: only the exit codes and the summary matter
  }
  if (counted !== 9) throw new ToolError(`zstd reported ${counted} bytes compressed instead of 9`);
  const version = await runCommand({ command: options.zstdCommand ?? 'zstd', args: ['--version'] });
  return /v(\d+\.\d+\.\d+)/.exec(version)?.[1] ?? version.trim();
}

/**
 * A pipeline stage that decompresses `codec` data. Corrupted, truncated or foreign input makes
 * the stage fail with an IntegrityError (a zstd that cannot be started: ToolError).
 */
export function decompressStage(codec: Compression, options: CodecOptions = {}): Duplex {
  switch (codec) {
    case 'gzip':
      // Concatenated members are read as one stream, as `gunzip` does. The default finishFlush
      // (Z_FINISH) is what makes a truncated stream fail with "unexpected end of file".
      return throughTransform(() => createGunzip(), corruptGzip);
    case 'zstd':
      return throughProcess(zstdDecompress(options), corruptZstd);
    case 'none':
      return passthrough();
  }
}

const zstdDecompress = (options: CodecOptions): SpawnSpec => ({
  command: options.zstdCommand ?? 'zstd',
  args: ['-d', '-q', '-c'],
});

/**
 * `zstd -d` of `source` as output a restore tool takes as its stdin (core/process.ts
 * `HandOffReadable`): zstd then writes into the tool's pipe and the decompressed dump, the
 * largest stream of a restore, never passes through Node (docs/performance.md, one core). Read
 * here instead, it is the output of {@link decompressStage}. A failure of `source` (a failed
 * decryption) is its error and stops zstd.
 */
export function zstdDecompressOutput(source: Readable, options: CodecOptions = {}): HandOffReadable {
  return processOutput(zstdDecompress(options), source, undefined, {
    handOff: true,
    mapError: corruptZstd,
  }) as HandOffReadable;
}
