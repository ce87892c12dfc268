/**
 * What the bench measures, per engine: the dump tool alone, the shell peers an operator
 * would write (`dump | gzip -6 | gpg -e`, and with zstd), dumpvault with each codec to a file
 * and to s3rver, and the same three kinds in the restore direction.
 *
 * Every PostgreSQL command reads the same byte stream — `pg_dump --format=custom
 * --compress=0`, what dumpvault's engine runs — so the MB/s of all rows are of the same raw
 * bytes and the ratios compare like with like.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_LEVEL } from '../../core/pipeline/compress.ts';
import { MY_SERVER, mariadb, myUrl, pgUrl, psql } from './dataset.ts';
import type { BenchCodec, BenchDestination, BenchEngine, BenchEnvironment } from './environment.ts';
import { type Measurement, runQuiet } from './measure.ts';
import { type PinGroup, pinnedArgv } from './pinning.ts';

export type Direction = 'backup' | 'restore';
/** `fixed`: dumpvault backing up a one-row database, what a backup costs before its data (one-core only). */
export type Kind = 'tool' | 'shell' | 'dumpvault' | 'fixed';

export interface Scenario {
  /** `pg/backup/dumpvault-zstd-s3`: engine / direction / what. */
  readonly id: string;
  readonly engine: BenchEngine;
  readonly direction: Direction;
  readonly kind: Kind;
  readonly codec: BenchCodec | undefined;
  /** The command as an operator would type it, for the table. */
  readonly label: string;
  /** True for dumpvault with the schema's default codec to s3rver: the row the targets apply to. */
  readonly isDefault: boolean;
  readonly argv: readonly string[];
  /** Runs before each measured run, untimed (e.g. an empty restore target). */
  readonly prepare?: () => Promise<void>;
  /** Size of what was stored, read after a run. */
  readonly storedBytes?: (run: Measurement) => Promise<number | undefined>;
  /** Pinned rows: the client side on its own cores, the servers off them (scripts/bench/pinning.ts). */
  readonly pin?: PinGroup;
}

/** The raw dump of each engine, written once before the measurements (also warms the page cache). */
export interface RawDumps {
  readonly postgres: { readonly file: string; readonly bytes: number };
  readonly mysql: { readonly file: string; readonly bytes: number } | undefined;
}

const RESTORE_DB = 'dvbench_restore';
const ENGINE_PREFIX = { postgres: 'pg', mysql: 'my' } as const;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `bash -c` with pipefail, so a failing stage fails the measured run. */
function bash(script: string): string[] {
  return ['bash', '-c', `set -euo pipefail; ${script}`];
}

/** The dump command dumpvault's engines run, as shell words. */
export function dumpCommand(engine: BenchEngine, db: string): string {
  if (engine === 'postgres') {
    return `pg_dump --format=custom --compress=0 --no-password --dbname ${q(pgUrl(db))}`;
  }
  return [
    'mariadb-dump',
    `--host=${MY_SERVER.host}`,
    `--port=${MY_SERVER.port}`,
    `--user=${MY_SERVER.user}`,
    '--single-transaction --routines --triggers --events --hex-blob',
    '--default-character-set=utf8mb4 --no-tablespaces --skip-dump-date --max-allowed-packet=1G',
    db,
  ].join(' ');
}

/** The restore command dumpvault's engines run into the bench's restore database, as shell words. */
function restoreCommand(engine: BenchEngine): string {
  if (engine === 'postgres') {
    return `pg_restore --no-owner --exit-on-error --no-password --dbname ${q(pgUrl(RESTORE_DB))}`;
  }
  return `mariadb --host=${MY_SERVER.host} --port=${MY_SERVER.port} --user=${MY_SERVER.user} --batch --default-character-set=utf8mb4 --max-allowed-packet=1G ${RESTORE_DB}`;
}

