/**
 * How the CLI talks: on a TTY a single updating progress line; without a TTY one line per
 * step (cron mail, CI logs); with --json only the final JSON result on stdout.
 */

import type { HistoryItem } from '../../core/history/history.ts';
import type { ProgressEvent } from '../../core/pipeline/context.ts';
import { redact } from '../../core/redact.ts';
import type { Interrupts } from './interrupts.ts';

export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  /** Asks a question on the terminal; undefined when there is no terminal. */
  readonly prompt?: (question: string) => Promise<string>;
  /**
   * Starts turning SIGINT/SIGTERM into an abort, for a command that stops cleanly.
   * @default - signals keep their default action
   */
  readonly interrupts?: () => Interrupts;
}

/** Human-readable byte counts: 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** `1m 05s` style durations. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** The printer used by every command. */
export class Output {
  private lastProgress = 0;
  private progressShown = false;
  constructor(
    private readonly io: Io,
    private readonly json: boolean,
  ) {}

  /** A line for the user (stdout normally, stderr in --json mode so stdout stays parseable). */
  line(text = ''): void {
    this.clearProgress();
    (this.json ? this.io.stderr : this.io.stdout).write(`${redact(text)}\n`);
  }

  /** A warning (always stderr). */
  warn(text: string): void {
    this.clearProgress();
    this.io.stderr.write(`warning: ${redact(text)}\n`);
  }

  /** The final JSON result (only in --json mode). */
  result(value: unknown): void {
    this.clearProgress();
    this.io.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
  }

  get isJson(): boolean {
    return this.json;
  }

  /** The progress callback handed to the pipeline. */
  readonly progress = (event: ProgressEvent): void => {
    if (event.type === 'step') {
      if (this.json) this.io.stderr.write(`${redact(event.message)}\n`);
      else this.line(`  ${event.message}`);
      return;
    }
    if (this.json || !this.io.stderr.isTTY) return;
    const now = Date.now();
    if (now - this.lastProgress < 200) return;
    this.lastProgress = now;
    // The rate is of what is known as it streams: raw bytes, or compressed ones when zstd reads
    // the dump tool's output itself.
    const rate = event.elapsedMs > 0 ? ((event.raw ?? event.compressed) / event.elapsedMs) * 1000 : 0;
    const read = event.raw === undefined ? '' : `read ${formatBytes(event.raw)}  `;
    this.io.stderr.write(
      `\r  ${read}compressed ${formatBytes(event.compressed)}  uploaded ${formatBytes(event.stored)}  ${formatBytes(rate)}/s  ${formatDuration(event.elapsedMs)}   `,
    );
    this.progressShown = true;
  };

  private clearProgress(): void {
    if (this.progressShown) {
      this.io.stderr.write('\r\x1b[2K');
      this.progressShown = false;
    }
  }
}

/** History items as an aligned table (shared by local and remote history). */
/** A run's own one-line summary (`details.summary`, rekey runs), shown instead of its key. */
function summaryOf(item: HistoryItem): string | undefined {
  const summary = item.details?.['summary'];
  return typeof summary === 'string' ? summary : undefined;
}

export function historyLines(items: readonly HistoryItem[]): string[] {
  const lines = [
    `${'started'.padEnd(25)} ${'kind'.padEnd(8)} ${'status'.padEnd(10)} ${'took'.padStart(8)} ${'stored'.padStart(10)}  detail`,
  ];
  for (const i of items) {
    lines.push(
      `${i.startedAt.padEnd(25)} ${i.kind.padEnd(8)} ${i.status.padEnd(10)} ${(i.durationMs !== undefined ? formatDuration(i.durationMs) : '').padStart(8)} ${(i.bytes !== undefined ? formatBytes(i.bytes) : '').padStart(10)}  ${i.error ?? summaryOf(i) ?? i.key ?? ''}`,
    );
  }
  return lines;
}
