/**
 * The bench's results: medians and ratios per scenario, the issue's targets checked against
 * them, and the same numbers as a Markdown table, JSON and an SVG bar chart.
 */
import type { Direction, Kind } from './scenarios.ts';

/** MB as in the table: 10^6 bytes. */
export const MB = 1e6;

/** One measured run. */
export interface RunRecord {
  readonly round: number;
  readonly wallMs: number;
  readonly mbps: number;
  /** Peak RSS of the measured process itself (for dumpvault: the node process). */
  readonly peakRssBytes: number;
  /** Largest sampled RSS sum of the measured process and its children (dump tool, zstd, gpg…). */
  readonly peakTreeRssBytes: number;
  readonly storedBytes: number | undefined;
  /**
   * CPU time of the run, in ms: the command's process tree (GNU time), the database server's
   * processes, and s3rver (in the bench's own process); `self` is the measured process alone,
   * without its children (sampled from /proc, up to 0.1 s short).
   */
  readonly cpuMs: {
    readonly command: number | undefined;
    readonly self?: number | undefined;
    readonly server: number;
    readonly s3rver: number;
  };
  /** Cores other processes kept busy in the second before the run. */
  readonly backgroundCores: number;
  /** Cores busy machine-wide during the run (ours included). */
  readonly busyCores: number;
  readonly load1: number;
}

export interface ScenarioResult {
  readonly id: string;
  readonly engine: 'postgres' | 'mysql';
  readonly direction: Direction;
  readonly kind: Kind;
  readonly codec: string | undefined;
  readonly label: string;
  readonly isDefault: boolean;
  /** Pinned rows: the group (`one-core`, `two-core`) and the client's CPUs; absent for whole-machine rows. */
  readonly pin?: { readonly name: string; readonly clientCpus: string } | undefined;
  readonly rawBytes: number;
  readonly runs: RunRecord[];
  readonly medianMBps: number;
  readonly minMBps: number;
  readonly maxMBps: number;
  /** Median MB/s ÷ the dump (or restore) tool alone's. */
  readonly vsTool: number | undefined;
  /**
   * Median MB/s ÷ the shell peer's: `dump | gzip -6 | gpg -e` on the whole machine; in a
   * pinned group its own hand-built pipeline (`dump | zstd -1 | gpg -e`, pinned the same way).
   */
  readonly vsShell: number | undefined;
  readonly peakRssBytes: number;
  readonly peakTreeRssBytes: number;
  readonly storedBytes: number | undefined;
  /** Median CPU seconds (command tree + database server + s3rver) per GB of raw dump: robust to a busy machine. */
  readonly cpuSecondsPerGb: number;
}

/** A run's CPU time (command tree + database server + s3rver), in seconds per GB of raw dump. */
export function cpuSecondsPerGb(run: RunRecord, rawBytes: number): number {
  const ms = (run.cpuMs.command ?? 0) + run.cpuMs.server + run.cpuMs.s3rver;
  return ms / 1000 / (rawBytes / 1e9);
}