/** Drops and recreates the restore target, empty. */
async function resetRestoreTarget(engine: BenchEngine): Promise<void> {
  if (engine === 'postgres') {
    await psql('postgres', `DROP DATABASE IF EXISTS ${RESTORE_DB} WITH (FORCE)`);
    await psql('postgres', `CREATE DATABASE ${RESTORE_DB}`);
  } else {
    await mariadb(undefined, `DROP DATABASE IF EXISTS ${RESTORE_DB}; CREATE DATABASE ${RESTORE_DB}`);
  }
}

/** Drops the restore targets at the end of a bench run. */
export async function dropRestoreTargets(engines: readonly BenchEngine[]): Promise<void> {
  for (const engine of engines) {
    if (engine === 'postgres') await psql('postgres', `DROP DATABASE IF EXISTS ${RESTORE_DB} WITH (FORCE)`);
    else await mariadb(undefined, `DROP DATABASE IF EXISTS ${RESTORE_DB}`);
  }
}

/** Writes each engine's raw dump to the bench directory and returns its size. */
export async function writeRawDump(
  env: BenchEnvironment,
  engine: BenchEngine,
  db: string,
  timeoutMs: number,
): Promise<{ file: string; bytes: number }> {
  const file = path.join(env.dir, engine === 'postgres' ? 'raw.pgdump' : 'raw.sql');
  await runQuiet('bash', ['-c', `set -euo pipefail; ${dumpCommand(engine, db)} > ${q(file)}`], { timeoutMs });
  return { file, bytes: (await stat(file)).size };
}

const COMPRESS = { gzip: 'gzip -6', zstd: 'zstd -q -3 -T0' } as const;
const DECOMPRESS = { gzip: 'gunzip', zstd: 'zstd -q -d' } as const;

/**
 * The scenarios for one engine. `peerGpgCompression` keeps gpg's own compression on in the
 * shell peers (its default); off, the peers are as fast as they can be.
 */
