/**
 * The zstd hand-off of a restore (core/pipeline/restore-into.ts `decode`, core/process.ts
 * `HandOffReadable`): `zstd -d` writes straight into the restore tool's stdin pipe, so the
 * decompressed dump, the largest stream of a restore, never passes through Node (one core less:
 * docs/performance.md). Losing it leaves every restore correct, only slower, so nothing else
 * would notice. Real PostgreSQL, a file destination, passphrase encryption; stand-ins for
 * `zstd` and `pg_restore` record the descriptor they write to and read from (and, for a socket,
 * its peer: `ss -x`), then exec the real ones.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { restoreInto } from '../../../core/pipeline/restore-into.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { findOnPath } from '../../../task-image/engines/executables.ts';
import { PostgresEngine } from '../../../task-image/engines/index.ts';
import { DEFAULT_PG_LIB_ROOTS, locatePgTool } from '../../../task-image/engines/pg-tools.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';

const PASSPHRASE = 'restore hand-off test passphrase';

let work: string;
let source: string;
const targets: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dv-handoff-'));
  source = createPostgresDb();
}, TIMEOUT.setup);

afterAll(async () => {
  for (const db of [source, ...targets]) if (db) dropPostgresDb(db);
  if (work) await rm(work, { recursive: true, force: true });
});

/** What a stand-in saw on its descriptor, and the arguments it was started with. */
interface Seen {
  /** `readlink /proc/self/fd/<n>`, e.g. `socket:[38449]` or `pipe:[38449]`. */
  readonly end: string;
  /** For a socket, the inode of the socket at its other end (`ss -x`), else `-`. */
  readonly peer: string;
  readonly args: readonly string[];
}

/**
 * Writes a stand-in for `real` into `dir` that appends what it has on `fd` (see {@link Seen}) to
 * `log`, then execs `real` with the same descriptors. `$$` is the script's shell: the readlink
 * itself runs in a command substitution, whose fd 1 is the substitution's own pipe.
 */
async function recordingStandIn(
  dir: string,
  name: string,
  real: string,
  fd: 0 | 1,
  log: string,
): Promise<void> {
  const file = path.join(dir, name);
  await writeFile(
    file,
    [
      '#!/bin/sh',
      `end=$(readlink /proc/$$/fd/${fd})`,
      'ino=$(echo "$end" | tr -dc 0-9)',
      `peer=$(ss -xH | awk -v i="$ino" '$6 == i { print $8 }')`,
      `echo "$end \${peer:--} $*" >> '${log}'`,
      `exec '${real}' "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(file, 0o755);
}

async function seenBy(log: string): Promise<Seen[]> {
  return (await readFile(log, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => {
      const [end, peer, ...args] = line.split(' ');
      return { end: end!, peer: peer!, args };
    });
}

/**
 * The descriptor a writer's bytes arrive at: a pipe has one inode for both ends; child stdio
 * 'pipe' in Node (libuv) is a socketpair, whose two ends are two sockets.
 */
const readEndOf = (writer: Seen): string =>
  writer.end.startsWith('socket:') ? `socket:[${writer.peer}]` : writer.end;

function context(job: string): JobContext {
  const config = validateConfig({
    destinations: { local: { type: 'file', path: './out' } },
    jobs: [
      {
        name: job,
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${source}` },
        destinations: ['local'],
        compression: 'zstd',
        retention: { keepLast: 5 },
      },
    ],
  });
  const j = config.jobs[0]!;
  return {
    job: j,
    prefix: '',
    engine: new PostgresEngine(),
    source: { url: j.source.url },
    destinations: [createDestination('local', config.destinations.local!, { baseDir: work })],
    encryption: { type: 'passphrase', passphrase: PASSPHRASE },
    history: new LocalHistoryStore(path.join(work, 'state')),
    notifier: { publish: async () => {} },
    trigger: 'manual',
    investigate: () => `dumpvault history ${job}`,
  };
}

it(
  'hands zstd -d the restore tool’s stdin pipe: pg_restore reads the very pipe zstd writes, not one Node feeds (fails if decode() reads zstd’s output in Node and pipes it on)',
  async () => {
    const ctx = context(uniqueName('handoff').replace(/_/g, '-'));
    const { manifest } = await runBackup(ctx);
    expect(manifest.compression).toBe('zstd');
    expect(manifest.encryption.type).toBe('passphrase');
    const bin = path.join(work, 'bin');
    await mkdir(bin);
    const zstdLog = path.join(work, 'zstd.log');
    const pgRestoreLog = path.join(work, 'pg_restore.log');
    const realZstd = await findOnPath(['zstd']);
    if (!realZstd) throw new Error('zstd is not on PATH');
    const realPgRestore = await locatePgTool('pg_restore', undefined, {
      libRoots: DEFAULT_PG_LIB_ROOTS,
      env: process.env,
    });
    await recordingStandIn(bin, 'zstd', realZstd, 1, zstdLog);
    await recordingStandIn(bin, 'pg_restore', realPgRestore, 0, pgRestoreLog);
    const target = uniqueName('dvt_handoff');
    targets.push(target);
    // zstd is looked up on the children's PATH (core/child-env.ts), pg_restore through
    // PG_DUMP_PATH, the directory the engine takes its client tools from first.
    const engine = new PostgresEngine({ env: { ...process.env, PG_DUMP_PATH: bin } });
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${savedPath}`;
    let result: Awaited<ReturnType<typeof restoreInto>>;
    try {
      result = await restoreInto({
        engine,
        manifest,
        from: ctx.destinations[0]!,
        keys: { passphrase: PASSPHRASE },
        target: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${target}` },
        drop: false,
      });
    } finally {
      process.env.PATH = savedPath;
    }

    const zstdRuns = await seenBy(zstdLog);
    const pgRestoreRuns = await seenBy(pgRestoreLog);
    expect(zstdRuns.map((r) => r.args)).toEqual([['-d', '-q', '-c']]);
    expect(pgRestoreRuns).toHaveLength(1);
    expect(zstdRuns[0]!.end).toMatch(/^(pipe:\[\d+\]|socket:\[\d+\])$/);
    // zstd's stdout is pg_restore's stdin: its bytes arrive where pg_restore reads, not in Node.
    expect(pgRestoreRuns[0]!.end).toBe(readEndOf(zstdRuns[0]!));
    expect(result.comparison).toMatchObject({ matches: true, differences: [] });
    expect(result.rawBytes).toBe(manifest.rawBytes);
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(source));
  },
  TIMEOUT.roundTrips,
);