export interface TargetCheck {
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

export interface BenchReport {
  readonly formatVersion: 1;
  readonly label: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Record<string, unknown>;
  readonly options: Record<string, unknown>;
  readonly datasets: Record<string, unknown>;
  readonly scenarios: ScenarioResult[];
  readonly targets: TargetCheck[];
  readonly notes: string[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Fills in medians and ratios; the reference rows are the same engine and direction's tool and gzip peer. */
export function summarize(
  rows: readonly Omit<
    ScenarioResult,
    | 'medianMBps'
    | 'minMBps'
    | 'maxMBps'
    | 'vsTool'
    | 'vsShell'
    | 'peakRssBytes'
    | 'peakTreeRssBytes'
    | 'storedBytes'
    | 'cpuSecondsPerGb'
  >[],
): ScenarioResult[] {
  const base = rows.map((row) => {
    const mbps = row.runs.map((r) => r.mbps);
    const stored = row.runs.map((r) => r.storedBytes).filter((b): b is number => b !== undefined);
    return {
      ...row,
      medianMBps: median(mbps),
      minMBps: Math.min(...mbps),
      maxMBps: Math.max(...mbps),
      peakRssBytes: Math.max(...row.runs.map((r) => r.peakRssBytes)),
      peakTreeRssBytes: Math.max(...row.runs.map((r) => r.peakTreeRssBytes)),
      storedBytes: stored.length ? median(stored) : undefined,
      cpuSecondsPerGb:
        row.rawBytes > 0 ? median(row.runs.map((r) => cpuSecondsPerGb(r, row.rawBytes))) : Number.NaN,
    };
  });
  // References come from the row's own pinning: a pinned row is compared with pinned peers only.
  const find = (row: (typeof base)[number], match: (r: (typeof base)[number]) => boolean) =>
    base.find(
      (r) =>
        r.engine === row.engine && r.direction === row.direction && r.pin?.name === row.pin?.name && match(r),
    );
  return base.map((row) => {
    if (row.kind === 'fixed') return { ...row, vsTool: undefined, vsShell: undefined };
    const tool = find(row, (r) => r.kind === 'tool');
    const shell = find(row, (r) => (row.pin ? r.kind === 'shell' : r.id.endsWith('/shell-gzip')));
    return {
      ...row,
      vsTool: tool && row !== tool ? row.medianMBps / tool.medianMBps : undefined,
      vsShell: shell && row !== shell ? row.medianMBps / shell.medianMBps : undefined,
    };
  });
}

const MiB = 1024 * 1024;

/** A peak RSS in both units: MiB as every table shows it, MB (10^6) as the targets are stated. */
const rss = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB = ${(bytes / MB).toFixed(0)} MB`;

/** The issue's targets, for the default-settings rows (PostgreSQL, encrypted, s3rver). */
export function checkTargets(results: readonly ScenarioResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const backup = results.find((r) => r.engine === 'postgres' && r.direction === 'backup' && r.isDefault);
  const shell = results.find((r) => r.id === 'pg/backup/shell-gzip');
  const tool = results.find((r) => r.id === 'pg/backup/tool');
  if (backup && shell) {
    checks.push({
      target: 'backup ≥ 2× the shell peer (pg_dump | gzip -6 | gpg -e)',
      value: `${backup.medianMBps.toFixed(1)} vs ${shell.medianMBps.toFixed(1)} MB/s = ${backup.vsShell?.toFixed(2)}×`,
      met: (backup.vsShell ?? 0) >= 2,
    });
  }
  if (backup && tool) {
    checks.push({
      target: 'backup ≥ 0.6× the dump tool alone',
      value: `${backup.medianMBps.toFixed(1)} vs ${tool.medianMBps.toFixed(1)} MB/s = ${backup.vsTool?.toFixed(2)}×`,
      met: (backup.vsTool ?? 0) >= 0.6,
    });
  }
  if (backup) {
    checks.push({
      target: 'backup peak RSS ≤ 160 MB',
      value: rss(backup.peakRssBytes),
      met: backup.peakRssBytes <= 160 * MB,
    });
  }
  const restore = results.find((r) => r.engine === 'postgres' && r.direction === 'restore' && r.isDefault);
  if (restore) {
    checks.push({
      target: 'restore peak RSS ≤ 200 MB',
      value: rss(restore.peakRssBytes),
      met: restore.peakRssBytes <= 200 * MB,
    });
  }
  return [...checks, ...checkOneCoreTargets(results)];
}

/** Median of a row's runs' own CPU time of the measured process (without children), in seconds. */
export function selfCpuSeconds(row: ScenarioResult): number {
  return median(row.runs.map((r) => r.cpuMs.self ?? Number.NaN)) / 1000;
}

/** Median of a row's runs' CPU time of the whole command (the process and its children), in seconds. */
const treeCpuSeconds = (row: ScenarioResult) =>
  median(row.runs.map((r) => r.cpuMs.command ?? Number.NaN)) / 1000;

/** Issue 17's one-core targets: backup speed × the tool alone, own CPU-s per 300 MB of dump. */
const ONE_CORE = { vsTool: 0.8, ownCpuPer300Mb: 0.4 } as const;

/** Median wall time of a row's runs, in seconds. */
const wallSeconds = (row: ScenarioResult) => median(row.runs.map((r) => r.wallMs)) / 1000;

/**
 * Issue 17's one-core targets, for the pinned PostgreSQL rows: each dumpvault backup (to a
 * file and to s3rver) ≥ 0.8× the dump tool alone and within 15 % of the hand-built pipeline,
 * dumpvault's own process ≤ 0.4 CPU-s per 300 MB of dump, peak RSS ≤ 160 MB; the restore pass
 * within 15 % of `gpg -d | zstd -d | pg_restore`.
 */
export function checkOneCoreTargets(results: readonly ScenarioResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const rows = results.filter((r) => r.engine === 'postgres' && r.pin?.name === 'one-core');
  const x = (n: number | undefined) => `${n?.toFixed(2) ?? '?'}×`;
  for (const row of rows.filter((r) => r.kind === 'dumpvault' && r.direction === 'backup')) {
    const to = row.id.endsWith('-s3') ? 's3rver' : 'file';
    const tool = rows.find((r) => r.direction === 'backup' && r.kind === 'tool');
    const shell = rows.find((r) => r.direction === 'backup' && r.kind === 'shell');
    if (tool) {
      checks.push({
        target: `one core, backup to ${to} ≥ ${ONE_CORE.vsTool}× the dump tool alone`,
        value: `${wallSeconds(row).toFixed(2)} s vs ${wallSeconds(tool).toFixed(2)} s = ${x(row.vsTool)}`,
        met: (row.vsTool ?? 0) >= ONE_CORE.vsTool,
      });
    }
    if (shell) {
      checks.push({
        target: `one core, backup to ${to} within 15 % of ${shell.label}`,
        value: `${wallSeconds(row).toFixed(2)} s vs ${wallSeconds(shell).toFixed(2)} s = ${x(row.vsShell)}`,
        met: (row.vsShell ?? 0) >= 0.85,
      });
    }
    const self = selfCpuSeconds(row);
    const per300 = self / (row.rawBytes / 300e6);
    checks.push({
      target: `one core, backup to ${to}: dumpvault's own process ≤ ${ONE_CORE.ownCpuPer300Mb} CPU-s per 300 MB of dump`,
      value: `${self.toFixed(2)} CPU-s for ${(row.rawBytes / MB).toFixed(0)} MB = ${per300.toFixed(2)} per 300 MB`,
      met: per300 <= ONE_CORE.ownCpuPer300Mb,
    });
    checks.push({
      target: `one core, backup to ${to}: peak RSS ≤ 160 MB`,
      value: rss(row.peakRssBytes),
      met: row.peakRssBytes <= 160 * MB,
    });
  }
  for (const row of rows.filter((r) => r.kind === 'dumpvault' && r.direction === 'restore')) {
    const shell = rows.find((r) => r.direction === 'restore' && r.kind === 'shell');
    if (!shell) continue;
    checks.push({
      target: `one core, restore pass (--skip-verify) within 15 % of ${shell.label}`,
      value: `${wallSeconds(row).toFixed(2)} s vs ${wallSeconds(shell).toFixed(2)} s = ${x(row.vsShell)}`,
      met: (row.vsShell ?? 0) >= 0.85,
    });
  }
  return checks;
}

