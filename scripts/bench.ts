/**
 * `npm run bench`: dumpvault against the dump tool alone and against the shell one-liner
 * operators already have, on a realistic dataset, in one interleaved run (issue 5).
 *
 * Builds the datasets if absent (scripts/bench/dataset.ts), writes each engine's raw dump once
 * (its size is the "raw dump bytes" every MB/s is of, and it warms the page cache), then runs
 * every scenario once per round, round after round, so drift on a shared machine spreads over
 * all rows instead of landing on one. Results: a table on stdout and, under bench/results/,
 * the same as JSON, Markdown and an SVG chart. `--size-gb N` runs the memory-flat check instead.
 * Everything is on loopback; every command has a deadline. See scripts/bench/options.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '../core/crypto/openpgp.ts';
import { svgChart } from './bench/chart.ts';
import { ensureFixedDataset, ensureMariadbDataset, ensurePostgresDataset } from './bench/dataset.ts';
import { type BenchEngine, type BenchEnvironment, createEnvironment } from './bench/environment.ts';
import {
  busyCores,
  cpuSample,
  killRunning,
  measure,
  runQuiet,
  serverCpuMs,
  waitForQuiet,
} from './bench/measure.ts';
import { memoryFlat } from './bench/memory-flat.ts';
import { type BenchOptions, parseBenchOptions, USAGE } from './bench/options.ts';
import { describePinning, type PinGroup, pinGroups, pinServers } from './bench/pinning.ts';
import {
  type BenchReport,
  checkTargets,
  cpuBudget,
  MB,
  markdownTable,
  oneCoreBreakdown,
  pinnedTable,
  type RunRecord,
  type ScenarioResult,
  summarize,
} from './bench/report.ts';
import {
  dropRestoreTargets,
  pinnedScenariosFor,
  type Scenario,
  scenariosFor,
  writeRawDump,
} from './bench/scenarios.ts';
import { startS3rver } from './emulators/s3rver.ts';

const root = path.resolve(import.meta.dirname, '..');
const log = (line: string) => process.stderr.write(`${line}\n`);

async function toolVersions(node: string): Promise<Record<string, string>> {
  const versions: Record<string, string> = {
    node: process.version,
    // dumpvault's rows run on `--node`, with the compile cache the task image fills.
    'dumpvault node': `${(await runQuiet(node, ['--version'], { timeoutMs: 10_000 })).trim()} (${node}), NODE_COMPILE_CACHE filled by --version first`,
  };
  const tools: [string, string[]][] = [
    ['pg_dump', ['--version']],
    ['mariadb-dump', ['--version']],
    ['gzip', ['--version']],
    ['zstd', ['--version']],
    ['gpg', ['--version']],
  ];
  for (const [tool, args] of tools) {
    versions[tool] = (await runQuiet(tool, args, { timeoutMs: 10_000 }).catch(() => 'missing')).split(
      '\n',
    )[0]!;
  }
  return versions;
}

function machine(): Record<string, unknown> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    freeMemoryGiB: +(freemem() / 2 ** 30).toFixed(1),
    loadAverage: loadavg(),
  };
}

/** The round's order: the same scenarios, rotated by the round number within each direction. */
function roundOrder(scenarios: readonly Scenario[], round: number): Scenario[] {
  const rotate = (list: Scenario[]) => {
    if (list.length === 0) return list;
    const k = round % list.length;
    return [...list.slice(k), ...list.slice(0, k)];
  };
  // Backups first: a round's restores read what its backups wrote.
  const byEngine = (engine: BenchEngine) => [
    ...rotate(scenarios.filter((s) => s.engine === engine && s.direction === 'backup')),
    ...rotate(scenarios.filter((s) => s.engine === engine && s.direction === 'restore')),
  ];
  return [...byEngine('postgres'), ...byEngine('mysql')];
}

/**
 * Restores read the newest backup of a dumpvault job and the shell peers' files: one untimed
 * run of each backup they depend on, so `--only pg/restore` works on its own.
 */
