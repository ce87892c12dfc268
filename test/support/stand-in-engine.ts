/**
 * A stand-in Engine whose "dump tool" is a shell command, for pipeline tests that need a tool
 * to misbehave on cue (write bytes then exit 1, stall, produce nothing). Not a database engine:
 * the real engines are tested against the real servers.
 */
import type { Readable } from 'node:stream';
import type { DumpSession, Engine } from '../../core/engine.ts';
import { processOutput } from '../../core/process.ts';

/** An engine whose dump runs `sh -c <script>` and whose stats are `stats`. */
export function standInEngine(
  script: string | (() => Readable),
  stats: Record<string, number> = { 't.rows': 1 },
): Engine {
  return {
    name: 'postgres',
    dumpExtension: () => 'pgdump',
    dumpFormat: () => 'pg_dump-custom',
    inspect: async () => ({
      serverVersion: '15.0',
      tool: { name: 'stand-in', version: '1' },
      database: 'standin',
    }),
    stats: async () => stats,
    dump(_conn, options): DumpSession {
      // A script is piped into `options.through` (the compressor) as the real engines do.
      if (typeof script === 'string') {
        const output = processOutput({ command: 'sh', args: ['-c', script] }, undefined, options.through);
        return { output, stats: Promise.resolve(stats), piped: options.through !== undefined };
      }
      return { output: script(), stats: Promise.resolve(stats) };
    },
    restore: async () => {},
    isEmpty: async () => true,
    createScratch: async (source) => source,
    dropScratch: async () => {},
  };
}