/**
 * The pinned rows as a Markdown table: wall time and MB/s, ratios to the tool alone and to the
 * hand-built pipeline pinned the same way, dumpvault's own CPU (without its children) next to
 * the whole tree's, and peak RSS.
 */
export function pinnedTable(results: readonly ScenarioResult[]): string {
  const lines = [
    '| scenario | client CPUs | s (median; min–max) | MB/s | × tool alone | × pipeline | stored / raw | CPU s, dumpvault itself | CPU s, whole command | peak RSS, dumpvault | peak RSS, whole tree |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results.filter((x) => x.pin)) {
    const walls = r.runs.map((x) => x.wallMs / 1000);
    const tree = treeCpuSeconds(r);
    const stored = r.storedBytes === undefined ? '' : `${((r.storedBytes / r.rawBytes) * 100).toFixed(1)} %`;
    const own = r.kind === 'dumpvault' || r.kind === 'fixed';
    lines.push(
      `| ${r.engine === 'postgres' ? 'PG' : 'MariaDB'} ${r.direction}, ${r.pin!.name}: ${r.label.replace(/\|/g, '\\|')} | ${r.pin!.clientCpus} | ${fmt(wallSeconds(r), 2)} (${fmt(Math.min(...walls), 2)}–${fmt(Math.max(...walls), 2)}) | ${r.kind === 'fixed' ? '' : fmt(r.medianMBps)} | ${fmt(r.vsTool, 2)} | ${fmt(r.vsShell, 2)} | ${stored} | ${own ? fmt(selfCpuSeconds(r), 2) : ''} | ${fmt(tree, 2)} | ${own ? `${(r.peakRssBytes / MiB).toFixed(0)} MiB` : ''} | ${(r.peakTreeRssBytes / MiB).toFixed(0)} MiB |`,
    );
  }
  return lines.join('\n');
}