async function seedRestores(
  env: BenchEnvironment,
  all: readonly Scenario[],
  selected: readonly Scenario[],
  timeoutMs: number,
): Promise<void> {
  for (const restore of selected.filter((s) => s.direction === 'restore' && s.kind !== 'tool')) {
    const source = all.find(
      (s) =>
        s.engine === restore.engine &&
        s.direction === 'backup' &&
        s.kind === restore.kind &&
        s.codec === restore.codec &&
        s.pin?.name === restore.pin?.name &&
        (s.kind === 'shell' || s.id.endsWith('-s3')),
    );
    if (!source) continue;
    log(`  seeding ${restore.id} with ${source.id}`);
    await measure(source.argv[0]!, source.argv.slice(1), { timeoutMs, env: env.env, cwd: env.dir });
  }
}

/** Moves the pinned servers back; set while a pinned group runs, so an interrupt can undo it. */
let unpin: (() => Promise<void>) | undefined;

async function runBench(options: BenchOptions): Promise<void> {
  const startedAt = new Date();
  const shape = { scale: options.scale, filler: options.filler };
  const pgDb = await ensurePostgresDataset(shape, log);
  const myDb = options.mysql ? await ensureMariadbDataset(shape, log) : undefined;
  const fixedDb = await ensureFixedDataset();
  const env: BenchEnvironment = await createEnvironment(options.node, {
    postgres: pgDb,
    mysql: myDb,
    fixed: fixedDb,
  });
  // The compile cache filled the way the task image fills it (task-image/Dockerfile).
  await runQuiet(options.node, [path.join(root, 'dist/dumpvault.mjs'), '--version'], {
    timeoutMs: 60_000,
    env: env.env,
  });
  const engines: BenchEngine[] = myDb ? ['postgres', 'mysql'] : ['postgres'];
  const stop = async () => {
    await env.close().catch(() => {});
    await dropRestoreTargets(engines).catch(() => {});
  };
  process.once('SIGINT', () => {
    log('interrupted; cleaning up');
    killRunning();
    void (unpin?.() ?? Promise.resolve()).then(stop).then(() => process.exit(130));
  });
  try {
    // Deadlines: 5 MB/s is far below any healthy run of these commands.
    const datasets: Record<string, unknown> = {};
    const scenarios: Scenario[] = [];
    const groups: PinGroup[] = options.pinning ? pinGroups(cpus().length) : [];
    const rawBytes = new Map<BenchEngine, number>();
    for (const engine of engines) {
      const db = engine === 'postgres' ? pgDb : myDb!;
      const guess = options.scale * 10e6;
      const raw = await writeRawDump(env, engine, db, 120_000 + (guess / 5e6) * 1000);
      rawBytes.set(engine, raw.bytes);
      datasets[engine] = { database: db, ...shape, rawDumpBytes: raw.bytes };
      log(`${engine}: ${db}, ${(raw.bytes / MB).toFixed(0)} MB of raw dump`);
      scenarios.push(
        ...scenariosFor(env, engine, db, raw, { restore: options.restore, peerGpgCompression: false }),
        ...groups.flatMap((group) =>
          pinnedScenariosFor(env, engine, db, group, { restore: options.restore }),
        ),
      );
    }
    const selected = scenarios.filter(
      (s) => options.only.length === 0 || options.only.some((o) => s.id.includes(o)),
    );
    if (selected.length === 0) throw new Error(`--only ${options.only.join(', ')} matches no scenario`);
    const timeoutFor = (engine: BenchEngine) => 120_000 + ((rawBytes.get(engine) ?? 0) / 5e6) * 1000;
    await seedRestores(env, scenarios, selected, timeoutFor('postgres') * 2);
    const runs = new Map<string, RunRecord[]>(selected.map((s) => [s.id, []]));
    const cpuCount = cpus().length;
    for (let round = 0; round < options.runs; round++) {
      log(`round ${round + 1}/${options.runs}`);
      // Whole-machine rows first, then each pinned group with the servers moved off its cores.
      for (const group of [undefined, ...groups]) {
        const block = selected.filter((s) => s.pin?.name === group?.name);
        if (block.length === 0) continue;
        if (group) unpin = await pinServers(group);
        try {
          for (const scenario of roundOrder(block, round)) {
            await scenario.prepare?.();
            const background = await waitForQuiet(cpuCount, options.quietWaitMs);
            const load1 = loadavg()[0] ?? 0;
            const before = await cpuSample();
            const serverBefore = serverCpuMs();
            const benchBefore = process.cpuUsage();
            const run = await measure(scenario.argv[0]!, scenario.argv.slice(1), {
              timeoutMs: timeoutFor(scenario.engine),
              env: env.env,
              cwd: env.dir,
              sampleMemory: true,
              // The pinned rows' sampler runs off the client's cores: read its own CPU often.
              ...(scenario.pin ? { selfSampleMs: 10 } : {}),
            });
            const busy = busyCores(before, await cpuSample(), cpuCount);
            const bench = process.cpuUsage(benchBefore);
            const serverMs = serverCpuMs() - serverBefore;
            const bytes = scenario.kind === 'fixed' ? 0 : (rawBytes.get(scenario.engine) ?? 0);
            const record: RunRecord = {
              round,
              wallMs: run.wallMs,
              mbps: bytes / MB / (run.wallMs / 1000),
              peakRssBytes: run.peakRssBytes,
              peakTreeRssBytes: run.peakTreeRssBytes,
              storedBytes: await scenario.storedBytes?.(run),
              cpuMs: {
                command: run.cpuMs,
                self: run.selfCpuMs,
                server: serverMs,
                // s3rver runs in this process: its work is part of every upload and download.
                s3rver: (bench.user + bench.system) / 1000,
              },
              backgroundCores: background,
              busyCores: busy,
              load1,
            };
            runs.get(scenario.id)!.push(record);
            log(
              `  ${scenario.id.padEnd(32)} ${record.mbps.toFixed(1).padStart(6)} MB/s  ${(record.wallMs / 1000).toFixed(2).padStart(6)} s  rss ${(record.peakRssBytes / 2 ** 20).toFixed(0).padStart(4)} MiB  tree ${(record.peakTreeRssBytes / 2 ** 20).toFixed(0).padStart(4)} MiB  cpu ${(((run.cpuMs ?? 0) + serverMs + (bench.user + bench.system) / 1000) / 1000).toFixed(1)} s  busy ${busy.toFixed(2)}  background ${background.toFixed(2)}`,
            );
          }
        } finally {
          await unpin?.();
          unpin = undefined;
        }
      }
    }
    const results: ScenarioResult[] = summarize(
      selected.map((s) => ({
        id: s.id,
        engine: s.engine,
        direction: s.direction,
        kind: s.kind,
        codec: s.codec,
        label: s.label,
        isDefault: s.isDefault,
        pin: s.pin && { name: s.pin.name, clientCpus: s.pin.client.join(',') },
        // The fixed-cost row dumps one row: no MB/s, no ratios.
        rawBytes: s.kind === 'fixed' ? 0 : (rawBytes.get(s.engine) ?? 0),
        runs: runs.get(s.id) ?? [],
      })),
    );
    const noisy = results.flatMap((r) => r.runs.filter((x) => x.backgroundCores >= 0.3).map(() => r.id));
    const report: BenchReport = {
      formatVersion: 1,
      label: options.label,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: {
        ...machine(),
        pinning: groups.filter((g) => selected.some((s) => s.pin?.name === g.name)).map(describePinning),
        tools: await toolVersions(options.node),
      },
      options: { ...options, outDir: path.relative(root, options.outDir) },
      datasets,
      scenarios: results,
      targets: checkTargets(results),
      notes: [
        'MB = 10^6 bytes of raw dump (pg_dump --format=custom --compress=0 / mariadb-dump output); wall time of the whole command, process start to exit.',
        `Default codec (schema): ${env.defaultCodec}. Shell peers run gpg with --compress-algo none (gpg's own compression off: the fastest the peer can be).`,
        'dumpvault restore = verify pass (size, sha256, decrypt, decompress) + restore pass.',
        ...groups
          .filter((g) => selected.some((s) => s.pin?.name === g.name))
          .map(
            (g) =>
              `Pinned rows, ${describePinning(g)}; servers moved back afterwards. Their shell peer is the hand-built pipeline at dumpvault's default level (zstd single-threaded); "CPU s, dumpvault itself" is the dumpvault process without its children, read from /proc every 10 ms (up to 10 ms short).`,
          ),
        ...[cpuBudget(results, cpuCount)].filter((n) => n !== undefined),
        ...oneCoreBreakdown(results),
        noisy.length
          ? `Runs that started while other processes kept ≥ 0.3 cores busy: ${noisy.length} (${[...new Set(noisy)].join(', ')}).`
          : 'No run started while other processes kept ≥ 0.3 cores busy.',
      ],
    };
    await writeResults(options, report);
  } finally {
    await stop();
  }
}

