/**
 * Helpers shared by the engine integration tests: reading streams, finding the dump tool a
 * test started, and running SQL against the real servers without going through the engines.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Reads a stream to the end (fails when it fails). */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A database / file name no other test run uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Process ids of this test process's children whose command name is `name`. */
export function childPids(name: string): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === name)
    .map(([pid]) => Number(pid));
}

/**
 * Waits until `predicate` holds (polling: process tables and row counts send no events),
 * failing after `timeoutMs`, which is generous: a busy machine starts a tool in seconds, not ms.
 */
export async function waitFor(predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs SQL through psql as the test superuser; returns unaligned tuples. */
export function psql(database: string, sql: string): string {
  return execFileSync(
    'psql',
    ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-U', 'postgres', '-d', database],
    { input: sql, encoding: 'utf8' },
  );
}

/** Runs SQL through the mariadb client as root; returns raw tab-separated rows. */
export function mariadb(database: string | null, sql: string): string {
  return execFileSync(
    'mariadb',
    [
      '-h',
      '127.0.0.1',
      '-u',
      'root',
      '--batch',
      '--skip-column-names',
      '--raw',
      '--default-character-set=utf8mb4',
      ...(database ? [database] : []),
    ],
    { input: sql, encoding: 'utf8' },
  );
}

/** Runs a script through the sqlite3 CLI (waiting up to 5 s for another process's lock). */
export function sqlite(file: string, sql: string): string {
  return execFileSync('sqlite3', ['-bail', file], { input: `.timeout 5000\n${sql}`, encoding: 'utf8' });
}
