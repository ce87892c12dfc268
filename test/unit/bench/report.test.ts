import { describe, expect, it } from 'vitest';
import { svgChart } from '../../../scripts/bench/chart.ts';
import {
  checkOneCoreTargets,
  cpuBudget,
  markdownTable,
  oneCoreBreakdown,
  pinnedTable,
  type RunRecord,
  summarize,
} from '../../../scripts/bench/report.ts';

const run = (wallMs: number, cpuMs: RunRecord['cpuMs'], busyCores = 1.5): RunRecord => ({
  round: 0,
  wallMs,
  mbps: 300 / (wallMs / 1000),
  peakRssBytes: 0,
  peakTreeRssBytes: 0,
  storedBytes: undefined,
  cpuMs,
  backgroundCores: 0,
  busyCores,
  load1: 0,
});

const row = (id: string, kind: 'tool' | 'dumpvault', isDefault: boolean, runs: RunRecord[]) => ({
  id,
  engine: 'postgres' as const,
  direction: 'backup' as const,
  kind,
  codec: undefined,
  label: id,
  isDefault,
  rawBytes: 300e6,
  runs,
});

describe('cpuBudget', () => {
  it('splits the default backup’s median CPU and bounds its ratio by total CPU ÷ cores', () => {
    const results = summarize([
      row('pg/backup/tool', 'tool', false, [run(2000, { command: 700, server: 1800, s3rver: 0 })]),
      row('pg/backup/dumpvault-zstd-s3', 'dumpvault', true, [
        run(4000, { command: 4000, self: 1600, server: 2000, s3rver: 1000 }, 1.7),
        run(4200, { command: 4400, self: 1800, server: 2400, s3rver: 1200 }, 1.8),
        run(4100, { command: 4200, self: 1700, server: 2200, s3rver: 1100 }, 1.75),
      ]),
    ]);
    const text = cpuBudget(results, 2);
    // Medians: self 1.7, children 4.2 − 1.7, server 2.2, s3rver 1.1; total 7.5 → ≥ 3.75 s on 2 cores.
    expect(text).toContain('dumpvault process 1.70 s');
    expect(text).toContain('its children (pg_dump, psql, zstd) 2.50 s');
    expect(text).toContain('database server 2.20 s');
    expect(text).toContain("s3rver and the bench's sampling 1.10 s");
    expect(text).toContain('7.50 s in all');
    expect(text).toContain('at least 3.75 s');
    expect(text).toContain(`${(2 / 3.75).toFixed(2)}× the tool alone's 2.00 s`);
    expect(text).toContain('kept 1.75 cores busy');
  });

  it('says nothing without both the default backup and the tool alone', () => {
    const onlyTool = summarize([
      row('pg/backup/tool', 'tool', false, [run(2000, { command: 700, server: 1, s3rver: 0 })]),
    ]);
    expect(cpuBudget(onlyTool, 2)).toBeUndefined();
  });
});

