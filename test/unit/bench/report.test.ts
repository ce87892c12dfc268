import { describe, expect, it } from 'vitest';
import {
  checkOneCoreTargets,
  cpuBudget,
  markdownTable,
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
    kind: 'tool' | 'shell' | 'dumpvault',
    direction: 'backup' | 'restore',
    runs: RunRecord[],
  ) => ({
    ...row(id, kind === 'shell' ? 'tool' : kind, false, runs),
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
});
