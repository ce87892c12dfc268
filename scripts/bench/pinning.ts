/**
 * The pinned rows of the bench (issue 17): the client side — the measured command and every
 * process it starts (dumpvault, the dump tool, zstd, gpg) — on a few cores of its own, the
 * database servers and s3rver (which runs inside the bench's own process) on the others, the
 * way a 1-vCPU Fargate task sees a database and S3 that live elsewhere.
 *
 * The client is started under `taskset -c <cores>` (its children inherit the mask); the
 * servers are moved with `taskset -a -p -c <cores> <pid>` (every thread; backends forked
 * later inherit the postmaster's mask) and moved back to their old masks afterwards.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { runQuiet } from './measure.ts';

/** A group of pinned rows: how many cores the client side gets. */
export interface PinGroup {
  /** `one-core` / `two-core`: part of every scenario id in the group, so `--only one-core` selects it. */
  readonly name: string;
  /** Cores the measured command and its children run on. */
  readonly client: readonly number[];
  /** Cores the database servers, s3rver and the bench itself are moved to. */
  readonly server: readonly number[];
}

const NAMES: Record<number, string> = { 1: 'one-core', 2: 'two-core' };

/**
 * The pinned groups this machine can run: one client core whenever there is a core left for
 * the servers, and two client cores from four cores up (so the servers keep two). The client
 * starts at core 1, leaving core 0 — where interrupts and stray work tend to land — to the servers.
 */
export function pinGroups(cpuCount: number): PinGroup[] {
  const groups: PinGroup[] = [];
  for (const clientCores of [1, 2]) {
    if (cpuCount < (clientCores === 1 ? 2 : 4)) continue;
    const client = Array.from({ length: clientCores }, (_, i) => i + 1);
    const server = Array.from({ length: cpuCount }, (_, i) => i).filter((c) => !client.includes(c));
    groups.push({ name: NAMES[clientCores]!, client, server });
  }
  return groups;
}

/** A core list as taskset and the report spell it: `1`, `1,2`, `0,3,4`. */
export function cpuList(cores: readonly number[]): string {
  return cores.join(',');
}

/** How a group is pinned, in words for the report. */
export function describePinning(group: PinGroup): string {
  return `${group.name}: client (the command and its children) on CPU ${cpuList(group.client)} (taskset -c), database servers, s3rver and the bench on CPU ${cpuList(group.server)} (taskset -a -p)`;
}

/** `argv` started under `taskset -c <client cores>`: taskset execs the command, so the pid stays the command's. */
export function pinnedArgv(group: PinGroup, argv: readonly string[]): string[] {
  return ['taskset', '-c', cpuList(group.client), ...argv];
}

/** The database server processes running now (`postgres`, `mariadbd`, `mysqld`), by /proc. */
export function serverPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat = '';
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (name === 'postgres' || name === 'mariadbd' || name === 'mysqld') pids.push(Number(entry));
  }
  return pids;
}

/** The hex mask in `taskset -p` output ("pid 42's current affinity mask: 3"). */
export function parseAffinityMask(output: string): string {
  const mask = output.match(/affinity mask:\s*([0-9a-f,]+)/i)?.[1];
  if (!mask) throw new Error(`cannot read an affinity mask from taskset: ${JSON.stringify(output.trim())}`);
  return mask;
}

/**
 * Moves the database servers and this process (s3rver's host) to the group's server cores and
 * returns a function that moves each back to the mask it had. Fails loudly when a server
 * cannot be moved (taskset missing, not allowed): a pinned row whose server shares the
 * client's core would measure something else.
 */
export async function pinServers(group: PinGroup): Promise<() => Promise<void>> {
  const old = new Map<number, string>();
  const restore = async () => {
    for (const [pid, mask] of old) {
      // A backend that served one run may be gone already; nothing to restore there.
      await runQuiet('taskset', ['-a', '-p', mask, String(pid)], { timeoutMs: 10_000 }).catch(() => {});
    }
  };
  try {
    for (const pid of [process.pid, ...serverPids()]) {
      let mask: string;
      try {
        mask = parseAffinityMask(await runQuiet('taskset', ['-p', String(pid)], { timeoutMs: 10_000 }));
      } catch (err) {
        if (pid !== process.pid && !isAlive(pid)) continue; // exited between the listing and now
        throw err;
      }
      old.set(pid, mask);
      try {
        await runQuiet('taskset', ['-a', '-p', '-c', cpuList(group.server), String(pid)], {
          timeoutMs: 10_000,
        });
      } catch (err) {
        if (pid !== process.pid && !isAlive(pid)) continue;
        throw err;
      }
    }
  } catch (err) {
    await restore();
    throw new Error(
      `cannot pin the database servers for the ${group.name} rows (needs taskset and the right to move their processes; --no-pinning skips these rows): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return restore;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