async function writeResults(options: BenchOptions, report: BenchReport): Promise<void> {
  await mkdir(options.outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:]/g, '').replace(/\..*/, 'Z');
  const base = path.join(options.outDir, `${stamp}-${options.label}`);
  const pinned = report.scenarios.some((r) => r.pin);
  const whole = report.scenarios.some((r) => !r.pin);
  const table = [
    ...(pinned ? [`Pinned (${String(report.machine.cpuModel)}):\n\n${pinnedTable(report.scenarios)}`] : []),
    ...(whole ? [`Whole machine, nothing pinned:\n\n${markdownTable(report.scenarios)}`] : []),
  ].join('\n\n');
  const targets = report.targets.map((t) => `- ${t.met ? '✅' : '❌'} ${t.target}: ${t.value}`).join('\n');
  const title = `dumpvault bench, ${report.label}: ${String(report.machine.cpuModel)}, ${String(report.machine.cpus)} cores, ${report.startedAt.slice(0, 10)}`;
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.svg`, svgChart(report.scenarios, title));
  await writeFile(
    `${base}.md`,
    `# ${title}\n\n${table}\n\n${targets}\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`,
  );
  process.stdout.write(`\n${table}\n\n${targets}\n\nwritten: ${path.relative(root, base)}.{json,md,svg}\n`);
}

