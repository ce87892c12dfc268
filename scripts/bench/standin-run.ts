/**
 * One backup or restore of generated data through the real pipeline (runBackup / runRestore,
 * real compression, OpenPGP and destination), in a process of its own so its peak memory is
 * its own: the memory test and `npm run bench -- --size-gb N` start it and read the JSON line
 * it prints last. The dump "tool" is generate-dump.ts; the restore "tool" reads and discards.
 * Not a database engine: the real engines are benchmarked against the real servers.
 *
 *   node --import tsx scripts/bench/standin-run.ts backup  --bytes N --work DIR [--endpoint URL] [--compression C]
 *   node --import tsx scripts/bench/standin-run.ts restore --work DIR [--endpoint URL]
 *
 * With --endpoint, `--part-size-mib` and `--queue-size` override the destination's defaults.
 *
 * DIR holds the keys (`ops.pub.asc`, `ops.private.asc`), the history and, without --endpoint,
 * the file destination.
 */
import path from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { validateConfig } from '../../core/config/load.ts';
import { COMPRESSIONS, type Compression } from '../../core/config/schema.ts';
import { loadRecipients, readPrivateKey } from '../../core/crypto/openpgp.ts';
import type { DumpSession, Engine } from '../../core/engine.ts';
import { LocalHistoryStore } from '../../core/history/local.ts';
import { runBackup } from '../../core/pipeline/backup.ts';
import { resolveBackup } from '../../core/pipeline/catalog.ts';
import type { JobContext } from '../../core/pipeline/context.ts';
import { runRestore } from '../../core/pipeline/restore.ts';
import { processOutput } from '../../core/process.ts';
import { createDestination } from '../../core/storage/index.ts';

const GENERATOR = fileURLToPath(new URL('./generate-dump.ts', import.meta.url));
const STATS = { 'public.generated': 1 };
/** s3rver's built-in account (loopback only). */
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** An engine whose dump is `bytes` of generated rows and whose restore reads and discards. */
function generatedEngine(bytes: number): Engine {
  return {
    name: 'postgres',
    dumpExtension: () => 'pgdump',
    dumpFormat: () => 'stand-in', // no format verify knows: generated rows are not judged
    // Generated rows are no dump format: nothing to judge, but the bytes still pass the tap.
    dumpChecker: () => ({ write: () => {}, finish: () => ({ complete: true }) }),
    inspect: async () => ({
      serverVersion: '15.0',
      tool: { name: 'generate-dump (stand-in)', version: '1' },
      database: 'generated',
    }),
    stats: async () => STATS,
    dump(_conn, options): DumpSession {
      // Piped into `options.through` (zstd) as the real engines do, so the raw rows reach the
      // compressor without passing through this process.
      const output = processOutput(
        { command: process.execPath, args: ['--import', 'tsx', GENERATOR, String(bytes)] },
        undefined,
        options.through,
      );
      return { output, stats: Promise.resolve(STATS), piped: options.through !== undefined };
    },
    async restore(_target, input: Readable) {
      await pipeline(input, new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() }));
    },
    isEmpty: async () => true,
    createScratch: async (source) => source,
    dropScratch: async () => {},
  };
}

interface RunArgs {
  readonly mode: 'backup' | 'restore';
  readonly bytes: number;
  readonly work: string;
  readonly endpoint: string | undefined;
  readonly compression: Compression | undefined;
  readonly partSizeMiB: number | undefined;
  readonly queueSize: number | undefined;
}

function parse(argv: readonly string[]): RunArgs {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      bytes: { type: 'string' },
      work: { type: 'string' },
      endpoint: { type: 'string' },
      compression: { type: 'string' },
      'part-size-mib': { type: 'string' },
      'queue-size': { type: 'string' },
    },
  });
  const mode = positionals[0];
  if (mode !== 'backup' && mode !== 'restore') throw new Error('expected "backup" or "restore"');
  if (!values.work) throw new Error('--work <dir> is required');
  const compression = values.compression;
  if (compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new Error(`--compression: expected one of ${COMPRESSIONS.join(', ')}`);
  }
  return {
    mode,
    bytes: Number(values.bytes ?? 0),
    work: path.resolve(values.work),
    endpoint: values.endpoint,
    compression: compression as Compression | undefined,
    partSizeMiB: values['part-size-mib'] === undefined ? undefined : Number(values['part-size-mib']),
    queueSize: values['queue-size'] === undefined ? undefined : Number(values['queue-size']),
  };
}

async function context(args: RunArgs): Promise<JobContext> {
  const config = validateConfig({
    destinations: {
      out: args.endpoint
        ? {
            type: 's3',
            bucket: 'bench',
            endpoint: args.endpoint,
            ...(args.partSizeMiB ? { partSizeMiB: args.partSizeMiB } : {}),
            ...(args.queueSize ? { queueSize: args.queueSize } : {}),
          }
        : { type: 'file', path: './backups' },
    },
    encryption: { ops: { type: 'openpgp', recipients: ['ops.pub.asc'] } },
    jobs: [
      {
        name: 'generated',
        engine: 'postgres',
        source: { url: 'postgres://bench@127.0.0.1/generated' },
        destinations: ['out'],
        encryption: 'ops',
        // Omitted unless asked for, so the run uses the schema's default codec.
        ...(args.compression ? { compression: args.compression } : {}),
      },
    ],
  });
  const job = config.jobs[0]!;
  const destination = config.destinations.out!;
  return {
    job,
    prefix: '',
    engine: generatedEngine(args.bytes),
    source: { url: job.source.url },
    destinations: [
      createDestination('out', destination, { baseDir: args.work, s3Credentials: { ...S3RVER_CREDENTIALS } }),
    ],
    encryption: { type: 'openpgp', recipients: await loadRecipients(['ops.pub.asc'], args.work) },
    history: new LocalHistoryStore(path.join(args.work, 'state')),
    notifier: { publish: async () => {} },
    trigger: 'manual',
    investigate: () => 'bench',
  };
}

/** Runs the requested phase and prints one JSON line with its sizes, duration and peak RSS. */
async function main(argv: readonly string[]): Promise<void> {
  const args = parse(argv);
  const ctx = await context(args);
  const t0 = performance.now();
  let summary: Record<string, unknown>;
  if (args.mode === 'backup') {
    const result = await runBackup(ctx);
    summary = {
      rawBytes: result.manifest.rawBytes,
      storedBytes: result.manifest.object.bytes,
      compression: result.manifest.compression,
    };
  } else {
    const from = ctx.destinations[0]!;
    const manifest = await resolveBackup(from, '', 'generated', 'latest');
    const keys = { privateKeys: [await readPrivateKey(path.join(args.work, 'ops.private.asc'))] };
    await runRestore(ctx, { manifest, from, target: { kind: 'scratch' }, keys });
    summary = {
      rawBytes: manifest.rawBytes,
      storedBytes: manifest.object.bytes,
      compression: manifest.compression,
    };
  }
  const wallMs = performance.now() - t0;
  // resourceUsage().maxRSS is this process's own high-water mark (KiB), not its children's.
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ mode: args.mode, ...summary, wallMs, maxRssBytes })}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
