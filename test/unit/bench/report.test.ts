import { describe, expect, it } from 'vitest';
import { cpuBudget, type RunRecord, summarize } from '../../../scripts/bench/report.ts';

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