/**
 * Where the default PostgreSQL backup's CPU time goes (medians over its runs), and the
 * shortest wall time that much work allows on `cores` cores even if every core were busy all
 * the time, as a ratio to the tool alone: a bound no tuning of the scheduling can beat.
 */
export function cpuBudget(results: readonly ScenarioResult[], cores: number): string | undefined {
  const backup = results.find((r) => r.engine === 'postgres' && r.direction === 'backup' && r.isDefault);
  const tool = results.find((r) => r.id === 'pg/backup/tool');
  if (!backup || !tool || backup.runs.length === 0 || tool.runs.length === 0) return undefined;
  const runs = backup.runs;
  const part = (pick: (run: RunRecord) => number | undefined) =>
    median(runs.map((r) => pick(r) ?? Number.NaN)) / 1000;
  const tree = part((r) => r.cpuMs.command);
  const self = part((r) => r.cpuMs.self);
  const server = part((r) => r.cpuMs.server);
  const s3rver = part((r) => r.cpuMs.s3rver);
  const total = median(runs.map((r) => (r.cpuMs.command ?? 0) + r.cpuMs.server + r.cpuMs.s3rver)) / 1000;
  const toolWall = median(tool.runs.map((r) => r.wallMs)) / 1000;
  const floor = total / cores;
  const s = (x: number) => `${x.toFixed(2)} s`;
  return (
    `CPU of the default PostgreSQL backup (medians): dumpvault process ${Number.isNaN(self) ? '?' : s(self)}, ` +
    `its children (pg_dump, psql, zstd) ${Number.isNaN(self) ? '?' : s(tree - self)}, database server ${s(server)}, ` +
    `s3rver and the bench's sampling ${s(s3rver)}: ${s(total)} in all. On ${cores} cores that work needs at least ` +
    `${s(floor)} even with every core busy all the time, ${(toolWall / floor).toFixed(2)}× the tool alone's ` +
    `${s(toolWall)}; the runs kept ${fmt(median(runs.map((r) => r.busyCores)), 2)} cores busy.`
  );
}

/**
 * What stands between the one-core PostgreSQL backups and their targets, in the run's own
 * numbers: dumpvault's own CPU split into the fixed cost (the one-row backup) and the
 * streaming, against the 0.4 CPU-s per 300 MB budget; the whole command's CPU against the
 * hand-built pipeline's; and, since one core does all the client work in turn, the CPU the
 * whole command may use for the wall time that 0.8× the tool alone allows.
 */