async function runMemoryFlat(options: BenchOptions, sizeGb: number): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-bench-mem-'));
  const s3 = await startS3rver({ buckets: ['bench'] });
  try {
    const pair = await generateKeyPair({ name: 'dumpvault bench', email: 'bench@dumpvault.invalid' });
    const keys = { publicKey: path.join(dir, 'pub.asc'), privateKey: path.join(dir, 'private.asc') };
    await writeFile(keys.publicKey, pair.publicKey);
    await writeFile(keys.privateKey, pair.privateKey, { mode: 0o600 });
    const startedAt = new Date().toISOString();
    const rows = await memoryFlat(sizeGb, s3, keys, log);
    const ratio = (mode: 'backup' | 'restore') => {
      const [small, large] = rows.filter((r) => r.mode === mode);
      return large && small ? large.maxRssBytes / small.maxRssBytes : Number.NaN;
    };
    const summary = {
      formatVersion: 1,
      kind: 'memory-flat',
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machine(),
      sizeGb,
      rows,
      rssRatio: { backup: ratio('backup'), restore: ratio('restore') },
      notes: [
        'Each phase runs scripts/bench/standin-run.ts in a process of its own, under tsx (the TypeScript loader), which adds ~20-30 MB of RSS compared with the bundled CLI: compare the ratio, not the absolute values.',
        'Dump: generate-dump.ts (pgbench-like rows, ~5x compressible); destination: s3rver with the default multipart settings (8 MiB parts, 2 in flight); restore = verify pass + restore pass into a sink.',
      ],
    };
    await mkdir(options.outDir, { recursive: true });
    const file = path.join(
      options.outDir,
      `${startedAt.replace(/[:]/g, '').replace(/\..*/, 'Z')}-memory-${sizeGb}gb.json`,
    );
    await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(
      `peak RSS at ${sizeGb} GB ÷ at ${sizeGb / 10} GB: backup ${summary.rssRatio.backup.toFixed(2)}, restore ${summary.rssRatio.restore.toFixed(2)}\nwritten: ${path.relative(root, file)}\n`,
    );
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2), root);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.build) {
    log('building dist/dumpvault.mjs');
    await runQuiet(process.execPath, [path.join(root, 'scripts/build-cli.mjs')], {
      timeoutMs: 180_000,
      cwd: root,
    });
  }
  if (options.sizeGb !== undefined) await runMemoryFlat(options, options.sizeGb);
  else await runBench(options);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
