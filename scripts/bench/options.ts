/**
 * `npm run bench -- [options]`: what to measure and how hard. Every size and time has a
 * bound, so a typo cannot fill the disk or keep a shared machine busy for an hour.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Filler } from './dataset.ts';

export interface BenchOptions {
  /** pgbench scale of both datasets (100 000 account rows per unit). */
  readonly scale: number;
  readonly filler: Filler;
  /** Measured runs per scenario (the median is reported). */
  readonly runs: number;
  /** Only scenarios whose id contains one of these. */
  readonly only: readonly string[];
  readonly mysql: boolean;
  readonly restore: boolean;
  /** Run the pinned rows (one-core, and two-core from 4 cores up): needs taskset and root. */
  readonly pinning: boolean;
  /** Memory-flat mode: back up and restore this many GB of generated data (and 1/10 of it). */
  readonly sizeGb: number | undefined;
  /** Where results go. */
  readonly outDir: string;
  /** Before each run, wait up to this long for other processes to leave the CPUs alone. */
  readonly quietWaitMs: number;
  /** Rebuild dist/dumpvault.mjs first, so the bundle measured is the code checked out. */
  readonly build: boolean;
  /**
   * The Node.js binary dumpvault's rows run on (default: the bench's own). The task image runs
   * Node 22 with its compile cache filled; the bench fills one the same way for every binary.
   */
  readonly node: string;
  readonly label: string;
}

export const USAGE = `npm run bench -- [options]

  --scale <n>        pgbench scale of the datasets (default 30: ~300 MB of pg_dump output)
  --filler <kind>    md5 (random md5 text, default) or blank (pgbench's own padding)
  --runs <n>         runs per scenario, interleaved; the median is reported (default 3)
  --quick            smoke run: scale 1, 3 runs
  --only <text>      only scenarios whose id contains <text> (repeatable), e.g. --only pg/backup;
                     --only one-core: only the rows pinned to one client core (quick check:
                     --only one-core --scale 5)
  --no-pinning       skip the pinned rows (they move the database servers with taskset)
  --no-mysql         skip MariaDB
  --no-restore       skip the restore direction
  --size-gb <n>      memory-flat run instead: n GB (and n/10 GB) of generated data through
                     backup and restore, peak RSS compared
  --out <dir>        results directory (default bench/results)
  --quiet-wait <s>   wait up to s seconds per run for other CPU load to pass (default 30)
  --no-build         measure the existing dist/dumpvault.mjs
  --node <path>      the node binary dumpvault runs on (default: the bench's own), e.g. a Node 22
                     like the task image's (its compile cache is filled first, as the image does)
  --label <text>     a word for the result file names
`;

function bounded(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new Error(`--${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Parses the bench's command line; throws with the usage text on a bad option. */
export function parseBenchOptions(argv: readonly string[], root: string): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scale: { type: 'string' },
      filler: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean' },
      only: { type: 'string', multiple: true },
      'no-mysql': { type: 'boolean' },
      'no-restore': { type: 'boolean' },
      'no-pinning': { type: 'boolean' },
      'size-gb': { type: 'string' },
      out: { type: 'string' },
      'quiet-wait': { type: 'string' },
      'no-build': { type: 'boolean' },
      node: { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const filler = values.filler ?? 'md5';
  if (filler !== 'md5' && filler !== 'blank') {
    throw new Error(`--filler: expected md5 or blank, got ${JSON.stringify(filler)}`);
  }
  const quick = Boolean(values.quick);
  // Scale 300 is ~3 GB of dump: beyond that use --size-gb, which needs no database.
  const scale = bounded('scale', values.scale, quick ? 1 : 30, 0.1, 300);
  return {
    scale,
    filler,
    runs: Math.round(bounded('runs', values.runs, 3, 1, 15)),
    only: values.only ?? [],
    mysql: !values['no-mysql'],
    restore: !values['no-restore'],
    pinning: !values['no-pinning'],
    sizeGb: values['size-gb'] === undefined ? undefined : bounded('size-gb', values['size-gb'], 10, 0.1, 50),
    outDir: path.resolve(root, values.out ?? 'bench/results'),
    quietWaitMs: bounded('quiet-wait', values['quiet-wait'], 30, 0, 600) * 1000,
    build: !values['no-build'],
    node: values.node ? path.resolve(values.node) : process.execPath,
    label: values.label ?? (quick ? 'quick' : `scale${scale}`),
  };
}