export function scenariosFor(
  env: BenchEnvironment,
  engine: BenchEngine,
  db: string,
  raw: { file: string; bytes: number },
  options: { restore: boolean; peerGpgCompression: boolean },
): Scenario[] {
  const p = ENGINE_PREFIX[engine];
  const cli = path.resolve(import.meta.dirname, '../../dist/dumpvault.mjs');
  const dump = dumpCommand(engine, db);
  const gpgEncrypt = `gpg --batch --quiet --trust-model always ${options.peerGpgCompression ? '' : '--compress-algo none '}--encrypt --recipient ${env.fingerprint}`;
  const peerFile = (codec: BenchCodec) => path.join(env.dir, `shell-${p}.${codec}.gpg`);
  const fileSize = (file: string) => async () => (await stat(file)).size;
  const dumpvaultBytes = async (run: Measurement) => {
    const parsed = JSON.parse(run.stdout) as { bytes?: number };
    return parsed.bytes;
  };
  const base = { engine, isDefault: false } as const;
  const out: Scenario[] = [
    {
      ...base,
      id: `${p}/backup/tool`,
      direction: 'backup',
      kind: 'tool',
      codec: undefined,
      label: `${engine === 'postgres' ? 'pg_dump -Fc -Z0' : 'mariadb-dump'} > /dev/null`,
      argv: bash(`${dump} > /dev/null`),
    },
  ];
  for (const codec of ['gzip', 'zstd'] as const) {
    out.push({
      ...base,
      id: `${p}/backup/shell-${codec}`,
      direction: 'backup',
      kind: 'shell',
      codec,
      label: `dump | ${COMPRESS[codec].replace(' -q', '')} | gpg -e > file`,
      argv: bash(`${dump} | ${COMPRESS[codec]} | ${gpgEncrypt} > ${q(peerFile(codec))}`),
      storedBytes: fileSize(peerFile(codec)),
    });
  }
  for (const codec of ['gzip', 'zstd'] as const) {
    for (const destination of ['file', 's3'] as const satisfies readonly BenchDestination[]) {
      out.push({
        ...base,
        id: `${p}/backup/dumpvault-${codec}-${destination}`,
        direction: 'backup',
        kind: 'dumpvault',
        codec,
        isDefault: destination === 's3' && codec === env.defaultCodec,
        label: `dumpvault backup (${codec} ${DEFAULT_LEVEL[codec]}, openpgp) -> ${destination === 's3' ? 's3rver' : 'file'}`,
        argv: [
          env.node,
          cli,
          'backup',
          env.jobName(engine, codec, destination),
          '--config',
          env.configFile,
          '--json',
        ],
        storedBytes: dumpvaultBytes,
      });
    }
  }
  if (!options.restore) return out;
  const restore = restoreCommand(engine);
  const reset = () => resetRestoreTarget(engine);
  out.push({
    ...base,
    id: `${p}/restore/tool`,
    direction: 'restore',
    kind: 'tool',
    codec: undefined,
    label: `${engine === 'postgres' ? 'pg_restore' : 'mariadb'} < raw dump`,
    argv: bash(`${restore} < ${q(raw.file)}`),
    prepare: reset,
  });
  for (const codec of ['gzip', 'zstd'] as const) {
    out.push({
      ...base,
      id: `${p}/restore/shell-${codec}`,
      direction: 'restore',
      kind: 'shell',
      codec,
      label: `gpg -d | ${DECOMPRESS[codec].replace(' -q', '')} | ${engine === 'postgres' ? 'pg_restore' : 'mariadb'}`,
      argv: bash(`gpg --batch --quiet --decrypt ${q(peerFile(codec))} | ${DECOMPRESS[codec]} | ${restore}`),
      prepare: reset,
    });
  }
  const target = engine === 'postgres' ? pgUrl(RESTORE_DB) : myUrl(RESTORE_DB);
  const dumpvaultRestore = (codec: BenchCodec, skipVerify: boolean): Scenario => ({
    ...base,
    id: `${p}/restore/dumpvault-${codec}-s3${skipVerify ? '-skip-verify' : ''}`,
    direction: 'restore',
    kind: 'dumpvault',
    codec,
    isDefault: codec === env.defaultCodec && !skipVerify,
    label: `dumpvault restore (${codec}, openpgp) <- s3rver: ${skipVerify ? 'restore pass only (--skip-verify)' : 'verify pass + restore pass'}`,
    argv: [
      env.node,
      cli,
      'restore',
      env.jobName(engine, codec, 's3'),
      'latest',
      '--to',
      target,
      '--key',
      env.privateKey,
      '--config',
      env.configFile,
      '--json',
      ...(skipVerify ? ['--skip-verify'] : []),
    ],
    prepare: reset,
  });
  out.push(dumpvaultRestore('gzip', false), dumpvaultRestore('zstd', false));
  // What the verify pass costs: the default codec without it.
  out.push(dumpvaultRestore(env.defaultCodec === 'gzip' ? 'gzip' : 'zstd', true));
  return out;
}

/**
 * The pinned rows for one engine (issue 17): the dump tool alone, the hand-built pipeline
 * (`dump | zstd -1 | gpg -e`: single-threaded zstd at dumpvault's default level) and dumpvault
 * with the default codec to a file and to s3rver; restoring, the pipeline reversed against
 * dumpvault's restore pass alone (`--skip-verify`). Every command runs under `taskset -c`.
 */
