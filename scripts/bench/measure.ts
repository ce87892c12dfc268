/**
 * Running the commands the benchmark measures: every command gets a deadline (its whole
 * process group is killed when it passes), and a measured command's peak memory is sampled
 * from /proc while it runs.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { access, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Options of {@link runQuiet} and {@link measure}. */
export interface RunOptions {
  /** Killed (with its process group) after this long. */
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** The error of a command that failed or ran out of time; stderr's tail says why. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

const TAIL = 2000;

/** Runs a command to completion and returns its stdout; rejects on a non-zero exit or the deadline. */
export async function runQuiet(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<string> {
  const result = await measure(command, args, { ...options, sampleMemory: false });
  return result.stdout;
}

/** What one measured command did. */
export interface Measurement {
  readonly wallMs: number;
  /** Peak resident memory of the process itself (VmHWM), in bytes; 0 when not sampled. */
  readonly peakRssBytes: number;
  /** Largest sampled sum of VmRSS over the process and all its descendants, in bytes. */
  readonly peakTreeRssBytes: number;
  /** CPU time (user + system) of the command and every descendant it waited for, when GNU time is installed. */
  readonly cpuMs: number | undefined;
  /**
   * CPU time (user + system) of the measured process itself, without its children, as last
   * sampled from /proc (up to one sampling interval short: `selfSampleMs`); undefined when not
   * sampled.
   */
  readonly selfCpuMs: number | undefined;
  readonly stdout: string;
}

// /proc is read synchronously: a /proc file is generated on read, never waits on a disk, and
// the asynchronous calls (open, read, close through libuv's thread pool) cost ten times the CPU
// (4.4 vs 0.4 ms per sample of a 5-process tree), which the sampler would take from the run it
// measures.

/** A /proc file's text, or '' once the process is gone. */
function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Reads `VmHWM` / `VmRSS` of a process, in bytes (0 once it is gone). */
function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readProc(`/proc/${pid}/status`);
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  return { hwm: kb('VmHWM') * 1024, rss: kb('VmRSS') * 1024 };
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * A process's name and the fields of /proc/<pid>/stat after it (the name may hold spaces):
 * index 0 is the state (field 3), 11/12 utime/stime, 13/14 cutime/cstime, in clock ticks.
 */
function procStat(pid: number | string): { name: string; fields: string[] } | undefined {
  const text = readProc(`/proc/${pid}/stat`);
  if (!text) return undefined;
  const close = text.lastIndexOf(')');
  return { name: text.slice(text.indexOf('(') + 1, close), fields: text.slice(close + 2).split(' ') };
}

const ticksToMs = (...ticks: (string | undefined)[]) =>
  (ticks.reduce((sum, t) => sum + Number(t), 0) * 1000) / CLOCK_TICKS_PER_SECOND;

/** utime + stime of one process (not its children), in ms; undefined once it is gone. */
function ownCpuMsOf(pid: number): number | undefined {
  const stat = procStat(pid);
  return stat && ticksToMs(stat.fields[11], stat.fields[12]);
}

/** The pids below `pid`, from /proc/<pid>/task/<tid>/children (every thread can have children). */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const text = readProc(`/proc/${p}/task/${tid}/children`);
      for (const child of text.split(/\s+/).filter(Boolean).map(Number)) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** Process groups of the commands running now, so an interrupted bench can stop them. */
const running = new Set<number>();

/** Kills every measured command still running (with its process group). */
export function killRunning(): void {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** How often the process tree's memory is sampled, in ms. */
const MEMORY_SAMPLE_MS = 100;

/** GNU time, when installed: it reports the CPU time of the whole tree it waited for. */
const GNU_TIME = '/usr/bin/time';

/**
 * Runs `command` in its own process group and measures wall time, memory and CPU. With
 * `sampleMemory`, /proc is polled every 100 ms: VmHWM of the command's process itself (the
 * kernel's own high-water mark, so nothing between samples is missed) and the sum of VmRSS
 * over its process tree (sampled, so a short spike may be missed). The command runs under
 * GNU time when installed, for the CPU seconds of the whole tree (user + system).
 */
export async function measure(
  command: string,
  args: readonly string[],
  options: RunOptions & {
    readonly sampleMemory?: boolean;
    /**
     * How often the measured process's own CPU time is read (ms): its last reading is up to
     * this much of the process's life short. Tighter for the pinned rows, whose sampler runs
     * on a core the command does not use.
     * @default 100 (with the memory samples)
     */
    readonly selfSampleMs?: number;
  },
): Promise<Measurement> {
  const timed =
    options.sampleMemory === true &&
    (await access(GNU_TIME).then(
      () => true,
      () => false,
    ));
  const cpuFile = timed ? path.join(tmpdir(), `dumpvault-bench-cpu-${process.pid}-${Date.now()}`) : '';
  const argv = timed ? [GNU_TIME, '-f', '%U %S', '-o', cpuFile, command, ...args] : [command, ...args];
  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: true, // its own process group, so a timeout kills the whole pipeline it runs
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) running.add(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    if (stdout.length < 1 << 20) stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-TAIL);
  });
  let peakRss = 0;
  let peakTree = 0;
  let selfCpuMs: number | undefined;
  let sampling = Boolean(options.sampleMemory);
  const selfEvery = options.selfSampleMs ?? MEMORY_SAMPLE_MS;
  const sampler = (async () => {
    const pid = child.pid;
    if (pid === undefined) return;
    let own: number | undefined = timed ? undefined : pid;
    let lastTree = Number.NEGATIVE_INFINITY;
    while (sampling) {
      if (performance.now() - lastTree >= MEMORY_SAMPLE_MS) {
        lastTree = performance.now();
        const tree = descendantsOf(pid);
        // Under GNU time the measured process is time's only child.
        own ??= tree[0];
        let sum = 0;
        for (const p of timed ? tree : [pid, ...tree]) {
          const memory = memoryOf(p);
          sum += memory.rss;
          if (p === own && memory.hwm > peakRss) peakRss = memory.hwm;
        }
        if (sum > peakTree) peakTree = sum;
      }
      if (own !== undefined) selfCpuMs = ownCpuMsOf(own) ?? selfCpuMs;
      // VmHWM misses nothing between samples; a slower poll only disturbs the run less.
      await new Promise((r) => setTimeout(r, selfEvery));
    }
  })();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      // already gone
    }
  }, options.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve({ code: c, signal: s }));
    },
  ).finally(() => {
    clearTimeout(timer);
    if (child.pid !== undefined) running.delete(child.pid);
  });
  sampling = false;
  await sampler;
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  let cpuMs: number | undefined;
  if (timed) {
    const text = await readFile(cpuFile, 'utf8').catch(() => '');
    await rm(cpuFile, { force: true });
    const [user, system] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
    if (Number.isFinite(user) && Number.isFinite(system)) cpuMs = ((user ?? 0) + (system ?? 0)) * 1000;
  }
  const shown = `${command} ${args.join(' ')}`.slice(0, 300);
  if (timedOut) throw new CommandError(`${shown}: killed after ${options.timeoutMs / 1000} s\n${stderr}`);
  if (code !== 0) throw new CommandError(`${shown}: exited ${code ?? signal}\n${stderr}`);
  return { wallMs, peakRssBytes: peakRss, peakTreeRssBytes: peakTree, cpuMs, selfCpuMs, stdout };
}

