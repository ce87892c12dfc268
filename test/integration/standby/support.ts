/**
 * Helpers for the standby end-to-end tests: the newest stored object of a job (to corrupt it),
 * the job's history and alerts, and a reader that queries the standby in a loop while it is
 * swapped, recording every answer and every error.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';

/** Flips bytes in the middle of the newest data object of `job` (its manifest left as it was). */
export async function corruptNewestObject(dir: string, job: string): Promise<string> {
  const folder = path.join(dir, 'backups', job);
  const data = (await readdir(folder)).filter((f) => !f.endsWith('.manifest.json')).sort();
  const file = path.join(folder, data.at(-1)!);
  const bytes = await readFile(file);
  for (let i = Math.floor(bytes.length / 2); i < Math.floor(bytes.length / 2) + 16 && i < bytes.length; i++) {
    bytes[i] = bytes[i]! ^ 0xff;
  }
  await writeFile(file, bytes);
  return file;
}

export async function standbyRuns(dir: string, job: string): Promise<HistoryItem[]> {
  return (await new LocalHistoryStore(path.join(dir, '.dumpvault')).list(job)).filter(
    (i) => i.kind === 'standby',
  );
}

export async function alerts(dir: string): Promise<{ kind: string; status: string; subject: string }[]> {
  let text = '';
  try {
    text = await readFile(path.join(dir, '.dumpvault', 'alerts.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { kind: string; status: string; subject: string });
}

/** What a reader saw while it ran: each answer, each error message. */
export interface ReaderLog {
  readonly answers: string[];
  readonly errors: string[];
}

/**
 * Runs `query` again and again until `stop()` says so (each call a fresh connection or the same
 * one, as `query` chooses), recording answers and errors; resolves with the log.
 */
export async function readInLoop(query: () => Promise<string>, stop: () => boolean): Promise<ReaderLog> {
  const answers: string[] = [];
  const errors: string[] = [];
  // The round that sees stop() true still runs once: it starts after the swap has ended, so the
  // last answer is what a reader sees afterwards (without it, on a busy machine the last answer
  // could come from a round that read the old database before the swap: seen in CI).
  for (let last = false; !last; ) {
    last = stop();
    try {
      answers.push(await query());
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { answers, errors };
}

/**
 * Adds one row to the count the newest manifest of `job` records for its first table: the
 * object and its sha256 stay intact and verify, the restored database then differs from the
 * manifest (what a dump that lost rows, or a tampered manifest, looks like to the comparison).
 * Returns the table.
 */
export async function inflateNewestRowCount(dir: string, job: string): Promise<string> {
  const folder = path.join(dir, 'backups', job);
  const file = path.join(
    folder,
    (await readdir(folder))
      .filter((f) => f.endsWith('.manifest.json'))
      .sort()
      .at(-1)!,
  );
  const manifest = JSON.parse(await readFile(file, 'utf8')) as { stats: { tables: Record<string, number> } };
  const table = Object.keys(manifest.stats.tables).sort()[0]!;
  manifest.stats.tables[table]! += 1;
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return table;
}