describe('pinned rows', () => {
  const pinned = (
    id: string,
    kind: 'tool' | 'shell' | 'dumpvault' | 'fixed',
    direction: 'backup' | 'restore',
    runs: RunRecord[],
  ) => ({
    ...row(id, kind === 'dumpvault' ? kind : 'tool', false, runs),
    kind,
    direction,
    pin: { name: 'one-core', clientCpus: '1' },
  });
  const oneCore = () =>
    summarize([
      // Whole-machine rows of the same engine and direction, much faster: never a pinned row's reference.
      row('pg/backup/tool', 'tool', false, [run(500, { command: 700, server: 1800, s3rver: 0 })]),
      {
        ...row('pg/backup/shell-gzip', 'tool', false, [run(600, { command: 900, server: 1, s3rver: 0 })]),
        kind: 'shell' as const,
      },
      pinned('pg/backup/one-core/tool', 'tool', 'backup', [
        run(1260, { command: 700, server: 1800, s3rver: 0 }),
      ]),
      pinned('pg/backup/one-core/shell-zstd', 'shell', 'backup', [
        run(1420, { command: 1400, server: 1800, s3rver: 0 }),
      ]),
      pinned('pg/backup/one-core/dumpvault-zstd-file', 'dumpvault', 'backup', [
        run(1500, { command: 1500, self: 300, server: 1800, s3rver: 0 }),
        run(1600, { command: 1500, self: 500, server: 1800, s3rver: 0 }),
        run(1550, { command: 1500, self: 350, server: 1800, s3rver: 0 }),
      ]),
      pinned('pg/restore/one-core/shell-zstd', 'shell', 'restore', [
        run(10_000, { command: 1, server: 1, s3rver: 0 }),
      ]),
      pinned('pg/restore/one-core/dumpvault-zstd-s3-skip-verify', 'dumpvault', 'restore', [
        run(12_000, { command: 1, self: 1, server: 1, s3rver: 0 }),
      ]),
    ]);

  it('compares a pinned row with the tool and the pipeline pinned the same way, not the whole-machine rows', () => {
    const results = oneCore();
    const backup = results.find((r) => r.id === 'pg/backup/one-core/dumpvault-zstd-file')!;
    expect(backup.vsTool).toBeCloseTo(1260 / 1550, 5);
    expect(backup.vsShell).toBeCloseTo(1420 / 1550, 5);
    const whole = results.find((r) => r.id === 'pg/backup/shell-gzip')!;
    expect(whole.vsTool).toBeCloseTo(500 / 600, 5);
  });

  it('checks the one-core targets: tool ratio, pipeline ratio, own CPU per 300 MB, RSS, restore', () => {
    const checks = checkOneCoreTargets(oneCore());
    const find = (text: string) => checks.find((c) => c.target.includes(text))!;
    // 1.26 / 1.55 = 0.81 ≥ 0.8
    expect(find('backup to file ≥ 0.8×')).toMatchObject({ met: true, value: '1.55 s vs 1.26 s = 0.81×' });
    // 1.42 / 1.55 = 0.92 ≥ 0.85
    expect(find('backup to file within 15 %').met).toBe(true);
    // Median own CPU 0.35 s for 300 MB: ≤ 0.4.
    expect(find("dumpvault's own process")).toMatchObject({
      met: true,
      value: '0.35 CPU-s for 300 MB = 0.35 per 300 MB',
    });
    expect(find('peak RSS').met).toBe(true);
    // 10 / 12 = 0.83 < 0.85
    expect(find('restore pass')).toMatchObject({ met: false, value: '12.00 s vs 10.00 s = 0.83×' });
  });

  it('puts the pinned rows, and only them, in the pinned table with dumpvault’s own CPU', () => {
    const table = pinnedTable(oneCore());
    expect(table).not.toContain('| PG backup, one-core: pg/backup/tool |');
    expect(table).toContain(
      '| PG backup, one-core: pg/backup/one-core/dumpvault-zstd-file | 1 | 1.55 (1.50–1.60) |',
    );
    expect(table).toMatch(/dumpvault-zstd-file \|.*\| 0\.35 \| 1\.50 \|/);
    expect(markdownTable(oneCore())).not.toContain('one-core');
  });

  // The one-row backup: 0.25 s of dumpvault's own CPU before any data (its MB/s would be nonsense).
  const withFixed = () =>
    summarize([
      ...oneCore(),
      {
        ...pinned('pg/backup/one-core/dumpvault-fixed-file', 'fixed', 'backup', [
          run(400, { command: 300, self: 250, server: 10, s3rver: 0 }),
        ]),
        rawBytes: 0,
      },
    ]);

  it('keeps the fixed-cost row out of the ratios, the targets and the chart, but shows its own CPU', () => {
    const results = withFixed();
    const fixed = results.find((r) => r.kind === 'fixed')!;
    // Bug caught: the one-row backup compared with the tool alone as if it had dumped 300 MB.
    expect(fixed.vsTool).toBeUndefined();
    expect(fixed.vsShell).toBeUndefined();
    expect(checkOneCoreTargets(results)).toEqual(checkOneCoreTargets(oneCore()));
    expect(svgChart(results, 't')).not.toContain('dumpvault-fixed-file');
    expect(pinnedTable(results)).toMatch(
      /dumpvault-fixed-file \| 1 \| 0\.40 \(0\.40–0\.40\) \| {2}\|.*\| 0\.25 \| 0\.30 \|/,
    );
  });

  it('says what stands in the way: own CPU split into fixed and streaming, and the CPU 0.8× allows on one core', () => {
    const [file] = oneCoreBreakdown(withFixed());
    // Own CPU median 0.35 = 0.25 fixed + 0.10 streaming 300 MB.
    expect(file).toContain(
      "to a file: dumpvault's own CPU 0.35 s = 0.25 s fixed (the one-row backup) + 0.10 s streaming 300 MB (0.10 per 300 MB",
    );
    // Whole command 1.50 CPU-s, children 1.15, pipeline 1.40; wall 1.55 s: busy 97 %.
    expect(file).toContain(
      "the whole command 1.50 CPU-s (the dump tool and zstd 1.15) against the hand-built pipeline's 1.40, 1.55 s wall: the core was busy 97 %",
    );
    // 1.26 / 0.8 = 1.575 s; minus the children's 1.15 → 0.43 s for dumpvault.
    expect(file).toContain(
      "0.8× the tool alone is 1.57 s, so the whole command may use at most 1.57 CPU-s on one core, leaving dumpvault's own process 0.43 s",
    );
    expect(oneCoreBreakdown(oneCore())[0]).not.toContain('fixed');
  });
});