/** Busy CPU, in cores, over an interval: from /proc/stat's first line. */
export interface CpuSample {
  readonly busy: number;
  readonly total: number;
}

/** The machine-wide busy and total jiffies so far. */
export async function cpuSample(): Promise<CpuSample> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Cores busy between two samples (0 … number of CPUs). */
export function busyCores(from: CpuSample, to: CpuSample, cpus: number): number {
  const total = to.total - from.total;
  return total > 0 ? ((to.busy - from.busy) / total) * cpus : 0;
}

/**
 * Waits until the rest of the machine leaves the CPUs alone (under `threshold` cores busy
 * over one second) or `maxWaitMs` passed; returns the last second's busy cores, which the
 * results record next to each run. Other engineers' test runs share these two cores.
 */
export async function waitForQuiet(cpus: number, maxWaitMs: number, threshold = 0.3): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const from = await cpuSample();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = busyCores(from, await cpuSample(), cpus);
    if (busy < threshold || Date.now() >= deadline) return busy;
  }
}

/**
 * CPU time so far of the database servers (processes named `postgres` or `mariadbd`), in ms:
 * their own time plus that of their reaped children, so a backend that served one dump and
 * exited is still counted (in its postmaster's total).
 */
export function serverCpuMs(): number {
  let ms = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat?.name !== 'postgres' && stat?.name !== 'mariadbd') continue;
    ms += ticksToMs(...stat.fields.slice(11, 15));
  }
  return ms;
}