export function oneCoreBreakdown(results: readonly ScenarioResult[]): string[] {
  const rows = results.filter(
    (r) => r.engine === 'postgres' && r.direction === 'backup' && r.pin?.name === 'one-core',
  );
  const fixed = rows.find((r) => r.kind === 'fixed');
  const tool = rows.find((r) => r.kind === 'tool');
  const shell = rows.find((r) => r.kind === 'shell');
  const s = (x: number) => x.toFixed(2);
  return rows
    .filter((r) => r.kind === 'dumpvault' && r.runs.length > 0)
    .map((row) => {
      const self = selfCpuSeconds(row);
      const parts = [
        `one core, PostgreSQL backup to ${row.id.endsWith('-s3') ? 's3rver' : 'a file'}: dumpvault's own CPU ${s(self)} s`,
      ];
      if (fixed?.runs.length) {
        const fixedCost = selfCpuSeconds(fixed);
        const streaming = self - fixedCost;
        parts[0] += ` = ${s(fixedCost)} s fixed (the one-row backup) + ${s(streaming)} s streaming ${(row.rawBytes / MB).toFixed(0)} MB (${s(streaming / (row.rawBytes / 300e6))} per 300 MB; the budget is ${ONE_CORE.ownCpuPer300Mb} for both)`;
      }
      const tree = treeCpuSeconds(row);
      const children = tree - self;
      parts.push(
        `the whole command ${s(tree)} CPU-s (the dump tool and zstd ${s(children)})${shell ? ` against the hand-built pipeline's ${s(treeCpuSeconds(shell))}` : ''}, ${s(wallSeconds(row))} s wall: the core was busy ${((tree / wallSeconds(row)) * 100).toFixed(0)} % of it`,
      );
      if (tool) {
        const allowed = wallSeconds(tool) / ONE_CORE.vsTool;
        parts.push(
          `${ONE_CORE.vsTool}× the tool alone is ${s(allowed)} s, so the whole command may use at most ${s(allowed)} CPU-s on one core, leaving dumpvault's own process ${s(Math.max(0, allowed - children))} s beside its children`,
        );
      }
      return `${parts.join('; ')}.`;
    });
}

const fmt = (n: number | undefined, digits = 1) =>
  n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits);

/** The results as a Markdown table (printed, and pasted into docs/performance.md). */
export function markdownTable(results: readonly ScenarioResult[]): string {
  const lines = [
    '| scenario | MB/s (median; min–max) | × tool alone | × shell gzip | stored / raw | peak RSS, dumpvault | peak RSS, whole tree | CPU s per GB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results.filter((x) => !x.pin)) {
    // A pipe inside a cell would end it: the shell peers' labels are pipelines.
    const label = r.label.replace(/\|/g, '\\|');
    const name = `${r.isDefault ? '**' : ''}${label}${r.isDefault ? '** (default)' : ''}`;
    const stored = r.storedBytes === undefined ? '' : `${((r.storedBytes / r.rawBytes) * 100).toFixed(1)} %`;
    const rss = r.kind === 'dumpvault' ? `${(r.peakRssBytes / MiB).toFixed(0)} MiB` : '';
    lines.push(
      `| ${r.engine === 'postgres' ? 'PG' : 'MariaDB'} ${r.direction}: ${name} | ${fmt(r.medianMBps)} (${fmt(r.minMBps, 0)}–${fmt(r.maxMBps, 0)}) | ${fmt(r.vsTool, 2)} | ${fmt(r.vsShell, 2)} | ${stored} | ${rss} | ${(r.peakTreeRssBytes / MiB).toFixed(0)} MiB | ${fmt(r.cpuSecondsPerGb)} |`,
    );
  }
  return lines.join('\n');
}