export function pinnedScenariosFor(
  env: BenchEnvironment,
  engine: BenchEngine,
  db: string,
  group: PinGroup,
  options: { restore: boolean },
): Scenario[] {
  const p = ENGINE_PREFIX[engine];
  const cli = path.resolve(import.meta.dirname, '../../dist/dumpvault.mjs');
  const dump = dumpCommand(engine, db);
  const codec = env.defaultCodec === 'gzip' ? 'gzip' : 'zstd';
  const compress = codec === 'zstd' ? `zstd -q -${DEFAULT_LEVEL.zstd}` : `gzip -${DEFAULT_LEVEL.gzip}`;
  const gpgEncrypt = `gpg --batch --quiet --trust-model always --compress-algo none --encrypt --recipient ${env.fingerprint}`;
  const peerFile = path.join(env.dir, `shell-${p}-${group.name}.${codec}.gpg`);
  const tool = engine === 'postgres' ? 'pg_dump -Fc -Z0' : 'mariadb-dump';
  const base = { engine, isDefault: false, pin: group } as const;
  const id = (direction: Direction, what: string) => `${p}/${direction}/${group.name}/${what}`;
  const out: Scenario[] = [
    {
      ...base,
      id: id('backup', 'tool'),
      direction: 'backup',
      kind: 'tool',
      codec: undefined,
      label: `${tool} > /dev/null`,
      argv: pinnedArgv(group, bash(`${dump} > /dev/null`)),
    },
    {
      ...base,
      id: id('backup', `shell-${codec}`),
      direction: 'backup',
      kind: 'shell',
      codec,
      label: `${tool} | ${compress.replace(' -q', '')} | gpg -e > file`,
      argv: pinnedArgv(group, bash(`${dump} | ${compress} | ${gpgEncrypt} > ${q(peerFile)}`)),
      storedBytes: async () => (await stat(peerFile)).size,
    },
  ];
  for (const destination of ['file', 's3'] as const satisfies readonly BenchDestination[]) {
    out.push({
      ...base,
      id: id('backup', `dumpvault-${codec}-${destination}`),
      direction: 'backup',
      kind: 'dumpvault',
      codec,
      label: `dumpvault backup (${codec} ${DEFAULT_LEVEL[codec]}, openpgp) -> ${destination === 's3' ? 's3rver' : 'file'}`,
      argv: pinnedArgv(group, [
        env.node,
        cli,
        'backup',
        env.jobName(engine, codec, destination),
        '--config',
        env.configFile,
        '--json',
      ]),
      storedBytes: async (run) => (JSON.parse(run.stdout) as { bytes?: number }).bytes,
    });
  }
  if (engine === 'postgres' && group.name === 'one-core') {
    out.push({
      ...base,
      id: id('backup', 'dumpvault-fixed-file'),
      direction: 'backup',
      kind: 'fixed',
      codec,
      label: `dumpvault backup (${codec} ${DEFAULT_LEVEL[codec]}, openpgp) of a one-row database -> file: the fixed cost`,
      argv: pinnedArgv(group, [env.node, cli, 'backup', env.fixedJob, '--config', env.configFile, '--json']),
    });
  }
  if (!options.restore) return out;
  const restore = restoreCommand(engine);
  const reset = () => resetRestoreTarget(engine);
  const target = engine === 'postgres' ? pgUrl(RESTORE_DB) : myUrl(RESTORE_DB);
  out.push(
    {
      ...base,
      id: id('restore', `shell-${codec}`),
      direction: 'restore',
      kind: 'shell',
      codec,
      label: `gpg -d | ${DECOMPRESS[codec].replace(' -q', '')} | ${engine === 'postgres' ? 'pg_restore' : 'mariadb'}`,
      argv: pinnedArgv(
        group,
        bash(`gpg --batch --quiet --decrypt ${q(peerFile)} | ${DECOMPRESS[codec]} | ${restore}`),
      ),
      prepare: reset,
    },
    {
      ...base,
      id: id('restore', `dumpvault-${codec}-s3-skip-verify`),
      direction: 'restore',
      kind: 'dumpvault',
      codec,
      label: `dumpvault restore (${codec}, openpgp) <- s3rver: restore pass only (--skip-verify)`,
      argv: pinnedArgv(group, [
        env.node,
        cli,
        'restore',
        env.jobName(engine, codec, 's3'),
        'latest',
        '--to',
        target,
        '--key',
        env.privateKey,
        '--config',
        env.configFile,
        '--json',
        '--skip-verify',
      ]),
      prepare: reset,
    },
  );
  return out;
}
