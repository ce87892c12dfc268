/**
 * Which process owns a local lock or a RUNNING run, recorded so a later process can tell
 * whether that owner is still running. A PID alone cannot: after a reboot, or in a container
 * where every run is PID 1, the same PID belongs to another process. On Linux the owner is
 * therefore the PID, the kernel's boot id and the process's start time (clock ticks after boot,
 * field 22 of /proc/<pid>/stat), which no other process shares; elsewhere only the PID is
 * known and only its liveness is checked.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** The process that holds a lock or runs a run. */
export interface ProcessOwner {
  readonly pid: number;
  /** For messages; a container gets a new one per start, so it does not decide liveness. */
  readonly hostname: string;
  /** /proc/sys/kernel/random/boot_id; absent where there is no /proc (non-Linux). */
  readonly bootId?: string;
  /** Start time of `pid` in clock ticks after boot (/proc/<pid>/stat field 22); absent without /proc. */
  readonly startTime?: number;
}

async function readBootId(): Promise<string | undefined> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The start time of `pid` (clock ticks after boot), undefined when the process does not exist
 * or there is no /proc. The command name (field 2) may hold spaces and parentheses, so fields
 * are counted from the last `)`: after it come field 3 (state) onwards, starttime is field 22.
 */
export async function processStartTime(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  return Number.isSafeInteger(value) ? value : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process, as a lock or a RUNNING run records it. */
export async function currentProcessOwner(): Promise<ProcessOwner> {
  const [bootId, startTime] = await Promise.all([readBootId(), processStartTime(process.pid)]);
  return {
    pid: process.pid,
    hostname: hostname(),
    ...(bootId !== undefined ? { bootId } : {}),
    ...(startTime !== undefined ? { startTime } : {}),
  };
}

/**
 * Whether the process `owner` describes has ended: the machine rebooted since (another boot
 * id), no process has its PID, or the process with its PID started at another time (the PID
 * was reused, e.g. PID 1 in the next container). Without a boot id or start time (a lock
 * written on a system without /proc) only the PID's liveness is checked.
 */
export async function isOwnerGone(owner: ProcessOwner): Promise<boolean> {
  if (owner.bootId !== undefined) {
    const bootId = await readBootId();
    if (bootId !== undefined && bootId !== owner.bootId) return true;
  }
  if (!isAlive(owner.pid)) return true;
  if (owner.startTime === undefined) return false;
  const startTime = await processStartTime(owner.pid);
  if (startTime === undefined) {
    // No /proc here (the lock came from a Linux host): the PID is alive, which is all we know.
    // With /proc, a missing entry means the process ended between the two checks.
    return (await readBootId()) !== undefined;
  }
  return startTime !== owner.startTime;
}

/** `value` as a ProcessOwner when it has that shape (read from a file another version wrote). */
export function asProcessOwner(value: unknown): ProcessOwner | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v['pid'] !== 'number' || !Number.isSafeInteger(v['pid']) || v['pid'] <= 0) return undefined;
  return {
    pid: v['pid'],
    hostname: typeof v['hostname'] === 'string' ? v['hostname'] : '',
    ...(typeof v['bootId'] === 'string' ? { bootId: v['bootId'] } : {}),
    ...(typeof v['startTime'] === 'number' ? { startTime: v['startTime'] } : {}),
  };
}
