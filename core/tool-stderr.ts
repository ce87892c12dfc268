/**
 * A tool's stderr as dumpvault keeps it: bounded, watched line by line for lines that mark an
 * error, and read for a one-line cause of a failed run.
 */
import type { ChildProcess } from 'node:child_process';
import { redact } from './redact.ts';

const STDERR_LIMIT = 64 * 1024;

/** Longest stderr line kept for matching `errorLines` (SpawnSpec, core/process.ts). */
const LINE_LIMIT = 4096;

/** A process's stderr as it is kept: the last 64 KiB, and the first line marking an error. */
export interface CapturedStderr {
  readonly text: () => string;
  /** The first line matching one of `errorLines` (looked at as the lines arrive, so none scroll away). */
  readonly errorLine: () => string | undefined;
}

/** Keeps `child`'s stderr (the last 64 KiB) and the first line matching `errorLines`. */
export function captureStderr(child: ChildProcess, errorLines: readonly RegExp[] = []): CapturedStderr {
  let buf = '';
  let partial = '';
  let found: string | undefined;
  const look = (line: string) => {
    if (found === undefined && errorLines.some((pattern) => pattern.test(line))) found = line.trim();
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > STDERR_LIMIT) buf = buf.slice(-STDERR_LIMIT);
    if (errorLines.length === 0) return;
    const lines = (partial + chunk).split('\n');
    partial = (lines.pop() ?? '').slice(0, LINE_LIMIT);
    for (const line of lines) look(line);
  });
  return {
    text: () => buf,
    errorLine: () => {
      if (partial) look(partial);
      return found;
    },
  };
}

/** The useful part of a tool's stderr as one redacted line (at most ~300 characters). */
export function summarizeStderr(stderr: string): string {
  const lines = redact(stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // `lock` keeps pg_dump's "Query was: LOCK TABLE <table>" next to its timeout: it names the table.
  const important = lines.filter((l) =>
    /error|fatal|denied|does not exist|unknown|failed|refused|\block\b/i.test(l),
  );
  const chosen = (important.length ? important : lines).slice(-2).join(' | ');
  return chosen.length > 300 ? `${chosen.slice(0, 297)}...` : chosen;
}

/** `<name> exited with code N: <cause>` (or `was killed by SIG…`), one line. */
export function describeExit(
  name: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
): string {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const why = summarizeStderr(stderr);
  return `${name} ${how}${why ? `: ${why}` : ''}`;
}
