/**
 * A stand-in Engine whose "dump tool" is a shell command, for pipeline tests that need a tool
 * to misbehave on cue (write bytes then exit 1, stall, produce nothing). Not a database engine:
 * the real engines are tested against the real servers.
 */
import type { Readable } from 'node:stream';
import type { DumpSession, Engine } from '../../core/engine.ts';
import type { DumpChecker } from '../../core/formats/checker.ts';
import { processOutput } from '../../core/process.ts';

/** A checker for stand-in output, which is no dump format: it finds every stream complete. */
const acceptAnything = (): DumpChecker => ({ write: () => {}, finish: () => ({ complete: true }) });

/**
 * An engine whose dump runs `sh -c <script>` and whose stats are `stats`; its output is judged
 * by `checker` (by default: not at all, the scripts write random bytes).
 */
export function standInEngine(
  script: string | (() => Readable),
  stats: Record<string, number> = { 't.rows': 1 },
  checker: () => DumpChecker = acceptAnything,
): Engine {
  return {
    name: 'postgres',
    dumpExtension: () => 'pgdump',
    // No dump format dumpvault knows: `verify` and restores do not judge what a script wrote
    // (random bytes are no pg_dump archive, and verify runs the format's checker on them).
    dumpFormat: () => 'stand-in',
    dumpChecker: checker,
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
